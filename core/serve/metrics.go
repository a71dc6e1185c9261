package serve

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// metrics are the counters behind GET /metrics, written in the Prometheus
// text exposition format (version 0.0.4) by hand: a handful of series do
// not need a client library. Label values come from closed sets (the served
// environments, the endpoints, the kinds and codes), so a hostile client
// cannot grow the series without bound.
type metrics struct {
	mu       sync.Mutex
	known    map[string]bool
	requests map[[2]string]uint64 // (path, code)
	scores   map[[3]string]uint64 // (env, kind, code)
	buckets  []float64            // upper bounds in seconds
	counts   []uint64             // per bucket (not cumulative)
	sum      float64
	n        uint64
	items    uint64
}

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

var paths = map[string]bool{"/score": true, "/envs": true, "/healthz": true, "/metrics": true}

func newMetrics(envs []string) *metrics {
	m := &metrics{known: map[string]bool{}, requests: map[[2]string]uint64{}, scores: map[[3]string]uint64{},
		buckets: latencyBuckets, counts: make([]uint64, len(latencyBuckets)+1)}
	for _, e := range envs {
		m.known[e] = true
	}
	return m
}

func (m *metrics) request(path string, code int) {
	if !paths[path] {
		path = "other"
	}
	m.mu.Lock()
	m.requests[[2]string{path, fmt.Sprint(code)}]++
	m.mu.Unlock()
}

// score counts one item answered, by its environment, its reward kind (or
// "cancelled": its client went away) and code.
func (m *metrics) score(envName, kind, code string) {
	if !m.known[envName] {
		envName = "other"
	}
	m.mu.Lock()
	m.scores[[3]string{envName, kind, code}]++
	m.mu.Unlock()
}

func (m *metrics) observe(d time.Duration, items int) {
	s := d.Seconds()
	i := sort.SearchFloat64s(m.buckets, s)
	m.mu.Lock()
	m.counts[i]++
	m.sum += s
	m.n++
	m.items += uint64(items)
	m.mu.Unlock()
}

func (m *metrics) write(w io.Writer, queued, capacity int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := bufio.NewWriter(w)
	defer b.Flush()
	family := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("resyn_serve_requests_total", "counter", "HTTP requests answered, by endpoint and status code.")
	for _, k := range sortedKeys(m.requests) {
		fmt.Fprintf(b, "resyn_serve_requests_total{path=%s,code=%s} %d\n", quote(k[0]), quote(k[1]), m.requests[k])
	}
	family("resyn_serve_scores_total", "counter", "Items answered by POST /score, by environment, reward kind (or cancelled: the client went away) and code.")
	for _, k := range sortedKeys(m.scores) {
		fmt.Fprintf(b, "resyn_serve_scores_total{env=%s,kind=%s,code=%s} %d\n", quote(k[0]), quote(k[1]), quote(k[2]), m.scores[k])
	}
	family("resyn_serve_items_total", "counter", "Items received in POST /score requests that were admitted.")
	fmt.Fprintf(b, "resyn_serve_items_total %d\n", m.items)
	family("resyn_serve_score_seconds", "histogram", "Time to score one admitted POST /score request.")
	var cum uint64
	for i, le := range m.buckets {
		cum += m.counts[i]
		fmt.Fprintf(b, "resyn_serve_score_seconds_bucket{le=\"%g\"} %d\n", le, cum)
	}
	cum += m.counts[len(m.buckets)]
	fmt.Fprintf(b, "resyn_serve_score_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(b, "resyn_serve_score_seconds_sum %g\nresyn_serve_score_seconds_count %d\n", m.sum, m.n)
	family("resyn_serve_queued_items", "gauge", "Items admitted and not yet answered.")
	fmt.Fprintf(b, "resyn_serve_queued_items %d\n", queued)
	family("resyn_serve_queue_capacity", "gauge", "Items that may be queued before POST /score answers 503.")
	fmt.Fprintf(b, "resyn_serve_queue_capacity %d\n", capacity)
}

func sortedKeys[K [2]string | [3]string](m map[K]uint64) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	return keys
}

// quote writes a label value with the escapes the text format defines.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
