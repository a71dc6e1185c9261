package env

import (
	"context"
	"encoding/json"
)

// Kind says what happened when a completion was scored (ARCHITECTURE.md,
// "Environment errors and scores").
type Kind string

const (
	KindOK       Kind = "ok"        // verify ran; Score is the reward
	KindFormat   Kind = "format"    // no <answer> block: score 0
	KindEnvError Kind = "env_error" // the environment failed: drop the item, never score it 0 silently
	KindTimeout  Kind = "timeout"   // the environment ran out of time
)

// Reward is the record every scorer returns for one completion.
type Reward struct {
	Kind   Kind    `json:"kind"`
	Score  float64 `json:"score"`
	Answer string  `json:"answer,omitempty"` // the extracted answer
	Error  string  `json:"error,omitempty"`
}

// ScoreItem is one completion to score against an instance, given either by
// (Env, Seed, Difficulty) or by a stored State.
type ScoreItem struct {
	Env        string          `json:"env"`
	Seed       int64           `json:"seed"`
	Difficulty int             `json:"difficulty"`
	State      json.RawMessage `json:"state,omitempty"`
	Completion string          `json:"completion"`
}

// ScoreCompletions scores completions through ex. Completions of the same
// instance are verified in one task, so a GRPO group costs one generate.
// Results come back in the order of items.
func ScoreCompletions(ctx context.Context, ex Executor, items []ScoreItem) []Reward {
	out := make([]Reward, len(items))
	type key struct {
		env        string
		seed       int64
		difficulty int
		state      string
	}
	type slot struct{ item, answer int }
	index := map[key]int{}
	var tasks []Task
	var slots [][]slot
	for i, it := range items {
		ans, why := ExtractAnswerWhy(it.Completion)
		if why != "" {
			out[i] = Reward{Kind: KindFormat, Score: 0, Error: why}
			continue
		}
		out[i].Answer = ans
		k := key{it.Env, it.Seed, it.Difficulty, string(it.State)}
		ti, ok := index[k]
		if !ok {
			ti = len(tasks)
			index[k] = ti
			tasks = append(tasks, Task{Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, State: it.State})
			slots = append(slots, nil)
		}
		slots[ti] = append(slots[ti], slot{i, len(tasks[ti].Answers)})
		tasks[ti].Answers = append(tasks[ti].Answers, ans)
	}
	if len(tasks) == 0 {
		return out
	}
	results := ex.Run(ctx, tasks)
	for ti, r := range results {
		for _, s := range slots[ti] {
			rw := &out[s.item]
			switch {
			case r.Err != nil:
				rw.Kind, rw.Error = errKind(r.Err), r.Err.Error()
			case s.answer >= len(r.Scores):
				rw.Kind, rw.Error = KindEnvError, "no score came back"
			case r.Scores[s.answer].Err != nil:
				rw.Kind, rw.Error = errKind(r.Scores[s.answer].Err), r.Scores[s.answer].Err.Error()
			default:
				rw.Kind, rw.Score = KindOK, r.Scores[s.answer].Value
			}
		}
	}
	return out
}

func errKind(e *Error) Kind {
	if e.Kind == FailLimit && (e.Limit == LimitTime || e.Limit == LimitCPU) {
		return KindTimeout
	}
	return KindEnvError
}
