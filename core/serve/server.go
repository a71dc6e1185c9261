package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"resyn/core/dataset"
	"resyn/core/env"
)

// Options configure a Server. Zero values take the defaults below.
type Options struct {
	// Exec scores the items; every module in Envs must be registered with
	// it. In production it is an *env.Pool, whose Limits.Timeout is the
	// per-item timeout (each generate and verify call).
	Exec env.Executor
	// Envs are the environments served, by name; /envs lists them and a
	// ground truth's env_hash is checked against theirs.
	Envs []*env.Module
	// Token, when set, is required as "Authorization: Bearer TOKEN" on
	// every endpoint but /healthz.
	Token string
	// MaxBodyBytes bounds a request body (default 64 MiB); larger is 413.
	MaxBodyBytes int64
	// MaxItems bounds the items of one request (default 4096); more is 413,
	// answered as soon as item MaxItems+1 begins (items are counted as the
	// body streams in, not after it is read).
	MaxItems int
	// MaxBodyTotal bounds the memory that request bodies take at once over
	// all requests (default 4 × MaxBodyBytes; at least 3 × MaxBodyBytes):
	// with MaxQueued it is what bounds the server's memory, whatever its
	// clients send (MemoryBound). A body costs its size, and the item being
	// read twice its size again until it is decoded (the JSON decoder's
	// buffer grows by doubling: budgetReader). A request that would pass it
	// gets 503 with Retry-After, at once (by its Content-Length) or as soon
	// as its body does.
	MaxBodyTotal int64
	// MaxQueued bounds the items admitted and not yet answered, over all
	// requests (default 16384). A request that would pass it gets 503 with
	// Retry-After, at once, instead of waiting in an unbounded queue.
	MaxQueued int
	// RequestTimeout bounds the scoring of one request (default 2 min);
	// items still unscored then come back with kind timeout.
	RequestTimeout time.Duration
	// RetryAfter is the Retry-After of a 503 (default 1s, rounded up to
	// whole seconds).
	RetryAfter time.Duration
	// Logf reports requests that failed on the server's side; nil is silent.
	Logf func(format string, args ...any)
}

const (
	defaultMaxBody        = 64 << 20
	defaultMaxItems       = 4096
	defaultMaxQueued      = 16384
	defaultRequestTimeout = 2 * time.Minute
)

// Server is the reward server. It is an http.Handler; Serve runs it on a
// listener with graceful shutdown.
type Server struct {
	opts     Options
	envs     map[string]*env.Module
	envList  []envInfo
	queued   atomic.Int64 // items admitted and not yet answered
	inBodies atomic.Int64 // bytes of request bodies held
	draining atomic.Bool
	metrics  *metrics
	mux      *http.ServeMux
}

// New checks the options and builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Exec == nil {
		return nil, fmt.Errorf("%w: no executor", ErrOptions)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBody
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = defaultMaxItems
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = defaultMaxQueued
	}
	if opts.MaxBodyTotal <= 0 {
		opts.MaxBodyTotal = 4 * opts.MaxBodyBytes
	}
	if opts.MaxBodyTotal < 3*opts.MaxBodyBytes {
		return nil, fmt.Errorf("%w: the memory for request bodies (%d bytes) is less than 3 times the largest body (%d bytes), which a body of one large item takes while it is read", ErrOptions, opts.MaxBodyTotal, opts.MaxBodyBytes)
	}
	if opts.MaxItems > opts.MaxQueued {
		return nil, fmt.Errorf("%w: max items per request (%d) is more than the queue holds (%d)", ErrOptions, opts.MaxItems, opts.MaxQueued)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	s := &Server{opts: opts, envs: map[string]*env.Module{}}
	for _, m := range opts.Envs {
		if _, dup := s.envs[m.Name]; dup {
			return nil, fmt.Errorf("%w: environment %q given twice", ErrOptions, m.Name)
		}
		s.envs[m.Name] = m
		s.envList = append(s.envList, envInfo{Name: m.Name, Description: m.Description, Tags: m.Tags,
			MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty, Hash: m.Hash, DataSource: "resyn/" + m.Name})
	}
	sort.Slice(s.envList, func(i, j int) bool { return s.envList[i].Name < s.envList[j].Name })
	names := make([]string, 0, len(s.envs))
	for n := range s.envs {
		names = append(names, n)
	}
	s.metrics = newMetrics(names)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/score", s.guard(s.handleScore))
	s.mux.HandleFunc("/envs", s.guard(s.handleEnvs))
	s.mux.HandleFunc("/metrics", s.guard(s.handleMetrics))
	s.mux.HandleFunc("/healthz", s.handleHealth)
	return s, nil
}

// MemoryBound is the most resident memory the server needs under its
// limits, whatever its clients send: the process at rest (the runtime and
// the environments: restBytes), twice the memory its request bodies may take
// at once (MaxBodyTotal, which already counts the JSON decoder's buffer;
// twice: scoring copies parts of the items once more, ground-truth states
// and the tasks sent to the workers), and a little per item in flight.
// TestServeMemoryBoundedUnderAbuse measures it.
func (s *Server) MemoryBound() int64 {
	return restBytes + 2*s.opts.MaxBodyTotal + int64(s.opts.MaxQueued)*itemBytes
}

// GCLimit is the soft memory limit `resyn serve` gives the Go runtime: by
// default the heap may grow to twice what is live before a collection, so
// that garbage alone could take the server past MemoryBound. Under the
// limit the collector runs sooner; it is below the bound by half the body
// memory, room for what the runtime does not manage (the binary's pages)
// and for live data near its worst case, when collections cannot free
// more.
func (s *Server) GCLimit() int64 {
	return s.MemoryBound() - s.opts.MaxBodyTotal/2
}

const (
	restBytes = 64 << 20
	itemBytes = 2 << 10
)

// ServeHTTP routes a request and counts its answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.metrics.request(r.URL.Path, rec.code)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Serve answers on ln until ctx is cancelled (SIGTERM in `resyn serve`),
// then shuts down gracefully: it stops accepting, reports /healthz as
// draining, lets the requests in flight finish (within drain), and returns.
// It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shutting down the reward server: %w", err)
	}
	return nil
}

// guard requires the bearer token when one is set.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	if s.opts.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.opts.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="resyn"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (send Authorization: Bearer $RESYN_TOKEN)", -1)
			return
		}
		h(w, r)
	}
}

// CheckBind refuses to serve a non-loopback address without a token. The
// host may be a loopback IP (127.0.0.0/8, ::1) or "localhost"; an empty
// host (":8700") listens on every interface and so needs a token.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrOptions, addr, err)
	}
	if token != "" || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s (pass --token or set RESYN_TOKEN, or listen on 127.0.0.1)", ErrTokenRequired, addr)
}

// envInfo is one entry of GET /envs.
type envInfo struct {
	Name          string   `json:"name"`
	Description   string   `json:"description"`
	Tags          []string `json:"tags"`
	MinDifficulty int      `json:"min_difficulty"`
	MaxDifficulty int      `json:"max_difficulty"`
	Hash          string   `json:"env_hash"`
	DataSource    string   `json:"data_source"`
}

func (s *Server) handleEnvs(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"envs": s.envList})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	out := map[string]any{"status": "ok", "envs": len(s.envs), "queued": s.queued.Load(), "max_queued": s.opts.MaxQueued}
	if p, ok := s.opts.Exec.(interface{ Workers() int }); ok {
		out["workers"] = p.Workers()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodGet) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, s.queued.Load(), int64(s.opts.MaxQueued))
}

func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method), -1)
	return false
}

// errorBody is every error answer: what was wrong, and the index of the
// offending item when there is one.
type errorBody struct {
	Error string `json:"error"`
	Item  *int   `json:"item,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg string, item int) {
	b := errorBody{Error: dataset.CapText(msg, dataset.MaxErrorBytes)}
	if item >= 0 {
		b.Item = &item
	}
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
