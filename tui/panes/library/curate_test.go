package library

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	corelib "resyn/core/library"
	"resyn/storage"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

func statusOf(t *testing.T, db *storage.DB, name string) storage.Status {
	t.Helper()
	e, err := corelib.New(db).Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return e.Status
}

// last returns the last message of type T.
func last[T tea.Msg](msgs []tea.Msg) T {
	var out T
	for _, msg := range msgs {
		if m, ok := msg.(T); ok {
			out = m
		}
	}
	return out
}

func lastErr(msgs []tea.Msg) error   { return last[pane.ErrMsg](msgs).Err }
func lastInfo(msgs []tea.Msg) string { return last[pane.InfoMsg](msgs).Text }

// TestBulkAsksFirstAndUndoes marks two environments, rejects them after a
// question, and takes it back with u.
func TestBulkAsksFirstAndUndoes(t *testing.T) {
	m, db := newPane(t)
	press(m, keys("  ")...) // adder and old_maze; the cursor moves down with each
	if got := strings.Join(m.Marked(), ","); got != "adder,old_maze" {
		t.Fatalf("marked %s, want adder,old_maze", got)
	}
	if v := m.View(); !strings.Contains(v, "● 2 marked") || !strings.Contains(v, " ● adder") {
		t.Errorf("the marks do not show:\n%s", fixture.Lines(v))
	}
	press(m, keys("x")...)
	if !m.Capturing() || !strings.Contains(m.View(), "Reject 2 marked environment(s)? y/n") {
		t.Fatalf("a bulk reject did not ask:\n%s", fixture.Lines(m.View()))
	}
	if s := statusOf(t, db, "adder"); s != storage.StatusCandidate {
		t.Fatalf("adder is %s before the answer", s)
	}
	// 1 while the question waits is neither an answer nor a pane switch.
	press(m, keys("1n")...)
	if m.Capturing() || statusOf(t, db, "adder") != storage.StatusCandidate {
		t.Fatal("n did not cancel the bulk reject")
	}
	msgs := press(m, keys("xy")...)
	if err := lastErr(msgs); err != nil {
		t.Fatal(err)
	}
	if statusOf(t, db, "adder") != storage.StatusRejected || statusOf(t, db, "old_maze") != storage.StatusRejected {
		t.Fatal("y did not reject both")
	}
	if info := lastInfo(msgs); !strings.Contains(info, "rejected 1 of 2 marked (the rest already were) · u undoes") {
		t.Errorf("status bar says %q", info)
	}
	if got := m.Undoable(); len(got) != 1 || got[0] != "rejected 1 environments" {
		t.Errorf("undo list %q", got)
	}
	msgs = press(m, keys("u")...)
	if err := lastErr(msgs); err != nil {
		t.Fatal(err)
	}
	if statusOf(t, db, "adder") != storage.StatusCandidate || statusOf(t, db, "old_maze") != storage.StatusRejected {
		t.Fatal("u did not put adder back (and old_maze, already rejected, stays so)")
	}
	if sel, _ := m.Selected(); sel.Name != "parity_bits" {
		t.Errorf("the cursor moved to %s", sel.Name)
	}
	h, _ := corelib.New(db).History("adder")
	if got := h[len(h)-1].Change; got != "undo: back to revision 1" {
		t.Errorf("the undo is stored as %q", got)
	}
	if info := lastInfo(press(m, keys("u")...)); info != "nothing to undo" {
		t.Errorf("a second u says %q", info)
	}
	// esc clears the marks first, then the filters.
	press(m, keys("s")...)
	press(m, esc)
	if len(m.Marked()) != 0 || m.status == "" {
		t.Errorf("esc: marks %v, status filter %q; want the marks gone and the filter kept", m.Marked(), m.status)
	}
	press(m, keys("*")...)
	if got := strings.Join(m.Marked(), ","); got != "adder,parity_bits" {
		t.Errorf("* marked %s, want the shown candidates", got)
	}
	press(m, keys("*")...)
	if len(m.Marked()) != 0 {
		t.Errorf("* again left %v marked", m.Marked())
	}
}

func TestUndoEachCuration(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []tea.KeyMsg
	}{
		{"accept", keys("a")},
		{"tag", append(keys("+easy"), enter, esc)},
		{"untag", append(keys("-warmup"), enter, esc)},
		{"note", append(keys("nlooks fine"), enter, esc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, db := newPane(t)
			before, _ := corelib.New(db).Get("adder")
			if err := lastErr(press(m, tc.keys...)); err != nil {
				t.Fatal(err)
			}
			mid, _ := corelib.New(db).Get("adder")
			if mid.Revision != before.Revision+1 {
				t.Fatalf("the action stored revision %d (was %d)", mid.Revision, before.Revision)
			}
			if err := lastErr(press(m, keys("u")...)); err != nil {
				t.Fatal(err)
			}
			after, _ := corelib.New(db).Get("adder")
			if after.Status != before.Status || strings.Join(after.Tags, ",") != strings.Join(before.Tags, ",") || len(after.Notes) != len(before.Notes) {
				t.Errorf("after u: %s %v %d notes; before: %s %v %d notes", after.Status, after.Tags, len(after.Notes), before.Status, before.Tags, len(before.Notes))
			}
			if sel, _ := m.Selected(); sel.Revision != after.Revision {
				t.Errorf("the pane shows revision %d, the store has %d", sel.Revision, after.Revision)
			}
		})
	}
}

// TestTextBoxKeepsFocus: enter applies a tag and the box stays for the
// next; keys typed after it are text, not commands.
func TestTextBoxKeepsFocus(t *testing.T) {
	m, db := newPane(t)
	press(m, keys("+one")...)
	press(m, enter)
	press(m, keys("x")...) // text, not "reject"
	press(m, enter)
	if !m.Capturing() {
		t.Fatal("enter left the tag box")
	}
	press(m, esc)
	e, _ := corelib.New(db).Get("adder")
	if e.Status != storage.StatusCandidate || strings.Join(e.Tags, ",") != "arithmetic,warmup,one,x" {
		t.Errorf("adder is %s with tags %v; want a candidate tagged one and x", e.Status, e.Tags)
	}
}

// TestUndoRefusesOverAnotherChange: an environment changed by someone else
// after the action is not undone over that change.
func TestUndoRefusesOverAnotherChange(t *testing.T) {
	m, db := newPane(t)
	press(m, keys("a")...)
	if _, err := corelib.New(db).Note("adder", "from another terminal"); err != nil {
		t.Fatal(err)
	}
	err := lastErr(press(m, keys("u")...))
	if err == nil || !strings.Contains(err.Error(), "adder is at revision 3, not 2") {
		t.Fatalf("undo over another change: %v", err)
	}
	if statusOf(t, db, "adder") != storage.StatusAccepted {
		t.Error("the undo went through anyway")
	}
}

func TestMouse(t *testing.T) {
	m, _ := newPane(t)
	click := func(x, y int) {
		_, cmd := m.Update(tea.MouseMsg{X: x, Y: y, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
		drive(m, cmd)
	}
	click(10, 4) // the third row
	if sel, _ := m.Selected(); sel.Name != "parity_bits" {
		t.Fatalf("a click on the third row selected %s", sel.Name)
	}
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	if sel, _ := m.Selected(); sel.Name != "word_reverse" {
		t.Fatalf("the wheel moved to %s", sel.Name)
	}
	click(0, 2)
	if got := strings.Join(m.Marked(), ","); got != "adder" {
		t.Errorf("a click on the mark column marked %q", got)
	}
	l := m.layout()
	x := l[l.find(colStatus)].x
	click(x, 1)
	if got := listed(m); got != "adder,parity_bits,word_reverse,old_maze" {
		t.Errorf("a click on STATUS ordered %s", got)
	}
	click(x, 1)
	if got := listed(m); got != "old_maze,word_reverse,parity_bits,adder" {
		t.Errorf("a second click on STATUS ordered %s", got)
	}
}

func TestCopySource(t *testing.T) {
	m, _ := newPane(t)
	var term bytes.Buffer
	m.ctx.Terminal = &term
	msgs := press(m, keys("y")...)
	want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(fixture.Adder)) + "\a"
	if term.String() != want {
		t.Fatalf("the terminal got %q, want the OSC 52 sequence of adder's source", term.String())
	}
	if info := lastInfo(msgs); !strings.Contains(info, "copied the source of adder") {
		t.Errorf("status bar says %q", info)
	}
	m.ctx.Tmux = true
	term.Reset()
	press(m, keys("y")...)
	if !strings.HasPrefix(term.String(), want) || !strings.Contains(term.String(), "\x1bPtmux;") {
		t.Errorf("inside tmux the terminal got %q, want the plain and the passthrough sequences", term.String())
	}
}

// TestColumnsUseTheWidth: with the real library, no name is cut at 80
// columns, and wider terminals show more columns rather than blank space.
func TestColumnsUseTheWidth(t *testing.T) {
	m, _ := newPane(t)
	m.ctx.Library = corelib.New(m.ctx.Store) // the built-ins too
	drive(m, m.Init())
	for _, w := range []int{80, 120, 160} {
		m.SetSize(w, 60)
		v := m.View()
		for _, e := range m.Entries() {
			if !strings.Contains(v, " "+e.Name+" ") {
				t.Errorf("width %d: the name %s is cut:\n%s", w, e.Name, fixture.Lines(v))
				break
			}
		}
		header := strings.Split(v, "\n")[1]
		for _, col := range map[int][]string{80: {"CATEGORY"}, 120: {"TAGS"}, 160: {"UPDATED", "DESCRIPTION"}}[w] {
			if !strings.Contains(header, col) {
				t.Errorf("width %d: no %s column: %q", w, col, header)
			}
		}
		// The columns span the whole width: room left over goes to a column.
		l := m.layout()
		if end := l[len(l)-1].x + l[len(l)-1].w; end != w {
			t.Errorf("width %d: the columns end at %d", w, end)
		}
	}
}

// TestSearchTheWholeLibrary: words of a description find it among the
// built-ins, and letters scattered over other names do not.
func TestSearchTheWholeLibrary(t *testing.T) {
	m, _ := newPane(t)
	m.ctx.Library = corelib.New(m.ctx.Store)
	drive(m, m.Init())
	for q, want := range map[string]string{
		"/even number": "parity_bits",
		"/graph":       "graph_coloring,shortest_path,topological_order,caesar_vigenere",
		"/queens":      "n_queens",
		"/tag:chess":   "n_queens",
		"/gc":          "graph_coloring",
	} {
		press(m, keys(q)...)
		got := listed(m)
		if !strings.HasPrefix(got+",", want+",") {
			t.Errorf("%s lists %s, want %s first", q, got, want)
		}
		press(m, esc, esc)
	}
}
