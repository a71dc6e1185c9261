package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"resyn/core/env"
)

// Options tune a validation run. The zero value is what `resyn envs
// validate`, `resyn envs add`, the workbench and `resyn synth` all use.
//
// Every budget is work, not time: Starlark steps (host builtins' work
// included, see core/env) and CPU time measured in the sandbox's worker
// processes, so that a verdict is the same on an idle and on a saturated
// machine. Wall-clock time is only the last resort (Timeout), far above any
// honest environment's need.
type Options struct {
	SeedsPerLevel int `json:"seeds_per_level"` // instances per difficulty level (default 20)
	// StepBudget bounds one instance: generate, render, solve and the
	// verification of solve's answer together, and every other verify call
	// on its own (default DefaultStepBudget).
	StepBudget uint64 `json:"step_budget"`
	// TaskCPU bounds the CPU time of one instance's calls together, for
	// work the step count cannot see (default 1 s; honest environments take
	// milliseconds). Enforced where the executor measures CPU (env.Pool).
	TaskCPU time.Duration `json:"task_cpu_ns"`
	// Timeout is the wall-clock limit of one call, a last resort (default
	// 20 s).
	Timeout time.Duration `json:"timeout_ns"`
	// WorkBudget bounds the whole validation of one environment, in steps
	// (default DefaultWorkBudget), and CPUBudget in CPU time (default 20 s):
	// past either, validation stops with a failing budget check.
	WorkBudget uint64        `json:"work_budget"`
	CPUBudget  time.Duration `json:"cpu_budget_ns"`
	// MaxLimitHits: validation stops after this many instances broke a limit
	// (default 3; a CPU-time, wall-clock or memory limit stops it at once).
	MaxLimitHits int `json:"max_limit_hits"`
	// MinSpace is the fewest distinct instances (prompts) each level of the
	// upper half of the difficulty range must offer (default 50): a level
	// whose instance space is smaller is memorised, not learnt. Easier levels
	// may be smaller (a one-pile game with up to 9 objects has 6 positions)
	// but no level may have fewer than 4.
	MinSpace int `json:"min_space"`
}

// UnmarshalJSON reads options, also those stored (in synthesis runs'
// configs) by older resyns: CamelCase SeedsPerLevel; their TaskBudget
// (wall time) and MinDistinct have no meaning any more and are dropped.
func (o *Options) UnmarshalJSON(b []byte) error {
	type plain Options
	var v struct {
		plain
		OldSeeds *int `json:"SeedsPerLevel"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Options(v.plain)
	if o.SeedsPerLevel == 0 && v.OldSeeds != nil {
		o.SeedsPerLevel = *v.OldSeeds
	}
	return nil
}

// Defaults.
const (
	DefaultSeeds      = 20
	DefaultStepBudget = 1_000_000   // ~40 ms on one core; honest environments take 1k–420k
	DefaultWorkBudget = 400_000_000 // ~16 s of one core; the built-ins take 1–60M
	DefaultMinSpace   = 50
	minLevelSpace     = 4
)

func (o *Options) defaults() {
	if o.SeedsPerLevel <= 0 {
		o.SeedsPerLevel = DefaultSeeds
	}
	if o.StepBudget == 0 {
		o.StepBudget = DefaultStepBudget
	}
	if o.TaskCPU <= 0 {
		o.TaskCPU = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Second
	}
	if o.WorkBudget == 0 {
		o.WorkBudget = DefaultWorkBudget
	}
	if o.CPUBudget <= 0 {
		o.CPUBudget = 20 * time.Second
	}
	if o.MaxLimitHits <= 0 {
		o.MaxLimitHits = 3
	}
	if o.MinSpace <= 0 {
		o.MinSpace = DefaultMinSpace
	}
}

// Limits are the per-call limits validation runs environment code under.
func Limits(o Options) env.Limits {
	o.defaults()
	lim := env.DefaultLimits()
	lim.Steps = o.StepBudget
	lim.CPU = o.TaskCPU
	lim.TaskCPU = o.TaskCPU
	lim.Timeout = o.Timeout
	lim.MaxState, lim.MaxOutput = MaxState, MaxPrompt
	return lim
}

// MaxState and MaxPrompt bound an instance's state as JSON and its prompt
// (or solve's answer) in validation: far above what a prompt for a language
// model can use, and small enough that validating 200 instances with their
// probes stays within its CPU budget.
const (
	MaxState  = 256 << 10
	MaxPrompt = 256 << 10
)

// Check names, in report order.
const (
	CheckLoad          = "loads and follows the contract"
	CheckGenerate      = "generate, render and solve run"
	CheckDeterministic = "same seed gives the same instance"
	CheckPrompt        = "prompt asks for <answer> tags"
	CheckSolve         = "solve() scores 1.0"
	CheckRejects       = "corrupted, partial and random answers score below 1"
	CheckHacks         = "reward-hacking probes score below 1"
	CheckNoRaise       = "verify never raises"
	CheckDiversity     = "different seeds give different instances at every level"
	CheckBudget        = "every instance within the step budget"
	CheckDifficulty    = "difficulty changes what the solver sees or must do"
	CheckJudge         = "an LLM judge finds no flaw"
)

// Check is one line of a report.
type Check struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Skipped  bool     `json:"skipped,omitempty"` // not run (nothing to check, or validation stopped first); not OK
	Detail   string   `json:"detail,omitempty"`
	Failures []string `json:"failures,omitempty"` // the first few failing cases, each naming seed and difficulty
	Line     int      `json:"line,omitempty"`     // module line of the first failure, when known
}

// Report is the outcome of validating one environment.
type Report struct {
	Env       string       `json:"env"`
	File      string       `json:"file"`
	Hash      string       `json:"env_hash,omitempty"`
	OK        bool         `json:"ok"`
	Checks    []Check      `json:"checks"`
	Instances int          `json:"instances"`
	Distinct  float64      `json:"distinct_ratio"`
	Levels    []LevelSpace `json:"levels,omitempty"`
	Work      Work         `json:"work"`
	Stopped   string       `json:"stopped,omitempty"` // why validation stopped before running every check
	// Judge is the LLM judge's record when one ran (core/synth encodes it;
	// its verdict is the CheckJudge line).
	Judge   json.RawMessage `json:"judge,omitempty"`
	Elapsed time.Duration   `json:"elapsed_ns"`
}

// Work is what a validation cost, by function; the same on every machine
// but for CPU.
type Work struct {
	Steps uint64        `json:"steps"`
	By    env.Work      `json:"by_function"`
	CPU   time.Duration `json:"cpu_ns,omitempty"` // as the workers measured it
	Tasks int           `json:"tasks"`
}

func (w *Work) add(r env.Result) {
	w.Steps += r.Steps
	w.By.Generate += r.Work.Generate
	w.By.Render += r.Work.Render
	w.By.Solve += r.Work.Solve
	w.By.Verify += r.Work.Verify
	w.By.Answers += r.Work.Answers
	w.CPU += r.CPU
	w.Tasks++
}

// Failed returns the failing checks. Skipped ones are not among them: they
// did not run, because validation stopped or had nothing to check, and a
// failing check always says why.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c)
		}
	}
	return out
}

// Check returns the check of that name.
func (r *Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

const maxFailures = 5

type checker struct {
	c Check
	n int // failures seen
}

func (k *checker) fail(line int, format string, args ...any) {
	k.n++
	if k.c.Line == 0 {
		k.c.Line = line
	}
	if len(k.c.Failures) < maxFailures {
		k.c.Failures = append(k.c.Failures, env.CapText(fmt.Sprintf(format, args...), 1024))
	}
}

func (k *checker) done(detail string) Check {
	k.c.OK = k.n == 0
	k.c.Detail = detail
	return k.c
}

func skipped(name, why string) Check {
	return Check{Name: name, Skipped: true, Detail: "skipped: " + why}
}

// File loads untrusted source through the pool and validates it. A module
// that does not load gets a report with one failing check.
func File(ctx context.Context, pool *env.Pool, file string, src []byte, opts Options) *Report {
	start := time.Now()
	m, err := pool.Load(ctx, file, src)
	if err != nil {
		return LoadFailed(file, src, err, time.Since(start))
	}
	r := Run(ctx, pool, m, opts)
	r.Elapsed = time.Since(start)
	return r
}

// LoadFailed is the report on a module that did not load.
func LoadFailed(file string, src []byte, err error, elapsed time.Duration) *Report {
	c := Check{Name: CheckLoad, OK: false, Detail: env.CapText(err.Error(), env.MaxErrorText)}
	var e *env.Error
	if errors.As(err, &e) {
		c.Line = e.Line
	}
	return &Report{File: file, Hash: env.SourceHash(src), Checks: []Check{c}, Elapsed: elapsed}
}

type inst struct {
	seed       int64
	difficulty int
	res        env.Result
}

func where(seed int64, difficulty int) string {
	return fmt.Sprintf("seed %d, difficulty %d", seed, difficulty)
}

// run is one validation in progress: the executor, the budgets, and what
// has been spent and broken so far.
type run struct {
	ctx    context.Context
	cancel context.CancelFunc
	ex     env.Executor
	m      *env.Module
	o      Options
	lim    env.Limits
	wave   int

	work    Work
	hits    int // instances that broke a limit
	stopped string
	budget  checker
}

// exec runs tasks in waves, so that an environment that breaks its limits
// is stopped after the first few instances instead of after all of them.
// Results of tasks not run (validation stopped) have a nil State and no
// Err; callers skip them with ran.
func (v *run) exec(tasks []env.Task) []env.Result {
	out := make([]env.Result, len(tasks))
	for i := range tasks {
		tasks[i].Limits = &v.lim
	}
	// The first waves are small (one instance, then two, four, …), so that
	// a hostile environment is stopped after a few instances; they grow to
	// keep the workers busy.
	wave := 1
	for lo, hi := 0, 0; lo < len(tasks) && v.stopped == ""; lo, wave = hi, min(2*wave, v.wave) {
		hi = min(lo+wave, len(tasks))
		res := v.ex.Run(v.ctx, tasks[lo:hi])
		for i, r := range res {
			out[lo+i] = r
			v.account(tasks[lo+i], r)
		}
		switch {
		case v.ctx.Err() != nil && v.stopped == "":
			v.stop("cancelled")
		case v.work.Steps > v.o.WorkBudget:
			v.stop(fmt.Sprintf("the environment used more than the %d steps that validating one environment may take (%s)", v.o.WorkBudget, byFunction(v.work.By)))
		case v.work.CPU > v.o.CPUBudget:
			v.stop(fmt.Sprintf("the environment used more than the %v of CPU time that validating one environment may take (%d steps: most of the time went into work the step count cannot see)", v.o.CPUBudget, v.work.Steps))
		}
	}
	return out
}

func byFunction(w env.Work) string {
	return fmt.Sprintf("generate %d, render %d, solve %d, verify of the solutions %d, verify of the probes %d", w.Generate, w.Render, w.Solve, w.Verify, w.Answers)
}

// ran says whether a task ran: not skipped because validation stopped, nor
// cancelled with its context.
func ran(r env.Result) bool {
	if r.Err != nil && r.Err.Kind == env.FailWorker && strings.HasPrefix(r.Err.Msg, "cancelled") {
		return false
	}
	return r.Err != nil || r.State != nil
}

// account adds a result's work, and charges limit errors to the budget
// check (each is reported there, once).
func (v *run) account(t env.Task, r env.Result) {
	if !ran(r) {
		return
	}
	v.work.add(r)
	e := limitError(r)
	if e == nil {
		return
	}
	v.hits++
	v.budget.fail(e.Line, "%s: %v", where(t.Seed, t.Difficulty), e)
	if e.Limit == env.LimitCPU || e.Limit == env.LimitTime || e.Limit == env.LimitMemory {
		// Each of these costs up to a second of CPU or a gigabyte: one is
		// enough to know.
		v.stop(fmt.Sprintf("%s broke the %s limit", where(t.Seed, t.Difficulty), e.Limit))
	} else if v.hits >= v.o.MaxLimitHits {
		v.stop(fmt.Sprintf("%d instances broke a limit", v.hits))
	}
}

func (v *run) stop(why string) {
	if v.stopped == "" {
		v.stopped = why
		v.cancel()
	}
}

// limitError is the first limit error of a result: of generate, render or
// solve, of verify on the solution or on an answer.
func limitError(r env.Result) *env.Error {
	isLimit := func(e *env.Error) bool { return e != nil && e.Kind == env.FailLimit }
	if isLimit(r.Err) {
		return r.Err
	}
	if r.SolutionScore != nil && isLimit(r.SolutionScore.Err) {
		return r.SolutionScore.Err
	}
	for _, s := range r.Scores {
		if isLimit(s.Err) {
			return s.Err
		}
	}
	return nil
}

// workers is how many tasks an executor runs at once.
func workers(ex env.Executor) int {
	switch x := ex.(type) {
	case interface{ Workers() int }:
		return x.Workers()
	case *env.Local:
		return x.Workers
	}
	return 4
}

// Run validates a module already registered with ex.
func Run(ctx context.Context, ex env.Executor, m *env.Module, opts Options) *Report {
	opts.defaults()
	start := time.Now()
	rep := &Report{Env: m.Name, File: m.File, Hash: m.Hash}
	rep.Checks = append(rep.Checks, Check{Name: CheckLoad, OK: true, Detail: fmt.Sprintf("%s, difficulty %d–%d, tags %s", m.Name, m.MinDifficulty, m.MaxDifficulty, strings.Join(m.Tags, ", "))})
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	v := &run{ctx: rctx, cancel: cancel, ex: ex, m: m, o: opts, lim: Limits(opts), wave: max(2, 4*workers(ex)),
		budget: checker{c: Check{Name: CheckBudget}}}

	// Phase 1: every (level, seed), with prompt and verified solution.
	var tasks []env.Task
	levels := levelsOf(m)
	for _, d := range levels {
		for s := 0; s < opts.SeedsPerLevel; s++ {
			tasks = append(tasks, env.Task{Env: m.Name, Seed: int64(s), Difficulty: d, Render: true, VerifySolution: m.HasSolve})
		}
	}
	rep.Instances = len(tasks)
	ph := v.instances(tasks)
	genDetail := fmt.Sprintf("%d instances over %d levels", len(tasks)-ph.notRun, len(levels))
	if ph.notRun > 0 {
		genDetail += fmt.Sprintf(" (%d not run: validation stopped)", ph.notRun)
	}
	rep.Checks = append(rep.Checks, ph.gen.done(genDetail))
	ok := ph.ok

	// Phase 1b: determinism, on the first few seeds of every level.
	rep.Checks = append(rep.Checks, v.determinism(ok))
	if len(ok) == 0 {
		rep.Checks = append(rep.Checks, skipped(CheckPrompt, "no instance was rendered"))
	} else {
		rep.Checks = append(rep.Checks, ph.prompt.done(""))
	}
	switch {
	case !m.HasSolve:
		rep.Checks = append(rep.Checks, Check{Name: CheckSolve, OK: false, Detail: "the environment defines no solve(state): validation needs a reference answer to build its probes"})
	case len(ok) == 0:
		rep.Checks = append(rep.Checks, skipped(CheckSolve, "no instance was generated"))
	default:
		rep.Checks = append(rep.Checks, ph.solve.done(""))
	}

	// Phase 2: probes against each instance's state.
	rep.Checks = append(rep.Checks, v.probeChecks(ok)...)

	// Phase 3: diversity per level, and the difficulty knob.
	div, spaces := v.diversity(ok, levels)
	rep.Levels = spaces
	rep.Distinct = distinctRatio(ok)
	rep.Checks = append(rep.Checks, div, v.budgetCheck(ok), difficultyCheck(ok, levels))

	rep.Work, rep.Stopped = v.work, v.stopped
	rep.OK = true
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
	rep.Elapsed = time.Since(start)
	return rep
}

// phase1 is what the first pass over every (level, seed) found.
type phase1 struct {
	gen, prompt, solve checker
	ok                 []inst // the instances that generated, for the later phases
	notRun             int    // tasks not run: validation stopped first
}

// instances runs tasks (generate, render, solve and verify the solution)
// and checks each.
func (v *run) instances(tasks []env.Task) phase1 {
	first := v.exec(tasks)
	ph := phase1{gen: checker{c: Check{Name: CheckGenerate}}, prompt: checker{c: Check{Name: CheckPrompt}}, solve: checker{c: Check{Name: CheckSolve}}}
	for i, t := range tasks {
		a := first[i]
		w := where(t.Seed, t.Difficulty)
		switch {
		case !ran(a):
			ph.notRun++
			continue
		case a.Err != nil && a.Err.Kind == env.FailLimit:
			continue // charged to the budget check
		case a.Err != nil:
			ph.gen.fail(a.Err.Line, "%s: %v", w, a.Err)
			continue
		}
		if !strings.Contains(strings.ToLower(a.Prompt), "<answer>") {
			ph.prompt.fail(0, "%s: the prompt never mentions <answer>", w)
		}
		if v.m.HasSolve {
			switch sc := a.SolutionScore; {
			case sc == nil:
				ph.solve.fail(0, "%s: no score for the solution", w)
			case sc.Err != nil && sc.Err.Kind == env.FailLimit:
				continue
			case sc.Err != nil:
				ph.solve.fail(sc.Err.Line, "%s: verify(state, solve(state)) raised: %v", w, sc.Err)
			case sc.Value != 1:
				ph.solve.fail(0, "%s: verify(state, solve(state)) = %v for the answer %q", w, sc.Value, short(a.Solution))
			}
		}
		ph.ok = append(ph.ok, inst{t.Seed, t.Difficulty, a})
	}
	return ph
}

// budgetCheck is the step budget's verdict: every instance within it, and
// validation not stopped by a limit.
func (v *run) budgetCheck(ok []inst) Check {
	detail := fmt.Sprintf("budget %d steps an instance; the heaviest took %d", v.o.StepBudget, heaviest(ok))
	for _, in := range ok {
		if n := in.res.Work.Generate + in.res.Work.Render + in.res.Work.Solve + in.res.Work.Verify; n > v.o.StepBudget {
			v.budget.fail(0, "%s: %d steps (%s)", where(in.seed, in.difficulty), n, byFunction(in.res.Work))
		}
	}
	if v.stopped != "" && v.stopped != "cancelled" {
		v.budget.fail(0, "validation stopped: %s", v.stopped)
	}
	return v.budget.done(detail)
}

func heaviest(ok []inst) uint64 {
	var h uint64
	for _, in := range ok {
		h = max(h, in.res.Work.Generate+in.res.Work.Render+in.res.Work.Solve+in.res.Work.Verify)
	}
	return h
}

// determinism runs the first few seeds of every level again: the same seed
// must give the same state, prompt and solution. A second run that fails
// says so; a limit it breaks goes to the budget check.
func (v *run) determinism(ok []inst) Check {
	det := checker{c: Check{Name: CheckDeterministic}}
	if len(ok) == 0 {
		return skipped(CheckDeterministic, "no instance was generated")
	}
	var again []inst
	var tasks []env.Task
	perLevel := map[int]int{}
	for _, in := range ok {
		if perLevel[in.difficulty] < 4 {
			perLevel[in.difficulty]++
			again = append(again, in)
			tasks = append(tasks, env.Task{Env: v.m.Name, Seed: in.seed, Difficulty: in.difficulty, Render: true, VerifySolution: v.m.HasSolve})
		}
	}
	res := v.exec(tasks)
	n := 0
	for i, in := range again {
		b := res[i]
		w := where(in.seed, in.difficulty)
		switch {
		case !ran(b):
			continue
		case b.Err != nil && b.Err.Kind == env.FailLimit:
			n++ // charged to the budget check
		case b.Err != nil:
			n++
			det.fail(b.Err.Line, "%s: the first run succeeded, the second failed: %v", w, b.Err)
		case string(b.State) != string(in.res.State):
			n++
			det.fail(0, "%s: the two runs generated different states", w)
		case b.Prompt != in.res.Prompt:
			n++
			det.fail(0, "%s: the two runs rendered different prompts", w)
		case b.Solution != in.res.Solution:
			n++
			det.fail(0, "%s: the two runs solved differently (%q, then %q)", w, short(in.res.Solution), short(b.Solution))
		default:
			n++
		}
	}
	if n == 0 {
		return skipped(CheckDeterministic, "validation stopped before the second runs")
	}
	return det.done(fmt.Sprintf("%d instances run twice", n))
}

func levelsOf(m *env.Module) []int {
	var ls []int
	for d := m.MinDifficulty; d <= m.MaxDifficulty; d++ {
		ls = append(ls, d)
	}
	// Very wide ranges: sample ten levels evenly, ends included.
	if len(ls) > 10 {
		var s []int
		for i := 0; i < 10; i++ {
			s = append(s, ls[i*(len(ls)-1)/9])
		}
		ls = s
	}
	return ls
}

// difficultyCheck compares the lowest and the highest level: the prompt
// (what the solver sees) must change in size, or the work of solve and of
// verifying its answer (what the solver must do) must grow. Steps, not wall
// time, which a loaded machine makes noisy; and not generate's work or the
// state's size, which can grow with state the prompt never shows.
func difficultyCheck(ok []inst, levels []int) Check {
	c := Check{Name: CheckDifficulty}
	if len(levels) < 2 {
		c.OK, c.Detail = true, "one difficulty level only"
		return c
	}
	lo, hi := levels[0], levels[len(levels)-1]
	type agg struct{ state, prompt, work, n float64 }
	mean := func(d int) agg {
		var a agg
		for _, in := range ok {
			if in.difficulty == d {
				a.state += float64(len(in.res.State))
				a.prompt += float64(len(in.res.Prompt))
				a.work += float64(in.res.Work.Solve + in.res.Work.Verify)
				a.n++
			}
		}
		if a.n > 0 {
			a.state, a.prompt, a.work = a.state/a.n, a.prompt/a.n, a.work/a.n
		}
		return a
	}
	a, b := mean(lo), mean(hi)
	if a.n == 0 || b.n == 0 {
		return skipped(CheckDifficulty, fmt.Sprintf("no instance at level %d or %d", lo, hi))
	}
	grow := func(x, y float64) float64 {
		if x == 0 {
			if y == 0 {
				return 1
			}
			return math.Inf(1)
		}
		return y / x
	}
	gs, gp, gw := grow(a.state, b.state), grow(a.prompt, b.prompt), grow(a.work, b.work)
	plo, phi := promptsAt(ok, lo), promptsAt(ok, hi)
	shift, tlen := contentShift(plo, phi), lengthShift(plo, phi)
	c.Detail = fmt.Sprintf("level %d→%d: prompt ×%.2f (t = %.1f), solve and verify work ×%.2f, prompt content shift %.1f× the noise (state ×%.2f)", lo, hi, gp, tlen, gw, shift, gs)
	c.OK = gp >= 1.1 || gp <= 1/1.1 || tlen >= minLengthT || gw >= 1.5 || shift >= minShift
	if !c.OK {
		msg := "neither the prompt nor the work of solve and verify changes with difficulty"
		if gs >= 1.1 {
			msg = fmt.Sprintf("only the state grows (×%.2f), state the prompt never shows: difficulty must change what the solver sees or must do", gs)
		}
		c.Failures = []string{msg}
	}
	return c
}

func promptsAt(ok []inst, d int) []string {
	var ps []string
	for _, in := range ok {
		if in.difficulty == d {
			ps = append(ps, in.res.Prompt)
		}
	}
	return ps
}

// minShift: how far the prompts' make-up must move between the lowest and
// the highest level, in multiples of its spread within a level.
const minShift = 3

// contentShift measures how much what the solver sees changes between two
// levels when the prompt keeps its size (a 3×3 board with more empty
// cells): the L1 distance between the mean byte histograms of the prompts
// at the two levels, divided by the larger distance between the two halves
// of one level (the noise of that mean). Prompts drawn from one
// distribution give a ratio near 0.7; 0 when a level has fewer than two
// prompts.
func contentShift(lo, hi []string) float64 {
	if len(lo) < 2 || len(hi) < 2 {
		return 0
	}
	mean := func(ps []string, part int) [256]float64 {
		var m [256]float64
		n := 0
		for i, p := range ps {
			if part >= 0 && i%2 != part || len(p) == 0 {
				continue
			}
			for j := 0; j < len(p); j++ {
				m[p[j]] += 1 / float64(len(p))
			}
			n++
		}
		for i := range m {
			m[i] /= float64(max(n, 1))
		}
		return m
	}
	l1 := func(a, b [256]float64) float64 {
		var d float64
		for i := range a {
			d += math.Abs(a[i] - b[i])
		}
		return d
	}
	d := l1(mean(lo, -1), mean(hi, -1))
	noise := max(l1(mean(lo, 0), mean(lo, 1)), l1(mean(hi, 0), mean(hi, 1)))
	if noise == 0 {
		if d == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return d / noise
}

// minLengthT: a change of the prompt's length smaller than 10% still counts
// when it is this many standard errors away from no change (a number with
// more digits in a long fixed text).
const minLengthT = 4

// lengthShift is Welch's t statistic of the prompt lengths at two levels
// (0 when the lengths differ by less than a byte or a level has one
// prompt).
func lengthShift(lo, hi []string) float64 {
	if len(lo) < 2 || len(hi) < 2 {
		return 0
	}
	stats := func(ps []string) (mean, variance float64) {
		for _, p := range ps {
			mean += float64(len(p))
		}
		mean /= float64(len(ps))
		for _, p := range ps {
			d := float64(len(p)) - mean
			variance += d * d
		}
		return mean, variance / float64(len(ps)-1)
	}
	m1, v1 := stats(lo)
	m2, v2 := stats(hi)
	diff := math.Abs(m2 - m1)
	if diff < 1 {
		return 0
	}
	se := math.Sqrt(v1/float64(len(lo)) + v2/float64(len(hi)))
	if se == 0 {
		return math.Inf(1)
	}
	return diff / se
}

func short(s string) string {
	if len(s) > 60 {
		return strings.ToValidUTF8(s[:60], "") + "…"
	}
	return s
}

// MarshalReports renders reports as indented JSON.
func MarshalReports(rs []*Report) ([]byte, error) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].File < rs[j].File })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<answer>" as itself (docs/json.md)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rs); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads a report, also one stored before env_hash was named
// so ("hash").
func (r *Report) UnmarshalJSON(b []byte) error {
	type plain Report
	var v struct {
		plain
		Legacy string `json:"hash"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Report(v.plain)
	if r.Hash == "" {
		r.Hash = v.Legacy
	}
	return nil
}

// WriteReports writes reports to w as MarshalReports does, with a newline:
// what `--json` prints.
func WriteReports(w io.Writer, rs []*Report) error {
	b, err := MarshalReports(rs)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
