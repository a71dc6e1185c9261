package synth

import (
	"bytes"
	"strings"
	"testing"

	"resyn/llm"
)

// TestWriteEval: a row per level and one for all levels with the trend,
// the tokens on the log, and an error only when nothing was scored.
func TestWriteEval(t *testing.T) {
	cals := []Calibration{{Env: "maze", Levels: []LevelPass{
		{Difficulty: 1, N: 4, Passed: 3, Rate: 0.75, MeanScore: 0.8},
		{Difficulty: 9, N: 4, Passed: 1, Rate: 0.25, MeanScore: 0.3, Format: 2, Failed: 1},
	}, Trend: &Trend{PValue: 0.12}}}
	var out, log bytes.Buffer
	if err := WriteEval(&out, &log, false, cals, llm.Usage{PromptTokens: 90, CompletionTokens: 12}); err != nil {
		t.Fatal(err)
	}
	want := "ENV   DIFF  N  PASSED  RATE  MEAN  NO ANSWER  FAILED  TREND\n" +
		"maze     1  4       3   75%  0.80          0       0\n" +
		"maze     9  4       1   25%  0.30          2       1\n" +
		"maze   all  8       4   50%                           falls: p=0.12\n"
	if got := out.String(); got != want {
		t.Errorf("eval table:\n%s\nwant:\n%s", got, want)
	}
	if log.String() != "tokens: 90 in + 12 out\n" {
		t.Errorf("log %q", log.String())
	}
	failed := []Calibration{{Env: "maze", Levels: []LevelPass{{Difficulty: 1, Failed: 4}}}}
	if err := WriteEval(&out, &log, true, failed, llm.Usage{}); err == nil || !strings.Contains(err.Error(), "nothing could be scored: 4 of 4 instances failed") {
		t.Errorf("nothing scored: %v", err)
	}
}
