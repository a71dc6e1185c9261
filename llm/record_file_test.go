package llm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordToFileAppendsAndMeterSummary: two recorders on one file append
// (a recording grows run by run), the file replays both replies, and a
// metered run's summary counts failed calls among the calls.
func TestRecordToFileAppendsAndMeterSummary(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	var m Meter
	for _, reply := range []string{"A", "B"} {
		src, _ := ParseReplay(strings.NewReader(`{"tag":"judge","reply":"` + reply + `","usage":{"prompt_tokens":7,"completion_tokens":2}}`))
		p, err := RecordToFile(Metered(src, &m), path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Complete(context.Background(), Request{Tag: "judge", Messages: []Message{{RoleUser, "review " + reply}}}); err != nil {
			t.Fatal(err)
		}
	}
	m.Fail()
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Fatalf("%d lines recorded, want 2:\n%s", n, b)
	}
	played, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := played.Complete(context.Background(), Request{Tag: "judge", Messages: []Message{{RoleUser, "review B"}}}); err != nil || c.Text != "B" {
		t.Errorf("replayed %+v, %v", c, err)
	}
	if got := m.Summary(); got != "3 calls (1 failed), 14+4 tokens" {
		t.Errorf("Summary = %q", got)
	}
	if _, err := RecordToFile(played, filepath.Join(path, "under-a-file")); err == nil {
		t.Error("a recording under a file: no error")
	}
}
