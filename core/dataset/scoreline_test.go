package dataset

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"resyn/core/env"
)

func TestParseScoreLine(t *testing.T) {
	good := `{"env":"maze","seed":7,"difficulty":3,"completion":"<answer>R</answer>","prompt":"ignored"}`
	it, err := ParseScoreLine([]byte(good))
	if err != nil || it.Env != "maze" || it.Seed != 7 || it.Difficulty != 3 || it.Completion != "<answer>R</answer>" || it.State != nil {
		t.Fatalf("%+v, %v", it, err)
	}
	it, err = ParseScoreLine([]byte(` {"env":"maze","seed":-1,"difficulty":0,"completion":"","state":{"w":2}}` + "\r"))
	if err != nil || string(it.State) != `{"w":2}` || it.Seed != -1 {
		t.Fatalf("%+v, %v", it, err)
	}
	if it, err = ParseScoreLine([]byte(`{"env":"maze","seed":1,"difficulty":2,"completion":"x","state":null}`)); err != nil || it.State != nil {
		t.Fatalf("state null: %+v, %v", it, err)
	}
	for in, want := range map[string]string{
		`{"env":"maze","seed":1,"completion":"x"}`: `missing "difficulty" (every line needs env, seed, difficulty and completion)`,
		`{"env":"maze","difficulty":1}`:            `missing "seed" and "completion"`,
		`{}`:                                       `missing "env", "seed", "difficulty", and "completion"`,
		`{"env":"","seed":1,"difficulty":2,"completion":"x"}`:             `"env" is empty`,
		`{"env":"maze","seed":1,"difficulty":"3","completion":"x"}`:       `"difficulty" must be an integer, not a JSON string`,
		`{"env":"maze","seed":1,"difficulty":2.5,"completion":"x"}`:       `"difficulty" must be an integer, not a JSON number 2.5`,
		`{"env":"maze","seed":1,"difficulty":2,"completion":["a"]}`:       `"completion" must be a string, not a JSON array`,
		`{"env":"maze","seed":1e30,"difficulty":2,"completion":"x"}`:      `"seed" must be an integer`,
		`{"env":"maze","seed":1,"difficulty":99999999999999999999,"c":1}`: `"difficulty" must be an integer`,
		`null`:        "not a JSON object",
		`[1,2]`:       "not a JSON object",
		`"text"`:      "not a JSON object",
		`{"env":"m",`: "not valid JSON",
	} {
		_, err := ParseScoreLine([]byte(in))
		if !errors.Is(err, ErrBadLine) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseScoreLine(%s) = %v, want %q", in, err, want)
		}
	}
}

// fakeExec scores every answer 0 without running anything, so that Score's
// reading of its input can be tested and fuzzed without a sandbox.
type fakeExec struct{}

func (fakeExec) Register(*env.Module) {}
func (fakeExec) Close() error         { return nil }
func (fakeExec) Run(_ context.Context, tasks []env.Task) []env.Result {
	out := make([]env.Result, len(tasks))
	for i, t := range tasks {
		out[i].Scores = make([]env.Score, len(t.Answers))
	}
	return out
}

// A line without a difficulty is not scored as difficulty 0: it is reported
// with its line number, and the lines around it are still scored.
func TestScoreReportsMissingDifficultyByLine(t *testing.T) {
	in := `{"env":"maze","seed":1,"difficulty":2,"completion":"<answer>a</answer>"}

{"env":"maze","seed":2,"completion":"<answer>b</answer>"}
{"env":"maze","seed":3,"difficulty":4,"completion":"<answer>c</answer>"}
`
	var out bytes.Buffer
	var bad []LineError
	sums, err := Score(context.Background(), fakeExec{}, strings.NewReader(in), &out, func(e LineError) { bad = append(bad, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Line != 3 || !strings.Contains(bad[0].Error(), `line 3: malformed line: missing "difficulty"`) {
		t.Fatalf("bad lines %v", bad)
	}
	if len(sums) != 1 || sums[0].N != 2 || !strings.Contains(out.String(), `"line":1,`) || !strings.Contains(out.String(), `"line":4,`) {
		t.Fatalf("sums %+v\n%s", sums, out.String())
	}
}

var scoreLineSeeds = []string{
	`{"env":"maze","seed":7,"difficulty":3,"completion":"<answer>R</answer>"}`,
	`{"env":"maze","seed":7,"difficulty":3,"completion":"x","state":{"grid":[[1,0],[0,1]]}}`,
	`{"env":"maze","seed":7,"completion":"x"}`,
	`{"env":"maze","seed":"7","difficulty":3,"completion":"x"}`,
	`{"env":null,"seed":7,"difficulty":3,"completion":"x","state":null}`,
	`{"env":"maze","seed":7,"difficulty":3,"completion":"x","env":""}`,
	`[{"env":"maze"}]`,
	`{"env":"maze","seed":9223372036854775808,"difficulty":3,"completion":"x"}`,
	"{\"env\":\"m\\u0000\",\"seed\":0,\"difficulty\":-1,\"completion\":\"\\ud800\"}",
	`{`,
	``,
	"\xff\xfe{}",
}

// FuzzParseScoreLine: any bytes give an item or an error wrapping
// ErrBadLine, never a panic; an item always has an environment name.
func FuzzParseScoreLine(f *testing.F) {
	for _, s := range scoreLineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := ParseScoreLine(b)
		if err != nil {
			if !errors.Is(err, ErrBadLine) {
				t.Fatalf("error %v does not wrap ErrBadLine", err)
			}
			return
		}
		if it.Env == "" {
			t.Fatalf("accepted %q with no env", b)
		}
	})
}

// FuzzScoreInput: whole inputs (several lines, blank lines, CRLF, junk)
// never panic, every malformed line is reported with a line number inside
// the input, and every other non-blank line gets exactly one record.
func FuzzScoreInput(f *testing.F) {
	f.Add(strings.Join(scoreLineSeeds, "\n"))
	f.Add(scoreLineSeeds[0] + "\r\n\r\n" + scoreLineSeeds[2] + "\r\n")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		var bad []LineError
		_, err := Score(context.Background(), fakeExec{}, strings.NewReader(in), &out, func(e LineError) { bad = append(bad, e) }, nil)
		if err != nil {
			return // only a read or write error ends the run
		}
		lines := strings.Split(in, "\n")
		nonBlank := 0
		for _, l := range lines {
			if strings.TrimSpace(l) != "" {
				nonBlank++
			}
		}
		for _, e := range bad {
			if e.Line < 1 || e.Line > len(lines) || strings.TrimSpace(lines[e.Line-1]) == "" {
				t.Fatalf("line error %v points at no malformed line", e)
			}
		}
		if records := strings.Count(out.String(), "\n"); records+len(bad) != nonBlank {
			t.Fatalf("%d records + %d bad lines for %d non-blank lines", records, len(bad), nonBlank)
		}
	})
}
