package llm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Why one retry layer of our own instead of the SDKs' built-in retries: the
// two SDKs retry differently (attempt counts, which statuses, how Retry-After
// is read, no jitter cap of ours), neither knows about a concurrency cap
// shared across providers, neither catches a stream that goes silent (only a
// whole-request timeout), neither treats a stream that ends without its
// final event as a failure, and a retry hidden inside the SDK would call our
// streaming callback twice without telling it. So the SDKs make exactly one
// attempt each (option.WithMaxRetries(0)) and client.Complete does the rest,
// identically for every provider.

// backend makes exactly one attempt at a request. progress is called for
// every event of a streamed reply (text may be empty) and must not be called
// for non-streamed requests.
type backend interface {
	name() string
	attempt(ctx context.Context, req Request, progress func(text string)) (Completion, error)
}

// statusError is an HTTP error answer as a backend reports it to the client.
type statusError struct {
	code   int
	header http.Header
	msg    string
}

func (e *statusError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("HTTP %d: %s", e.code, e.msg)
}

// Error is the error a network provider returns: which kind of failure
// (one of the sentinel errors), after how many attempts, and the cause.
type Error struct {
	Provider string
	URL      string // the base URL the requests went to
	Kind     error  // ErrRateLimited, ErrServer, ErrRequest, ErrTimeout, ErrStreamCut, ErrBadReply, ErrNetwork, ErrUnreachable
	Status   int    // HTTP status of the last attempt; 0 when there was none
	Attempts int
	Err      error  // the last attempt's error
	Hint     string // what to do about it (ErrUnreachable: which flag or variable sets the URL)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %v", e.Provider, e.Kind)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// RetryNotice tells Config.OnRetry that an attempt failed and will be
// retried.
type RetryNotice struct {
	Provider string
	URL      string        // the base URL the requests go to
	Err      *Error        // the failed attempt: its kind, status and cause
	Attempt  int           // the attempt that failed, from 1
	Retries  int           // how many more attempts there will be at most
	Wait     time.Duration // the pause before the next attempt
	// MaxWait is the longest the remaining retries can pause in all (the
	// backoff schedule; a server's Retry-After may stretch it up to
	// Config.MaxRetryAfter a pause). Attempts themselves take time too.
	MaxWait time.Duration
}

// String is the notice as one line for a person, e.g. "openai:m at
// http://localhost:8000/v1: llm: server error: HTTP 503 …; retrying in
// 1.2s (6 more attempts at most, over at most 1m3s)".
func (n RetryNotice) String() string {
	cause := ""
	if n.Err != nil {
		cause = fmt.Sprint(n.Err.Kind)
		if n.Err.Err != nil {
			cause += ": " + n.Err.Err.Error()
		}
	}
	return fmt.Sprintf("%s at %s: attempt %d failed: %s; retrying in %v (%d more attempt(s) at most, over at most %v)",
		n.Provider, n.URL, n.Attempt, cause, n.Wait.Round(time.Millisecond), n.Retries, n.MaxWait.Round(time.Second))
}

// endpoint is where a provider sends its requests, for error messages.
type endpoint struct {
	url    string // the base URL in effect
	envVar string // the variable that sets it ("OPENAI_BASE_URL")
}

func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

var (
	errAttemptTimeout = errors.New("attempt took longer than the timeout")
	errIdleTimeout    = errors.New("stream was silent for longer than the idle timeout")
)

// client wraps a backend with the concurrency cap, timeouts, retries and
// usage accounting.
type client struct {
	b     backend
	cfg   Config
	ep    endpoint
	sem   chan struct{}
	sleep func(ctx context.Context, d time.Duration) error // replaced in tests
}

func newClient(b backend, cfg Config, ep endpoint) *client {
	cfg = cfg.withDefaults()
	return &client{b: b, cfg: cfg, ep: ep, sem: make(chan struct{}, cfg.MaxConcurrency), sleep: sleepCtx}
}

func (c *client) Name() string { return c.b.name() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Complete runs the request, retrying transient failures.
func (c *client) Complete(ctx context.Context, req Request) (Completion, error) {
	if req.Model == "" {
		req.Model = c.cfg.Model
	}
	if req.MaxTokens <= 0 {
		req.MaxTokens = c.cfg.MaxTokens
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		c.cfg.Meter.Fail()
		return Completion{}, fmt.Errorf("%s: waiting for a free slot: %w", c.Name(), ctx.Err())
	}
	defer func() { <-c.sem }()

	start := time.Now()
	streamed := false // text of a broken attempt reached OnDelta
	unreachable := 0  // consecutive attempts that found no server
	for attempt := 1; ; attempt++ {
		if streamed {
			req.OnDelta(Delta{Restart: true})
			streamed = false
		}
		comp, err := c.once(ctx, req, &streamed)
		if err == nil {
			comp.Attempts = attempt
			comp.Latency = time.Since(start)
			c.cfg.Meter.Add(comp.Usage)
			return comp, nil
		}
		if ctx.Err() != nil {
			c.cfg.Meter.Fail()
			return Completion{}, fmt.Errorf("%s: %w", c.Name(), ctx.Err())
		}
		e, retry, after := c.classify(err)
		e.Attempts = attempt
		e.Hint = c.explain(e, req)
		left := c.cfg.MaxRetries - attempt + 1 // retries still allowed
		wait := c.wait(attempt, after)
		if errors.Is(e.Kind, ErrUnreachable) {
			// Nothing listens there: a few quick tries (a server that is
			// just restarting), then say so instead of backing off for
			// minutes.
			unreachable++
			left = min(left, c.cfg.UnreachableRetries-unreachable+1)
			wait = quickWait(unreachable)
			e.Hint = c.unreachableHint()
		} else {
			unreachable = 0
		}
		if !retry || left <= 0 {
			c.cfg.Meter.Fail()
			return Completion{}, e
		}
		if c.cfg.OnRetry != nil {
			maxWait := wait
			if errors.Is(e.Kind, ErrUnreachable) {
				for k := unreachable + 1; k < unreachable+left; k++ {
					maxWait += quickWait(k)
				}
			} else {
				for k := attempt + 1; k < attempt+left; k++ {
					maxWait += c.maxBackoff(k)
				}
			}
			c.cfg.OnRetry(RetryNotice{Provider: c.Name(), URL: c.ep.url, Err: e, Attempt: attempt,
				Retries: left, Wait: wait, MaxWait: maxWait})
		}
		if err := c.sleep(ctx, wait); err != nil {
			c.cfg.Meter.Fail()
			return Completion{}, fmt.Errorf("%w; gave up waiting to retry: %w", e, err)
		}
	}
}

// once is one attempt under the attempt timeout and, when streaming, the
// idle timeout.
func (c *client) once(ctx context.Context, req Request, streamed *bool) (Completion, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	whole := time.AfterFunc(c.cfg.Timeout, func() { cancel(errAttemptTimeout) })
	defer whole.Stop()
	var progress func(string)
	if req.OnDelta != nil {
		idle := time.AfterFunc(c.cfg.IdleTimeout, func() { cancel(errIdleTimeout) })
		defer idle.Stop()
		progress = func(text string) {
			idle.Reset(c.cfg.IdleTimeout)
			if text != "" {
				*streamed = true
				req.OnDelta(Delta{Text: text})
			}
		}
	}
	comp, err := c.b.attempt(actx, req, progress)
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(actx); errors.Is(cause, errAttemptTimeout) || errors.Is(cause, errIdleTimeout) {
			return comp, cause
		}
	}
	return comp, err
}

// classify turns an attempt's error into an *Error, says whether it is worth
// retrying and how long the server asked us to wait.
func (c *client) classify(err error) (e *Error, retry bool, after time.Duration) {
	e = &Error{Provider: c.Name(), URL: c.ep.url, Err: err}
	var se *statusError
	switch {
	case errors.As(err, &se):
		e.Status = se.code
		after = retryAfter(se.header, time.Now())
		switch {
		case se.code == http.StatusTooManyRequests:
			e.Kind, retry = ErrRateLimited, true
		case se.code == http.StatusRequestTimeout:
			e.Kind, retry = ErrTimeout, true
		case se.code == http.StatusConflict || se.code >= 500:
			e.Kind, retry = ErrServer, true
		default:
			e.Kind = ErrRequest
		}
	case errors.Is(err, errAttemptTimeout), errors.Is(err, errIdleTimeout):
		e.Kind, retry = ErrTimeout, true
	case errors.Is(err, ErrTruncated):
		e.Kind = ErrTruncated
	case errors.Is(err, ErrStreamCut):
		e.Kind, retry = ErrStreamCut, true
		e.Err = nil
	case isUnreachable(err):
		e.Kind, retry = ErrUnreachable, true
	case errors.Is(err, ErrBadReply):
		// A reply cut by a proxy or a server restart is malformed too, so a
		// malformed reply is retried like a network failure.
		e.Kind, retry = ErrBadReply, true
	default:
		e.Kind, retry = ErrNetwork, true
	}
	if after > c.cfg.MaxRetryAfter {
		after = c.cfg.MaxRetryAfter
	}
	return e, retry, after
}

// explain says what to do about an error a person can fix: a 400 because
// the prompt and max_tokens do not fit the server's context (vLLM's
// max_model_len, llama.cpp's -c), a 404 from a base URL without /v1 or for
// a model the server does not have, an empty reply cut at max_tokens. ""
// when there is nothing to add.
func (c *client) explain(e *Error, req Request) string {
	var se *statusError
	msg := ""
	if errors.As(e.Err, &se) {
		msg = strings.ToLower(se.msg)
	}
	switch {
	case errors.Is(e.Kind, ErrTruncated):
		return fmt.Sprintf("the model used all %d tokens of --max-tokens before writing any text (reasoning models spend them on hidden reasoning): raise --max-tokens", req.MaxTokens)
	case e.Status == http.StatusBadRequest && contextOverflow(msg):
		window, prompt, ok := contextNumbers(msg)
		longer := "give the server a longer context (vLLM --max-model-len, llama.cpp -c, Ollama num_ctx)"
		switch {
		case ok && window <= prompt:
			return fmt.Sprintf("the prompt alone takes %d tokens, more than the server's context window of %d: %s", prompt, window, longer)
		case ok:
			return fmt.Sprintf("the prompt (%d tokens) and --max-tokens %d do not fit the server's context window of %d tokens: pass --max-tokens %d or less, or %s",
				prompt, req.MaxTokens, window, window-prompt, longer)
		}
		return fmt.Sprintf("the prompt and --max-tokens %d do not fit the server's context window: pass a smaller --max-tokens, or %s", req.MaxTokens, longer)
	case e.Status == http.StatusNotFound && strings.Contains(msg, "model") &&
		(strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "no such")):
		return fmt.Sprintf("the server at %s has no model %q: check --model against %s/models", c.ep.url, req.Model, strings.TrimRight(c.ep.url, "/"))
	case e.Status == http.StatusNotFound:
		if u, err := url.Parse(c.ep.url); err == nil && !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/v1") && c.ep.envVar == "OPENAI_BASE_URL" {
			return fmt.Sprintf("nothing answers at %s/chat/completions: OpenAI-compatible servers (vLLM, SGLang, Ollama, llama.cpp) serve the API under /v1; try --base-url %s/v1",
				strings.TrimRight(c.ep.url, "/"), strings.TrimRight(c.ep.url, "/"))
		}
		return fmt.Sprintf("nothing answers at %s for this request: check --base-url and --model", c.ep.url)
	}
	return ""
}

// contextOverflow says whether a 400's message is about the context
// window: vLLM ("'max_tokens' or 'max_completion_tokens' is too large …
// maximum context length", and older "maximum context length is … you
// requested"), llama.cpp ("exceeds the available context size",
// exceed_context_size_error), SGLang and OpenAI ("maximum context length").
func contextOverflow(msg string) bool {
	if strings.Contains(msg, "unsupported") {
		return false // "Unsupported parameter: 'max_tokens' …": another problem
	}
	for _, s := range []string{"maximum context length", "context size", "context length", "context window", "max_tokens", "max_completion_tokens"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// contextNumbers reads the window and the prompt's tokens from a context
// overflow message where the server says them: vLLM's "maximum context
// length is 4096 tokens and your request has 57 input tokens", its older
// "maximum context length is 2048 tokens. however, you requested 8242
// tokens (50 in the messages, …", llama.cpp's "request (9412 tokens)
// exceeds the available context size (8192 tokens)".
func contextNumbers(msg string) (window, prompt int, ok bool) {
	num := func(after string) (int, bool) {
		i := strings.Index(msg, after)
		if i < 0 {
			return 0, false
		}
		rest := strings.TrimLeft(msg[i+len(after):], " (")
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(rest[:j])
		return n, err == nil
	}
	if w, okW := num("maximum context length is"); okW {
		if p, okP := num("your request has"); okP {
			return w, p, true
		}
		if p, okP := num("tokens ("); okP && strings.Contains(msg, "in the messages") {
			return w, p, true
		}
		return w, 0, false
	}
	if w, okW := num("available context size"); okW {
		if p, okP := num("request ("); okP {
			return w, p, true
		}
	}
	return 0, 0, false
}

// isUnreachable says whether an attempt found no server at all: the
// connection was refused, there is no route to the host, or its name does
// not resolve. A reset or a timeout is not this: a server was there.
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// quickWait is the pause before the k-th quick retry of an unreachable
// server: 250 ms, 500 ms, 1 s, … up to 30 s (the doubling would overflow
// a Duration past about 35 retries and wrap to a negative wait).
func quickWait(k int) time.Duration {
	const most = 30 * time.Second
	if k > 8 { // 250 ms << 7 = 32 s
		return most
	}
	return min(250*time.Millisecond<<(k-1), most)
}

// unreachableHint says where the URL came from and how to change it.
func (c *client) unreachableHint() string {
	from := "the default"
	switch {
	case c.cfg.baseFrom != "":
		from = "set by " + c.cfg.baseFrom
	case c.cfg.BaseURL != "":
		from = "set by --base-url"
	}
	return fmt.Sprintf("nothing answers at %s (%s): start the server there, or point --base-url or %s at it",
		c.ep.url, from, c.ep.envVar)
}

// maxBackoff is the longest pause wait can choose before attempt+1
// without a Retry-After.
func (c *client) maxBackoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase << (attempt - 1)
	if d > c.cfg.BackoffMax || d <= 0 {
		d = c.cfg.BackoffMax
	}
	return d
}

// wait is the pause before attempt+1: exponential backoff with equal jitter
// (half fixed, half random, so that a storm of clients spreads out but none
// retries at once), never shorter than what the server asked for.
func (c *client) wait(attempt int, after time.Duration) time.Duration {
	d := c.maxBackoff(attempt)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return max(d, after)
}

// retryAfter reads how long the server asked us to wait: OpenAI's
// retry-after-ms, then Retry-After in seconds (possibly fractional) or as an
// HTTP date. Zero when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s > 0 && s < 1e6 {
			return time.Duration(s * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
