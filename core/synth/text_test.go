package synth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// fakeClock returns a clock that moves only when told.
func fakeClock() (*time.Time, func() time.Time) {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &t, func() time.Time { return t }
}

func TestSynthProgressSaysTimeLeft(t *testing.T) {
	var b bytes.Buffer
	now, clock := fakeClock()
	p := &TextPrinter{W: &b, Rate: &textout.Rate{Now: clock}}
	p.Print(RunStartedEvent{RunID: 3, N: 10, Finished: 2, Provider: "replay"})
	for i := range 2 {
		*now = now.Add(30 * time.Second)
		p.Print(VerdictEvent{Index: 2 + i, Name: "x", Outcome: OutcomeCandidate})
	}
	if out := b.String(); !strings.Contains(out, "[4/10 done, 2 candidates/min, 3m00s left]") {
		t.Errorf("synthesis progress:\n%s", out)
	}
}

// TestTextPrinterLines: each event's line, and which of them --quiet
// keeps (the run's lines and the verdicts, not the steps).
func TestTextPrinterLines(t *testing.T) {
	_, clock := fakeClock()
	events := []Event{
		RunStartedEvent{RunID: 7, N: 12, Provider: "replay", Solver: "openai:small", Resumed: true, Finished: 1},
		IdeasReadyEvent{Ideas: make([]Idea, 12), Dropped: []DroppedIdea{{Idea: Idea{Name: "dup"}, SimilarTo: "orig", Similarity: 0.75}}},
		CandidateStartedEvent{Index: 0, Idea: Idea{Name: "maze_walk", Description: "walk a maze"}},
		CodeWrittenEvent{Index: 0, Name: "maze_walk", Round: 2, Lines: 40, Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}},
		ValidatedEvent{Index: 0, Name: "maze_walk", Failed: []validate.Check{{Name: "verify", Line: 12}, {Name: "render"}}},
		RepairStartedEvent{Index: 0, Name: "maze_walk", Round: 1},
		JudgedEvent{Index: 0, Name: "maze_walk", Err: errors.New("timeout")},
		VerdictEvent{Index: 0, Name: "maze_walk", Outcome: OutcomeInvalid, Reason: "still failing", Repairs: 3, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 20}, Elapsed: 1500 * time.Millisecond},
	}
	loud := `synthesis run 7 resumed (1 candidates already finished): 12 candidates, writer replay, solver openai:small
ideas: 12 kept, 1 dropped as duplicates
  dropped dup (repeats orig, 75% similar)
[ 1] maze_walk                writing: walk a maze
[ 1] maze_walk                repaired code (round 2): 40 lines, 15 tokens
[ 1] maze_walk                fails: verify (line 12); render
[ 1] maze_walk                repair round 1
[ 1] maze_walk                LLM judge: no verdict: timeout
[ 1] maze_walk                ✗ invalid: still failing (3 repairs, 120 tokens, 1.5s) [2/12 done]
`
	quiet := `synthesis run 7 resumed (1 candidates already finished): 12 candidates, writer replay, solver openai:small
ideas: 12 kept, 1 dropped as duplicates
[ 1] maze_walk                ✗ invalid: still failing (3 repairs, 120 tokens, 1.5s) [2/12 done]
`
	for _, c := range []struct {
		quiet bool
		want  string
	}{{false, loud}, {true, quiet}} {
		var b bytes.Buffer
		p := &TextPrinter{W: &b, Quiet: c.quiet, Rate: &textout.Rate{Now: clock}}
		for _, e := range events {
			p.Print(e)
		}
		if b.String() != c.want {
			t.Errorf("quiet %v:\n%s\nwant:\n%s", c.quiet, b.String(), c.want)
		}
		if len(p.Verdicts) != 1 || p.RunID != 7 {
			t.Errorf("quiet %v: run %d, verdicts %+v", c.quiet, p.RunID, p.Verdicts)
		}
	}
}

// TestWriteSummary: the counts, the rejections by outcome in name order,
// the rows by index, and the next step when something was stored.
func TestWriteSummary(t *testing.T) {
	s := Summary{Ideas: 4, Dropped: 1, Finished: 3, Implemented: 3, Valid: 2, ValidAfter: []int{1, 1}, Stored: 1, Flagged: 1,
		Outcomes: map[Outcome]int{OutcomeCandidate: 1, OutcomeInvalid: 1, OutcomeDuplicate: 1, OutcomeError: 1},
		Usage:    llm.Usage{PromptTokens: 300, CompletionTokens: 40}, Calls: 9, Elapsed: 2500 * time.Millisecond}
	vs := []VerdictEvent{
		{Index: 2, Name: "b_env", Outcome: OutcomeInvalid, Reason: "fails", Repairs: 3, Usage: llm.Usage{PromptTokens: 7}},
		{Index: 0, Name: "a_env", Outcome: OutcomeCandidate, Flags: []string{"too_easy"}, Usage: llm.Usage{CompletionTokens: 5}},
	}
	var b bytes.Buffer
	WriteSummary(&b, 5, s, vs)
	want := "run          5\n" +
		"ideas        4 kept, 1 dropped as duplicates\n" +
		"implemented  3 of 3 finished\n" +
		"valid        2 (1 after 0 repairs, 1 after 1 repairs)\n" +
		"stored       1 candidates (1 flagged by calibration)\n" +
		"rejected     2 (duplicate 1, invalid 1)\n" +
		"errors       1 (LLM failures; `resyn synth --resume 5` retries them)\n" +
		"tokens       300 in + 40 out, 9 calls\n" +
		"time         2.5s\n" +
		"\n" +
		"#  NAME   OUTCOME    REPAIRS  TOKENS  WHY\n" +
		"1  a_env  candidate        0       5  too_easy\n" +
		"3  b_env  invalid          3       7  fails\n" +
		"\nnext: `resyn envs list --status candidate`, then `resyn envs accept NAME`\n"
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestWriteRuns: one row per run, and a note for an interrupted one.
func TestWriteRuns(t *testing.T) {
	runs := []storage.SynthRun{
		{ID: 1, Status: storage.RunDone, Config: []byte(`{"n":10,"provider":"replay"}`), Usage: storage.TokenUsage{Requests: 4, InputTokens: 100, OutputTokens: 20}},
		{ID: 2, Status: storage.RunInterrupted, Config: []byte(`{"n":3,"provider":"openai:m"}`)},
	}
	var out, notes bytes.Buffer
	if err := WriteRuns(&out, &notes, 200, runs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "replay") || !strings.HasSuffix(lines[1], "10      4     120") || !strings.Contains(lines[2], "interrupted") {
		t.Errorf("runs table:\n%s", out.String())
	}
	if notes.String() != "run 2 was interrupted (its process ended without recording an end); resyn synth --resume 2 continues it\n" {
		t.Errorf("notes: %q", notes.String())
	}
	if got := RunsJSON(nil); got == nil || len(got) != 0 {
		t.Errorf("RunsJSON(nil) = %#v, want an empty list", got)
	}
}
