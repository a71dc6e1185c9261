// Package servebench load-tests the reward server (core/serve) on
// loopback: scores/s and the p50/p99 latency of one request, per batch
// size, with the items a GRPO trainer sends. `resyn bench serve` prints it.
//
// Rates and latencies are wall-clock and never asserted by a test: the
// tests check that every request was answered with one reward per item and
// none of them an environment error.
package servebench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"resyn/core/env"
	"resyn/core/export"
	"resyn/core/serve"
)

// Options say what to run. Pool runs Envs (every one must define solve: the
// completions are built from reference answers).
type Options struct {
	Pool        *env.Pool
	Envs        []*env.Module
	Sizes       []int         // batch sizes (items per request)
	Clients     []int         // concurrent clients: one for every size, or one per size
	By          string        // how items name their instance: "ground-truth" (what verl sends) or "instance"
	Duration    time.Duration // longest run per batch size
	MaxRequests int           // most requests per batch size
	Group       int           // completions per instance (a GRPO group)
	Progress    io.Writer     // a line before each phase; may be nil
}

// Row is one batch size's result.
type Row struct {
	Batch     int     `json:"batch"`
	Clients   int     `json:"clients"`
	Requests  int     `json:"requests"`
	Scores    int     `json:"scores"`
	Errors    int     `json:"errors"`
	Seconds   float64 `json:"elapsed_s"`
	PerSec    float64 `json:"scores_per_s"`
	P50Millis float64 `json:"p50_ms"`
	P99Millis float64 `json:"p99_ms"`
}

// Report is a whole run.
type Report struct {
	Cores   int    `json:"cores"`
	Workers int    `json:"workers"`
	By      string `json:"by"`
	Group   int    `json:"group"`
	Rows    []Row  `json:"rows"`
}

func (o Options) check() error {
	switch {
	case o.Pool == nil || len(o.Envs) == 0:
		return fmt.Errorf("servebench: no pool or no environments")
	case len(o.Sizes) == 0:
		return fmt.Errorf("servebench: no batch sizes")
	case len(o.Clients) != 1 && len(o.Clients) != len(o.Sizes):
		return fmt.Errorf("servebench: %d client counts for %d batch sizes: want one, or one per size", len(o.Clients), len(o.Sizes))
	case o.By != "ground-truth" && o.By != "instance":
		return fmt.Errorf("servebench: items by %q: want ground-truth or instance", o.By)
	case o.Group < 1 || o.MaxRequests < 1 || o.Duration <= 0:
		return fmt.Errorf("servebench: group %d, max requests %d and duration %v must be positive", o.Group, o.MaxRequests, o.Duration)
	}
	for _, v := range append(append([]int(nil), o.Sizes...), o.Clients...) {
		if v < 1 {
			return fmt.Errorf("servebench: batch sizes and client counts must be positive, got %d", v)
		}
	}
	return nil
}

// Run starts the server in this process on 127.0.0.1 (an ephemeral port)
// over o.Pool and POSTs /score from concurrent keep-alive clients for each
// batch size, after a warm-up that starts every worker. Request bodies are
// encoded beforehand; responses are decoded and checked.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.check(); err != nil {
		return Report{}, err
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	fmt.Fprintf(o.Progress, "preparing %d environments × 32 instances…\n", len(o.Envs))
	items, err := Items(ctx, o.Pool, o.Envs, 32, o.Group, o.By)
	if err != nil {
		return Report{}, err
	}
	maxBatch := slices.Max(o.Sizes)
	s, err := serve.New(serve.Options{Exec: o.Pool, Envs: o.Envs, MaxItems: max(4096, maxBatch), MaxQueued: max(16384, 4*maxBatch)})
	if err != nil {
		return Report{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Report{}, err
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln, 10*time.Second) }()
	defer func() { stop(); <-served }()
	url := "http://" + ln.Addr().String() + "/score"

	rep := Report{Cores: runtime.NumCPU(), Workers: o.Pool.Workers(), By: o.By, Group: o.Group}
	for i, size := range o.Sizes {
		c := o.Clients[0]
		if len(o.Clients) > 1 {
			c = o.Clients[i]
		}
		row, err := o.batch(ctx, url, items, size, c)
		if err != nil {
			return rep, err
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// batch measures one batch size with c clients.
func (o Options) batch(ctx context.Context, url string, items []serve.Item, size, c int) (Row, error) {
	// Request bodies: consecutive slices of the item list, so a batch
	// holds whole GRPO groups.
	var bodies [][]byte
	for lo := 0; len(bodies) < 64; lo = (lo + size) % len(items) {
		batch := make([]serve.Item, size)
		for k := range batch {
			batch[k] = items[(lo+k)%len(items)]
		}
		b, _ := json.Marshal(serve.Request{Items: batch})
		bodies = append(bodies, b)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}}
	defer hc.CloseIdleConnections()
	// Warm-up: start every worker and load every environment in it.
	for k := 0; k < 2*o.Pool.Workers(); k++ {
		if _, err := post(hc, url, bodies[k%len(bodies)]); err != nil {
			return Row{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	fmt.Fprintf(o.Progress, "batch %d: %d clients for up to %v or %d requests…\n", size, c, o.Duration, o.MaxRequests)
	var mu sync.Mutex
	var lat []time.Duration
	row := Row{Batch: size, Clients: c}
	var firstErr error
	var sent int
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; ; k += c {
				mu.Lock()
				if sent >= o.MaxRequests || time.Now().After(deadline) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				t0 := time.Now()
				n, err := post(hc, url, bodies[k%len(bodies)])
				d := time.Since(t0)
				mu.Lock()
				row.Requests++
				if err != nil {
					row.Errors++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					row.Scores += n
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	row.Seconds = time.Since(start).Seconds()
	if firstErr != nil {
		fmt.Fprintf(o.Progress, "batch %d: %d failed requests, the first: %v\n", size, row.Errors, firstErr)
	}
	row.PerSec = float64(row.Scores) / row.Seconds
	row.P50Millis, row.P99Millis = percentile(lat, 0.50), percentile(lat, 0.99)
	return row, nil
}

// post sends one request and returns how many rewards came back; an
// answer that is not 200, or a reward that is an environment error or a
// timeout, is an error.
func post(hc *http.Client, url string, body []byte) (int, error) {
	res, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("HTTP %d: %s", res.StatusCode, b)
	}
	var r serve.Response
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, err
	}
	for _, rw := range r.Rewards {
		if rw.Kind == env.KindEnvError || rw.Kind == env.KindTimeout {
			return 0, fmt.Errorf("an item came back %s: %s", rw.Kind, rw.Error)
		}
	}
	return len(r.Rewards), nil
}

// WriteText prints r as the table `resyn bench serve` shows, with the
// verdict on the target for batches of 256 (≥ 5,000 scores/s, p99 < 100 ms
// on 2 cores).
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "BATCH\tCLIENTS\tREQUESTS\tSCORES\tERRORS\tSECONDS\tSCORES/s\tp50 ms\tp99 ms\t\n")
	for _, r := range r.Rows {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t\n", r.Batch, r.Clients, r.Requests, r.Scores, r.Errors, r.Seconds, r.PerSec, r.P50Millis, r.P99Millis)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d cores, %d workers, items by %s, groups of %d\n", r.Cores, r.Workers, r.By, r.Group)
	for _, row := range r.Rows {
		if row.Batch == 256 {
			verdict := "met"
			if row.PerSec < 5000 || row.P99Millis >= 100 || row.Errors > 0 {
				verdict = "missed"
			}
			fmt.Fprintf(w, "target for batches of 256 (≥ 5000 scores/s, p99 < 100 ms): %s\n", verdict)
		}
	}
	return nil
}

// Items exports n instances per environment (with their ground truth
// and reference answers) and makes group completions for each, cycling
// through correct, corrupted and without an <answer> block.
func Items(ctx context.Context, p *env.Pool, mods []*env.Module, n, group int, by string) ([]serve.Item, error) {
	var recs []export.Record
	_, err := export.Generate(ctx, p, export.Options{Envs: mods, N: n * len(mods), Seed: 1000, MinDifficulty: 1, MaxDifficulty: 10},
		func(r export.Record) error { recs = append(recs, r); return nil }, nil, nil)
	if err != nil {
		return nil, err
	}
	tasks := make([]env.Task, len(recs))
	for i, r := range recs {
		tasks[i] = env.Task{Env: r.Env, Seed: r.Seed, Difficulty: r.Difficulty, State: r.GroundTruth.State, Solve: true}
	}
	res := p.Run(ctx, tasks)
	rng := rand.New(rand.NewPCG(1, 2))
	var items []serve.Item
	for i, r := range recs {
		if res[i].Err != nil {
			continue // an environment without solve() or one that failed: leave it out
		}
		sol := res[i].Solution
		for k := 0; k < group; k++ {
			var c string
			switch k % 3 {
			case 0:
				c = "Let me think.\n<answer>" + sol + "</answer>"
			case 1:
				c = "<answer>" + corrupt(sol, rng) + "</answer>"
			default:
				c = "I am not sure."
			}
			if by == "instance" {
				items = append(items, serve.ByInstance(r.Env, r.Seed, r.Difficulty, c))
			} else {
				items = append(items, serve.ByGroundTruth(r.GroundTruth.String(), c))
			}
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no environment produced reference answers to benchmark with")
	}
	return items, nil
}

// corrupt swaps two characters of s (or appends one), which keeps the form
// of an answer while usually breaking it.
func corrupt(s string, rng *rand.Rand) string {
	b := []byte(s)
	if len(b) < 2 {
		return s + "0"
	}
	i, j := rng.IntN(len(b)), rng.IntN(len(b))
	b[i], b[j] = b[j], b[i]
	return string(b)
}

func percentile(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(q * float64(len(s)-1))
	return float64(s[k].Microseconds()) / 1000
}

// ParseFlags reads `resyn bench serve`'s --batches, --clients (one count,
// or one per batch size) and --by (ground-truth or instance).
func ParseFlags(batches, clients, by string) (sizes, conc []int, err error) {
	if sizes, err = ParseCounts(batches); err != nil {
		return nil, nil, fmt.Errorf("--batches: %w", err)
	}
	conc, err = ParseCounts(clients)
	if err != nil || (len(conc) != 1 && len(conc) != len(sizes)) {
		return nil, nil, fmt.Errorf("--clients: want one number or one per batch size")
	}
	if by != "ground-truth" && by != "instance" {
		return nil, nil, fmt.Errorf("--by %q: want ground-truth or instance", by)
	}
	return sizes, conc, nil
}

// ParseCounts reads a comma-separated list of positive numbers (batch
// sizes, clients).
func ParseCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
