package validate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"resyn/core/env"
)

// Options tune a validation run.
type Options struct {
	SeedsPerLevel int           `json:"seeds_per_level"` // instances per difficulty level (default 20)
	TaskBudget    time.Duration `json:"task_budget_ns"`  // max time for one instance's generate+render+solve+verify (default 250 ms)
	MinDistinct   float64       `json:"min_distinct"`    // minimum ratio of distinct instances across seeds (default 0.5)
}

// UnmarshalJSON reads options, also those stored (in synthesis runs'
// configs) before they had snake_case names: SeedsPerLevel, TaskBudget,
// MinDistinct.
func (o *Options) UnmarshalJSON(b []byte) error {
	var v struct {
		SeedsPerLevel *int           `json:"seeds_per_level"`
		TaskBudget    *time.Duration `json:"task_budget_ns"`
		MinDistinct   *float64       `json:"min_distinct"`
		OldSeeds      *int           `json:"SeedsPerLevel"`
		OldBudget     *time.Duration `json:"TaskBudget"`
		OldDistinct   *float64       `json:"MinDistinct"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*o = Options{}
	if p := cmp.Or(v.SeedsPerLevel, v.OldSeeds); p != nil {
		o.SeedsPerLevel = *p
	}
	if p := cmp.Or(v.TaskBudget, v.OldBudget); p != nil {
		o.TaskBudget = *p
	}
	if p := cmp.Or(v.MinDistinct, v.OldDistinct); p != nil {
		o.MinDistinct = *p
	}
	return nil
}

func (o *Options) defaults() {
	if o.SeedsPerLevel <= 0 {
		o.SeedsPerLevel = 20
	}
	if o.TaskBudget <= 0 {
		o.TaskBudget = 250 * time.Millisecond
	}
	if o.MinDistinct <= 0 {
		o.MinDistinct = 0.5
	}
}

// Check names, in report order.
const (
	CheckLoad          = "loads and follows the contract"
	CheckGenerate      = "generate, render and solve run"
	CheckDeterministic = "same seed gives the same instance"
	CheckPrompt        = "prompt asks for <answer> tags"
	CheckSolve         = "solve() scores 1.0"
	CheckRejects       = "corrupted and random answers score below 1"
	CheckHacks         = "reward-hacking probes score below 1"
	CheckNoRaise       = "verify never raises"
	CheckDiversity     = "different seeds give different instances"
	CheckBudget        = "every call within the time budget"
	CheckDifficulty    = "difficulty changes the instance"
)

// Check is one line of a report.
type Check struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Detail   string   `json:"detail,omitempty"`
	Failures []string `json:"failures,omitempty"` // the first few failing cases, each naming seed and difficulty
	Line     int      `json:"line,omitempty"`     // module line of the first failure, when known
}

// Report is the outcome of validating one environment.
type Report struct {
	Env       string        `json:"env"`
	File      string        `json:"file"`
	Hash      string        `json:"env_hash,omitempty"`
	OK        bool          `json:"ok"`
	Checks    []Check       `json:"checks"`
	Instances int           `json:"instances"`
	Distinct  float64       `json:"distinct_ratio"`
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// Failed returns the failing checks.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
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
		k.c.Failures = append(k.c.Failures, fmt.Sprintf(format, args...))
	}
}

func (k *checker) done(detail string) Check {
	k.c.OK = k.n == 0
	k.c.Detail = detail
	return k.c
}

func lineOf(e *env.Error) int {
	if e == nil {
		return 0
	}
	return e.Line
}

// File loads untrusted source through the pool and validates it. A module
// that does not load gets a report with one failing check.
func File(ctx context.Context, pool *env.Pool, file string, src []byte, opts Options) *Report {
	start := time.Now()
	m, err := pool.Load(ctx, file, src)
	if err != nil {
		c := Check{Name: CheckLoad, OK: false, Detail: err.Error()}
		if e, ok := err.(*env.Error); ok {
			c.Line = e.Line
		}
		return &Report{File: file, Hash: env.SourceHash(src), Checks: []Check{c}, Elapsed: time.Since(start)}
	}
	r := Run(ctx, pool, m, opts)
	r.Elapsed = time.Since(start)
	return r
}

type inst struct {
	seed       int64
	difficulty int
	res        env.Result
}

// Run validates a module already registered with ex.
func Run(ctx context.Context, ex env.Executor, m *env.Module, opts Options) *Report {
	opts.defaults()
	start := time.Now()
	rep := &Report{Env: m.Name, File: m.File, Hash: m.Hash}
	rep.Checks = append(rep.Checks, Check{Name: CheckLoad, OK: true, Detail: fmt.Sprintf("%s, difficulty %d–%d, tags %s", m.Name, m.MinDifficulty, m.MaxDifficulty, strings.Join(m.Tags, ", "))})

	// Phase 1: every (level, seed) twice, with prompt and verified solution.
	var tasks []env.Task
	levels := levelsOf(m)
	for _, d := range levels {
		for s := 0; s < opts.SeedsPerLevel; s++ {
			tasks = append(tasks, env.Task{Env: m.Name, Seed: int64(s), Difficulty: d, Render: true, VerifySolution: m.HasSolve})
		}
	}
	n := len(tasks)
	first := ex.Run(ctx, tasks)
	second := ex.Run(ctx, tasks)
	rep.Instances = n

	gen := checker{c: Check{Name: CheckGenerate}}
	det := checker{c: Check{Name: CheckDeterministic}}
	prompt := checker{c: Check{Name: CheckPrompt}}
	solve := checker{c: Check{Name: CheckSolve}}
	budget := checker{c: Check{Name: CheckBudget}}
	var ok []inst
	var slowest time.Duration
	for i, t := range tasks {
		a, b := first[i], second[i]
		where := fmt.Sprintf("seed %d, difficulty %d", t.Seed, t.Difficulty)
		for _, r := range []env.Result{a, b} {
			slowest = max(slowest, r.Elapsed)
			if r.Elapsed > opts.TaskBudget || (r.Err != nil && r.Err.Kind == "limit") {
				budget.fail(lineOf(r.Err), "%s: %v", where, r.Elapsed.Round(time.Millisecond))
			}
		}
		if a.Err != nil {
			gen.fail(a.Err.Line, "%s: %v", where, a.Err)
			continue
		}
		if b.Err != nil || string(a.State) != string(b.State) || a.Prompt != b.Prompt || a.Solution != b.Solution {
			det.fail(0, "%s: two runs differ", where)
		}
		if !strings.Contains(strings.ToLower(a.Prompt), "<answer>") {
			prompt.fail(0, "%s: the prompt never mentions <answer>", where)
		}
		if m.HasSolve {
			switch sc := a.SolutionScore; {
			case sc == nil:
				solve.fail(0, "%s: no score for the solution", where)
			case sc.Err != nil:
				solve.fail(sc.Err.Line, "%s: verify(solve()) failed: %v", where, sc.Err)
			case sc.Value != 1:
				solve.fail(0, "%s: verify(solve()) = %v", where, sc.Value)
			}
		}
		ok = append(ok, inst{t.Seed, t.Difficulty, a})
	}
	rep.Checks = append(rep.Checks, gen.done(fmt.Sprintf("%d instances over %d levels", n, len(levels))))
	rep.Checks = append(rep.Checks, det.done(""), prompt.done(""))
	if m.HasSolve {
		rep.Checks = append(rep.Checks, solve.done(""))
	} else {
		rep.Checks = append(rep.Checks, Check{Name: CheckSolve, OK: false, Detail: "the environment defines no solve(state)"})
	}

	// Phase 2: probes against each instance's state.
	rejects := checker{c: Check{Name: CheckRejects}}
	hacks := checker{c: Check{Name: CheckHacks}}
	noRaise := checker{c: Check{Name: CheckNoRaise}}
	var probeTasks []env.Task
	var probeSets [][]probe
	for _, in := range ok {
		ps := probes(in.res.Prompt, in.res.Solution, in.seed)
		answers := make([]string, len(ps))
		for i, p := range ps {
			answers[i] = p.answer
		}
		probeTasks = append(probeTasks, env.Task{Env: m.Name, Seed: in.seed, Difficulty: in.difficulty, State: in.res.State, Answers: answers})
		probeSets = append(probeSets, ps)
	}
	probeRes := ex.Run(ctx, probeTasks)
	var corrupted, corruptedRejected int
	// Probes of each kind sent and scored: a verifier that raises on every
	// one must not pass the rejection checks on nothing (0 of 0).
	var rejectProbes, rejectScored, hackProbes, hackScored int
	for i, r := range probeRes {
		in := ok[i]
		where := fmt.Sprintf("seed %d, difficulty %d", in.seed, in.difficulty)
		if r.Err != nil {
			noRaise.fail(r.Err.Line, "%s: %v", where, r.Err)
			continue
		}
		slowest = max(slowest, r.Elapsed)
		for j, p := range probeSets[i] {
			sc := r.Scores[j]
			if p.class == classHack {
				hackProbes++
			} else {
				rejectProbes++
			}
			if sc.Err != nil {
				noRaise.fail(sc.Err.Line, "%s, %s answer: %v", where, p.kind, sc.Err)
				continue
			}
			if p.class == classHack {
				hackScored++
			} else {
				rejectScored++
			}
			switch p.class {
			case classCorrupt:
				corrupted++
				if sc.Value < 1 {
					corruptedRejected++
				}
			case classRandom:
				if sc.Value >= 1 {
					rejects.fail(0, "%s: random answer %q scored 1", where, short(p.answer))
				}
			case classHack:
				if sc.Value >= 1 {
					hacks.fail(0, "%s: %s scored 1 (%q)", where, p.kind, short(p.answer))
				}
			}
		}
	}
	// A corruption can still be a correct answer (another valid colouring),
	// so corrupted answers need only be rejected mostly; random ones always.
	if corrupted > 0 && float64(corruptedRejected) < 0.5*float64(corrupted) {
		rejects.fail(0, "only %d of %d corrupted solutions scored below 1: the verifier accepts almost anything", corruptedRejected, corrupted)
	}
	if rejectProbes > 0 && rejectScored == 0 {
		rejects.fail(0, "verify raised on all %d corrupted and random answers: none was scored", rejectProbes)
	}
	if hackProbes > 0 && hackScored == 0 {
		hacks.fail(0, "verify raised on all %d reward-hacking probes: none was scored", hackProbes)
	}
	rejects.c.Detail = fmt.Sprintf("%d/%d corrupted solutions rejected", corruptedRejected, corrupted)
	rep.Checks = append(rep.Checks, rejects.done(rejects.c.Detail), hacks.done(""), noRaise.done(""))

	// Diversity.
	distinct := map[string]bool{}
	for _, in := range ok {
		distinct[fmt.Sprint(in.difficulty)+"\x00"+string(in.res.State)] = true
	}
	if len(ok) > 0 {
		rep.Distinct = float64(len(distinct)) / float64(len(ok))
	}
	div := Check{Name: CheckDiversity, OK: rep.Distinct >= opts.MinDistinct, Detail: fmt.Sprintf("%.0f%% distinct (minimum %.0f%%)", 100*rep.Distinct, 100*opts.MinDistinct)}
	rep.Checks = append(rep.Checks, div)
	rep.Checks = append(rep.Checks, budget.done(fmt.Sprintf("slowest instance %v (budget %v)", slowest.Round(time.Microsecond), opts.TaskBudget)))
	rep.Checks = append(rep.Checks, difficultyCheck(m, ok, levels))

	rep.OK = true
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
	rep.Elapsed = time.Since(start)
	return rep
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

// difficultyCheck compares the lowest and highest level: state size, prompt
// length or the work (Starlark steps of generate, render and solve; not wall
// time, which a loaded machine makes noisy) must grow.
func difficultyCheck(m *env.Module, ok []inst, levels []int) Check {
	c := Check{Name: CheckDifficulty}
	if len(levels) < 2 {
		c.OK, c.Detail = true, "one difficulty level only"
		return c
	}
	lo, hi := levels[0], levels[len(levels)-1]
	type agg struct{ state, prompt, steps float64 }
	mean := func(d int) agg {
		var a agg
		var n float64
		for _, in := range ok {
			if in.difficulty == d {
				a.state += float64(len(in.res.State))
				a.prompt += float64(len(in.res.Prompt))
				a.steps += float64(in.res.Steps)
				n++
			}
		}
		if n > 0 {
			a.state, a.prompt, a.steps = a.state/n, a.prompt/n, a.steps/n
		}
		return a
	}
	a, b := mean(lo), mean(hi)
	grow := func(x, y float64) float64 {
		if x == 0 {
			return math.Inf(1)
		}
		return y / x
	}
	gs, gp, gw := grow(a.state, b.state), grow(a.prompt, b.prompt), grow(a.steps, b.steps)
	c.Detail = fmt.Sprintf("level %d→%d: state ×%.2f, prompt ×%.2f, work ×%.2f", lo, hi, gs, gp, gw)
	c.OK = gs >= 1.1 || gp >= 1.1 || gw >= 1.5
	if !c.OK {
		c.Failures = []string{"neither the state, the prompt nor the work grows with difficulty"}
	}
	return c
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
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
