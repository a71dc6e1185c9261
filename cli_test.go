package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/storage"

	"github.com/spf13/cobra"
)

// TestMain lets this test binary serve as a sandbox worker too, for tests
// in package main that start a pool in-process.
func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// resynBinary builds the resyn binary once per test run and returns its
// path; tests in package main run it as a user would.
func resynBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "resyn-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "resyn")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// runResyn runs the binary with args against the store db and returns
// stdout, stderr and the exit status.
func runResyn(t *testing.T, db string, args ...string) (string, string, int) {
	t.Helper()
	return runResynEnv(t, nil, db, args...)
}

const parityEnv = `NAME = "parity"
DESCRIPTION = "Say whether a number is even or odd."
TAGS = ["arithmetic", "parity"]
DIFFICULTY = (1, 5)

def generate(rng, difficulty):
    return {"n": rng.randint(0, pow(10, difficulty + 2))}

def render(state):
    return "Is %d even or odd? Answer with one word inside <answer></answer> tags, for example <answer>even</answer>." % state["n"]

def verify(state, answer):
    want = "even" if state["n"] % 2 == 0 else "odd"
    return 1.0 if answer.strip().lower() == want else 0.0

def solve(state):
    return "even" if state["n"] % 2 == 0 else "odd"
`

func TestCurationCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	file := filepath.Join(dir, "parity.star")
	if err := os.WriteFile(file, []byte(parityEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	// Read-only commands work before any store exists, and create none.
	out, errs, code := runResyn(t, db, "envs", "list")
	if code != 0 || !strings.Contains(out, "graph_coloring") {
		t.Fatalf("envs list on no store: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only command created the store: %v", err)
	}
	steps := []struct {
		args []string
		want string // in stdout+stderr
	}{
		{[]string{"envs", "add", "--seeds", "3", file}, "stored parity as a candidate (revision 1)"},
		{[]string{"envs", "list", "--status", "candidate"}, "parity"},
		{[]string{"envs", "accept", "parity"}, "parity: accepted (revision 2)"},
		{[]string{"envs", "tag", "parity", "easy"}, "tags arithmetic,parity,easy (revision 3)"},
		{[]string{"envs", "note", "parity", "too", "easy"}, "1 note(s) (revision 4)"},
		{[]string{"envs", "reject", "graph_coloring", "--why", "not today"}, "graph_coloring: rejected (revision 1)"},
		{[]string{"envs", "history", "parity"}, "tagged easy"},
		{[]string{"envs", "diff", "parity", "3"}, "tags: [arithmetic, parity] → [arithmetic, parity, easy]"},
		{[]string{"envs", "export", "parity"}, `NAME = "parity"`},
		{[]string{"db", "info"}, "2 (5 revisions)"},
		{[]string{"db", "check"}, ": ok"},
	}
	for _, s := range steps {
		out, errs, code := runResyn(t, db, s.args...)
		if code != 0 || !strings.Contains(out+errs, s.want) {
			t.Fatalf("resyn %s: exit %d, want %q in\n%s%s", strings.Join(s.args, " "), code, s.want, out, errs)
		}
	}
	// --all takes accepted environments only: parity in, graph_coloring out.
	out, errs, code = runResyn(t, db, "gen", "--all", "--n", "1")
	if code != 0 || !strings.Contains(out, `"env":"parity"`) || strings.Contains(out, `"env":"graph_coloring"`) {
		t.Fatalf("gen --all after curation: %d\n%s%s", code, out, errs)
	}
	// The backup is a store with the same content.
	backup := filepath.Join(dir, "backup.db")
	if _, errs, code := runResyn(t, db, "db", "backup", backup); code != 0 {
		t.Fatalf("backup: %s", errs)
	}
	if out, _, _ := runResyn(t, backup, "envs", "list", "--tag", "easy"); !strings.Contains(out, "parity") {
		t.Fatalf("backup lacks the curated environment:\n%s", out)
	}
	// An existing file is replaced only with --force.
	before, _ := os.ReadFile(backup)
	if _, errs, code := runResyn(t, db, "db", "backup", backup); code != 1 || !strings.Contains(errs, "--force") {
		t.Fatalf("backup over an existing file: exit %d, %s; want exit 1 naming --force", code, errs)
	}
	if after, _ := os.ReadFile(backup); !bytes.Equal(before, after) {
		t.Fatal("a refused backup changed the existing file")
	}
	if _, errs, code := runResyn(t, db, "db", "backup", "--force", backup); code != 0 {
		t.Fatalf("backup --force: %s", errs)
	}
	// An invalid environment is refused with exit 1 and not stored (it
	// would replace parity, so it says so).
	bad := filepath.Join(dir, "bad.star")
	os.WriteFile(bad, []byte(strings.Replace(parityEnv, `return 1.0 if answer.strip().lower() == want else 0.0`, `return 1.0`, 1)), 0o644)
	if _, errs, code := runResyn(t, db, "envs", "add", "--seeds", "2", "--replace", bad); code != 1 || !strings.Contains(errs, "failed validation") {
		t.Fatalf("add of an accept-everything verifier: exit %d\n%s", code, errs)
	}
}

func TestBadStoreFilesExitOne(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	if _, errs, code := runResyn(t, good, "envs", "reject", "graph_coloring"); code != 0 {
		t.Fatalf("creating a store: %s", errs)
	}
	full, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":     {},
		"truncated": full[:len(full)/3],
		"zeroed":    make([]byte, len(full)),
		"random":    bytes.Repeat([]byte("resyn? no."), 4000),
		"text":      []byte("NAME = \"not a store\"\n"),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			before := sha256.Sum256(content)
			for _, args := range [][]string{{"envs", "list"}, {"envs", "accept", "graph_coloring"}, {"db", "info"}, {"db", "check"}} {
				_, errs, code := runResyn(t, p, args...)
				if code != 1 || !strings.Contains(errs, p) || strings.Contains(errs, "panic") {
					t.Errorf("resyn %s on a %s file: exit %d\n%s", strings.Join(args, " "), name, code, errs)
				}
			}
			after, _ := os.ReadFile(p)
			if sha256.Sum256(after) != before {
				t.Errorf("the %s file was modified", name)
			}
		})
	}
}

// TestProcessesShareTheStore: while another process writes to the store
// all the time (here the test itself, logging training metrics as a
// trainer does), commands that write, read and back up the store run
// beside it and see everything; a process hung inside a transaction makes
// a writer fail after its lock wait (RESYN_LOCK_WAIT) with a message naming
// the file — never a hang.
func TestProcessesShareTheStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := storage.TrainRun{Name: "busy", Status: "done"}
	if err := s.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		w := s.NewMetricsWriter(run.ID)
		for step := int64(0); ; step++ {
			select {
			case <-stop:
				done <- w.Close()
				return
			default:
			}
			if err := w.Add(storage.MetricPoint{Step: step, Name: "loss", Value: 1}); err != nil {
				done <- err
				return
			}
			if err := w.Flush(); err != nil {
				done <- err
				return
			}
		}
	}()
	if _, errs, code := runResyn(t, db, "envs", "reject", "graph_coloring", "--why", "too easy"); code != 0 {
		t.Fatalf("writer beside a busy writer: exit %d\n%s", code, errs)
	}
	out, errs, code := runResyn(t, db, "envs", "list", "--status", "rejected")
	if code != 0 || !strings.Contains(out, "graph_coloring") {
		t.Fatalf("reader beside a busy writer: exit %d\n%s%s", code, out, errs)
	}
	if out, errs, code := runResyn(t, db, "db", "info"); code != 0 || !strings.Contains(out, db) {
		t.Fatalf("db info beside a busy writer: exit %d\n%s%s", code, out, errs)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, errs, code := runResyn(t, db, "db", "backup", backup); code != 0 || !strings.Contains(errs, "checked") {
		t.Fatalf("backup beside a busy writer: exit %d\n%s", code, errs)
	}
	if out, errs, code := runResyn(t, backup, "envs", "list", "--status", "rejected"); code != 0 || !strings.Contains(out, "graph_coloring") {
		t.Fatalf("the backup lacks the rejection: %s%s", out, errs)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("the busy writer failed: %v", err)
	}

	// A process hung inside a transaction.
	hung, release := make(chan struct{}), make(chan struct{})
	go s.Update(func(tx *storage.Tx) error { close(hung); <-release; return nil })
	<-hung
	_, errs, code = runResynEnv(t, []string{"RESYN_LOCK_WAIT=300ms"}, db, "envs", "accept", "graph_coloring")
	close(release)
	if code != 1 || !strings.Contains(errs, "another resyn") || !strings.Contains(errs, db) {
		t.Fatalf("writer beside a hung transaction: exit %d\n%s", code, errs)
	}
	if _, errs, code := runResynEnv(t, []string{"RESYN_LOCK_WAIT=soon"}, db, "envs", "list"); code != 1 || !strings.Contains(errs, "RESYN_LOCK_WAIT") {
		t.Fatalf("a bad RESYN_LOCK_WAIT: exit %d\n%s", code, errs)
	}
}

// TestUnknownSubcommandFails: a mistyped subcommand of a command group
// fails with exit 1 and a suggestion, where cobra alone printed the group's
// help and exited 0; the group alone still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"envs", "lsit"}, "list"},
		{[]string{"db", "inf"}, "info"},
		{[]string{"bench", "env"}, "envs"},
		{[]string{"model", "ini"}, "init"},
		{[]string{"lsit"}, ""},
	} {
		_, errs, code := runResyn(t, db, tc.args...)
		if code != 1 || !strings.Contains(errs, "unknown command") || !strings.Contains(errs, tc.suggest) {
			t.Errorf("resyn %s: exit %d, stderr %q; want exit 1, an unknown command suggesting %q", strings.Join(tc.args, " "), code, errs, tc.suggest)
		}
	}
	out, _, code := runResyn(t, db, "envs")
	if code != 0 || !strings.Contains(out, "Available Commands") {
		t.Errorf("resyn envs: exit %d, stdout %q; want its help", code, out)
	}
}

// TestRealProcessesShareTheStore (long suite): a real `resyn train` writes
// its run while a synthesis run, curation, listings and a backup run beside
// it as separate resyn processes; every one of them works, the readers see
// the run grow, and after kill -9 the run reads as interrupted.
func TestRealProcessesShareTheStore(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite (RESYN_LONG=1): trains for a while")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	train := exec.Command(resynBinary(t), "--db", db, "train", "--preset", "tiny-cpu", "--threads", "1", "--out", filepath.Join(dir, "run"))
	train.Env = append(os.Environ(), "NO_COLOR=1")
	var trainErr bytes.Buffer
	train.Stderr = &trainErr
	if err := train.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { train.Process.Kill(); train.Wait() }()
	runStatus := func() (storage.RunStatus, int64) {
		s, err := storage.Open(db, storage.Options{ReadOnly: true})
		if err != nil {
			return "", -1
		}
		defer s.Close()
		var status storage.RunStatus
		last := int64(-1)
		s.View(func(tx *storage.Tx) error {
			runs, err := storage.ListTrainRuns(tx)
			if err != nil || len(runs) == 0 {
				return err
			}
			status = runs[0].Status
			if l, ok, _ := storage.LastMetricStep(tx, runs[0].ID); ok {
				last = l
			}
			return nil
		})
		return status, last
	}
	// The wall clock only as a last resort: the first steps come in seconds.
	waitStep := func(after int64) int64 {
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if st, last := runStatus(); st == "running" && last > after {
				return last
			}
			if train.ProcessState != nil || time.Now().After(deadline) {
				t.Fatalf("no training step after %d came\n%s", after, trainErr.String())
			}
		}
	}
	first := waitStep(-1)
	for _, args := range [][]string{
		{"synth"}, // the recorded demo run: ideas, validation, candidates
		{"synth", "runs"},
		{"envs", "list", "--status", "candidate"},
		{"envs", "reject", "graph_coloring", "--why", "seen enough of it"},
		{"db", "info"},
		{"db", "backup", filepath.Join(dir, "backup.db")},
	} {
		if out, errs, code := runResyn(t, db, args...); code != 0 {
			t.Fatalf("resyn %s beside a training run: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	if out, _, _ := runResyn(t, db, "synth", "runs"); !strings.Contains(out, "done") {
		t.Errorf("the synthesis run beside training did not finish:\n%s", out)
	}
	later := waitStep(first)
	t.Logf("training steps seen: %d, then %d", first, later)
	train.Process.Signal(syscall.SIGKILL)
	train.Wait()
	if st, _ := runStatus(); st != storage.RunInterrupted {
		t.Fatalf("the killed training run reads as %q, want %q", st, storage.RunInterrupted)
	}
	if _, errs, code := runResyn(t, db, "db", "check"); code != 0 {
		t.Fatalf("db check after kill -9: %s", errs)
	}
	if _, errs, code := runResyn(t, filepath.Join(dir, "backup.db"), "db", "check"); code != 0 {
		t.Fatalf("the backup taken beside training fails its check: %s", errs)
	}
}

// TestHelpFiles: every command has its long help from docs/cli, and every
// file there is some command's (a renamed command would otherwise lose its
// help without a word).
func TestHelpFiles(t *testing.T) {
	used := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && !strings.HasPrefix(c.CommandPath(), "resyn completion") {
			if strings.TrimSpace(c.Short) == "" || strings.Contains(c.Short, "\n") {
				t.Errorf("%s has no one-line summary (docs/cli/%s.txt)", c.CommandPath(), helpName(c))
			}
			if strings.TrimSpace(c.Long) == "" {
				t.Errorf("%s has no long help (docs/cli/%s.txt)", c.CommandPath(), helpName(c))
			}
			used[helpName(c)+".txt"] = true
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
	files, err := helpFiles.ReadDir("docs/cli")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !used[f.Name()] {
			t.Errorf("docs/cli/%s is no command's help", f.Name())
		}
	}
	if c, _, err := newRootCmd().Find([]string{"envs", "list"}); err != nil || !strings.HasPrefix(c.Example, "  resyn envs list") {
		t.Errorf("envs list's examples: %q (%v)", c.Example, err)
	}
}
