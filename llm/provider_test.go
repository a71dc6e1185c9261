package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// wire plays one provider's wire format.
type wire struct {
	name  string
	path  string // the endpoint the SDK must call
	plain func(text string) string
	// stream is the SSE events of a reply in pieces; complete=false leaves
	// out the final events (a cut stream).
	stream func(pieces []string, complete bool) []string
}

var wires = []wire{
	{
		name: "openai", path: "/chat/completions",
		plain: func(text string) string {
			b, _ := json.Marshal(text)
			return `{"id":"c1","object":"chat.completion","created":1,"model":"served-model","choices":[{"index":0,"message":{"role":"assistant","content":` +
				string(b) + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
		},
		stream: func(pieces []string, complete bool) []string {
			var ev []string
			for _, p := range pieces {
				b, _ := json.Marshal(p)
				ev = append(ev, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"served-model","choices":[{"index":0,"delta":{"content":`+string(b)+`},"finish_reason":null}]}`)
			}
			if complete {
				ev = append(ev,
					`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"served-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
					`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"served-model","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
					`data: [DONE]`)
			}
			return ev
		},
	},
	{
		name: "anthropic", path: "/v1/messages",
		plain: func(text string) string {
			b, _ := json.Marshal(text)
			return `{"id":"m1","type":"message","role":"assistant","model":"served-model","content":[{"type":"text","text":` + string(b) +
				`}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":7}}`
		},
		stream: func(pieces []string, complete bool) []string {
			ev := []string{
				"event: message_start\ndata: " + `{"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","model":"served-model","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}`,
				"event: content_block_start\ndata: " + `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			}
			for _, p := range pieces {
				b, _ := json.Marshal(p)
				ev = append(ev, "event: content_block_delta\ndata: "+`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(b)+`}}`)
			}
			if complete {
				ev = append(ev,
					"event: content_block_stop\ndata: "+`{"type":"content_block_stop","index":0}`,
					"event: message_delta\ndata: "+`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`,
					"event: message_stop\ndata: "+`{"type":"message_stop"}`)
			}
			return ev
		},
	},
}

func forEachWire(t *testing.T, f func(t *testing.T, w wire)) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) { f(t, w) })
	}
}

func TestPlainReply(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, jsonBody(w.plain("hello <answer>4</answer>")))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		got, err := c.Complete(context.Background(), ask("2+2?"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != "hello <answer>4</answer>" || got.Usage != (Usage{11, 7}) || got.Attempts != 1 || got.Model != "served-model" {
			t.Fatalf("completion = %+v", got)
		}
		if u := c.cfg.Meter.Usage(); u != (Usage{11, 7}) {
			t.Fatalf("meter = %+v", u)
		}
		body := s.body(0)
		for _, want := range []string{`"test-model"`, `"be brief"`, `"2+2?"`, `"max_tokens":8192`} {
			if !strings.Contains(body, want) {
				t.Errorf("request body lacks %s: %s", want, body)
			}
		}
	})
}

func TestStreamedReply(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, sse(w.stream([]string{"The ", "answer ", "is 4."}, true), false))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		var col collect
		req := ask("2+2?")
		req.OnDelta = col.on
		got, err := c.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != "The answer is 4." || col.text.String() != got.Text || got.Usage != (Usage{11, 7}) {
			t.Fatalf("completion %+v, streamed %q", got, col.text.String())
		}
		if !strings.Contains(s.body(0), `"stream":true`) {
			t.Errorf("request was not streamed: %s", s.body(0))
		}
	})
}

func TestStreamCutIsRetried(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t,
			sse(w.stream([]string{"The ", "ans"}, false), false),
			sse(w.stream([]string{"The ", "answer."}, true), false))
		c, waits := open(t, testConfig(w.name, s.srv.URL))
		var col collect
		req := ask("q")
		req.OnDelta = col.on
		got, err := c.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got.Text != "The answer." || got.Attempts != 2 || col.restarts != 1 || col.text.String() != "The answer." {
			t.Fatalf("completion %+v, restarts %d, streamed %q", got, col.restarts, col.text.String())
		}
		if len(waits.d) != 1 {
			t.Fatalf("waits = %v", waits.d)
		}
	})
}

func TestStreamCutEveryTime(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, sse(w.stream([]string{"x"}, false), false))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		req := ask("q")
		req.OnDelta = func(Delta) {}
		_, err := c.Complete(context.Background(), req)
		if !errors.Is(err, ErrStreamCut) || s.requests() != 4 {
			t.Fatalf("err = %v after %d requests", err, s.requests())
		}
		if ok, failed := c.cfg.Meter.Calls(); ok != 0 || failed != 1 {
			t.Fatalf("meter calls = %d ok, %d failed", ok, failed)
		}
	})
}

func TestRateLimitStormHonoursRetryAfter(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t,
			status(429, "Retry-After", "3"),
			status(429, "Retry-After", "3"),
			status(429, "Retry-After-Ms", "1500"),
			jsonBody(w.plain("ok")))
		c, waits := open(t, testConfig(w.name, s.srv.URL))
		got, err := c.Complete(context.Background(), ask("q"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempts != 4 || len(waits.d) != 3 {
			t.Fatalf("attempts %d, waits %v", got.Attempts, waits.d)
		}
		want := []time.Duration{3 * time.Second, 3 * time.Second, 1500 * time.Millisecond}
		for i, d := range waits.d {
			if d < want[i] {
				t.Errorf("wait %d = %v, server asked for %v", i, d, want[i])
			}
		}
	})
}

func TestRateLimitStormGivesUp(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, status(429))
		c, waits := open(t, testConfig(w.name, s.srv.URL))
		_, err := c.Complete(context.Background(), ask("q"))
		var e *Error
		if !errors.Is(err, ErrRateLimited) || !errors.As(err, &e) || e.Status != 429 || e.Attempts != 4 {
			t.Fatalf("err = %v", err)
		}
		if s.requests() != 4 || len(waits.d) != 3 {
			t.Fatalf("%d requests, waits %v", s.requests(), waits.d)
		}
		// Exponential backoff, capped: 1ms, 2ms, 4ms bases, each at least half.
		for i, d := range waits.d {
			base := time.Millisecond << i
			if d < base/2 || d > base {
				t.Errorf("wait %d = %v, want in [%v, %v]", i, d, base/2, base)
			}
		}
	})
}

func TestServerErrorsRetriedRequestErrorsNot(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, status(503), status(500), jsonBody(w.plain("ok")))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		if got, err := c.Complete(context.Background(), ask("q")); err != nil || got.Attempts != 3 {
			t.Fatalf("got %+v, %v", got, err)
		}
		s2 := newScript(t, status(400), jsonBody(w.plain("never")))
		c2, _ := open(t, testConfig(w.name, s2.srv.URL))
		_, err := c2.Complete(context.Background(), ask("q"))
		if !errors.Is(err, ErrRequest) || s2.requests() != 1 {
			t.Fatalf("err = %v after %d requests", err, s2.requests())
		}
	})
}

func TestMalformedJSON(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, jsonBody(`{"id": "c1", "choices": [`), jsonBody(`not json at all`))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		_, err := c.Complete(context.Background(), ask("q"))
		if !errors.Is(err, ErrBadReply) || s.requests() != 4 {
			t.Fatalf("err = %v after %d requests, want a malformed reply", err, s.requests())
		}
		// Malformed SSE data in a stream.
		s2 := newScript(t, sse([]string{"data: {not json"}, false))
		c2, _ := open(t, testConfig(w.name, s2.srv.URL))
		req := ask("q")
		req.OnDelta = func(Delta) {}
		if _, err := c2.Complete(context.Background(), req); !errors.Is(err, ErrBadReply) && !errors.Is(err, ErrStreamCut) {
			t.Fatalf("stream err = %v", err)
		}
	})
}

func TestHungConnectionTimesOut(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, hung, jsonBody(w.plain("after the hang")))
		cfg := testConfig(w.name, s.srv.URL)
		cfg.Timeout = 100 * time.Millisecond
		c, _ := open(t, cfg)
		got, err := c.Complete(context.Background(), ask("q"))
		if err != nil || got.Text != "after the hang" || got.Attempts != 2 {
			t.Fatalf("got %+v, %v", got, err)
		}
		// Always hung: the error says timeout.
		s2 := newScript(t, hung)
		cfg.BaseURL, cfg.MaxRetries = s2.srv.URL, 1
		c2, _ := open(t, cfg)
		if _, err := c2.Complete(context.Background(), ask("q")); !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestStreamGoesSilent(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, sse(w.stream([]string{"part"}, false), true), sse(w.stream([]string{"whole"}, true), false))
		cfg := testConfig(w.name, s.srv.URL)
		cfg.IdleTimeout = 100 * time.Millisecond
		c, _ := open(t, cfg)
		var col collect
		req := ask("q")
		req.OnDelta = col.on
		got, err := c.Complete(context.Background(), req)
		if err != nil || got.Text != "whole" || col.restarts != 1 {
			t.Fatalf("got %+v, %v, restarts %d", got, err, col.restarts)
		}
	})
}

func TestCancellation(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, hung)
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		ctx, cancel := context.WithCancel(context.Background())
		// Cancel once the server holds the request: a fixed pause could pass
		// before a busy machine even sent it.
		go func() {
			for s.requests() < 1 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := c.Complete(ctx, ask("q"))
		if !errors.Is(err, context.Canceled) || s.requests() != 1 {
			t.Fatalf("err = %v after %d requests", err, s.requests())
		}
	})
}

func TestConcurrencyCap(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		slow := func(wr http.ResponseWriter, r *http.Request, s *script) {
			time.Sleep(20 * time.Millisecond)
			jsonBody(w.plain("ok"))(wr, r, s)
		}
		s := newScript(t, slow)
		cfg := testConfig(w.name, s.srv.URL)
		cfg.MaxConcurrency = 2
		c, _ := open(t, cfg)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := c.Complete(context.Background(), ask("q")); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if m := s.maxIn.Load(); m > 2 {
			t.Fatalf("%d requests in flight at once, cap was 2", m)
		}
		if u := c.cfg.Meter.Usage(); u != (Usage{88, 56}) {
			t.Fatalf("meter = %+v", u)
		}
	})
}

func TestOpen(t *testing.T) {
	t.Setenv("ANTHROPIC_API_KEY", "")
	t.Setenv("OPENAI_API_KEY", "")
	t.Setenv("OPENAI_BASE_URL", "")
	if _, err := Open(Config{Provider: "anthropic", Model: "m"}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("anthropic without key: %v", err)
	}
	if _, err := Open(Config{Provider: "openai", Model: "m"}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("openai without key: %v", err)
	}
	if _, err := Open(Config{Provider: "openai", Model: "m", BaseURL: "http://127.0.0.1:8000/v1"}); err != nil {
		t.Errorf("local server needs no key: %v", err)
	}
	if _, err := Open(Config{Provider: "gemini"}); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
	t.Setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
	p, err := Open(Config{Provider: "openai", Model: "llama3"})
	if err != nil || p.Name() != "openai:llama3" {
		t.Errorf("from environment: %v, %v", p, err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"7"}}, 7 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{nil, 0},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "0.25", "Wed, 21 Oct 2015 07:28:00 GMT", "", "1e300", "NaN", "-1"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, ms string) {
		h := http.Header{"Retry-After": {a}, "Retry-After-Ms": {ms}}
		if d := retryAfter(h, time.Unix(0, 0)); d < 0 {
			t.Fatalf("negative wait %v for %q/%q", d, a, ms)
		}
	})
}

func Example() {
	// A replay provider stands in for a live model here; Open with
	// Provider "openai" or "anthropic" gives the same interface.
	r, _ := ParseReplay(strings.NewReader(`{"tag":"solve","reply":"<answer>4</answer>","usage":{"prompt_tokens":12,"completion_tokens":5}}`))
	var meter Meter
	p := Metered(r, &meter)
	c, err := p.Complete(context.Background(), Request{Tag: "solve", Messages: []Message{{RoleUser, "2+2?"}}})
	fmt.Println(c.Text, err, meter.Usage().Total())
	// Output: <answer>4</answer> <nil> 17
}

func TestDefaultProvider(t *testing.T) {
	for _, c := range []struct {
		env   map[string]string
		want  string
		found bool
	}{
		{map[string]string{}, "replay", false},
		{map[string]string{"OPENAI_API_KEY": "k"}, "openai", true},
		{map[string]string{"OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}, "openai", true},
		{map[string]string{"ANTHROPIC_API_KEY": "k"}, "anthropic", true},
		{map[string]string{"ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"}, "openai", true},
	} {
		for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"} {
			t.Setenv(k, c.env[k])
		}
		if got, found := DefaultProvider(); got != c.want || found != c.found {
			t.Errorf("%v: got %q %v, want %q %v", c.env, got, found, c.want, c.found)
		}
	}
}
