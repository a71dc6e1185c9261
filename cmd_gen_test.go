package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Nonsense counts are refused with a message naming the flag, before any
// work, and exit 1 (they used to exit 0 with nothing written).
func TestGenRefusesNonsenseFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gen", "--env", "maze", "--n", "-3"}, "--n -3: must be at least 1"},
		{[]string{"gen", "--env", "maze", "--n", "0"}, "--n 0: must be at least 1"},
		{[]string{"gen", "--env", "maze", "--workers", "-1"}, "--workers -1: must be 0 (one per core) or more"},
		{[]string{"gen", "--env", "maze", "--seed", "9223372036854775807", "--n", "2"}, "the last seed would overflow"},
		{[]string{"gen", "--env", "maze", "--difficulty", "5-2"}, "--difficulty: difficulty range \"5-2\" is empty"},
		{[]string{"gen", "--n", "2"}, "name the environments with --env A,B or take every one with --all"},
		{[]string{"score", "--in", "-", "--workers", "-2"}, "--workers -2"},
		{[]string{"synth", "--n", "-1"}, "--n -1: must be at least 1"},
		{[]string{"synth", "--parallel", "0"}, "--parallel 0: must be at least 1"},
		{[]string{"eval", "--env", "maze", "--n", "0"}, "--n 0: must be at least 1"},
		{[]string{"envs", "validate", "--seeds", "0", "core/envlib/nim_move.star"}, "--seeds 0: want at least 1"},
		{[]string{"envs", "list", "--status", "bogus"}, `--status "bogus": want candidate, accepted or rejected`},
		{[]string{"export", "--format", "jsonl", "--all", "--n", "5", "--test-fraction", "1.5", "--out", filepath.Join(t.TempDir(), "x")}, "--test-fraction 1.5: want a number in [0, 1)"},
		{[]string{"export", "--format", "jsonl", "--all", "--n", "0", "--out", filepath.Join(t.TempDir(), "x")}, "--n 0: want at least 1"},
		{[]string{"model", "init", filepath.Join(t.TempDir(), "m"), "--dtype", "int8"}, `--dtype "int8": want F32, BF16 or F16`},
	} {
		out, errOut, code := runResyn(t, db, c.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("resyn %s: exit %d, stdout %q, stderr %q; want %q", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused command created the store: %v", err)
	}
}

// A line without a difficulty is not scored as difficulty 0: it is named by
// its line number, the others are scored, and the exit status is 1.
func TestScoreMissingDifficulty(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "c.jsonl")
	lines := `{"env":"graph_coloring","seed":1,"difficulty":2,"completion":"<answer>1 2 3</answer>"}
{"env":"graph_coloring","seed":1,"completion":"<answer>1 2 3</answer>"}
not json at all
{"env":"graph_coloring","seed":2,"difficulty":"3","completion":"no tags"}

{"env":"graph_coloring","seed":3,"difficulty":2,"completion":"no tags"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runResyn(t, filepath.Join(dir, "resyn.db"), "score", "--in", in, "--workers", "1")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		`skipped line 2: malformed line: missing "difficulty"`,
		`skipped line 3: malformed line: not a JSON object`,
		`skipped line 4: malformed line: "difficulty" must be an integer, not a JSON string`,
		`3 malformed line(s) skipped`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, `"line":1,`) || !strings.Contains(out, `"line":6,`) {
		t.Errorf("records:\n%s", out)
	}
}
