package textout

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// fakeClock returns a clock that moves only when told.
func fakeClock() (*time.Time, func() time.Time) {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &t, func() time.Time { return t }
}

func TestRate(t *testing.T) {
	now, clock := fakeClock()
	r := &Rate{Now: clock}
	if got := r.Line(0, 100, "steps"); got != "" {
		t.Errorf("no unit done yet: %q", got)
	}
	*now = now.Add(10 * time.Second)
	if got := r.Line(5, 100, "steps"); got != "0.5 steps/s, 3m10s left" {
		t.Errorf("5 of 100 in 10 s: %q", got)
	}
	*now = now.Add(2 * time.Hour)
	if got := r.Line(6, 100, "steps"); got != "0.05 steps/min, 31h22m left" {
		t.Errorf("6 of 100 in two hours: %q", got)
	}
	if got := r.Line(100, 100, "steps"); !strings.HasSuffix(got, "steps/min") {
		t.Errorf("all done: %q, want the rate alone", got)
	}
	// A resumed job measures from where it resumed.
	r = &Rate{Now: clock}
	r.StartAt(40, clock().Add(-20*time.Second))
	if got := r.Line(50, 60, "steps"); got != "0.5 steps/s, 20s left" {
		t.Errorf("resumed at 40, at 50 of 60 after 20 s: %q", got)
	}
}

func TestTableFits(t *testing.T) {
	tb := NewTable("NAME", "N", "WHY").Wrapping(2).RightAligned(1)
	tb.Row("a_rather_long_environment_name", "12", "the verifier accepts every answer that lists all the options, which a model learns to do")
	tb.Row("short", "3", "")
	var b bytes.Buffer
	if err := tb.Write(&b, 60); err != nil {
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
	tb.Write(&b, 200)
	if n := strings.Count(b.String(), "\n"); n != 3 {
		t.Errorf("at 200 columns the table has %d lines, want 3:\n%s", n, b.String())
	}
}

func TestUnescapeHTML(t *testing.T) {
	for in, want := range map[string]string{
		`"\u003canswer\u003e \u0026"`: `"<answer> &"`,
		`"\\u003c"`:                   `"\\u003c"`, // an escaped backslash, then text
		`"\\\u003c"`:                  `"\\<"`,
		`"\u00e9 \u003C"`:             `"\u00e9 <"`,
		`"plain"`:                     `"plain"`,
	} {
		if got := string(UnescapeHTML([]byte(in))); got != want {
			t.Errorf("UnescapeHTML(%s) = %s, want %s", in, got, want)
		}
		var a, b any
		if json.Unmarshal([]byte(in), &a) != nil || json.Unmarshal([]byte(want), &b) != nil || a != b {
			t.Errorf("%s and %s do not decode to the same string", in, want)
		}
	}
}

// TestWriteOut: a file is written whole, replacing what was there, and
// leaves no temporary file beside it; a folder that does not exist is an
// error.
func TestWriteOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maze.star")
	os.WriteFile(path, []byte("old, longer content"), 0o644)
	if err := WriteOut(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("file holds %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the folder, want 1", len(ents))
	}
	if err := WriteOut(filepath.Join(dir, "no", "x.star"), []byte("x")); err == nil {
		t.Error("a missing folder: no error")
	}
}
