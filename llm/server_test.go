package llm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// script is an httptest server that plays a provider: request n (from 0) is
// answered by steps[n], the last step repeating.
type script struct {
	srv      *httptest.Server
	n        atomic.Int32
	mu       sync.Mutex
	bodies   []string
	inFlight atomic.Int32
	maxIn    atomic.Int32
	hang     chan struct{} // closed at cleanup: releases hung handlers
}

type step func(w http.ResponseWriter, r *http.Request, s *script)

func newScript(t *testing.T, steps ...step) *script {
	t.Helper()
	s := &script{hang: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxIn.Load()
			if in <= m || s.maxIn.CompareAndSwap(m, in) {
				break
			}
		}
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			k, err := r.Body.Read(buf)
			b.Write(buf[:k])
			if err != nil {
				break
			}
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, b.String())
		s.mu.Unlock()
		i := int(s.n.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r, s)
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() { close(s.hang) })
	return s
}

func (s *script) requests() int { return int(s.n.Load()) }

func (s *script) body(i int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i]
}

func status(code int, header ...string) step {
	return func(w http.ResponseWriter, r *http.Request, s *script) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"message":"scripted %d","type":"scripted"}}`, code)
	}
}

func jsonBody(body string) step {
	return func(w http.ResponseWriter, r *http.Request, s *script) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

// sse writes events; with hangAfter it then waits (a hung stream) instead of
// returning (a cut stream).
func sse(events []string, hangAfter bool) step {
	return func(w http.ResponseWriter, r *http.Request, s *script) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		for _, e := range events {
			fmt.Fprint(w, e+"\n\n")
			w.(http.Flusher).Flush()
		}
		if hangAfter {
			hung(w, r, s)
		}
	}
}

func hung(w http.ResponseWriter, r *http.Request, s *script) {
	select {
	case <-r.Context().Done():
	case <-s.hang:
	}
}

// waits records the backoff pauses instead of sleeping them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func testConfig(provider, base string) Config {
	return Config{
		Provider: provider, Model: "test-model", BaseURL: base, APIKey: "k",
		MaxRetries: 3, Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
		Meter: &Meter{},
	}
}

// open builds the provider with its sleeps recorded.
func open(t *testing.T, cfg Config) (*client, *waits) {
	t.Helper()
	p, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := p.(*client)
	w := &waits{}
	c.sleep = w.sleep
	return c, w
}

func ask(text string) Request {
	return Request{System: "be brief", Messages: []Message{{RoleUser, text}}}
}

// collect gathers streamed deltas.
type collect struct {
	text     strings.Builder
	restarts int
}

func (c *collect) on(d Delta) {
	if d.Restart {
		c.restarts++
		c.text.Reset()
	}
	c.text.WriteString(d.Text)
}
