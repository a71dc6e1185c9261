package synthload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"resyn/core/synth"
	"resyn/storage"
)

// BenchOptions configure a load test of `resyn synth`. Zero fields take the
// defaults listed.
type BenchOptions struct {
	Exe         string  // the resyn binary to run (required)
	DB          string  // the store to create; it must not exist (required)
	Candidates  int     // default 1000
	Concurrency int     // LLM requests in flight; default 32
	Parallel    int     // candidates in flight; default 1.5 × Concurrency
	Scale       float64 // latency scale (1: seconds to a minute a reply); default 0.1
	Part        string  // corpus part the model answers from; default PartHeldBack
	// KillAfter: after this many final verdicts `resyn synth` is killed
	// with SIGKILL and continued with --resume; 0: no kill.
	KillAfter int
	Workers   int // sandbox workers of resyn synth; 0: one per core
	Seed      uint64
	Rates     *Rates  // nil: DefaultRates
	Faults    *Faults // nil: DefaultFaults
	Progress  io.Writer
}

func (o BenchOptions) withDefaults() BenchOptions {
	if o.Candidates <= 0 {
		o.Candidates = 1000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.Parallel <= 0 {
		o.Parallel = o.Concurrency + o.Concurrency/2
	}
	if o.Scale <= 0 {
		o.Scale = 0.1
	}
	if o.Part == "" {
		o.Part = PartHeldBack
	}
	if o.Rates == nil {
		r := DefaultRates()
		o.Rates = &r
	}
	if o.Faults == nil {
		f := DefaultFaults()
		o.Faults = &f
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Yield is what each stage let through.
type Yield struct {
	Proposed    int   `json:"proposed"`    // ideas the model proposed
	Dropped     int   `json:"dropped"`     // dropped by ideation as repeats of the store or of one another
	Kept        int   `json:"kept"`        // after ideation's deduplication (and the cap)
	Implemented int   `json:"implemented"` // the model wrote code
	Valid       int   `json:"valid"`       // passed validation, within the repair rounds
	ValidAfter  []int `json:"valid_after"` // valid after k repair rounds
	Duplicates  int   `json:"duplicates"`  // valid but a near-duplicate of the library
	Stored      int   `json:"stored"`      // admitted as candidates
	// DuplicatesBy splits Duplicates by what showed it: "prompt" (rendered
	// prompts similar), "behaviour" (each verifier accepts the other's
	// answers), "name" (the name was taken).
	DuplicatesBy map[string]int        `json:"duplicates_by"`
	Outcomes     map[synth.Outcome]int `json:"outcomes"`
}

// KillCheck is what the kill and the resume showed.
type KillCheck struct {
	KilledAfter    int `json:"killed_after"`    // final verdicts seen on stderr before SIGKILL
	FinishedBefore int `json:"finished_before"` // candidates with a final verdict in the store after the kill
	InFlight       int `json:"in_flight"`       // candidates started but without a verdict at the kill (redone, as they should be)
	// Redone counts the candidates finished before the kill that the model
	// was asked about again after it, and DoubleVerdicts those with more
	// than one final verdict in the log: both must be 0.
	Redone         int `json:"redone"`
	DoubleVerdicts int `json:"double_verdicts"`
	IdeationRedone int `json:"ideation_redone"` // seeds answered before the kill asked again
}

// BenchReport is a load test's measurements.
type BenchReport struct {
	Candidates  int     `json:"candidates"`
	Seeds       int     `json:"seeds"`
	PerSeed     int     `json:"per_seed"`
	Concurrency int     `json:"concurrency"`
	Parallel    int     `json:"parallel"`
	Scale       float64 `json:"latency_scale"`
	Part        string  `json:"corpus"`
	Workers     int     `json:"workers"`
	Cores       int     `json:"cores"`

	Wall       time.Duration   `json:"wall_ns"`         // both executions, kill and restart included
	Executions []time.Duration `json:"executions_ns"`   // each execution of resyn synth
	Ideal      time.Duration   `json:"ideal_ns"`        // Σ reply latency / concurrency: the run if the LLM were the only cost
	Latency    time.Duration   `json:"mean_latency_ns"` // mean latency of a reply (scaled)
	Server     Stats           `json:"server"`

	Calls             int     `json:"calls"` // LLM calls resyn counted (each with its retries)
	TokensIn          int     `json:"tokens_in"`
	TokensOut         int     `json:"tokens_out"`
	CallsPerAdmitted  float64 `json:"calls_per_admitted"`
	TokensPerAdmitted float64 `json:"tokens_per_admitted"`
	Yield             Yield   `json:"yield"`

	PeakRSS      int64 `json:"peak_rss_bytes"`       // of the resyn synth process (the larger of its executions)
	PeakRSSTotal int64 `json:"peak_rss_total_bytes"` // of resyn synth and its sandbox workers together (sampled every 200 ms)
	StoreBytes   int64 `json:"store_bytes"`

	Kill *KillCheck `json:"kill,omitempty"`
}

var verdictLineRe = regexp.MustCompile(`^\[\s*\d+\] \S+\s+(✓ candidate|✗ [a-z_]+)`)

// execution is one run of resyn synth.
type execution struct {
	cmd      *exec.Cmd
	out      bytes.Buffer
	tail     *tailWriter
	verdicts chan struct{} // one value per final verdict line
	done     chan error
	start    time.Time
	elapsed  time.Duration
	peakTree atomic.Int64 // the most resident memory of the process and its children together
}

func start(ctx context.Context, exe string, args []string) (*execution, error) {
	e := &execution{cmd: exec.Command(exe, args...), tail: &tailWriter{max: 8 << 10}, verdicts: make(chan struct{}, 1<<16), done: make(chan error, 1)}
	e.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	e.cmd.Stdout = &e.out
	pr, err := e.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	e.start = time.Now()
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			e.tail.Write([]byte(line + "\n"))
			if m := verdictLineRe.FindStringSubmatch(line); m != nil && m[1] != "✗ error" {
				e.verdicts <- struct{}{}
			}
		}
		err := e.cmd.Wait()
		e.elapsed = time.Since(e.start)
		close(e.verdicts)
		e.done <- err
	}()
	go func() {
		<-ctx.Done()
		if e.cmd.Process != nil {
			_ = e.cmd.Process.Kill()
		}
	}()
	go e.sampleMemory()
	return e, nil
}

// sampleMemory follows the resident memory of the process and its
// children (the sandbox workers) from /proc until it ends; on systems
// without /proc it records nothing.
func (e *execution) sampleMemory() {
	pid := e.cmd.Process.Pid
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for e.cmd.ProcessState == nil {
		total := rssOf(pid)
		if total == 0 {
			return
		}
		for _, c := range childrenOf(pid) {
			total += rssOf(c)
		}
		if total > e.peakTree.Load() {
			e.peakTree.Store(total)
		}
		<-t.C
	}
}

// rssOf is a process's resident memory in bytes (VmRSS), 0 when unknown.
func rssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb * 1024
		}
	}
	return 0
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			var c int
			if _, err := fmt.Sscan(f, &c); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func (e *execution) maxRSS() int64 {
	if e.cmd.ProcessState == nil {
		return 0
	}
	if ru, ok := e.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024 // KiB on Linux
	}
	return 0
}

// tailWriter keeps the last max bytes written, for error messages.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Bench runs the load test: a Server on loopback playing the model, `resyn
// synth --seeds builtin` against it for o.Candidates candidates, optionally
// killed with SIGKILL after o.KillAfter verdicts and resumed, then the
// report.
func Bench(ctx context.Context, o BenchOptions) (*BenchReport, error) {
	o = o.withDefaults()
	if o.Exe == "" || o.DB == "" {
		return nil, errors.New("synthload: Bench needs the resyn binary and a store path")
	}
	if _, err := os.Stat(o.DB); err == nil {
		return nil, fmt.Errorf("synthload: %s exists; the load test makes a new store", o.DB)
	}
	corpus, err := Load(o.Part)
	if err != nil {
		return nil, err
	}
	seeds, perSeed, seedFile, err := writeSeeds(o)
	if err != nil {
		return nil, err
	}
	defer os.Remove(seedFile)
	srv := NewServer(ServerOptions{Model: &Model{Corpus: corpus, Rates: *o.Rates, Seed: o.Seed}, Faults: *o.Faults, Scale: o.Scale, Seed: o.Seed})
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	timeout := time.Duration(max(float64(time.Second), 2*60*o.Scale*float64(time.Second)))
	retryBase := time.Duration(max(float64(10*time.Millisecond), o.Scale*float64(time.Second)))
	common := []string{"--base-url", base, "--concurrency", fmt.Sprint(o.Concurrency), "--request-timeout", timeout.String(),
		"--retry-base", retryBase.String(), "--workers", fmt.Sprint(o.Workers), "-q", "--json"}
	args := append([]string{"--db", o.DB, "synth", "--provider", "openai", "--model", "simulated-writer", "--seeds", seedFile,
		"--per-seed", fmt.Sprint(perSeed), "--n", fmt.Sprint(o.Candidates), "--parallel", fmt.Sprint(o.Parallel)}, common...)
	fmt.Fprintf(o.Progress, "load test: %d candidates from %d seeds × %d proposals, %d LLM requests in flight, %d candidates in flight, latency ×%g, corpus %s\n",
		o.Candidates, len(seeds), perSeed, o.Concurrency, o.Parallel, o.Scale, o.Part)
	fmt.Fprintf(o.Progress, "simulated server at %s; resyn synth --request-timeout %v --retry-base %v\n", base, timeout, retryBase)

	rep := &BenchReport{Candidates: o.Candidates, Seeds: len(seeds), PerSeed: perSeed, Concurrency: o.Concurrency, Parallel: o.Parallel,
		Scale: o.Scale, Part: o.Part, Workers: o.Workers, Cores: runtime.NumCPU()}
	t0 := time.Now()
	stopTicker := progressTicker(o.Progress, srv, t0)
	defer stopTicker()

	first, err := start(ctx, o.Exe, args)
	if err != nil {
		return nil, err
	}
	execs := []*execution{first}
	seen := 0
	if o.KillAfter > 0 {
		for range first.verdicts {
			seen++
			if seen >= o.KillAfter {
				break
			}
		}
	}
	final := first
	if o.KillAfter > 0 && seen >= o.KillAfter {
		killedAt := time.Now()
		_ = first.cmd.Process.Signal(syscall.SIGKILL)
		for range first.verdicts {
		}
		<-first.done
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fmt.Fprintf(o.Progress, "killed resyn synth with SIGKILL after %d verdicts (%v); resuming\n", seen, time.Since(t0).Round(time.Second))
		if final, rep.Kill, err = resumeAfterKill(ctx, o, srv, common, seen, killedAt); err != nil {
			return nil, err
		}
		execs = append(execs, final)
	} else {
		for range first.verdicts {
		}
		err = <-first.done
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("resyn synth: %v\n%s", err, first.tail)
		}
	}
	rep.Wall = time.Since(t0)
	stopTicker()
	for _, e := range execs {
		rep.Executions = append(rep.Executions, e.elapsed)
		rep.PeakRSS = max(rep.PeakRSS, e.maxRSS())
	}
	for _, e := range execs {
		rep.PeakRSSTotal = max(rep.PeakRSSTotal, e.peakTree.Load())
	}
	if err := rep.fill(o, srv, final); err != nil {
		return nil, err
	}
	return rep, nil
}

// writeSeeds writes the seed file of the run: enough seeds and proposals
// that ideation keeps o.Candidates after dropping repeats (10–25% with the
// default rates): the built-in list with as many proposals per seed as
// that takes (8 at least, as in the paper), or for a small run its first
// few seeds.
func writeSeeds(o BenchOptions) (seeds []synth.Seed, perSeed int, file string, err error) {
	seeds = synth.DefaultSeeds()
	perSeed = max(8, int(math.Ceil(float64(o.Candidates)/float64(len(seeds))/0.7)))
	if k := int(math.Ceil(float64(o.Candidates) / float64(perSeed) / 0.7)); k < len(seeds) {
		seeds = seeds[:k]
	}
	file = o.DB + ".seeds.txt"
	var sb strings.Builder
	for _, sd := range seeds {
		sb.WriteString(sd.String() + "\n")
	}
	return seeds, perSeed, file, os.WriteFile(file, []byte(sb.String()), 0o644)
}

// resumeAfterKill runs `resyn synth --resume` after the first execution was
// killed (after seen verdicts, at killedAt) and checks what the resume
// redid against what the store held.
func resumeAfterKill(ctx context.Context, o BenchOptions, srv *Server, common []string, seen int, killedAt time.Time) (*execution, *KillCheck, error) {
	kc := &KillCheck{KilledAfter: seen}
	before, started, err := verdictsInStore(o.DB)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the store after the kill: %w", err)
	}
	kc.FinishedBefore = len(before)
	for c := range started {
		if !before[c] {
			kc.InFlight++
		}
	}
	answered := answeredSeeds(srv.Log(), killedAt)
	resume, err := start(ctx, o.Exe, append([]string{"--db", o.DB, "synth", "--resume", "1"}, common...))
	if err != nil {
		return nil, nil, err
	}
	for range resume.verdicts {
	}
	err = <-resume.done
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("resyn synth --resume: %v\n%s", err, resume.tail)
	}
	for _, c := range srv.Log() {
		if !c.Time.After(killedAt) {
			continue
		}
		switch c.Stage {
		case StageImplement, StageRepair:
			if before[c.Subject] {
				kc.Redone++
				before[c.Subject] = false // count each candidate once
			}
		case StageIdeate:
			if answered[c.Subject] {
				kc.IdeationRedone++
			}
		}
	}
	if kc.DoubleVerdicts, err = doubleVerdicts(o.DB); err != nil {
		return nil, nil, err
	}
	return resume, kc, nil
}

// fill reads the last execution's summary, the server's statistics and the
// store into rep.
func (rep *BenchReport) fill(o BenchOptions, srv *Server, final *execution) error {
	var res struct {
		Summary synth.Summary `json:"summary"`
	}
	if err := json.Unmarshal(final.out.Bytes(), &res); err != nil {
		return fmt.Errorf("reading resyn synth's summary: %v\n%s", err, final.tail)
	}
	s := res.Summary
	rep.Server = srv.Stats()
	if rep.Server.OK > 0 {
		rep.Latency = rep.Server.Latency / time.Duration(rep.Server.OK)
	}
	rep.Ideal = rep.Server.Latency / time.Duration(o.Concurrency)
	rep.Calls, rep.TokensIn, rep.TokensOut = s.Calls, s.Usage.PromptTokens, s.Usage.CompletionTokens
	if s.Stored > 0 {
		rep.CallsPerAdmitted = float64(s.Calls) / float64(s.Stored)
		rep.TokensPerAdmitted = float64(s.Usage.Total()) / float64(s.Stored)
	}
	rep.Yield = Yield{Proposed: rep.Server.Ideas, Dropped: s.Dropped, Kept: s.Ideas, Implemented: s.Implemented, Valid: s.Valid, ValidAfter: s.ValidAfter,
		Duplicates: s.Outcomes[synth.OutcomeDuplicate], Stored: s.Stored, Outcomes: s.Outcomes}
	if st, err := os.Stat(o.DB); err == nil {
		rep.StoreBytes = st.Size()
	}
	rep.Yield.DuplicatesBy = map[string]int{}
	if err := readLog(o.DB, func(e storage.SynthLogEntry) {
		if e.Stage != synth.StageVerdict || !strings.HasPrefix(e.Message, string(synth.OutcomeDuplicate)) {
			return
		}
		var prov struct {
			Duplicate *synth.Duplicate `json:"duplicate"`
		}
		switch _ = json.Unmarshal(e.Detail, &prov); {
		case prov.Duplicate == nil || prov.Duplicate.PromptSimilarity == 1 && !prov.Duplicate.Behaviour && strings.Contains(prov.Duplicate.Reason, "named"):
			rep.Yield.DuplicatesBy["name"]++
		case prov.Duplicate.Behaviour:
			rep.Yield.DuplicatesBy["behaviour"]++
		default:
			rep.Yield.DuplicatesBy["prompt"]++
		}
	}); err != nil {
		return fmt.Errorf("reading the store: %w", err)
	}
	return nil
}

// progressTicker prints the server's counts every 10 s until stopped.
func progressTicker(w io.Writer, srv *Server, t0 time.Time) func() {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := srv.Stats()
				fmt.Fprintf(w, "  %v: %d requests (%d answered: %d ideation, %d implementation, %d repair; %d rate-limited, %d server errors, %d hung, %d cut)\n",
					time.Since(t0).Round(time.Second), st.Requests, st.OK, st.ByStage[StageIdeate], st.ByStage[StageImplement], st.ByStage[StageRepair],
					st.RateLimited, st.ServerErrors, st.Hangs, st.Cuts)
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// verdictsInStore reads run 1's log: the candidates with a final verdict,
// and every candidate started.
func verdictsInStore(path string) (final, started map[string]bool, err error) {
	final, started = map[string]bool{}, map[string]bool{}
	err = readLog(path, func(e storage.SynthLogEntry) {
		switch e.Stage {
		case synth.StageVerdict:
			if !strings.HasPrefix(e.Message, string(synth.OutcomeError)) {
				final[e.Candidate] = true
			}
		case "start":
			started[e.Candidate] = true
		}
	})
	return final, started, err
}

// doubleVerdicts counts candidates of run 1 with more than one final verdict.
func doubleVerdicts(path string) (int, error) {
	n := map[string]int{}
	err := readLog(path, func(e storage.SynthLogEntry) {
		if e.Stage == synth.StageVerdict && !strings.HasPrefix(e.Message, string(synth.OutcomeError)) {
			n[e.Candidate]++
		}
	})
	d := 0
	for _, k := range n {
		if k > 1 {
			d++
		}
	}
	return d, err
}

func readLog(path string, fn func(storage.SynthLogEntry)) error {
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *storage.Tx) error {
		log, err := storage.ListSynthLog(tx, 1, 0)
		for _, e := range log {
			fn(e)
		}
		return err
	})
}

// answeredSeeds are the seed keywords whose ideation request got an answer
// before t.
func answeredSeeds(log []Call, t time.Time) map[string]bool {
	out := map[string]bool{}
	for _, c := range log {
		if c.Stage == StageIdeate && c.Outcome == "ok" && c.Time.Add(c.Latency).Before(t) {
			out[c.Subject] = true
		}
	}
	return out
}

// Table writes the report as the table docs/benchmarks.md shows.
func (r *BenchReport) Table(w io.Writer) {
	pct := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
	}
	fmt.Fprintf(w, "candidates %d (%d seeds × %d proposals), concurrency %d, %d candidates in flight, latency ×%g, corpus %s, %d cores\n",
		r.Candidates, r.Seeds, r.PerSeed, r.Concurrency, r.Parallel, r.Scale, r.Part, r.Cores)
	fmt.Fprintf(w, "wall time         %v (executions: %s)\n", r.Wall.Round(time.Second), durations(r.Executions))
	ratio := 0.0
	if r.Ideal > 0 {
		ratio = float64(r.Wall) / float64(r.Ideal)
	}
	fmt.Fprintf(w, "ideal             %v = %d replies × %v mean latency / %d in flight; wall/ideal %.2f\n",
		r.Ideal.Round(time.Second), r.Server.OK, r.Latency.Round(time.Millisecond), r.Concurrency, ratio)
	fmt.Fprintf(w, "server            %d requests: %d answered (%d ideation, %d implementation, %d repair), %d rate-limited, %d server errors, %d hung, %d cut\n",
		r.Server.Requests, r.Server.OK, r.Server.ByStage[StageIdeate], r.Server.ByStage[StageImplement], r.Server.ByStage[StageRepair],
		r.Server.RateLimited, r.Server.ServerErrors, r.Server.Hangs, r.Server.Cuts)
	fmt.Fprintf(w, "LLM calls         %d; tokens %d in + %d out\n", r.Calls, r.TokensIn, r.TokensOut)
	fmt.Fprintf(w, "per admitted env  %.2f calls, %.0f tokens\n", r.CallsPerAdmitted, r.TokensPerAdmitted)
	y := r.Yield
	var after []string
	for k, n := range y.ValidAfter {
		after = append(after, fmt.Sprintf("%d after %d", n, k))
	}
	var outs []string
	for o, n := range y.Outcomes {
		outs = append(outs, fmt.Sprintf("%s %d", o, n))
	}
	sort.Strings(outs)
	fmt.Fprintf(w, "yield             proposed %d → %d dropped as repeats → kept %d (%s) → implemented %d (%s) → valid %d (%s; %s) → not duplicates %d (%s) → stored %d\n",
		y.Proposed, y.Dropped, y.Kept, pct(y.Kept, y.Proposed), y.Implemented, pct(y.Implemented, y.Kept), y.Valid, pct(y.Valid, y.Implemented),
		strings.Join(after, ", "), y.Valid-y.Duplicates, pct(y.Valid-y.Duplicates, y.Valid), y.Stored)
	fmt.Fprintf(w, "outcomes          %s\n", strings.Join(outs, ", "))
	fmt.Fprintf(w, "duplicates        %d by prompt, %d by behaviour, %d by name\n", y.DuplicatesBy["prompt"], y.DuplicatesBy["behaviour"], y.DuplicatesBy["name"])
	fmt.Fprintf(w, "peak memory       resyn synth %.0f MiB; with its sandbox workers %.0f MiB\n", float64(r.PeakRSS)/(1<<20), float64(r.PeakRSSTotal)/(1<<20))
	fmt.Fprintf(w, "store             %.1f MiB\n", float64(r.StoreBytes)/(1<<20))
	if k := r.Kill; k != nil {
		fmt.Fprintf(w, "kill -9           after %d verdicts: %d finished in the store, %d in flight (redone); after --resume: %d finished ones asked again, %d with two verdicts, %d seeds asked again\n",
			k.KilledAfter, k.FinishedBefore, k.InFlight, k.Redone, k.DoubleVerdicts, k.IdeationRedone)
	}
}

func durations(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(time.Second).String())
	}
	return strings.Join(s, " + ")
}
