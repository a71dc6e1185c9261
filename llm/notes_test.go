package llm

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestRetryNotes: the first retry of each kind is printed at once, later
// ones of that kind within 15 s are counted, and the next one printed says
// how many were not shown.
func TestRetryNotes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	r := &RetryNotes{W: &b, Now: func() time.Time { return now }}
	limited := RetryNotice{Provider: "openai:m", URL: "http://x/v1", Err: &Error{Kind: ErrRateLimited}, Attempt: 1}
	server := RetryNotice{Provider: "openai:m", URL: "http://x/v1", Err: &Error{Kind: ErrServer}, Attempt: 1}
	for _, step := range []struct {
		after time.Duration
		n     RetryNotice
	}{{0, limited}, {time.Second, limited}, {2 * time.Second, server}, {10 * time.Second, limited}, {16 * time.Second, limited}} {
		now = now.Add(step.after)
		r.Note(step.n)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines (429, 503, 429 with a count), got:\n%s", b.String())
	}
	if !strings.HasPrefix(lines[0], "resyn: openai:m at http://x/v1: attempt 1 failed: llm: rate limited;") || strings.Contains(lines[0], "not shown") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "server error") {
		t.Errorf("another kind is printed at once: %q", lines[1])
	}
	if !strings.HasSuffix(lines[2], "[2 similar retries not shown]") {
		t.Errorf("third line %q: want the two hidden retries counted", lines[2])
	}
}
