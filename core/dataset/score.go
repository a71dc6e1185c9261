package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"resyn/core/env"
)

// ScoredLine is the record `resyn score` writes for each input line.
type ScoredLine struct {
	Line       int    `json:"line"`
	Env        string `json:"env"`
	Seed       int64  `json:"seed"`
	Difficulty int    `json:"difficulty"`
	EnvHash    string `json:"env_hash,omitempty"` // the version that scored it (lineage; with a Hasher executor)
	env.Reward
}

// EnvSummary aggregates the rewards of one environment.
type EnvSummary struct {
	Env       string  `json:"env"`
	N         int     `json:"n"`
	MeanScore float64 `json:"mean_score"` // over ok and format results; env errors are excluded
	Pass      int     `json:"pass"`       // score == 1
	OK        int     `json:"ok"`
	Format    int     `json:"format"`
	EnvError  int     `json:"env_error"`
	Timeout   int     `json:"timeout"`
}

// LineError is a malformed input line.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// MaxLineBytes bounds one JSONL line of completions.
const MaxLineBytes = 16 << 20

// Score reads JSONL items (env, seed, difficulty, completion, all
// required; optionally state: ParseScoreLine) from r, scores them through ex in chunks, and writes one
// ScoredLine per valid input line to w, in input order. Malformed lines go
// to onBad and the rest is still scored. It returns the per-environment
// summaries, sorted by name.
func Score(ctx context.Context, ex env.Executor, r io.Reader, w io.Writer, onBad func(LineError), progress func(done int)) ([]EnvSummary, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	enc := json.NewEncoder(w)
	sums := map[string]*EnvSummary{}
	var items []env.ScoreItem
	var lines []int
	done := 0
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		rewards := env.ScoreCompletions(ctx, ex, items)
		for i, rw := range rewards {
			it := items[i]
			if err := enc.Encode(ScoredLine{Line: lines[i], Env: it.Env, Seed: it.Seed, Difficulty: it.Difficulty, EnvHash: envHash(ex, it.Env), Reward: rw}); err != nil {
				return err
			}
			s := sums[it.Env]
			if s == nil {
				s = &EnvSummary{Env: it.Env}
				sums[it.Env] = s
			}
			s.N++
			switch rw.Kind {
			case env.KindOK:
				s.OK++
				s.MeanScore += rw.Score
				if rw.Score == 1 {
					s.Pass++
				}
			case env.KindFormat:
				s.Format++
			case env.KindEnvError:
				s.EnvError++
			case env.KindTimeout:
				s.Timeout++
			}
		}
		done += len(items)
		if progress != nil {
			progress(done)
		}
		items, lines = items[:0], lines[:0]
		return ctx.Err()
	}
	n := 0
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		it, err := ParseScoreLine(b)
		if err != nil {
			onBad(LineError{n, err})
			continue
		}
		items = append(items, it)
		lines = append(lines, n)
		if len(items) == 4096 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	var out []EnvSummary
	for _, s := range sums {
		if d := s.OK + s.Format; d > 0 {
			s.MeanScore /= float64(d)
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Env < out[j].Env })
	return out, nil
}
