package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"

	"resyn/core/env"
	"resyn/storage"
)

// Verifier lineage. Every scored line (ScoredLine.EnvHash), exported row
// (export.GroundTruth) and stored rollout (storage.Rollout.EnvHash) names
// the version of the environment that made or scored it; when a verifier
// changes, Rescore scores what was stored again with the current version
// and says, per environment, what changed.

// Hasher is an executor that knows the version hash of each environment it
// runs (WithHashes); Score records it in every line it writes.
type Hasher interface {
	EnvHash(name string) string
}

type hashed struct {
	env.Executor
	hashes map[string]string
}

func (h hashed) EnvHash(name string) string { return h.hashes[name] }

// WithHashes wraps ex so that it tells the version hash of each of mods.
func WithHashes(ex env.Executor, mods []*env.Module) env.Executor {
	h := hashed{ex, map[string]string{}}
	for _, m := range mods {
		h.hashes[m.Name] = m.Hash
	}
	return h
}

// envHash is ex's hash of name, "" when ex does not know hashes.
func envHash(ex env.Executor, name string) string {
	if h, ok := ex.(Hasher); ok {
		return h.EnvHash(name)
	}
	return ""
}

// RescoreItem is one stored completion and how it was scored before.
type RescoreItem struct {
	Ref        string          // where it came from ("step 12", "line 7"), for the report
	Env        string          //
	Seed       int64           //
	Difficulty int             //
	State      json.RawMessage // the instance as stored; nil: rebuilt from (env, seed, difficulty)
	Prompt     string          // the prompt the model answered, when known: a rebuilt instance is checked against it
	Completion string          //
	OldHash    string          // the version that scored it; "" when not recorded
	OldKind    env.Kind        //
	OldScore   float64         //
}

// RescoreChange is one item whose result is not what it was.
type RescoreChange struct {
	Ref        string   `json:"ref"`
	Env        string   `json:"env"`
	Seed       int64    `json:"seed"`
	Difficulty int      `json:"difficulty"`
	OldHash    string   `json:"old_hash,omitempty"`
	NewHash    string   `json:"new_hash,omitempty"`
	OldKind    env.Kind `json:"old_kind"`
	NewKind    env.Kind `json:"new_kind"`
	OldScore   float64  `json:"old_score"`
	NewScore   float64  `json:"new_score"`
	// InstanceChanged: the instance rebuilt from the seed renders another
	// prompt than the one the model answered (the generator changed), so
	// the new score is not comparable and is counted apart.
	InstanceChanged bool   `json:"instance_changed,omitempty"`
	Error           string `json:"error,omitempty"`
}

// RescoreSummary is what changed for one environment.
type RescoreSummary struct {
	Env       string   `json:"env"`
	OldHashes []string `json:"old_hashes"` // the versions that scored the items before ("" for unrecorded)
	NewHash   string   `json:"new_hash"`
	N         int      `json:"n"`
	Same      int      `json:"same"`             // same kind and score
	Higher    int      `json:"higher"`           // scored higher now (both times ok or format)
	Lower     int      `json:"lower"`            // scored lower now
	Kind      int      `json:"kind_changed"`     // the kind changed (e.g. ok → env_error)
	Instance  int      `json:"instance_changed"` // not comparable: the instance itself changed
	OldPass   int      `json:"old_pass"`         // score 1 before, over the comparable items
	NewPass   int      `json:"new_pass"`         // score 1 now, over the comparable items
	OldMean   float64  `json:"old_mean"`         // mean score before, over the comparable items
	NewMean   float64  `json:"new_mean"`         // mean score now, over the comparable items
}

// Changed says whether anything about the environment's results changed.
func (s RescoreSummary) Changed() bool { return s.N != s.Same }

// rescoreChunk bounds the items held at once.
const rescoreChunk = 4096

// Rescore reads items from next (until it reports false), scores each with
// ex's current version of its environment, in chunks, passes every item
// whose result changed to onChange (which may be nil), and returns one
// summary per environment, sorted by name. Memory is bounded by the chunk,
// not by the number of items.
func Rescore(ctx context.Context, ex env.Executor, next func() (RescoreItem, bool, error), onChange func(RescoreChange) error, progress func(done int)) ([]RescoreSummary, error) {
	sums := map[string]*RescoreSummary{}
	comparable := map[string]int{}
	done := 0
	var chunk []RescoreItem
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		moved := instancesMoved(ctx, ex, chunk)
		items := make([]env.ScoreItem, len(chunk))
		for i, it := range chunk {
			items[i] = env.ScoreItem{Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, State: it.State, Completion: it.Completion}
		}
		for i, rw := range env.ScoreCompletions(ctx, ex, items) {
			it := chunk[i]
			s := sums[it.Env]
			if s == nil {
				s = &RescoreSummary{Env: it.Env, NewHash: envHash(ex, it.Env)}
				sums[it.Env] = s
			}
			if !slices.Contains(s.OldHashes, it.OldHash) {
				s.OldHashes = append(s.OldHashes, it.OldHash)
			}
			if s.count(it, rw, moved[i]) {
				comparable[it.Env]++
			}
			if onChange != nil && (moved[i] || it.OldKind != rw.Kind || it.OldScore != rw.Score) {
				ch := RescoreChange{Ref: it.Ref, Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, OldHash: it.OldHash, NewHash: s.NewHash,
					OldKind: it.OldKind, NewKind: rw.Kind, OldScore: it.OldScore, NewScore: rw.Score, InstanceChanged: moved[i], Error: rw.Error}
				if err := onChange(ch); err != nil {
					return err
				}
			}
		}
		done += len(chunk)
		if progress != nil {
			progress(done)
		}
		chunk = chunk[:0]
		return ctx.Err()
	}
	for {
		it, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		chunk = append(chunk, it)
		if len(chunk) == rescoreChunk {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	var out []RescoreSummary
	for name, s := range sums {
		if n := comparable[name]; n > 0 {
			s.OldMean /= float64(n)
			s.NewMean /= float64(n)
		}
		sort.Strings(s.OldHashes)
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}

func isScore(k env.Kind) bool { return k == env.KindOK || k == env.KindFormat }

// RolloutItems are the stored rollouts of training run runID as rescore
// items, each with the version that scored it: its own EnvHash, or for
// rollouts stored before they carried one, the run's lineage at its step.
func RolloutItems(tx *storage.Tx, runID uint64) ([]RescoreItem, error) {
	run, err := storage.GetTrainRun(tx, runID)
	if err != nil {
		return nil, err
	}
	ros, err := storage.ListRollouts(tx, runID, 0, 1<<62)
	if err != nil {
		return nil, err
	}
	out := make([]RescoreItem, 0, len(ros))
	for _, r := range ros {
		h := r.EnvHash
		if h == "" {
			for _, v := range run.Envs {
				if v.Name == r.Env && v.FromStep <= r.Step {
					h = v.Hash
				}
			}
		}
		out = append(out, RescoreItem{Ref: fmt.Sprintf("step %d", r.Step), Env: r.Env, Seed: r.Seed, Difficulty: r.Difficulty,
			Prompt: r.Prompt, Completion: r.Completion, OldHash: h, OldKind: env.Kind(r.Outcome), OldScore: r.Reward})
	}
	return out, nil
}

// Items returns a next function over a slice, for Rescore.
func Items(items []RescoreItem) func() (RescoreItem, bool, error) {
	i := 0
	return func() (RescoreItem, bool, error) {
		if i >= len(items) {
			return RescoreItem{}, false, nil
		}
		i++
		return items[i-1], true, nil
	}
}

// FileItems pairs the completions `resyn score` read (in, JSONL with env,
// seed, difficulty, completion and optionally state and prompt, as
// ParseScoreLine reads them) with the reward records it wrote for them
// (prev, whose "line" fields number the lines of in), for Rescore: a line
// is rescored against its earlier result. Lines without a record (blank,
// malformed then, or not scored) are skipped and counted in *unpaired; a
// malformed reward record, or a completion line that is malformed now, is
// an error naming the file and line. Both are read as they are needed.
func FileItems(in, prev io.Reader, inName, prevName string, unpaired *int) func() (RescoreItem, bool, error) {
	ins := bufio.NewScanner(in)
	ins.Buffer(make([]byte, 64<<10), MaxLineBytes)
	prs := bufio.NewScanner(prev)
	prs.Buffer(make([]byte, 64<<10), MaxLineBytes)
	inLine, prevLine := 0, 0
	var pending *ScoredLine // the next reward record not yet paired
	readPrev := func() (*ScoredLine, error) {
		for prs.Scan() {
			prevLine++
			b := bytes.TrimSpace(prs.Bytes())
			if len(b) == 0 {
				continue
			}
			var sl ScoredLine
			if err := json.Unmarshal(b, &sl); err != nil || sl.Line < 1 || sl.Kind == "" {
				return nil, fmt.Errorf("%s line %d: not a reward record of `resyn score` (want line, env, seed, difficulty, kind, score)", prevName, prevLine)
			}
			return &sl, nil
		}
		if err := prs.Err(); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", prevName, prevLine+1, err)
		}
		return nil, nil
	}
	return func() (RescoreItem, bool, error) {
		for {
			if pending == nil {
				sl, err := readPrev()
				if err != nil || sl == nil {
					// No records left: the rest of in has none either.
					for err == nil && ins.Scan() {
						inLine++
						if len(bytes.TrimSpace(ins.Bytes())) > 0 {
							*unpaired++
						}
					}
					return RescoreItem{}, false, err
				}
				if sl.Line <= inLine {
					return RescoreItem{}, false, fmt.Errorf("%s line %d: record for line %d out of order (after line %d)", prevName, prevLine, sl.Line, inLine)
				}
				pending = sl
			}
			if !ins.Scan() {
				if err := ins.Err(); err != nil {
					return RescoreItem{}, false, fmt.Errorf("%s line %d: %w", inName, inLine+1, err)
				}
				return RescoreItem{}, false, fmt.Errorf("%s has %d lines but %s has a record for line %d: not the file it scored", inName, inLine, prevName, pending.Line)
			}
			inLine++
			if inLine < pending.Line {
				if len(bytes.TrimSpace(ins.Bytes())) > 0 {
					*unpaired++
				}
				continue
			}
			b := ins.Bytes()
			it, err := ParseScoreLine(b)
			if err != nil {
				return RescoreItem{}, false, fmt.Errorf("%s line %d: %w", inName, inLine, err)
			}
			if it.Env != pending.Env || it.Seed != pending.Seed || it.Difficulty != pending.Difficulty {
				return RescoreItem{}, false, fmt.Errorf("%s line %d is %s seed %d difficulty %d, but %s scored line %d as %s seed %d difficulty %d: not the file it scored",
					inName, inLine, it.Env, it.Seed, it.Difficulty, prevName, pending.Line, pending.Env, pending.Seed, pending.Difficulty)
			}
			var extra struct {
				Prompt string `json:"prompt"`
			}
			_ = json.Unmarshal(b, &extra)
			ri := RescoreItem{Ref: fmt.Sprintf("line %d", inLine), Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, State: it.State,
				Prompt: extra.Prompt, Completion: it.Completion, OldHash: pending.EnvHash, OldKind: pending.Kind, OldScore: pending.Score}
			pending = nil
			return ri, true, nil
		}
	}
}

// instancesMoved reports, for each item rebuilt from (env, seed,
// difficulty), whether the environment now renders another prompt than the
// one the model saw.
func instancesMoved(ctx context.Context, ex env.Executor, chunk []RescoreItem) []bool {
	var tasks []env.Task
	var at []int
	for i, it := range chunk {
		if it.State == nil && it.Prompt != "" {
			tasks = append(tasks, env.Task{Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, Render: true})
			at = append(at, i)
		}
	}
	moved := make([]bool, len(chunk))
	for j, r := range ex.Run(ctx, tasks) {
		moved[at[j]] = r.Err == nil && r.Prompt != chunk[at[j]].Prompt
	}
	return moved
}

// count adds one item's old and new reward to s; comparable says whether
// both are scores of the same instance (and so enter the means).
func (s *RescoreSummary) count(it RescoreItem, rw env.Reward, moved bool) (comparable bool) {
	s.N++
	scoredBoth := isScore(it.OldKind) && isScore(rw.Kind)
	switch {
	case moved:
		s.Instance++
	case it.OldKind == rw.Kind && it.OldScore == rw.Score:
		s.Same++
	case !scoredBoth:
		s.Kind++
	case rw.Score > it.OldScore:
		s.Higher++
	default:
		s.Lower++
	}
	if moved || !scoredBoth {
		return false
	}
	s.OldMean += it.OldScore
	s.NewMean += rw.Score
	if it.OldScore >= 1 {
		s.OldPass++
	}
	if rw.Score >= 1 {
		s.NewPass++
	}
	return true
}
