package llm

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// reset drops the connection without an answer, as a crashing server or a
// proxy does.
func reset(w http.ResponseWriter, r *http.Request, s *script) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestConnectionResetIsRetried(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, reset, reset, jsonBody(w.plain("after two resets")))
		c, waits := open(t, testConfig(w.name, s.srv.URL))
		got, err := c.Complete(context.Background(), ask("q"))
		if err != nil || got.Text != "after two resets" || got.Attempts != 3 || len(waits.d) != 2 {
			t.Fatalf("got %+v, %v, waits %v", got, err, waits.d)
		}
		s2 := newScript(t, reset)
		c2, _ := open(t, testConfig(w.name, s2.srv.URL))
		if _, err := c2.Complete(context.Background(), ask("q")); !errors.Is(err, ErrNetwork) || s2.requests() != 4 {
			t.Fatalf("always reset: %v after %d requests", err, s2.requests())
		}
	})
}

func TestCancelMidStream(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, sse(w.stream([]string{"half ", "a reply"}, false), true))
		c, _ := open(t, testConfig(w.name, s.srv.URL))
		ctx, cancel := context.WithCancel(context.Background())
		var col collect
		req := ask("q")
		req.OnDelta = func(d Delta) {
			col.on(d)
			if col.text.String() == "half a reply" {
				cancel() // the viewer gives up while the stream hangs
			}
		}
		_, err := c.Complete(ctx, req)
		if !errors.Is(err, context.Canceled) || s.requests() != 1 {
			t.Fatalf("err = %v after %d requests", err, s.requests())
		}
		if ok, failed := c.cfg.Meter.Calls(); ok != 0 || failed != 1 || c.cfg.Meter.Usage().Total() != 0 {
			t.Fatalf("meter: %d ok, %d failed, %+v", ok, failed, c.cfg.Meter.Usage())
		}
	})
}

func TestCancelWhileWaitingForSlotOrBackoff(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, hung)
		cfg := testConfig(w.name, s.srv.URL)
		cfg.MaxConcurrency = 1
		c, _ := open(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() { _, err := c.Complete(ctx, ask("holds the only slot")); first <- err }()
		for s.requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel2()
		if _, err := c.Complete(ctx2, ask("waits for a slot")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("waiting for a slot: %v", err)
		}
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("first: %v", err)
		}
		if s.requests() != 1 {
			t.Errorf("%d requests reached the server, want 1", s.requests())
		}

		// Cancelled during the backoff pause before a retry (real sleeping):
		// the cancellation comes as the 30 s pause begins, not after a fixed
		// time that a busy machine could spend before the first reply.
		s3 := newScript(t, status(503, "Retry-After", "30"))
		c3, _ := open(t, testConfig(w.name, s3.srv.URL))
		ctx3, cancel3 := context.WithCancel(context.Background())
		defer cancel3()
		c3.sleep = func(ctx context.Context, d time.Duration) error {
			cancel3()
			return sleepCtx(ctx, d)
		}
		start := time.Now()
		_, err := c3.Complete(ctx3, ask("q"))
		if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrServer) || time.Since(start) > 10*time.Second {
			t.Errorf("backoff cancelled: %v", err)
		}
		if s3.requests() != 1 {
			t.Errorf("%d requests after a cancel during the first pause, want 1", s3.requests())
		}
	})
}

func TestRetryAfterIsCapped(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, status(429, "Retry-After", "86400"), jsonBody(w.plain("ok")))
		cfg := testConfig(w.name, s.srv.URL)
		cfg.MaxRetryAfter = 2 * time.Second
		c, waits := open(t, cfg)
		if _, err := c.Complete(context.Background(), ask("q")); err != nil {
			t.Fatal(err)
		}
		if len(waits.d) != 1 || waits.d[0] != 2*time.Second {
			t.Fatalf("waits %v, want the 2s cap", waits.d)
		}
	})
}

// TestTokenAccountingAcrossRetries: a broken attempt's tokens are not
// counted (the server reports usage only for a finished reply); the meter
// holds exactly the successful calls' usage and the failed calls' count,
// also when providers share one meter.
func TestTokenAccountingAcrossRetries(t *testing.T) {
	meter := &Meter{}
	for _, w := range wires {
		s := newScript(t,
			sse(w.stream([]string{"cut"}, false), false),
			sse(w.stream([]string{"whole"}, true), false),
			jsonBody(w.plain("plain")),
			status(400))
		cfg := testConfig(w.name, s.srv.URL)
		cfg.Meter = meter
		c, _ := open(t, cfg)
		req := ask("q")
		req.OnDelta = func(Delta) {}
		if got, err := c.Complete(context.Background(), req); err != nil || got.Usage != (Usage{11, 7}) {
			t.Fatalf("%s streamed: %+v, %v", w.name, got, err)
		}
		if _, err := c.Complete(context.Background(), ask("q")); err != nil {
			t.Fatalf("%s plain: %v", w.name, err)
		}
		if _, err := c.Complete(context.Background(), ask("q")); !errors.Is(err, ErrRequest) {
			t.Fatalf("%s rejected: %v", w.name, err)
		}
	}
	if ok, failed := meter.Calls(); ok != 4 || failed != 2 {
		t.Fatalf("calls %d ok, %d failed", ok, failed)
	}
	if u := meter.Usage(); u != (Usage{44, 28}) {
		t.Fatalf("usage %+v", u)
	}
}

// TestReplayHonoursCancellation: the replay provider stops a paced stream
// when the context ends.
func TestReplayHonoursCancellation(t *testing.T) {
	r, err := LoadReplay("testdata/does-not-exist.jsonl")
	if !errors.Is(err, ErrReplayFile) || r != nil {
		t.Fatalf("missing file: %v", err)
	}
	r, _ = ParseReplay(strings.NewReader(`{"tag":"t","reply":"` + longWords(200) + `"}`))
	r.Pace = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	_, err = r.Complete(ctx, Request{Tag: "t", OnDelta: func(Delta) {
		if n.Add(1) == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || n.Load() != 3 {
		t.Fatalf("err = %v after %d deltas", err, n.Load())
	}
}

func longWords(n int) string {
	b := make([]byte, 0, n*5)
	for i := 0; i < n; i++ {
		b = append(b, "word "...)
	}
	return string(b)
}
