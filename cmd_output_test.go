package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"resyn/core/synth"
	"resyn/trainer/grpo"
)

// fakeClock returns a clock that moves only when told.
func fakeClock() (*time.Time, func() time.Time) {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &t, func() time.Time { return t }
}

func TestRate(t *testing.T) {
	now, clock := fakeClock()
	r := &rate{now: clock}
	if got := r.line(0, 100, "steps"); got != "" {
		t.Errorf("no unit done yet: %q", got)
	}
	*now = now.Add(10 * time.Second)
	if got := r.line(5, 100, "steps"); got != "0.5 steps/s, 3m10s left" {
		t.Errorf("5 of 100 in 10 s: %q", got)
	}
	*now = now.Add(2 * time.Hour)
	if got := r.line(6, 100, "steps"); got != "0.05 steps/min, 31h22m left" {
		t.Errorf("6 of 100 in two hours: %q", got)
	}
	if got := r.line(100, 100, "steps"); !strings.HasSuffix(got, "steps/min") {
		t.Errorf("all done: %q, want the rate alone", got)
	}
	// A resumed job measures from where it resumed.
	r = &rate{now: clock}
	r.startAt(40, clock().Add(-20*time.Second))
	if got := r.line(50, 60, "steps"); got != "0.5 steps/s, 20s left" {
		t.Errorf("resumed at 40, at 50 of 60 after 20 s: %q", got)
	}
}

func TestTrainProgressSaysTimeLeft(t *testing.T) {
	var b bytes.Buffer
	now, clock := fakeClock()
	p := newTrainPrinter(&b)
	p.sft.now, p.grpo.now = clock, clock
	p.print(grpo.SFTStepEvent{Step: 1, Of: 100, Elapsed: 500 * time.Millisecond})
	for step := 1; step <= 2; step++ {
		*now = now.Add(4 * time.Second)
		p.print(grpo.StepEvent{Step: step, Of: 40, Elapsed: 4 * time.Second})
	}
	out := b.String()
	for _, want := range []string{"sft    1/100 (2 steps/s, 49s left)", "step    2/40 (15 steps/min, 2m32s left)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}

func TestSynthProgressSaysTimeLeft(t *testing.T) {
	var b bytes.Buffer
	now, clock := fakeClock()
	p := &synthPrinter{w: &b, rate: &rate{now: clock}}
	p.print(synth.RunStartedEvent{RunID: 3, N: 10, Finished: 2, Provider: "replay"})
	for i := range 2 {
		*now = now.Add(30 * time.Second)
		p.print(synth.VerdictEvent{Index: 2 + i, Name: "x", Outcome: synth.OutcomeCandidate})
	}
	if out := b.String(); !strings.Contains(out, "[4/10 done, 2 candidates/min, 3m00s left]") {
		t.Errorf("synthesis progress:\n%s", out)
	}
}

func TestTableFits(t *testing.T) {
	tb := newTable("NAME", "N", "WHY").wrapping(2).rightAligned(1)
	tb.row("a_rather_long_environment_name", "12", "the verifier accepts every answer that lists all the options, which a model learns to do")
	tb.row("short", "3", "")
	var b bytes.Buffer
	if err := tb.write(&b, 60); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 60 {
			t.Errorf("line %q is %d wide", l, w)
		}
	}
	if !strings.HasPrefix(lines[1], "a_rather_long_environment_name  12  the verifier") || len(lines) < 4 {
		t.Errorf("the reason is not wrapped beside the name:\n%s", b.String())
	}
	if got := strings.Join(strings.Fields(strings.Join(lines[1:len(lines)-1], " ")), " "); !strings.Contains(got, "lists all the options, which a model learns to do") {
		t.Errorf("wrapping lost words: %q", got)
	}
	b.Reset()
	tb.write(&b, 200)
	if n := strings.Count(b.String(), "\n"); n != 3 {
		t.Errorf("at 200 columns the table has %d lines, want 3:\n%s", n, b.String())
	}
}

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
