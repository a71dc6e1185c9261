package llm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

const script1 = `# a hand-written replay
{"tag":"ideate","subject":"graphs","reply":"graph ideas"}
{"tag":"implement","subject":"b","reply":"code for b, first"}
{"tag":"implement","subject":"a","reply":"code for a"}
{"tag":"implement","reply":"code for anyone"}
{"tag":"implement","subject":"b","reply":"code for b, second"}

{"tag":"solve","reply":"<answer>1</answer>","repeat":true,"usage":{"prompt_tokens":3,"completion_tokens":2}}
{"tag":"repair","subject":"a","error":"rate_limited"}
`

func TestReplayMatching(t *testing.T) {
	r, err := ParseReplay(strings.NewReader(script1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(tag, subject string) string {
		t.Helper()
		c, err := r.Complete(ctx, Request{Tag: tag, Subject: subject})
		if err != nil {
			return "error: " + err.Error()
		}
		return c.Text
	}
	for _, tc := range []struct{ tag, subject, want string }{
		{"implement", "a", "code for a"},
		{"implement", "b", "code for b, first"},
		{"implement", "c", "code for anyone"},
		{"implement", "b", "code for b, second"},
		{"solve", "x", "<answer>1</answer>"},
		{"solve", "y", "<answer>1</answer>"},
		{"ideate", "graphs", "graph ideas"},
	} {
		if got := get(tc.tag, tc.subject); got != tc.want {
			t.Errorf("%s/%s = %q, want %q", tc.tag, tc.subject, got, tc.want)
		}
	}
	if _, err := r.Complete(ctx, Request{Tag: "implement", Subject: "a"}); !errors.Is(err, ErrReplayExhausted) {
		t.Errorf("exhausted: %v", err)
	}
	if _, err := r.Complete(ctx, Request{Tag: "repair", Subject: "a"}); !errors.Is(err, ErrRateLimited) {
		t.Errorf("scripted error: %v", err)
	}
	if n := r.Remaining(); n != 0 {
		t.Errorf("remaining = %d", n)
	}
}

func TestReplayConcurrentSubjectsAreDeterministic(t *testing.T) {
	var b strings.Builder
	subjects := []string{"a", "b", "c", "d", "e", "f"}
	for _, s := range subjects {
		b.WriteString(`{"tag":"implement","subject":"` + s + `","reply":"1` + s + `"}` + "\n")
		b.WriteString(`{"tag":"implement","subject":"` + s + `","reply":"2` + s + `"}` + "\n")
	}
	r, err := ParseReplay(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range subjects {
		wg.Go(func() {
			for _, want := range []string{"1" + s, "2" + s} {
				c, err := r.Complete(context.Background(), Request{Tag: "implement", Subject: s})
				if err != nil || c.Text != want {
					t.Errorf("%s: got %q, %v; want %q", s, c.Text, err, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestReplayStreams(t *testing.T) {
	long := strings.Repeat("déjà vu ", 40)
	r, _ := ParseReplay(strings.NewReader(`{"tag":"t","reply":"` + long + `"}`))
	var col collect
	c, err := r.Complete(context.Background(), Request{Tag: "t", OnDelta: col.on})
	if err != nil || col.text.String() != long || c.Text != long {
		t.Fatalf("streamed %q, %v", col.text.String(), err)
	}
}

func TestReplayFileErrors(t *testing.T) {
	for _, bad := range []string{
		"{\"tag\":\"x\",\"reply\":\"a\"}\n{not json}",
		`{"tag":"x","reply":"a","colour":"red"}`,
		`{"reply":"no tag"}`,
		`{"tag":"x","error":"gremlins"}`,
	} {
		if _, err := ParseReplay(strings.NewReader(bad)); !errors.Is(err, ErrReplayFile) || !strings.Contains(err.Error(), "line ") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	if _, err := LoadReplay("/nonexistent/run.jsonl"); !errors.Is(err, ErrReplayFile) {
		t.Errorf("missing file: %v", err)
	}
}

func TestRecorderRoundTrip(t *testing.T) {
	src, _ := ParseReplay(strings.NewReader(`{"tag":"implement","subject":"a","reply":"A"}
{"tag":"implement","subject":"b","reply":"B","usage":{"prompt_tokens":4,"completion_tokens":1}}`))
	var buf bytes.Buffer
	rec := NewRecorder(src, &buf)
	reqA := Request{Tag: "implement", Subject: "a", Messages: []Message{{RoleUser, "write a"}}}
	reqB := Request{Tag: "implement", Subject: "b", Messages: []Message{{RoleUser, "write b"}}}
	for _, req := range []Request{reqA, reqB} {
		if _, err := rec.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	played, err := ParseReplay(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Fingerprints find the replies whatever the tag says.
	reqB.Tag, reqB.Subject = "other", ""
	c, err := played.Complete(context.Background(), reqB)
	if err != nil || c.Text != "B" || c.Usage.Total() != 5 {
		t.Fatalf("got %+v, %v", c, err)
	}
	if Fingerprint(reqA) == Fingerprint(reqB) {
		t.Fatal("different requests share a fingerprint")
	}
}

func FuzzParseReplay(f *testing.F) {
	f.Add(script1)
	f.Add(`{"tag":"x","reply":"\u00e9"}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReplay(strings.NewReader(s))
		if err != nil {
			return
		}
		for range r.entries {
			r.Complete(context.Background(), Request{Tag: "x", OnDelta: func(Delta) {}})
		}
	})
}
