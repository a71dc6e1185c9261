package tui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corelib "resyn/core/library"
	"resyn/storage"
	"resyn/tui/internal/fixture"
)

// TestTmuxSession drives the real resyn binary in tmux, as a person would:
// open the workbench, filter the library, preview an environment, type a
// correct and a wrong answer and read the scores, accept a candidate, quit.
// It is in the long suite (RESYN_LONG=1) and fails, rather than skips, when
// tmux is missing there.
func TestTmuxSession(t *testing.T) {
	bin := buildResyn(t)
	db, path := fixture.Store(t)
	db.Close() // the binary takes the store's lock

	s := newTmux(t, "session", 100, 30, fmt.Sprintf("env -u NO_COLOR RESYN_THEME=dark %s --db %s", bin, path))

	// Open: the library with the built-ins and the stored environments.
	s.waitFor("1 Library", "2 Preview", "graph_coloring", "adder")

	// Filter the library: a fuzzy search, then only candidates. The first
	// key right after the first frame, once: none is lost.
	s.keys("/")
	s.waitFor("search: ")
	s.text("addr")
	s.waitFor("1 of ")
	s.keys("Escape") // leaves the box; the search stays
	s.keys("s")
	s.waitFor("status: candidate", "›  adder")

	// Preview it.
	s.keys("Enter")
	screen := s.waitFor("PROMPT", "REFERENCE ANSWER", "verify → 1")
	answer := lineAfter(screen, "REFERENCE ANSWER")
	if answer == "" {
		t.Fatalf("no reference answer on the screen:\n%s", screen)
	}

	// A correct answer, then a wrong one.
	s.keys("i")
	s.text(answer)
	s.waitFor("answer › "+answer, "✓ score 1  ok")
	s.text("9")
	s.waitFor("answer › "+answer+"9", "✗ score 0  ok  (wrong)")
	s.keys("Escape")

	// Accept the candidate in the library.
	s.keys("1")
	s.waitFor("›  adder")
	s.keys("a")
	s.waitFor("adder: accepted")

	// Quit.
	s.keys("q")
	s.waitFor("resyn exited with 0")

	e, err := storedLibrary(t, path).Get("adder")
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != storage.StatusAccepted {
		t.Errorf("adder is %s in the store after accepting it, want accepted", e.Status)
	}
}

// storedLibrary opens the store the binary wrote, read-only, after it
// quit; it is closed when the test ends.
func storedLibrary(t *testing.T, path string) *corelib.Library {
	t.Helper()
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return corelib.New(db)
}

// buildResyn builds the binary (once per test binary run).
func buildResyn(t *testing.T) string {
	t.Helper()
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed, and the long suite drives the workbench in it: install tmux (apt-get install tmux)")
	}
	bin := filepath.Join(t.TempDir(), "resyn")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building resyn: %v\n%s", err, out)
	}
	return bin
}

// tmuxSession is one session on a tmux server of its own (a socket under
// the test's name), so that the user's tmux and its options are never
// touched.
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

// newTmux starts command in a w×h session; it reports its exit status
// on the screen and waits, so that the test can read it.
func newTmux(t *testing.T, name string, w, h int, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, socket: fmt.Sprintf("resyn-test-%d-%s", os.Getpid(), name), name: name}
	s.run("-f", "/dev/null", "new-session", "-d", "-s", s.name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		command+"; echo \"resyn exited with $?\"; sleep 60")
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends tmux key names (Enter, Escape, q…).
func (s *tmuxSession) keys(ks ...string) {
	s.t.Helper()
	s.run(append([]string{"send-keys", "-t", s.name}, ks...)...)
}

// text types literally.
func (s *tmuxSession) text(str string) {
	s.t.Helper()
	s.run("send-keys", "-t", s.name, "-l", str)
}

// burst writes str to the program in one write (a tmux paste without
// bracketed-paste marks: what a laggy link or key repeat delivers).
func (s *tmuxSession) burst(str string) {
	s.t.Helper()
	s.run("set-buffer", "-b", "burst", str)
	s.run("paste-buffer", "-b", "burst", "-d", "-t", s.name)
}

// click presses and releases the left button at a 0-based cell (SGR
// mouse reports, as terminals send them).
func (s *tmuxSession) click(x, y int) {
	s.t.Helper()
	s.burst(fmt.Sprintf("\x1b[<0;%d;%dM\x1b[<0;%d;%dm", x+1, y+1, x+1, y+1))
}

// wheelDown turns the wheel one notch down over a cell.
func (s *tmuxSession) wheelDown(x, y int) {
	s.t.Helper()
	s.burst(fmt.Sprintf("\x1b[<65;%d;%dM", x+1, y+1))
}

// find returns the 0-based cell where text first shows on the screen.
func (s *tmuxSession) find(text string) (int, int) {
	s.t.Helper()
	screen := s.run("capture-pane", "-p", "-t", s.name)
	for y, l := range strings.Split(screen, "\n") {
		if x := strings.Index(l, text); x >= 0 {
			return len([]rune(l[:x])), y
		}
	}
	s.t.Fatalf("%q is not on the screen:\n%s", text, screen)
	return 0, 0
}

// waitFor polls the screen until it shows every string, and returns it.
func (s *tmuxSession) waitFor(want ...string) string {
	s.t.Helper()
	return s.waitWithin(20*time.Second, want...)
}

// waitWithin is waitFor with another last-resort limit (a training run's
// first steps on a loaded machine).
func (s *tmuxSession) waitWithin(limit time.Duration, want ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var screen string
	for {
		screen = s.run("capture-pane", "-p", "-t", s.name)
		missing := ""
		for _, w := range want {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return screen
		}
		select {
		case <-ctx.Done():
			s.t.Fatalf("the screen never showed %q; it shows:\n%s", missing, screen)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lineAfter returns the trimmed line after the first line containing marker.
func lineAfter(screen, marker string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.Contains(l, marker) && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	return ""
}
