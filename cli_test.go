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
	"testing"

	"resyn/core/env"
	"resyn/storage"
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

func TestSecondWriterIsTurnedAway(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, errs, code := runResyn(t, db, "envs", "reject", "graph_coloring")
	if code != 1 || !strings.Contains(errs, "another resyn holds the store") || !strings.Contains(errs, db) {
		t.Fatalf("second writer: exit %d\n%s", code, errs)
	}
	// Readers go on with the built-ins, and say so.
	out, errs, code := runResyn(t, db, "envs", "list")
	if code != 0 || !strings.Contains(out, "graph_coloring") || !strings.Contains(errs, "held by another resyn") {
		t.Fatalf("reader while held: exit %d\n%s%s", code, out, errs)
	}
	// A backup is taken live, and is a healthy store.
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, errs, code := runResyn(t, db, "db", "backup", backup); code != 0 || !strings.Contains(errs, "copying it live") {
		t.Fatalf("live backup: exit %d\n%s", code, errs)
	}
	if _, errs, code := runResyn(t, backup, "db", "check"); code != 0 {
		t.Fatalf("the live backup fails its check: %s", errs)
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
