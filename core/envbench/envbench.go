// Package envbench measures environment throughput: verified instances per
// second (generate + render + verify of the reference answer) per
// environment and over the whole library, through the sandboxed worker pool
// at a given worker count. `resyn bench envs` prints its tables.
package envbench

import (
	"context"
	"fmt"
	"time"

	"resyn/core/env"
)

// Result is the throughput of one environment (or "ALL") at one worker count.
type Result struct {
	Env       string        `json:"env"`
	Workers   int           `json:"workers"`
	Instances int           `json:"instances"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	PerSec    float64       `json:"per_s"`
}

// Workload is a prepared set of tasks: each instance with its reference
// answer, so the timed run does exactly generate, render and verify.
type Workload struct {
	tasks []env.Task
}

// Prepare computes reference answers (untimed) for n instances of each
// module, difficulties cycling over each module's range.
func Prepare(ctx context.Context, ex env.Executor, mods []*env.Module, n int) (*Workload, error) {
	var tasks []env.Task
	for _, m := range mods {
		if !m.HasSolve {
			continue
		}
		span := m.MaxDifficulty - m.MinDifficulty + 1
		for i := 0; i < n; i++ {
			tasks = append(tasks, env.Task{Env: m.Name, Seed: int64(i), Difficulty: m.MinDifficulty + i%span, Solve: true})
		}
	}
	res := ex.Run(ctx, tasks)
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("preparing %s seed %d: %w", tasks[i].Env, tasks[i].Seed, r.Err)
		}
		tasks[i] = env.Task{Env: tasks[i].Env, Seed: tasks[i].Seed, Difficulty: tasks[i].Difficulty, Render: true, Answers: []string{r.Solution}}
	}
	return &Workload{tasks: tasks}, nil
}

// Run times the workload on ex: one result per environment (each measured
// alone) and one for the whole library mixed ("ALL").
func (w *Workload) Run(ctx context.Context, ex env.Executor, workers int) ([]Result, error) {
	res, err := w.Measure(ctx, []Runner{{Ex: ex, Workers: workers}}, 1)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// Runner is an executor to measure and the number of workers it has.
type Runner struct {
	Ex      env.Executor
	Workers int
}

// Measure times the workload on each runner, rounds times, and keeps each
// runner's best time per environment and for "ALL". The runners take turns
// environment by environment (A, B, A, B, … for one environment, then the
// next), so that on a shared machine a burst of load from elsewhere slows
// all of them alike instead of one configuration's whole pass; the best of
// several rounds is the throughput the machine can give, the rest is noise.
// Results come back per runner, in the order of runs.
func (w *Workload) Measure(ctx context.Context, runs []Runner, rounds int) ([][]Result, error) {
	rounds = max(1, rounds)
	byEnv := map[string][]env.Task{}
	var order []string
	for _, t := range w.tasks {
		if _, ok := byEnv[t.Env]; !ok {
			order = append(order, t.Env)
		}
		byEnv[t.Env] = append(byEnv[t.Env], t)
	}
	time1 := func(r Runner, name string, ts []env.Task) (Result, error) {
		start := time.Now()
		res := r.Ex.Run(ctx, ts)
		el := time.Since(start)
		for i, x := range res {
			if x.Err != nil {
				return Result{}, fmt.Errorf("%s: %w", ts[i].Env, x.Err)
			}
			if len(x.Scores) == 0 || x.Scores[0].Err != nil || x.Scores[0].Value != 1 {
				return Result{}, fmt.Errorf("%s seed %d: the reference answer did not verify", ts[i].Env, ts[i].Seed)
			}
		}
		return Result{Env: name, Workers: r.Workers, Instances: len(ts), Elapsed: el, PerSec: float64(len(ts)) / el.Seconds()}, nil
	}
	// Warm the workers before timing: every worker loads every module the
	// first time it meets it. The warm-up takes tasks round-robin over the
	// environments, so that each of its batches holds all of them.
	for _, r := range runs {
		var warm []env.Task
		for k := 0; k < 4*r.Workers; k++ {
			for _, name := range order {
				if ts := byEnv[name]; k < len(ts) {
					warm = append(warm, ts[k])
				}
			}
		}
		if _, err := time1(r, "warm-up", warm); err != nil {
			return nil, err
		}
	}
	out := make([][]Result, len(runs))
	for _, name := range append(order, "ALL") {
		ts := byEnv[name]
		if name == "ALL" {
			ts = w.tasks
		}
		for k := 0; k < rounds; k++ {
			for ri := range runs {
				res, err := time1(runs[ri], name, ts)
				if err != nil {
					return nil, err
				}
				if k == 0 {
					out[ri] = append(out[ri], res)
				} else if last := len(out[ri]) - 1; res.Elapsed < out[ri][last].Elapsed {
					out[ri][last] = res
				}
			}
		}
	}
	return out, nil
}
