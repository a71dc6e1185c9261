package llm

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// notices collects what OnRetry is told.
type notices struct {
	mu sync.Mutex
	n  []RetryNotice
}

func (n *notices) add(r RetryNotice) {
	n.mu.Lock()
	n.n = append(n.n, r)
	n.mu.Unlock()
}

// A refused connection is tried three times in all (two quick retries), not
// the six backoffs of a transient failure, and the error names the URL and
// what sets it; every retry was announced first.
func TestRefusedConnectionFailsFast(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		base := closedPort(t)
		cfg := testConfig(w.name, base)
		cfg.MaxRetries = 6
		var ns notices
		cfg.OnRetry = ns.add
		c, waits := open(t, cfg)
		_, err := c.Complete(context.Background(), ask("q"))
		var e *Error
		if !errors.Is(err, ErrUnreachable) || !errors.As(err, &e) || e.Attempts != 3 {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{base, "connection refused", "--base-url", strings.ToUpper(w.name) + "_BASE_URL", "set by --base-url"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
		if len(waits.d) != 2 || waits.d[0] != 250*time.Millisecond || waits.d[1] != 500*time.Millisecond {
			t.Errorf("waits %v, want the two quick ones", waits.d)
		}
		if len(ns.n) != 2 {
			t.Fatalf("%d notices, want 2", len(ns.n))
		}
		first := ns.n[0]
		if first.Attempt != 1 || first.Retries != 2 || first.URL != base || first.MaxWait != 750*time.Millisecond ||
			!errors.Is(first.Err, ErrUnreachable) {
			t.Errorf("first notice %+v", first)
		}
		line := first.String()
		for _, want := range []string{base, "attempt 1 failed", "connection refused", "retrying in 250ms", "2 more attempt(s)"} {
			if !strings.Contains(line, want) {
				t.Errorf("notice lacks %q: %s", want, line)
			}
		}
		if ok, failed := c.cfg.Meter.Calls(); ok != 0 || failed != 1 {
			t.Errorf("meter: %d ok, %d failed", ok, failed)
		}
	})
}

// Where the URL came from is part of the advice: the variable, when Open
// took it from there.
func TestUnreachableHintNamesTheVariable(t *testing.T) {
	base := closedPort(t)
	t.Setenv("OPENAI_BASE_URL", base+"/v1")
	cfg := testConfig("openai", "")
	cfg.UnreachableRetries = -1
	c, waits := open(t, cfg)
	_, err := c.Complete(context.Background(), ask("q"))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "set by OPENAI_BASE_URL") || len(waits.d) != 0 {
		t.Fatalf("err = %v, waits %v", err, waits.d)
	}
}

// A 503 is transient: it is retried on the normal backoff, announced with
// the URL, the status and the longest the retries can take, and the 200
// that follows is the reply.
func TestServiceUnavailableThenOK(t *testing.T) {
	forEachWire(t, func(t *testing.T, w wire) {
		s := newScript(t, status(503), jsonBody(w.plain("back again")))
		cfg := testConfig(w.name, s.srv.URL)
		cfg.BackoffBase, cfg.BackoffMax = time.Second, 4*time.Second
		var ns notices
		cfg.OnRetry = ns.add
		c, waits := open(t, cfg)
		got, err := c.Complete(context.Background(), ask("q"))
		if err != nil || got.Text != "back again" || got.Attempts != 2 || len(waits.d) != 1 {
			t.Fatalf("got %+v, %v, waits %v", got, err, waits.d)
		}
		if len(ns.n) != 1 {
			t.Fatalf("%d notices", len(ns.n))
		}
		n := ns.n[0]
		// MaxRetries 3: pauses of at most 1 s, 2 s and 4 s.
		if n.Attempt != 1 || n.Retries != 3 || n.Err.Status != 503 || !errors.Is(n.Err, ErrServer) ||
			n.Wait != waits.d[0] || n.MaxWait != n.Wait+2*time.Second+4*time.Second {
			t.Errorf("notice %+v", n)
		}
		if line := n.String(); !strings.Contains(line, s.srv.URL) || !strings.Contains(line, "503") {
			t.Errorf("notice line: %s", line)
		}
	})
}

func TestIsUnreachable(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "http://x/v1/chat/completions", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{wrap(&net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}), true},
		{wrap(&net.DNSError{Err: "i/o timeout", Name: "slow", IsTimeout: true}), false},
		{errors.New("connection reset by peer"), false},
		{context.DeadlineExceeded, false},
	} {
		if got := isUnreachable(c.err); got != c.want {
			t.Errorf("isUnreachable(%v) = %v", c.err, got)
		}
	}
}

// TestQuickWaitStaysBounded: the pause doubles from a quarter second and
// stops at 30 s; a large --unreachable-retries never wraps it negative.
func TestQuickWaitStaysBounded(t *testing.T) {
	for _, tc := range []struct {
		k    int
		want time.Duration
	}{
		{1, 250 * time.Millisecond},
		{2, 500 * time.Millisecond},
		{3, time.Second},
		{8, 30 * time.Second},
		{9, 30 * time.Second},
		{40, 30 * time.Second},
		{1000, 30 * time.Second},
	} {
		if got := quickWait(tc.k); got != tc.want {
			t.Errorf("quickWait(%d) = %v, want %v", tc.k, got, tc.want)
		}
	}
}
