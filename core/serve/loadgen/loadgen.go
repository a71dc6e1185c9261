// Package loadgen drives a reward server (core/serve) with good and hostile
// traffic at once and tallies what came back, request by request: the load
// test of `resyn serve` (cmd_serve_test.go, which asserts the server's
// memory and its good clients' answers under it) and the soak
// (scripts/soak) both run it.
//
// Every kind of request knows what a sound server must answer (Kind); an
// answer that is not that is a violation, counted and quoted in the Report.
// Hostile bodies are streamed without a Content-Length, so that the server
// must refuse them while they arrive; each is cut off at MaxSend bytes, so
// that a run ends even against a server that reads forever.
//
// Not here: starting the server, or measuring its memory (the callers read
// /proc), or anything that decides a verdict by time.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Kind is a kind of request, and what the server must answer to it.
type Kind string

const (
	// Good is a batch of well-formed items: 200 with one reward each, of
	// kind ok or format (503 with Retry-After counts as refused, not as a
	// violation; the load test asserts there are none).
	Good Kind = "good"
	// Large is a legitimate batch of Options.LargeBatch distinct instances:
	// 200 with a reward each, or 503 with Retry-After.
	Large Kind = "large"
	// TooMany is a body of endless valid items: 413, while it is sent (or
	// 503 with Retry-After, when its items fill the queue first).
	TooMany Kind = "too_many"
	// Empties is a body of endless {} items: 400 at the first.
	Empties Kind = "empties"
	// HugeBody is one item with an endless completion: 413 (body limit) or
	// 503 (the server holds as many body bytes as it may).
	HugeBody Kind = "huge_body"
	// Garbage is random bytes: 400 (or 413, or 503 with Retry-After).
	Garbage Kind = "garbage"
	// Loud is a batch whose verifier raises with a long message (the
	// LoudEnv environment): 200, every error capped.
	Loud Kind = "loud"
	// Aborted is a large batch whose client disconnects before the answer.
	// Nothing can be checked from the client's side; /metrics counts its
	// items as cancelled.
	Aborted Kind = "aborted"
	// Slow is a good batch whose body arrives a few bytes at a time: 200.
	Slow Kind = "slow"
)

// Kinds lists every kind, in report order.
var Kinds = []Kind{Good, Large, Slow, Loud, TooMany, Empties, HugeBody, Garbage, Aborted}

// LoudEnv is the environment Loud needs served: addition, whose verifier
// raises with about 256 KiB of message on the answer LOUD (and is sound
// otherwise, so that it passes validation).
const LoudEnv = `NAME = "loud"
DESCRIPTION = "Add two integers; the verifier raises with a long message on the answer LOUD."
TAGS = ["test"]
DIFFICULTY = (1, 10)

def generate(rng, difficulty):
    hi = 10 * difficulty
    return {"a": rng.randint(0, hi), "b": rng.randint(0, hi)}

def render(state):
    return "What is %d + %d? Put the number inside <answer></answer>." % (state["a"], state["b"])

def verify(state, answer):
    if answer == "LOUD":
        fail("loud " * 52429)
    return answer.strip() == str(state["a"] + state["b"])

def solve(state):
    return str(state["a"] + state["b"])
`

// Options say what the traffic looks like.
type Options struct {
	URL, Token string
	// Envs are served environments that good items name by (env, seed,
	// difficulty), at their level Difficulty.
	Envs       []string
	Difficulty int
	GoodBatch  int   // items in a Good or Slow request (default 64)
	LargeBatch int   // items in a Large or Aborted request (default 4096)
	MaxSend    int64 // most bytes of one hostile body (default 80 MiB)
	// MaxErrorBytes is the longest error text a reward may carry
	// (default 4096: the server caps at 2 KiB, plus room).
	MaxErrorBytes int
	// WorkerKills says that the server's workers are being killed: an item
	// that comes back env_error because its worker died is then the right
	// answer (the pool replaces the worker; the item is not scored wrong).
	WorkerKills bool
	Seed        uint64
}

// Stream is Clients clients each sending Requests requests of one kind, one
// after another (Requests 0: until the run's context ends).
type Stream struct {
	Kind     Kind
	Clients  int
	Requests int
}

// Result is one request's outcome.
type Result struct {
	Kind    Kind
	Status  int // HTTP status; 0 when no answer came (Aborted, a network error)
	Latency time.Duration
	// Violation says how the answer differs from what a sound server
	// answers; "" when it does not.
	Violation string
}

// Run sends the streams at once, all of them against o.URL, and returns the
// tally when every client has finished (or ctx has ended).
func Run(ctx context.Context, o Options, streams []Stream) *Report {
	o.defaults()
	rep := &Report{stats: map[Kind]*Stats{}}
	var wg sync.WaitGroup
	for si, st := range streams {
		for c := 0; c < st.Clients; c++ {
			wg.Add(1)
			go func(st Stream, id uint64) {
				defer wg.Done()
				cl := &client{o: o, rng: rand.New(rand.NewPCG(o.Seed, id)), hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}}
				defer cl.hc.CloseIdleConnections()
				for n := 0; (st.Requests == 0 || n < st.Requests) && ctx.Err() == nil; n++ {
					r := cl.do(ctx, st.Kind)
					if ctx.Err() != nil && st.Requests == 0 {
						return // the run ended under it: not an answer
					}
					rep.add(r)
				}
			}(st, uint64(si)<<32|uint64(c))
		}
	}
	wg.Wait()
	return rep
}

func (o *Options) defaults() {
	if o.GoodBatch <= 0 {
		o.GoodBatch = 64
	}
	if o.LargeBatch <= 0 {
		o.LargeBatch = 4096
	}
	if o.MaxSend <= 0 {
		o.MaxSend = 80 << 20
	}
	if o.MaxErrorBytes <= 0 {
		o.MaxErrorBytes = 4096
	}
	if o.Difficulty <= 0 {
		o.Difficulty = 1
	}
	o.URL = strings.TrimRight(o.URL, "/")
}

type client struct {
	o   Options
	rng *rand.Rand
	hc  *http.Client
}

type item struct {
	Env        string `json:"env"`
	Seed       int64  `json:"seed"`
	Difficulty int    `json:"difficulty"`
	Completion string `json:"completion"`
}

// batch makes n items of distinct instances, naming envs in turn.
func (c *client) batch(n int, envs []string, completion func(i int) string) []byte {
	items := make([]item, n)
	base := c.rng.Int64N(1 << 40)
	for i := range items {
		items[i] = item{Env: envs[i%len(envs)], Seed: base + int64(i), Difficulty: c.o.Difficulty, Completion: completion(i)}
	}
	b, _ := json.Marshal(map[string]any{"items": items})
	return b
}

func (c *client) do(ctx context.Context, k Kind) Result {
	start := time.Now()
	r := Result{Kind: k}
	rq, ok := c.request(ctx, k)
	if !ok {
		r.Violation = fmt.Sprintf("unknown kind %q", k)
		return r
	}
	if rq.cancel != nil {
		defer rq.cancel()
	}
	req, err := http.NewRequestWithContext(rq.ctx, http.MethodPost, c.o.URL+"/score", rq.body)
	if err != nil {
		r.Violation = err.Error()
		return r
	}
	req.ContentLength = rq.length
	req.Header.Set("Content-Type", "application/json")
	if c.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.Token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		r.Latency = time.Since(start)
		if k != Aborted && ctx.Err() == nil {
			r.Violation = "no answer: " + err.Error()
		}
		return r
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	res.Body.Close()
	r.Status, r.Latency = res.StatusCode, time.Since(start)
	switch {
	case k == Aborted:
	case err != nil:
		r.Violation = fmt.Sprintf("HTTP %d, reading the answer: %v", res.StatusCode, err)
	default:
		r.Violation = rq.check(res.StatusCode, res.Header, b)
	}
	return r
}

// request is one request of a kind, and what the server must answer to it.
type request struct {
	body   io.Reader
	length int64 // -1: streamed, no Content-Length
	check  func(status int, h http.Header, b []byte) string
	ctx    context.Context
	cancel context.CancelFunc // for a request that its client abandons
}

// request builds a request of kind k; false for a kind it does not know.
func (c *client) request(ctx context.Context, k Kind) (request, bool) {
	rq := request{length: -1, ctx: ctx}
	switch k {
	case Good, Slow:
		n := c.o.GoodBatch
		b := c.batch(n, c.o.Envs, func(i int) string {
			if i%4 == 3 {
				return "I do not know."
			}
			return fmt.Sprintf("Thinking <b>hard</b> & long.\n<answer>%d</answer>", i%7)
		})
		rq.body, rq.length = bytes.NewReader(b), int64(len(b))
		if k == Slow {
			rq.body, rq.length = &drip{b: b, piece: 16, every: 20 * time.Millisecond}, -1
		}
		rq.check = func(status int, h http.Header, b []byte) string {
			if status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" {
				return ""
			}
			return c.rewards(status, b, n, c.sound)
		}
	case Large, Aborted:
		n := c.o.LargeBatch
		b := c.batch(n, c.o.Envs, func(i int) string { return fmt.Sprintf("<answer>%d</answer>", i) })
		rq.body, rq.length = bytes.NewReader(b), int64(len(b))
		rq.check = func(status int, h http.Header, b []byte) string {
			if status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" {
				return ""
			}
			return c.rewards(status, b, n, c.sound)
		}
		if k == Aborted {
			rq.ctx, rq.cancel = context.WithCancel(ctx)
			rq.body = &cancelAtEnd{r: bytes.NewReader(b), cancel: rq.cancel, after: 20 * time.Millisecond}
		}
	case Loud:
		n := 64
		b := c.batch(n, []string{"loud"}, func(int) string { return "<answer>LOUD</answer>" })
		rq.body, rq.length = bytes.NewReader(b), int64(len(b))
		rq.check = func(status int, h http.Header, b []byte) string {
			if status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" {
				return ""
			}
			return c.rewards(status, b, n, func(kind, msg string) bool { return kind == "env_error" && len(msg) <= c.o.MaxErrorBytes })
		}
	case TooMany:
		rq.body = &endless{head: `{"items":[`, item: fmt.Sprintf(`{"env":%q,"seed":1,"difficulty":1,"completion":"<answer>1</answer>"},`, c.o.Envs[0]), max: c.o.MaxSend}
		rq.check = want(http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	case Empties:
		rq.body = &endless{head: `{"items":[`, item: `{},`, max: c.o.MaxSend}
		rq.check = want(http.StatusBadRequest)
	case HugeBody:
		rq.body = &endless{head: `{"items":[{"env":"x","seed":1,"difficulty":1,"completion":"`, item: "aaaaaaaaaaaaaaaa", max: c.o.MaxSend}
		rq.check = want(http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	case Garbage:
		b := make([]byte, 1+c.rng.IntN(64<<10))
		for i := range b {
			b[i] = byte(c.rng.UintN(256))
		}
		rq.body, rq.length = bytes.NewReader(b), int64(len(b))
		rq.check = want(http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	default:
		return rq, false
	}
	return rq, true
}

// sound says whether a reward is one a sound server gives a good item: a
// score (ok, or format for a completion without an answer block), or, while
// workers are being killed, env_error because the item's worker died.
func (c *client) sound(kind, msg string) bool {
	return kind == "ok" || kind == "format" || (c.o.WorkerKills && kind == "env_error" && strings.Contains(msg, "worker died"))
}

// rewards checks a 200 answer of n rewards, each passing ok(kind, error).
func (c *client) rewards(status int, b []byte, n int, ok func(kind, msg string) bool) string {
	if status != http.StatusOK {
		return fmt.Sprintf("HTTP %d: %.200s", status, b)
	}
	var resp struct {
		Rewards []struct{ Kind, Error string }
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return fmt.Sprintf("an answer that is not JSON (%v): %.200s", err, b)
	}
	if len(resp.Rewards) != n {
		return fmt.Sprintf("%d rewards for %d items", len(resp.Rewards), n)
	}
	for i, rw := range resp.Rewards {
		if !ok(rw.Kind, rw.Error) {
			return fmt.Sprintf("item %d: kind %s, error of %d bytes: %.200s", i, rw.Kind, len(rw.Error), rw.Error)
		}
	}
	return ""
}

// want accepts an error answer with one of the statuses, a JSON error body,
// and Retry-After on a 503.
func want(statuses ...int) func(int, http.Header, []byte) string {
	return func(status int, h http.Header, b []byte) string {
		for _, s := range statuses {
			if status != s {
				continue
			}
			var eb struct{ Error string }
			if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
				return fmt.Sprintf("HTTP %d without a JSON error: %.200s", status, b)
			}
			if status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
				return "503 without Retry-After"
			}
			return ""
		}
		return fmt.Sprintf("HTTP %d, want %v: %.200s", status, statuses, b)
	}
}

// endless is head, then item again and again, up to max bytes.
type endless struct {
	head, item string
	max, sent  int64
	buf        []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if e.sent >= e.max {
		return 0, io.EOF
	}
	if e.buf == nil {
		e.buf = []byte(e.head)
	}
	for len(e.buf) < len(p) {
		e.buf = append(e.buf, e.item...)
	}
	n := copy(p, e.buf)
	if rest := e.max - e.sent; int64(n) > rest {
		n = int(rest)
	}
	e.buf = e.buf[n:]
	e.sent += int64(n)
	return n, nil
}

// drip gives b a piece at a time, with a pause before each.
type drip struct {
	b     []byte
	piece int
	every time.Duration
}

func (d *drip) Read(p []byte) (int, error) {
	if len(d.b) == 0 {
		return 0, io.EOF
	}
	time.Sleep(d.every)
	n := copy(p[:min(len(p), d.piece)], d.b)
	d.b = d.b[n:]
	return n, nil
}

// cancelAtEnd reads r, and once it is all sent cancels the request a moment
// later: the client goes away while its batch is being scored.
type cancelAtEnd struct {
	r      io.Reader
	cancel context.CancelFunc
	after  time.Duration
	once   sync.Once
}

func (c *cancelAtEnd) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		c.once.Do(func() { time.AfterFunc(c.after, c.cancel) })
	}
	return n, err
}

// Stats are the results of one kind.
type Stats struct {
	Requests   int
	Statuses   map[int]int
	Violations int
	// First are the first few violations, quoted.
	First     []string
	latencies []time.Duration
}

// Quantile is the latency below which q of the answered requests fell.
func (s *Stats) Quantile(q float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[int(q*float64(len(l)-1))]
}

// Report is the tally of a run.
type Report struct {
	mu    sync.Mutex
	stats map[Kind]*Stats
}

func (r *Report) add(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats[res.Kind]
	if s == nil {
		s = &Stats{Statuses: map[int]int{}}
		r.stats[res.Kind] = s
	}
	s.Requests++
	s.Statuses[res.Status]++
	if res.Status != 0 {
		s.latencies = append(s.latencies, res.Latency)
	}
	if res.Violation != "" {
		s.Violations++
		if len(s.First) < 5 {
			s.First = append(s.First, res.Violation)
		}
	}
}

// Of is the tally of one kind (empty when none was sent).
func (r *Report) Of(k Kind) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.stats[k]; s != nil {
		return *s
	}
	return Stats{Statuses: map[int]int{}}
}

// Violations is the count over every kind.
func (r *Report) Violations() int {
	n := 0
	for _, k := range Kinds {
		n += r.Of(k).Violations
	}
	return n
}

// Write prints the tally as a table, then the first violations.
func (r *Report) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tREQUESTS\t200\t400\t413\t503\tOTHER\tNO ANSWER\tVIOLATIONS\tp50 ms\tp99 ms\t")
	for _, k := range Kinds {
		s := r.Of(k)
		if s.Requests == 0 {
			continue
		}
		other := s.Requests - s.Statuses[200] - s.Statuses[400] - s.Statuses[413] - s.Statuses[503] - s.Statuses[0]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n", k, s.Requests, s.Statuses[200], s.Statuses[400], s.Statuses[413], s.Statuses[503], other, s.Statuses[0], s.Violations,
			float64(s.Quantile(0.5).Microseconds())/1000, float64(s.Quantile(0.99).Microseconds())/1000)
	}
	tw.Flush()
	for _, k := range Kinds {
		for _, v := range r.Of(k).First {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
}
