package synth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"resyn/core/env"
	"resyn/llm"
)

// CalibrateOptions say which levels to measure and how much.
type CalibrateOptions struct {
	Levels   []int `json:"levels,omitempty"` // difficulties; default: lowest, middle and highest
	Samples  int   `json:"samples"`          // instances per level; default 4
	Parallel int   `json:"parallel"`         // solver calls in flight; default 4
	SeedBase int64 `json:"seed_base"`        // instances use seeds SeedBase, SeedBase+1, …; default 1000 (away from validation's)
	// Alpha is the significance level of the trend test (Trend): a
	// p-value above it flags the environment FlagNotHarder; default 0.1.
	Alpha float64 `json:"alpha,omitempty"`
	// RequireTrend makes the trend test an admission gate, as in ReSyn: a
	// candidate whose solver pass rate does not fall significantly with
	// the level is rejected instead of flagged.
	RequireTrend bool `json:"require_trend,omitempty"`
}

func (o CalibrateOptions) withDefaults() CalibrateOptions {
	if o.Samples <= 0 {
		o.Samples = 4
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.SeedBase == 0 {
		o.SeedBase = 1000
	}
	if o.Alpha <= 0 {
		o.Alpha = 0.1
	}
	return o
}

// LevelPass is the solver's record at one difficulty.
type LevelPass struct {
	Difficulty int     `json:"difficulty"`
	N          int     `json:"n"`          // instances scored
	Passed     int     `json:"passed"`     // scored 1
	Format     int     `json:"format"`     // no <answer> block
	Failed     int     `json:"failed"`     // LLM call failed or the environment erred: not counted in N
	MeanScore  float64 `json:"mean_score"` // over N
	Rate       float64 `json:"rate"`       // Passed / N
}

// Calibration is a solver model's pass rates on one environment.
type Calibration struct {
	Env    string      `json:"env"`
	Solver string      `json:"solver"`
	Levels []LevelPass `json:"levels"`
	Trend  *Trend      `json:"trend,omitempty"` // nil with fewer than two levels scored
	Flags  []string    `json:"flags,omitempty"`
	Usage  llm.Usage   `json:"usage"`
}

// Trend is ReSyn's second admission gate: a one-sided test that the
// solver's pass rate falls as the level rises.
//
// The test is the exact (permutation) form of the Cochran–Armitage trend
// test: under the null hypothesis that the pass probability does not
// depend on the level, every way of placing the observed passes among the
// scored instances is equally likely; the statistic is the sum over passes
// of their level's rank (0 for the lowest), small when passes gather at
// the low levels, and the p-value is the probability of a statistic as
// small or smaller. It is exact for the few instances a calibration has
// (a normal approximation is not) and the same on every machine.
type Trend struct {
	Test      string  `json:"test"`
	Statistic int     `json:"statistic"` // sum of the level ranks of the passes
	Expected  float64 `json:"expected"`  // its mean under the null hypothesis
	PValue    float64 `json:"p_value"`   // one-sided: P(statistic <= observed) with no trend
	Alpha     float64 `json:"alpha"`
	Falls     bool    `json:"falls"` // PValue <= Alpha
}

const trendTest = "exact one-sided Cochran-Armitage trend test (pass rate falls with the level)"

// TrendTest tests passes[i] of n[i] instances at the levels in increasing
// order. With no pass or no failure there is nothing to rank, and the
// p-value is 1.
func TrendTest(n, passes []int, alpha float64) Trend {
	tr := Trend{Test: trendTest, PValue: 1, Alpha: alpha}
	total, k := 0, 0
	for i := range n {
		total += n[i]
		k += passes[i]
		tr.Statistic += i * passes[i]
	}
	if k == 0 || k == total {
		return tr
	}
	// ways[j][t]: the ways to place j passes among the levels so far with
	// rank sum t, weighted by the binomials C(n_i, a_i).
	maxT := 0
	for i := range n {
		maxT += i * n[i]
	}
	ways := make([][]float64, k+1)
	for j := range ways {
		ways[j] = make([]float64, maxT+1)
	}
	ways[0][0] = 1
	for i := range n {
		next := make([][]float64, k+1)
		for j := range next {
			next[j] = make([]float64, maxT+1)
		}
		for j := 0; j <= k; j++ {
			for t := 0; t <= maxT; t++ {
				if ways[j][t] == 0 {
					continue
				}
				for a := 0; a <= n[i] && j+a <= k; a++ {
					next[j+a][t+i*a] += ways[j][t] * binomial(n[i], a)
				}
			}
		}
		ways = next
	}
	var all, below, mean float64
	for t, w := range ways[k] {
		all += w
		mean += float64(t) * w
		if t <= tr.Statistic {
			below += w
		}
	}
	tr.PValue, tr.Expected = below/all, mean/all
	tr.Falls = tr.PValue <= alpha
	return tr
}

func binomial(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

const solveSystem = "Solve the task. Think it through, then give your final answer inside <answer></answer> tags, exactly in the form the task asks for."

// Calibrate measures solver's pass rate per difficulty on a module
// registered with ex, and flags an environment solved at every level or at
// none. resyn eval uses it to report a model's pass rates. The solver's
// calls are tagged StageCalibrate with subject "NAME/dD/sS".
func Calibrate(ctx context.Context, solver llm.Provider, ex env.Executor, m *env.Module, o CalibrateOptions, opts CallOptions) (Calibration, []Exchange, error) {
	o = o.withDefaults()
	levels := calibrationLevels(m, o.Levels)
	cal := Calibration{Env: m.Name, Solver: solver.Name()}
	var tasks []env.Task
	for _, d := range levels {
		if d < m.MinDifficulty || d > m.MaxDifficulty {
			return cal, nil, fmt.Errorf("calibrating %s: difficulty %d is outside its range %d–%d", m.Name, d, m.MinDifficulty, m.MaxDifficulty)
		}
		for s := 0; s < o.Samples; s++ {
			tasks = append(tasks, env.Task{Env: m.Name, Seed: o.SeedBase + int64(s), Difficulty: d, Render: true})
		}
	}
	inst := ex.Run(ctx, tasks)

	// Ask the solver, o.Parallel at a time.
	exchanges := make([]Exchange, len(tasks))
	errs := make([]error, len(tasks))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i, t := range tasks {
		if inst[i].Err != nil {
			errs[i] = inst[i].Err
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			subject := fmt.Sprintf("%s/d%d/s%d", m.Name, t.Difficulty, t.Seed)
			exchanges[i], errs[i] = call(ctx, solver, StageCalibrate, subject, solveSystem,
				[]llm.Message{{Role: llm.RoleUser, Content: inst[i].Prompt}}, opts)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return cal, exchanges, err
	}
	var items []env.ScoreItem
	var idx []int
	for i, t := range tasks {
		cal.Usage = cal.Usage.Add(exchanges[i].Usage)
		if errs[i] == nil {
			items = append(items, env.ScoreItem{Env: m.Name, Seed: t.Seed, Difficulty: t.Difficulty, State: inst[i].State, Completion: exchanges[i].Reply})
			idx = append(idx, i)
		}
	}
	rewards := env.ScoreCompletions(ctx, ex, items)
	byLevel := map[int]*LevelPass{}
	for _, d := range levels {
		byLevel[d] = &LevelPass{Difficulty: d}
	}
	for i, t := range tasks {
		if errs[i] != nil {
			byLevel[t.Difficulty].Failed++
		}
	}
	for j, r := range rewards {
		byLevel[tasks[idx[j]].Difficulty].add(r)
	}
	if err := cal.judge(levels, byLevel, o.Alpha); err != nil {
		return cal, exchanges, fmt.Errorf("calibrating %s: %w (%v)", m.Name, err, firstErr(errs))
	}
	return cal, exchanges, nil
}

// calibrationLevels are the levels calibrated, in increasing order: the
// ones given, else the module's lowest, middle and highest.
func calibrationLevels(m *env.Module, given []int) []int {
	levels := given
	if len(levels) == 0 {
		levels = []int{m.MinDifficulty, (m.MinDifficulty + m.MaxDifficulty) / 2, m.MaxDifficulty}
		if levels[0] == levels[2] {
			levels = levels[:1]
		} else if levels[1] == levels[0] || levels[1] == levels[2] {
			levels = []int{levels[0], levels[2]}
		}
	}
	levels = slices.Clone(levels)
	slices.Sort(levels)
	return slices.Compact(levels)
}

// add counts one solver answer's reward.
func (lp *LevelPass) add(r env.Reward) {
	switch r.Kind {
	case env.KindOK, env.KindFormat:
		lp.N++
		lp.MeanScore += r.Score
		if r.Kind == env.KindFormat {
			lp.Format++
		} else if r.Score >= 1 {
			lp.Passed++
		}
	default:
		lp.Failed++
	}
}

// judge turns the counts per level into the curve, its flags and the
// trend test; an error when no instance could be scored.
func (cal *Calibration) judge(levels []int, byLevel map[int]*LevelPass, alpha float64) error {
	all, none, scored := true, true, 0
	for _, d := range levels {
		lp := byLevel[d]
		if lp.N > 0 {
			scored++
			lp.MeanScore /= float64(lp.N)
			lp.Rate = float64(lp.Passed) / float64(lp.N)
			all = all && lp.Passed == lp.N
			none = none && lp.Passed == 0
		}
		cal.Levels = append(cal.Levels, *lp)
	}
	if scored == 0 {
		return errors.New("no instance could be scored")
	}
	if all {
		cal.Flags = append(cal.Flags, FlagSolvedEverywhere)
	}
	if none {
		cal.Flags = append(cal.Flags, FlagSolvedNowhere)
	}
	var ns, ps []int
	for _, l := range cal.Levels { // levels in increasing order of difficulty
		if l.N > 0 {
			ns, ps = append(ns, l.N), append(ps, l.Passed)
		}
	}
	if len(ns) >= 2 {
		tr := TrendTest(ns, ps, alpha)
		cal.Trend = &tr
		if !tr.Falls && !all && !none {
			cal.Flags = append(cal.Flags, FlagNotHarder)
		}
	}
	return nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
