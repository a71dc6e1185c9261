package synth

import (
	"context"
	"fmt"
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
	Flags  []string    `json:"flags,omitempty"`
	Usage  llm.Usage   `json:"usage"`
}

const solveSystem = "Solve the task. Think it through, then give your final answer inside <answer></answer> tags, exactly in the form the task asks for."

// Calibrate measures solver's pass rate per difficulty on a module
// registered with ex, and flags an environment solved at every level or at
// none. resyn eval uses it to report a model's pass rates. The solver's
// calls are tagged StageCalibrate with subject "NAME/dD/sS".
func Calibrate(ctx context.Context, solver llm.Provider, ex env.Executor, m *env.Module, o CalibrateOptions, opts CallOptions) (Calibration, []Exchange, error) {
	o = o.withDefaults()
	levels := o.Levels
	if len(levels) == 0 {
		levels = []int{m.MinDifficulty, (m.MinDifficulty + m.MaxDifficulty) / 2, m.MaxDifficulty}
		if levels[0] == levels[2] {
			levels = levels[:1]
		} else if levels[1] == levels[0] || levels[1] == levels[2] {
			levels = []int{levels[0], levels[2]}
		}
	}
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
		lp := byLevel[tasks[idx[j]].Difficulty]
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
		return cal, exchanges, fmt.Errorf("calibrating %s: no instance could be scored (%v)", m.Name, firstErr(errs))
	}
	if all {
		cal.Flags = append(cal.Flags, FlagSolvedEverywhere)
	}
	if none {
		cal.Flags = append(cal.Flags, FlagSolvedNowhere)
	}
	return cal, exchanges, nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
