package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"resyn/core/env"
)

// Duplicate says which library environment a candidate duplicates and how
// that was established.
type Duplicate struct {
	Of               string  `json:"of"`
	PromptSimilarity float64 `json:"prompt_similarity"` // Jaccard similarity of rendered-prompt shingles
	Behaviour        bool    `json:"behaviour"`         // each verifier accepts the other's reference answers on the other's instances
	Reason           string  `json:"reason"`
}

// sampleSeeds are the instances a library entry is summarised by.
var sampleSeeds = []int64{0, 1, 2}

type sample struct {
	difficulty int
	states     []json.RawMessage
	solutions  []string // "" where solve is missing or failed
	shingles   map[string]bool
}

type libEntry struct {
	mod *env.Module
	sample
}

// Library is what candidates are compared with: the built-ins, the stored
// environments, and the candidates of this run so far. Safe for concurrent
// use.
type Library struct {
	mu      sync.RWMutex
	entries []*libEntry
	// Threshold is the prompt similarity at or above which a candidate is a
	// duplicate without further evidence.
	Threshold float64
	// BehaviourCandidates is how many of the most prompt-similar entries get
	// the behavioural comparison; default 20.
	BehaviourCandidates int
}

// NewLibrary summarises mods (registered with ex) for comparison.
func NewLibrary(ctx context.Context, ex env.Executor, mods []*env.Module, threshold float64) (*Library, error) {
	l := &Library{Threshold: threshold, BehaviourCandidates: 20}
	for _, m := range mods {
		if err := l.Add(ctx, ex, m); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Len is the number of entries.
func (l *Library) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// Add summarises m and adds it. An environment whose instances cannot be
// rendered is skipped (it can be nobody's original).
func (l *Library) Add(ctx context.Context, ex env.Executor, m *env.Module) error {
	s, err := sampleOf(ctx, ex, m)
	if err != nil {
		return nil
	}
	l.mu.Lock()
	l.entries = append(l.entries, &libEntry{mod: m, sample: s})
	l.mu.Unlock()
	return ctx.Err()
}

func sampleOf(ctx context.Context, ex env.Executor, m *env.Module) (sample, error) {
	d := (m.MinDifficulty + m.MaxDifficulty) / 2
	s := sample{difficulty: d, shingles: map[string]bool{}}
	var tasks []env.Task
	for _, seed := range sampleSeeds {
		tasks = append(tasks, env.Task{Env: m.Name, Seed: seed, Difficulty: d, Render: true, Solve: m.HasSolve})
	}
	for _, r := range ex.Run(ctx, tasks) {
		if r.Err != nil {
			if len(s.states) == 0 {
				return s, r.Err
			}
			continue
		}
		s.states = append(s.states, r.State)
		s.solutions = append(s.solutions, r.Solution)
		for sh := range Shingles(r.Prompt, 3) {
			s.shingles[sh] = true
		}
	}
	if len(s.states) == 0 {
		return s, fmt.Errorf("%s: no instance", m.Name)
	}
	return s, nil
}

// FindDuplicate compares a candidate (registered with ex) with the library:
// first by rendered prompts, then, for the most similar entries, by
// behaviour — the candidate's verifier scores the entry's reference answers
// on the entry's instances 1, and the other way round. It returns nil when
// the candidate duplicates nothing.
func (l *Library) FindDuplicate(ctx context.Context, ex env.Executor, m *env.Module) (*Duplicate, error) {
	cs, err := sampleOf(ctx, ex, m)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	type scored struct {
		e   *libEntry
		sim float64
	}
	var all []scored
	for _, e := range l.entries {
		if e.mod.Name == m.Name && e.mod.Hash == m.Hash {
			continue
		}
		all = append(all, scored{e, Jaccard(cs.shingles, e.shingles)})
	}
	l.mu.RUnlock()
	sort.SliceStable(all, func(i, j int) bool { return all[i].sim > all[j].sim })
	if len(all) > 0 && all[0].sim >= l.Threshold {
		return &Duplicate{Of: all[0].e.mod.Name, PromptSimilarity: all[0].sim,
			Reason: fmt.Sprintf("rendered prompts %.0f%% similar to %s", 100*all[0].sim, all[0].e.mod.Name)}, nil
	}
	k := l.BehaviourCandidates
	if k <= 0 {
		k = 20
	}
	for i, s := range all {
		if i >= k {
			break
		}
		if same, err := sameBehaviour(ctx, ex, m, cs, s.e); err != nil {
			return nil, err
		} else if same {
			return &Duplicate{Of: s.e.mod.Name, PromptSimilarity: s.sim, Behaviour: true,
				Reason: fmt.Sprintf("behaves like %s: each verifier accepts the other's reference answers", s.e.mod.Name)}, nil
		}
	}
	return nil, ctx.Err()
}

// sameBehaviour runs each side's verifier on the other's instances and
// reference answers. Both must have solutions, and every score must be 1
// with no error: a different state layout makes a verifier raise or reject,
// so only a clone (renamed, reworded) passes.
func sameBehaviour(ctx context.Context, ex env.Executor, m *env.Module, cs sample, e *libEntry) (bool, error) {
	if !m.HasSolve || !e.mod.HasSolve {
		return false, nil
	}
	var tasks []env.Task
	cross := func(target *env.Module, from sample) {
		for i, st := range from.states {
			if from.solutions[i] == "" {
				continue
			}
			tasks = append(tasks, env.Task{Env: target.Name, Difficulty: from.difficulty, State: st, Answers: []string{from.solutions[i]}})
		}
	}
	cross(m, e.sample)
	cross(e.mod, cs)
	if len(tasks) == 0 {
		return false, nil
	}
	for _, r := range ex.Run(ctx, tasks) {
		if r.Err != nil || len(r.Scores) != 1 || r.Scores[0].Err != nil || r.Scores[0].Value < 1 {
			return false, ctx.Err()
		}
	}
	return true, ctx.Err()
}

// Names lists the library's environment names.
func (l *Library) Names() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for _, e := range l.entries {
		out = append(out, e.mod.Name)
	}
	return out
}

// Known lists the library as ideation's deduplication knows it.
func (l *Library) Known() []Known {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Known
	for _, e := range l.entries {
		out = append(out, Known{Name: e.mod.Name, Description: e.mod.Description})
	}
	return out
}

// Has says whether an environment of that name is in the library.
func (l *Library) Has(name string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, e := range l.entries {
		if strings.EqualFold(e.mod.Name, name) {
			return true
		}
	}
	return false
}
