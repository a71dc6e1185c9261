// Command soak runs `resyn serve` for minutes under mixed good and hostile
// traffic on loopback, kills its sandbox workers as it goes, and reports the
// server's memory, the good clients' latency and every wrong answer.
//
//	go run ./scripts/soak                      # 3 minutes, builds resyn first
//	go run ./scripts/soak --duration 10m --resyn ./resyn --json
//
// It is bounded and stops itself: --duration (at most 30m) of traffic, then
// SIGTERM to the server, which must drain and exit 0. Everything runs on
// 127.0.0.1 with a scratch store in a temporary directory that is removed at
// the end. The traffic is core/serve/loadgen's, all kinds at once: good
// batches, large batches, slow bodies, verifiers that raise megabytes,
// endless items past --max-items, 63 MB-style bodies of {} items, endless
// completions past --max-body, garbage, and clients that leave mid-request.
// Every --kill-every one worker process of the server is killed with
// SIGKILL; the pool must replace it, and the items it was scoring must come
// back as env_error "worker died", never as a wrong score.
//
// The exit status is 1 when any answer was wrong, when the server's peak
// resident memory passed the bound it printed at start (serve's
// MemoryBound), or when it did not exit 0 on SIGTERM. The figures go to
// docs/benchmarks.md ("Reward server under abuse").
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"resyn/core/serve/loadgen"
)

func main() {
	duration := flag.Duration("duration", 3*time.Minute, "how long to send traffic (at most 30m)")
	bin := flag.String("resyn", "", "the resyn binary (default: go build it into a temporary directory)")
	workers := flag.Int("workers", 2, "worker processes of the server")
	killEvery := flag.Duration("kill-every", 10*time.Second, "kill one worker process this often (0: never)")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	if *duration <= 0 || *duration > 30*time.Minute {
		fatalf("--duration %v: want more than 0 and at most 30m", *duration)
	}
	rep, err := soak(*duration, *bin, *workers, *killEvery)
	if err != nil {
		fatalf("%v", err)
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(b))
	} else {
		rep.print(os.Stdout)
	}
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
	os.Exit(2)
}

// report is what a soak measured.
type report struct {
	Machine       string          `json:"machine"`
	Seconds       float64         `json:"seconds"`
	Flags         []string        `json:"server_flags"`
	BoundMiB      int64           `json:"memory_bound_mib"`
	RestMiB       int64           `json:"rss_at_rest_mib"`
	PeakMiB       int64           `json:"rss_peak_mib"` // VmHWM
	SampledMaxMiB int64           `json:"rss_sampled_max_mib"`
	EndMiB        int64           `json:"rss_end_mib"`
	WorkersKilled int             `json:"workers_killed"`
	Kinds         []kindRow       `json:"kinds"`
	Scores        map[string]int  `json:"scores_by_kind"` // from /metrics
	Requests      map[string]int  `json:"requests_by_status"`
	ExitStatus    int             `json:"server_exit_status"`
	Failures      []string        `json:"failures"`
	tally         *loadgen.Report `json:"-"`
}

type kindRow struct {
	Kind       loadgen.Kind `json:"kind"`
	Requests   int          `json:"requests"`
	Statuses   map[int]int  `json:"statuses"`
	Violations int          `json:"violations"`
	P50Millis  float64      `json:"p50_ms"`
	P99Millis  float64      `json:"p99_ms"`
}

var serverFlags = []string{"--max-body", "64", "--max-body-total", "192", "--max-items", "4096", "--max-queued", "16384", "--item-timeout", "30s"}

var goodEnvs = []string{"graph_coloring", "maze", "sat_3cnf", "n_queens"}

func soak(duration time.Duration, bin string, workers int, killEvery time.Duration) (*report, error) {
	dir, err := os.MkdirTemp("", "resyn-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "resyn")
		fmt.Fprintln(os.Stderr, "soak: building resyn…")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	srv, url, bound, err := startServer(dir, bin, workers)
	if err != nil {
		return nil, err
	}
	defer srv.Process.Kill()
	rep := &report{Machine: fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()), Flags: serverFlags, BoundMiB: bound}
	pid := srv.Process.Pid
	rep.RestMiB = statusMiB(pid, "VmRSS")
	fmt.Fprintf(os.Stderr, "soak: %s, %d workers, bound %d MiB; %v of traffic…\n", url, workers, rep.BoundMiB, duration)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	start := time.Now()
	done := make(chan *loadgen.Report, 1)
	go func() {
		done <- loadgen.Run(ctx, loadgen.Options{URL: url, Envs: goodEnvs, Difficulty: 2, LargeBatch: 2048, Seed: uint64(time.Now().UnixNano()), WorkerKills: killEvery > 0}, []loadgen.Stream{
			{Kind: loadgen.Good, Clients: 3},
			{Kind: loadgen.Large, Clients: 2},
			{Kind: loadgen.Slow, Clients: 2},
			{Kind: loadgen.Loud, Clients: 1},
			{Kind: loadgen.TooMany, Clients: 1},
			{Kind: loadgen.Empties, Clients: 1},
			{Kind: loadgen.HugeBody, Clients: 1},
			{Kind: loadgen.Garbage, Clients: 1},
			{Kind: loadgen.Aborted, Clients: 1},
		})
	}()
	rng := rand.New(rand.NewPCG(uint64(pid), 7))
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	var kill <-chan time.Time
	if killEvery > 0 {
		t := time.NewTicker(killEvery)
		defer t.Stop()
		kill = t.C
	}
	for rep.tally == nil {
		select {
		case <-sample.C:
			rep.SampledMaxMiB = max(rep.SampledMaxMiB, statusMiB(pid, "VmRSS"))
			fmt.Fprintf(os.Stderr, "\rsoak: %v of %v, server RSS %d MiB (max %d), %d workers killed ", time.Since(start).Round(time.Second), duration, statusMiB(pid, "VmRSS"), rep.SampledMaxMiB, rep.WorkersKilled)
		case <-kill:
			if kids := children(pid); len(kids) > 0 {
				if syscall.Kill(kids[rng.IntN(len(kids))], syscall.SIGKILL) == nil {
					rep.WorkersKilled++
				}
			}
		case rep.tally = <-done:
		}
	}
	fmt.Fprintln(os.Stderr)
	rep.Seconds = time.Since(start).Seconds()
	rep.PeakMiB, rep.EndMiB = statusMiB(pid, "VmHWM"), statusMiB(pid, "VmRSS")
	rep.Scores, rep.Requests, err = metrics(url)
	if err != nil {
		rep.Failures = append(rep.Failures, "GET /metrics: "+err.Error())
	}
	srv.Process.Signal(syscall.SIGTERM)
	werr := srv.Wait()
	rep.ExitStatus = srv.ProcessState.ExitCode()
	rep.judge(werr)
	return rep, nil
}

// startServer adds the loud environment to a new store in dir and starts
// `resyn serve` on it; it returns the server, its URL and the memory bound
// it announced.
func startServer(dir, bin string, workers int) (*exec.Cmd, string, int64, error) {
	db := filepath.Join(dir, "resyn.db")
	loud := filepath.Join(dir, "loud.star")
	if err := os.WriteFile(loud, []byte(loadgen.LoudEnv), 0o644); err != nil {
		return nil, "", 0, err
	}
	if out, err := exec.Command(bin, "--db", db, "envs", "add", "--seeds", "3", loud).CombinedOutput(); err != nil {
		return nil, "", 0, fmt.Errorf("envs add: %v\n%s", err, out)
	}
	args := append([]string{"--db", db, "serve", "--addr", "127.0.0.1:0", "--workers", strconv.Itoa(workers), "--env", "loud," + strings.Join(goodEnvs, ",")}, serverFlags...)
	srv := exec.Command(bin, args...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		return nil, "", 0, err
	}
	if err := srv.Start(); err != nil {
		return nil, "", 0, err
	}
	ok := false
	defer func() {
		if !ok {
			srv.Process.Kill()
		}
	}()
	rd := bufio.NewReader(stderr)
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, "", 0, fmt.Errorf("resyn serve printed %q: %v", line, err)
	}
	go io.Copy(io.Discard, rd)
	m := regexp.MustCompile(`listening on (http://\S+) .* memory bound (\d+) MiB`).FindStringSubmatch(line)
	if m == nil {
		return nil, "", 0, fmt.Errorf("resyn serve printed %q", line)
	}
	bound, _ := strconv.ParseInt(m[2], 10, 64)
	ok = true
	return srv, m[1], bound, nil
}

// judge tallies the traffic by kind and lists every failure: a violation,
// memory over the bound, a server that did not stop cleanly (werr), no
// good request answered.
func (rep *report) judge(werr error) {
	for _, k := range loadgen.Kinds {
		s := rep.tally.Of(k)
		if s.Requests == 0 {
			continue
		}
		rep.Kinds = append(rep.Kinds, kindRow{Kind: k, Requests: s.Requests, Statuses: s.Statuses, Violations: s.Violations,
			P50Millis: float64(s.Quantile(0.5).Microseconds()) / 1000, P99Millis: float64(s.Quantile(0.99).Microseconds()) / 1000})
		for _, v := range s.First {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %s", k, v))
		}
	}
	if rep.PeakMiB > rep.BoundMiB {
		rep.Failures = append(rep.Failures, fmt.Sprintf("peak RSS %d MiB over the bound of %d MiB", rep.PeakMiB, rep.BoundMiB))
	}
	if werr != nil {
		rep.Failures = append(rep.Failures, fmt.Sprintf("resyn serve after SIGTERM: %v", werr))
	}
	if g := rep.tally.Of(loadgen.Good); g.Requests == 0 || g.Statuses[200] == 0 {
		rep.Failures = append(rep.Failures, "no good request was answered")
	}
}

// statusMiB reads a "VmRSS:"-style line of /proc/PID/status, in MiB.
func statusMiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return v >> 10
}

// children lists the processes whose parent is pid: the server's workers.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// metrics sums /metrics' scores by kind and requests by status.
func metrics(url string) (map[string]int, map[string]int, error) {
	res, err := http.Get(url + "/metrics")
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	scores, requests := map[string]int{}, map[string]int{}
	kind := regexp.MustCompile(`^resyn_serve_scores_total\{.*kind="([^"]*)".*\} (\d+)$`)
	status := regexp.MustCompile(`^resyn_serve_requests_total\{path="/score",code="(\d+)"\} (\d+)$`)
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if m := kind.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			scores[m[1]] += n
		}
		if m := status.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			requests[m[1]] += n
		}
	}
	return scores, requests, sc.Err()
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "soak of resyn serve on %s: %.0f s, server flags %s\n\n", r.Machine, r.Seconds, strings.Join(r.Flags, " "))
	r.tally.Write(w)
	fmt.Fprintf(w, "\nserver RSS: %d MiB at rest, %d MiB peak (VmHWM), %d MiB at the end; bound %d MiB\n", r.RestMiB, r.PeakMiB, r.EndMiB, r.BoundMiB)
	fmt.Fprintf(w, "workers killed: %d\n", r.WorkersKilled)
	fmt.Fprintf(w, "items by kind (/metrics): %s\n", sortedCounts(r.Scores))
	fmt.Fprintf(w, "POST /score by status (/metrics): %s\n", sortedCounts(r.Requests))
	fmt.Fprintf(w, "server exit status after SIGTERM: %d\n", r.ExitStatus)
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "no failures")
		return
	}
	fmt.Fprintf(w, "%d failures:\n", len(r.Failures))
	for _, f := range r.Failures {
		fmt.Fprintln(w, "  "+f)
	}
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
