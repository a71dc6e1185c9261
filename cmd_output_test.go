package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// TestCLIOutput runs the commands whose output issue 19 asked to fit:
// envs list in 80 columns when piped, envs show with the state packed and
// an answer scored, --theme on both ways into the workbench.
func TestCLIOutput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	out, _, code := runResyn(t, db, "envs", "list")
	if code != 0 {
		t.Fatalf("envs list: exit %d", code)
	}
	for _, l := range strings.Split(out, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("envs list line %q is %d wide", l, w)
		}
	}
	if !strings.Contains(out, "longest_increasing_subsequence  accepted") || !strings.Contains(out, "constraint-") {
		t.Errorf("envs list lost a name or the tags:\n%s", out)
	}
	out, _, code = runResyn(t, db, "envs", "show", "maze", "--difficulty", "3", "--answer", "RRDD")
	if code != 0 {
		t.Fatalf("envs show --answer: exit %d", code)
	}
	if !strings.Contains(out, `"start": [1, 1],`) || !strings.Contains(out, "── your answer ──\nRRDD\n✗ score 0  ok (wrong)") {
		t.Errorf("envs show:\n%s", out)
	}
	js, _, _ := runResyn(t, db, "envs", "show", "maze", "--difficulty", "3", "--json")
	var inst struct {
		State struct {
			Path string `json:"path"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(js), &inst); err != nil || inst.State.Path == "" {
		t.Fatalf("envs show --json: %v\n%s", err, js)
	}
	js, _, _ = runResyn(t, db, "envs", "show", "maze", "--difficulty", "3", "--answer", inst.State.Path, "--json")
	var scored struct {
		Reward struct {
			Kind  string  `json:"kind"`
			Score float64 `json:"score"`
		} `json:"answer_reward"`
	}
	if err := json.Unmarshal([]byte(js), &scored); err != nil || scored.Reward.Kind != "ok" || scored.Reward.Score != 1 {
		t.Errorf("the shortest path scored %+v (%v)", scored.Reward, err)
	}
	out, _, _ = runResyn(t, db, "envs", "show", "maze", "--answer", "3</answer>")
	if !strings.Contains(out, "format: no <answer>…</answer> block") {
		t.Errorf("a closing tag alone is not a format failure:\n%s", out)
	}
	for _, args := range [][]string{{"--theme", "neon"}, {"workbench", "--theme", "neon"}} {
		_, stderr, code := runResyn(t, db, args...)
		if code != 1 || !strings.Contains(stderr, `--theme: unknown theme "neon"`) {
			t.Errorf("resyn %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	if _, err := os.Stat(db); err == nil {
		if _, stderr, _ := runResyn(t, db, "--theme", "light", "--help"); stderr != "" {
			t.Errorf("resyn --theme light --help: %s", stderr)
		}
	}
}
