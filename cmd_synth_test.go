package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSynthDemoCommand runs `resyn synth` as a new user without a key
// would: it plays the built-in recording, says so on stderr, stores the
// candidates and prints the table; `synth runs` lists the run and `envs
// list` the candidates.
func TestSynthDemoCommand(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	db := filepath.Join(t.TempDir(), "resyn.db")
	out, errOut, code := runResyn(t, db, "synth", "--json", "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "playing the recorded demo run") || !strings.Contains(errOut, "✓ candidate") {
		t.Errorf("stderr:\n%s", errOut)
	}
	var res struct {
		Run     uint64 `json:"run"`
		Summary struct {
			Ideas, Stored, Finished int
			Outcomes                map[string]int
		} `json:"summary"`
		Verdicts []struct{ Name, Outcome string } `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Run != 1 || res.Summary.Ideas != 12 || res.Summary.Finished != 12 || res.Summary.Stored != 7 || len(res.Verdicts) != 12 ||
		res.Summary.Outcomes["refused"] != 1 || res.Summary.Outcomes["duplicate"] != 1 || res.Summary.Outcomes["invalid"] != 1 {
		t.Errorf("result %+v", res)
	}
	out, _, code = runResyn(t, db, "synth", "runs")
	if code != 0 || !strings.Contains(out, "done") || !strings.Contains(out, "replay") {
		t.Errorf("synth runs (exit %d):\n%s", code, out)
	}
	out, _, _ = runResyn(t, db, "envs", "list")
	if !strings.Contains(out, "gcd_pairs") || strings.Contains(out, "parity_guess") {
		t.Errorf("envs list:\n%s", out)
	}
	// Nothing left to resume; an unknown run is an error that says so.
	if _, errOut, code := runResyn(t, db, "synth", "--resume", "1"); code == 0 || !strings.Contains(errOut, "already finished") {
		t.Errorf("resume of a finished run: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runResyn(t, db, "synth", "--resume", "9"); code == 0 || !strings.Contains(errOut, "no such run") {
		t.Errorf("resume of no run: exit %d, %s", code, errOut)
	}
}

func TestParseLevels(t *testing.T) {
	for in, want := range map[string]string{"": "[]", "3": "[3]", "2-4": "[2 3 4]", "1,5,10": "[1 5 10]"} {
		got, err := parseLevels(in)
		if err != nil || strings.Trim(strings.ReplaceAll(fmtInts(got), "  ", " "), " ") != want {
			t.Errorf("parseLevels(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "1,y", "5-2"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q) accepted", bad)
		}
	}
}

func fmtInts(xs []int) string {
	b, _ := json.Marshal(xs)
	s := strings.ReplaceAll(string(b), ",", " ")
	if s == "null" {
		return "[]"
	}
	return s
}
