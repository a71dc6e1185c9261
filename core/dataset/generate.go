package dataset

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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

// Spec says what to generate: for each environment, N instances with seeds
// Seed, Seed+1, … and difficulties cycling through [MinDifficulty,
// MaxDifficulty] (clamped to each environment's own range).
type Spec struct {
	Envs          []*env.Module
	N             int
	Seed          int64
	MinDifficulty int
	MaxDifficulty int
	Solve         bool // include solve()'s answer
}

// Progress is reported after each chunk.
type Progress struct {
	Done, Total int
	Failed      int
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

// Tasks lists the instances of a spec in output order.
func (s Spec) Tasks() []env.Task {
	var ts []env.Task
	for _, m := range s.Envs {
		lo, hi := max(s.MinDifficulty, m.MinDifficulty), min(s.MaxDifficulty, m.MaxDifficulty)
		if lo > hi { // the requested range misses this environment: use its own
			lo, hi = m.MinDifficulty, m.MaxDifficulty
		}
		for i := 0; i < s.N; i++ {
			ts = append(ts, env.Task{Env: m.Name, Seed: s.Seed + int64(i), Difficulty: lo + i%(hi-lo+1), Render: true, Solve: s.Solve && m.HasSolve})
		}
	}
	return ts
}

const chunk = 2048

// Generate runs the spec through ex and calls emit for each row in order.
// An instance whose environment fails is reported to onErr (and skipped);
// the run goes on.
func Generate(ctx context.Context, ex env.Executor, spec Spec, emit func(Row) error, onErr func(env.Task, *env.Error), progress func(Progress)) error {
	tasks := spec.Tasks()
	hashes := map[string]string{}
	for _, m := range spec.Envs {
		hashes[m.Name] = m.Hash
	}
	p := Progress{Total: len(tasks)}
	for lo := 0; lo < len(tasks); lo += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+chunk, len(tasks))
		res := ex.Run(ctx, tasks[lo:hi])
		for i, r := range res {
			t := tasks[lo+i]
			if r.Err != nil {
				p.Failed++
				if onErr != nil {
					onErr(t, r.Err)
				}
				continue
			}
			if err := emit(Row{Env: t.Env, Seed: t.Seed, Difficulty: t.Difficulty, Prompt: r.Prompt, State: r.State, Solution: r.Solution, Hash: hashes[t.Env]}); err != nil {
				return err
			}
		}
		p.Done = hi
		if progress != nil {
			progress(p)
		}
	}
	return ctx.Err()
}
