package synth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resyn/core/validate"
	"resyn/llm"
)

// TestValidateFiles: a valid file is judged (the judge's verdict is a check
// of its report), a failing one is not sent to the judge (a skipped judge
// check says why), a file that does not load fails, each report is
// written as text, and a missing file stops the run.
func TestValidateFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"gcd.star": gcdPairs, "parity.star": parityAcceptsAll, "prose.star": "this is not starlark ("}
	var paths []string
	for name, src := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(src), 0o644)
		paths = append(paths, p)
	}
	judge, err := llm.ParseReplay(strings.NewReader(`{"tag":"judge","reply":` + jsonString(judgeFails) + `,"repeat":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var m llm.Meter
	var text strings.Builder
	reps, failed, err := ValidateFiles(context.Background(), paths, 3, llm.Metered(judge, &m), &text)
	if err != nil || len(reps) != 3 || failed != 3 {
		t.Fatalf("%d reports, %d failed, %v", len(reps), failed, err)
	}
	if calls, _ := m.Calls(); calls != 1 {
		t.Errorf("the judge was called %d times, want once (for the file that passes the checks)", calls)
	}
	for _, r := range reps {
		c, ok := r.Check(validate.CheckJudge)
		switch filepath.Base(r.File) {
		case "gcd.star":
			if !ok || c.OK || !strings.Contains(strings.Join(c.Failures, "\n"), "complete") {
				t.Errorf("gcd: judge check %+v", c)
			}
		case "parity.star":
			if !ok || !c.Skipped || !strings.Contains(c.Detail, "the other checks fail") {
				t.Errorf("parity: judge check %+v", c)
			}
		}
		if !strings.Contains(text.String(), r.File) {
			t.Errorf("the text lacks the report of %s", r.File)
		}
	}
	if _, _, err := ValidateFiles(context.Background(), []string{filepath.Join(dir, "none.star")}, 3, nil, nil); err == nil {
		t.Error("a missing file: no error")
	}
}

// TestJudgeProvider: the demo recording is refused as a judge, and a
// --record file gets each of the judge's calls.
func TestJudgeProvider(t *testing.T) {
	src, _ := llm.ParseReplay(strings.NewReader(`{"tag":"judge","reply":"fine"}`))
	if _, err := JudgeProvider(src, true, ""); err == nil || !strings.Contains(err.Error(), "--judge needs a model") {
		t.Errorf("the demo as a judge: %v", err)
	}
	rec := filepath.Join(t.TempDir(), "judge.jsonl")
	p, err := JudgeProvider(src, false, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Complete(context.Background(), llm.Request{Tag: "judge"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(rec); !strings.Contains(string(b), `"reply":"fine"`) {
		t.Errorf("recording: %s", b)
	}
	if _, err := JudgeProvider(src, false, filepath.Join(rec, "x")); err == nil || !strings.HasPrefix(err.Error(), "--record: ") {
		t.Errorf("a recording under a file: %v", err)
	}
}
