package dataset

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseLevels(t *testing.T) {
	for in, want := range map[string]string{"": "[]", "3": "[3]", "2-4": "[2 3 4]", "1,5,10": "[1 5 10]"} {
		got, err := ParseLevels(in)
		if err != nil || strings.Trim(strings.ReplaceAll(fmtInts(got), "  ", " "), " ") != want {
			t.Errorf("ParseLevels(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "1,y", "5-2"} {
		if _, err := ParseLevels(bad); err == nil {
			t.Errorf("ParseLevels(%q) accepted", bad)
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

// TestProgressLine: a report within 200 ms of the last is held back and
// shown by End; a message goes on its own line; the line is padded over a
// longer one it rewrites.
func TestProgressLine(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	p := &ProgressLine{W: &b, Verb: "scored", Now: func() time.Time { return now }}
	p.Show(Progress{Done: 100, Elapsed: time.Second})
	now = now.Add(100 * time.Millisecond)
	p.Show(Progress{Done: 150, Elapsed: 1100 * time.Millisecond}) // held back
	p.Printf("skipped %s\n", "line 3")
	now = now.Add(300 * time.Millisecond)
	p.Show(Progress{Done: 9, Elapsed: time.Second})
	p.Show(Progress{Done: 12, Elapsed: time.Second}) // held back, shown by End
	p.End(1500 * time.Millisecond)
	want := "\rscored 100 (0 failed), 100/s\nskipped line 3\n\rscored 9 (0 failed), 9.0/s  \rscored 12 (0 failed), 12/s in 1.5s\n"
	if b.String() != want {
		t.Errorf("progress line:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestWriteScoreSummary(t *testing.T) {
	var b bytes.Buffer
	WriteScoreSummary(&b, []EnvSummary{{Env: "maze", N: 4, MeanScore: 0.5, Pass: 2, OK: 3, Format: 1}, {Env: "sat", N: 1, EnvError: 1}})
	want := "   ENV  N   MEAN  PASS  OK  FORMAT  ENV_ERROR  TIMEOUT\n" +
		"  maze  4  0.500     2   3       1          0        0\n" +
		"   sat  1  0.000     0   0       0          1        0\n"
	if b.String() != want {
		t.Errorf("score summary:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestWriteRescore: unrecorded and gone versions are named, and the last
// line counts the environments whose results changed.
func TestWriteRescore(t *testing.T) {
	sums := []RescoreSummary{
		{Env: "maze", OldHashes: []string{"aa", ""}, NewHash: "bb", N: 3, Same: 2, Lower: 1, OldPass: 2, NewPass: 1, OldMean: 0.75, NewMean: 0.5},
		{Env: "sat", OldHashes: []string{"cc"}, NewHash: "", N: 1, Same: 1},
	}
	var b bytes.Buffer
	WriteRescore(&b, sums)
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[1], "maze  aa,unrecorded  bb ") || !strings.Contains(lines[1], "2 → 1") || !strings.Contains(lines[1], "0.750 → 0.500") ||
		!strings.HasPrefix(lines[2], "sat   cc             gone") || !strings.HasSuffix(b.String(), "\n1 environment(s) with changed results\n") {
		t.Errorf("rescore table:\n%s", b.String())
	}
	b.Reset()
	WriteRescore(&b, sums[1:])
	if !strings.HasSuffix(b.String(), "\nno result changed\n") {
		t.Errorf("nothing changed:\n%s", b.String())
	}
}
