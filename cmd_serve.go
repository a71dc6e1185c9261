package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/export"
	libpkg "resyn/core/library"
	"resyn/core/serve"
)

func init() {
	register(newServeCmd)
	registerBench(newBenchServeCmd)
}

// servePool starts the sandbox with the given per-call timeout (the reward
// server's per-item timeout) and every built-in registered; with library,
// also the usable stored environments (accepted, not failing validation),
// or those named in names, and returns the modules to serve.
func servePool(ctx context.Context, workers int, itemTimeout time.Duration, library bool, names string) (*env.Pool, []*env.Module, error) {
	lim := env.DefaultLimits()
	if itemTimeout > 0 {
		lim.Timeout = itemTimeout
	}
	var entries []libpkg.Entry
	list := func(l *libpkg.Library) error {
		var err error
		entries, err = l.List()
		return err
	}
	var err error
	if library {
		err = withLibrary(true, list)
	} else {
		err = list(libpkg.New(nil)) // the built-ins alone
	}
	if err != nil {
		return nil, nil, err
	}
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var chosen []libpkg.Entry
	for _, e := range entries {
		if !library || (len(want) == 0 && e.Usable()) || want[e.Name] {
			chosen = append(chosen, e)
			delete(want, e.Name)
		}
	}
	for n := range want {
		return nil, nil, fmt.Errorf("unknown environment %q (see `resyn envs list`)", n)
	}
	return libpkg.NewPool(ctx, chosen, libpkg.ExecutorOptions{Workers: workers, Limits: lim})
}

func newServeCmd() *cobra.Command {
	var addr, token, envs string
	var workers, maxItems, maxQueued int
	var maxBodyMiB, maxBodyTotalMiB int64
	var itemTimeout, requestTimeout, drain time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve rewards over HTTP for verl, TRL and other trainers",
		Long: `Runs the reward server: the environments' verifiers, in the sandboxed worker
pool, behind HTTP.

  POST /score    {"items":[ITEM,…]} → {"rewards":[REWARD,…]}, in order
  GET  /envs     the environments served, with version hashes
  GET  /healthz  {"status":"ok"}; 503 while shutting down (no token needed)
  GET  /metrics  Prometheus text format

An ITEM is {"env","seed","difficulty","completion"} or {"ground_truth",
"completion"} with the ground_truth string of a row from resyn export. A
REWARD is {"kind","score","answer","error"} with kind ok, format (no <answer>
block: score 0), env_error (drop the item from training) or timeout, and a
"code" when the item could not be matched: unknown_env, env_changed (the
ground truth was made by another version of the environment: re-export) or
bad_ground_truth.

Limits, which bound the server's memory whatever its clients send:
--max-body and --max-items per request (413 beyond; items are counted as the
body arrives, so the item past --max-items is refused before it is read);
--max-body-total bytes of bodies and --max-queued items held at once over
all requests, beyond which /score answers 503 with Retry-After at once;
each generate and verify call within 10M Starlark steps and 1 s of CPU
(kind timeout), and --item-timeout of wall-clock time as a last resort;
--request-timeout for a whole request. Error texts in replies are cut to 2
KiB. Items of a client that disconnects are counted as kind "cancelled" in
/metrics (never env_error). SIGTERM or Ctrl-C stops accepting connections and
lets the requests in flight finish (up to --drain).

Listening on anything but a loopback address needs a bearer token (--token or
RESYN_TOKEN); clients send "Authorization: Bearer TOKEN". See
docs/scale-out.md for training on a cluster with verl or TRL.`,
		Example: `  resyn serve
  RESYN_TOKEN=$(openssl rand -hex 16) resyn serve --addr 0.0.0.0:8700 --workers 16
  curl -s localhost:8700/score -d '{"items":[{"env":"graph_coloring","seed":1,"difficulty":2,"completion":"<answer>1 2 3</answer>"}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				token = os.Getenv("RESYN_TOKEN")
			}
			if err := serve.CheckBind(addr, token); err != nil {
				return err
			}
			p, mods, err := servePool(cmd.Context(), workers, itemTimeout, true, envs)
			if err != nil {
				return err
			}
			defer p.Close()
			s, err := serve.New(serve.Options{Exec: p, Envs: mods, Token: token, MaxBodyBytes: maxBodyMiB << 20,
				MaxBodyTotal: maxBodyTotalMiB << 20, MaxItems: maxItems, MaxQueued: maxQueued, RequestTimeout: requestTimeout})
			if err != nil {
				return err
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				// The collector keeps the heap under the server's bound
				// instead of letting garbage reach twice the live heap.
				debug.SetMemoryLimit(s.GCLimit())
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			auth := "no token (loopback only)"
			if token != "" {
				auth = "bearer token required"
			}
			fmt.Fprintf(os.Stderr, "resyn serve: listening on http://%s — %d environments, %d workers, %s, memory bound %d MiB\n", ln.Addr(), len(mods), p.Workers(), auth, s.MemoryBound()>>20)
			err = s.Serve(cmd.Context(), ln, drain)
			fmt.Fprintln(os.Stderr, "resyn serve: stopped")
			return err
		},
	}
	c.Flags().StringVar(&addr, "addr", "127.0.0.1:8700", "listen address; non-loopback needs --token")
	c.Flags().StringVar(&envs, "env", "", "serve only these environments, comma-separated (default: every usable one, built-in and stored)")
	c.Flags().StringVar(&token, "token", "", "bearer token clients must send (default $RESYN_TOKEN)")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().DurationVar(&itemTimeout, "item-timeout", 10*time.Second, "wall-clock limit of each environment call (generate, verify), a last resort: steps and CPU time bound the work, the same on a busy machine")
	c.Flags().DurationVar(&requestTimeout, "request-timeout", 2*time.Minute, "limit for scoring one request; unscored items come back as timeout")
	c.Flags().Int64Var(&maxBodyMiB, "max-body", 64, "largest request body, in MiB")
	c.Flags().Int64Var(&maxBodyTotalMiB, "max-body-total", 0, "most MiB of request bodies held at once over all requests; beyond, 503 with Retry-After (default 4 × --max-body)")
	c.Flags().IntVar(&maxItems, "max-items", 4096, "most items in one request (counted as the body arrives)")
	c.Flags().IntVar(&maxQueued, "max-queued", 16384, "most items admitted at once; beyond, 503 with Retry-After")
	c.Flags().DurationVar(&drain, "drain", time.Minute, "on SIGTERM, how long requests in flight may take to finish")
	return c
}

// benchRow is one line of `resyn bench serve`.
type benchRow struct {
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

func newBenchServeCmd() *cobra.Command {
	var batches, clients, by string
	var duration time.Duration
	var maxRequests, workers, group int
	var asJSON bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Reward server load test on loopback: scores/s and p50/p99 latency",
		Long: `Starts the reward server in this process on 127.0.0.1 (an ephemeral port) over
the worker pool, and POSTs /score from concurrent keep-alive clients for each
batch size: at most --duration and at most --max-requests requests per batch
size, after a short warm-up that starts the workers. Reports scores/s over the
whole run and the p50/p99 latency of one request.

The items are what a GRPO trainer sends: every built-in environment, groups of
--group completions per instance (cycling through the reference answer, a
corrupted one, and one without an <answer> block), named by the ground truth of an exported row
(--by ground-truth, what verl sends) or by (env, seed, difficulty) (--by
instance). Request bodies are encoded beforehand; responses are decoded and
checked. The target for batches of 256 on 2 cores is ≥ 5,000 scores/s with
p99 < 100 ms.`,
		Example: `  resyn bench serve
  resyn bench serve --batches 1,64,256 --clients 8,4,2 --duration 10s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sizes, err := parseInts(batches)
			if err != nil {
				return fmt.Errorf("--batches: %w", err)
			}
			conc, err := parseInts(clients)
			if err != nil || (len(conc) != 1 && len(conc) != len(sizes)) {
				return fmt.Errorf("--clients: want one number or one per batch size")
			}
			if by != "ground-truth" && by != "instance" {
				return fmt.Errorf("--by %q: want ground-truth or instance", by)
			}
			return benchServe(cmd.Context(), sizes, conc, by, duration, maxRequests, workers, group, asJSON)
		},
	}
	c.Flags().StringVar(&batches, "batches", "1,256", "batch sizes (items per request)")
	c.Flags().StringVar(&clients, "clients", "8,1", "concurrent clients, one for all or one per batch size")
	c.Flags().StringVar(&by, "by", "ground-truth", "how items name their instance: ground-truth or instance")
	c.Flags().DurationVar(&duration, "duration", 5*time.Second, "longest run per batch size")
	c.Flags().IntVar(&maxRequests, "max-requests", 20000, "most requests per batch size")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().IntVar(&group, "group", 8, "completions per instance (a GRPO group)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func parseInts(s string) ([]int, error) {
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

func benchServe(ctx context.Context, sizes, conc []int, by string, duration time.Duration, maxRequests, workers, group int, asJSON bool) error {
	p, mods, err := servePool(ctx, workers, 0, false, "")
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(os.Stderr, "preparing %d environments × 32 instances…\n", len(mods))
	items, err := benchItems(ctx, p, mods, 32, group, by)
	if err != nil {
		return err
	}
	maxBatch := 0
	for _, b := range sizes {
		maxBatch = max(maxBatch, b)
	}
	s, err := serve.New(serve.Options{Exec: p, Envs: mods, MaxItems: max(4096, maxBatch), MaxQueued: max(16384, 4*maxBatch)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln, 10*time.Second) }()
	defer func() { stop(); <-served }()
	url := "http://" + ln.Addr().String() + "/score"

	var rows []benchRow
	for i, size := range sizes {
		c := conc[0]
		if len(conc) > 1 {
			c = conc[i]
		}
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
		post := func(body []byte) (int, error) {
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
		// Warm-up: start every worker and load every environment in it.
		for k := 0; k < 2*p.Workers(); k++ {
			if _, err := post(bodies[k%len(bodies)]); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
		fmt.Fprintf(os.Stderr, "batch %d: %d clients for up to %v or %d requests…\n", size, c, duration, maxRequests)
		var mu sync.Mutex
		var lat []time.Duration
		row := benchRow{Batch: size, Clients: c}
		var firstErr error
		var sent int
		deadline := time.Now().Add(duration)
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < c; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for k := w; ; k += c {
					mu.Lock()
					if sent >= maxRequests || time.Now().After(deadline) || ctx.Err() != nil {
						mu.Unlock()
						return
					}
					sent++
					mu.Unlock()
					t0 := time.Now()
					n, err := post(bodies[k%len(bodies)])
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
		hc.CloseIdleConnections()
		if firstErr != nil {
			fmt.Fprintf(os.Stderr, "batch %d: %d failed requests, the first: %v\n", size, row.Errors, firstErr)
		}
		row.PerSec = float64(row.Scores) / row.Seconds
		row.P50Millis, row.P99Millis = percentile(lat, 0.50), percentile(lat, 0.99)
		rows = append(rows, row)
	}
	if asJSON {
		return writeJSON(map[string]any{"cores": runtime.NumCPU(), "workers": p.Workers(), "by": by, "group": group, "rows": rows})
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "BATCH\tCLIENTS\tREQUESTS\tSCORES\tERRORS\tSECONDS\tSCORES/s\tp50 ms\tp99 ms\t\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t\n", r.Batch, r.Clients, r.Requests, r.Scores, r.Errors, r.Seconds, r.PerSec, r.P50Millis, r.P99Millis)
	}
	tw.Flush()
	fmt.Printf("%d cores, %d workers, items by %s, groups of %d\n", runtime.NumCPU(), p.Workers(), by, group)
	for _, r := range rows {
		if r.Batch == 256 {
			verdict := "met"
			if r.PerSec < 5000 || r.P99Millis >= 100 || r.Errors > 0 {
				verdict = "missed"
			}
			fmt.Printf("target for batches of 256 (≥ 5000 scores/s, p99 < 100 ms): %s\n", verdict)
		}
	}
	return nil
}

// benchItems exports n instances per environment (with their ground truth
// and reference answers) and makes group completions for each, cycling
// through correct, corrupted and without an <answer> block.
func benchItems(ctx context.Context, p *env.Pool, mods []*env.Module, n, group int, by string) ([]serve.Item, error) {
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
