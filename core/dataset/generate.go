package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"resyn/core/env"
)

// Row is one generated instance.
type Row struct {
	Env        string          `json:"env"`
	Seed       int64           `json:"seed"`
	Difficulty int             `json:"difficulty"`
	Prompt     string          `json:"prompt"`
	State      json.RawMessage `json:"state"`
	Solution   string          `json:"solution,omitempty"`
	Hash       string          `json:"env_hash,omitempty"`
}

// Plan is what Generate runs: Len instances, the i-th described by Task(i).
// A plan computes its tasks on demand, so that a billion-instance plan costs
// no more memory than a ten-instance one (Spec for `resyn gen`, export.Plan
// for `resyn export`). Task must be a pure function of i.
type Plan interface {
	Len() int
	Task(i int) env.Task
}

// Spec says what `resyn gen` generates: for each environment, N instances
// with seeds Seed, Seed+1, … and difficulties cycling through
// [MinDifficulty, MaxDifficulty] (clamped to each environment's own range).
// It is a Plan: environment by environment, seed by seed.
type Spec struct {
	Envs          []*env.Module
	N             int
	Seed          int64
	MinDifficulty int
	MaxDifficulty int
	Solve         bool // include solve()'s answer
}

// Check says what is wrong with a spec, before any work.
func (s Spec) Check() error {
	switch {
	case len(s.Envs) == 0:
		return fmt.Errorf("no environments to generate from")
	case s.N < 1:
		return fmt.Errorf("N is %d; want at least 1 instance per environment", s.N)
	case s.N > math.MaxInt/len(s.Envs):
		return fmt.Errorf("%d instances for each of %d environments is more than a 64-bit count holds", s.N, len(s.Envs))
	case s.Seed > math.MaxInt64-int64(s.N)+1:
		return fmt.Errorf("seed %d with %d instances: the last seed would overflow a 64-bit integer", s.Seed, s.N)
	case s.MinDifficulty > s.MaxDifficulty:
		return fmt.Errorf("difficulty range %d-%d is empty", s.MinDifficulty, s.MaxDifficulty)
	}
	return nil
}

// Len is the number of instances: N for each environment.
func (s Spec) Len() int { return len(s.Envs) * s.N }

// Task is the i-th instance: environment i/N, seed Seed + i%N.
func (s Spec) Task(i int) env.Task {
	m, k := s.Envs[i/s.N], i%s.N
	lo, hi := max(s.MinDifficulty, m.MinDifficulty), min(s.MaxDifficulty, m.MaxDifficulty)
	if lo > hi { // the requested range misses this environment: use its own
		lo, hi = m.MinDifficulty, m.MaxDifficulty
	}
	return env.Task{Env: m.Name, Seed: s.Seed + int64(k), Difficulty: lo + k%(hi-lo+1), Render: true, Solve: s.Solve && m.HasSolve}
}

// Row is the row of instance i of the spec, from its task's result.
func (s Spec) Row(i int, t env.Task, r env.Result) Row {
	return Row{Env: t.Env, Seed: t.Seed, Difficulty: t.Difficulty, Prompt: r.Prompt, State: r.State, Solution: r.Solution, Hash: s.Envs[i/s.N].Hash}
}

// Rows runs the spec through ex and calls emit with each row, in order
// (Generate does the work).
func (s Spec) Rows(ctx context.Context, ex env.Executor, emit func(Row) error, onErr func(env.Task, *env.Error), progress func(Progress)) error {
	if err := s.Check(); err != nil {
		return err
	}
	return Generate(ctx, ex, s,
		func(i int, t env.Task, r env.Result) error { return emit(s.Row(i, t, r)) },
		func(_ int, t env.Task, e *env.Error) {
			if onErr != nil {
				onErr(t, e)
			}
		}, progress)
}

// ParseRange parses "3", "1-10" or "2..5".
func ParseRange(s string) (lo, hi int, err error) {
	s = strings.TrimSpace(s)
	sep := "-"
	if strings.Contains(s, "..") {
		sep = ".."
	}
	a, b, found := strings.Cut(s, sep)
	lo, err = strconv.Atoi(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf("difficulty range %q: want N or LO-HI", s)
	}
	hi = lo
	if found {
		if hi, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
			return 0, 0, fmt.Errorf("difficulty range %q: want N or LO-HI", s)
		}
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("difficulty range %q is empty", s)
	}
	return lo, hi, nil
}

// Chunk is how many tasks Generate hands the executor at once. At most three
// chunks are held at any time (one being written, one finished and waiting,
// one running), whatever the plan's length.
const Chunk = 1024

// Generate runs plan through ex, a chunk at a time, and calls emit for each
// instance in plan order as soon as its chunk is done; the next chunk runs
// while this one is written. An instance whose environment fails goes to
// onErr (and is skipped); the run goes on. Progress is reported after each
// chunk.
//
// When ctx is cancelled (SIGINT in the CLI) Generate returns ctx.Err() at
// once: every row emitted before is whole, the chunk under way is dropped,
// and no instance is reported to onErr because it was cancelled.
func Generate(ctx context.Context, ex env.Executor, plan Plan, emit func(i int, t env.Task, r env.Result) error, onErr func(i int, t env.Task, e *env.Error), progress func(Progress)) error {
	type batch struct {
		lo    int
		tasks []env.Task
		res   []env.Result
	}
	n := plan.Len()
	start := time.Now()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan batch, 1)
	go func() {
		defer close(done)
		for lo := 0; lo < n; lo += Chunk {
			if rctx.Err() != nil {
				return
			}
			hi := min(lo+Chunk, n)
			tasks := make([]env.Task, hi-lo)
			for i := range tasks {
				tasks[i] = plan.Task(lo + i)
			}
			res := ex.Run(rctx, tasks)
			if rctx.Err() != nil {
				return // cancelled results are not failures of the environment
			}
			select {
			case done <- batch{lo, tasks, res}:
			case <-rctx.Done():
				return
			}
		}
	}()
	p := Progress{Total: n}
	for b := range done {
		for k, r := range b.res {
			i, t := b.lo+k, b.tasks[k]
			if r.Err != nil {
				p.Failed++
				if onErr != nil {
					onErr(i, t, r.Err)
				}
				continue
			}
			if err := emit(i, t, r); err != nil {
				stop()
				for range done { // let the runner see the stop and end
				}
				return err
			}
		}
		p.Done = b.lo + len(b.res)
		p.Elapsed = time.Since(start)
		if progress != nil {
			progress(p)
		}
	}
	return ctx.Err()
}

// Progress is where a long job (gen, export, score) stands.
type Progress struct {
	Done, Total int // items done, of Total (0: unknown)
	Failed      int // items whose environment failed, or malformed lines
	Elapsed     time.Duration
	// Bytes of input read so far, of TotalBytes (0: unknown), for jobs
	// that read a file: time left is then by bytes.
	Bytes, TotalBytes int64
}

// Rate is items done per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// Left estimates the time still needed at the rate so far; ok is false when
// there is nothing to estimate from yet (or no known end).
func (p Progress) Left() (left time.Duration, ok bool) {
	var frac float64
	switch {
	case p.Total > 0 && p.Done > 0:
		frac = float64(p.Done) / float64(p.Total)
	case p.TotalBytes > 0 && p.Bytes > 0:
		frac = float64(p.Bytes) / float64(p.TotalBytes)
	default:
		return 0, false
	}
	if frac >= 1 {
		return 0, true
	}
	return time.Duration(float64(p.Elapsed) * (1 - frac) / frac), true
}

// Line is the progress as one line of text: "generated 2048/10000 (0
// failed), 812/s, 10s left".
func (p Progress) Line(verb string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d", verb, p.Done)
	if p.Total > 0 {
		fmt.Fprintf(&b, "/%d", p.Total)
	}
	fmt.Fprintf(&b, " (%d failed), %s/s", p.Failed, roundRate(p.Rate()))
	if left, ok := p.Left(); ok {
		fmt.Fprintf(&b, ", %s left", roundLeft(left))
	}
	return b.String()
}

func roundRate(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(math.Round(r), 'f', 0, 64)
}

func roundLeft(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}
