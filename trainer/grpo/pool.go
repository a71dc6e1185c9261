package grpo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// poolSeedBase is the first seed of the fixed training pools
// (Config.TrainInstances), apart from training's own seeds (from 0),
// evaluation's (EvalSeedBase) and the tokenizer's (tokenizerSeedBase).
const poolSeedBase int64 = 1 << 39

// trainPool is a run's fixed training data: per environment, its distinct
// instances (with their solve() answers) and how many were found at each
// level.
type trainPool struct {
	byEnv  map[string][]instance
	counts map[string]map[int]int
}

// buildPool finds each environment's TrainInstances distinct instances of
// the training partition. An environment with fewer is trained on those it
// has (PoolSizes says how many); one with none is an error. The same
// config gives the same pool, so a resumed run trains on the same data.
func (t *Trainer) buildPool(ctx context.Context) (*trainPool, error) {
	share := t.cfg.evalShare()
	q := instanceQuery{envs: t.cfg.Envs, n: t.cfg.TrainInstances, seedBase: poolSeedBase,
		keep: func(name string, state json.RawMessage) bool {
			eval, ok := inEvalPartition(name, state, share)
			return ok && !eval
		},
		solve: true, needSolution: t.cfg.SFTSteps > 0, maxPrompt: t.cfg.MaxPromptTokens}
	insts, counts, _, err := distinctInstances(ctx, t.o.Executor, t.p, q)
	if err != nil {
		return nil, err
	}
	pool := &trainPool{byEnv: map[string][]instance{}, counts: counts}
	for _, in := range insts {
		pool.byEnv[in.Env] = append(pool.byEnv[in.Env], in)
	}
	for _, e := range t.cfg.Envs {
		if len(pool.byEnv[e.Name]) == 0 {
			return nil, fmt.Errorf("%w: %s has no training instance at levels %d-%d to make its pool of %d", ErrNoData,
				e.Name, e.MinDifficulty, e.MaxDifficulty, t.cfg.TrainInstances)
		}
	}
	return pool, nil
}

// PoolSizes is how many distinct instances each environment's pool holds
// (Config.TrainInstances asks for that many; a small instance space gives
// fewer).
func (p *trainPool) PoolSizes() map[string]int {
	out := map[string]int{}
	for name, insts := range p.byEnv {
		out[name] = len(insts)
	}
	return out
}

// draw picks n instances from the pool, environments mixed by weight: the
// warm start any of an environment's instances up to maxLevel, GRPO those
// at the curriculum's level (or, where the pool has none there, any).
func (p *trainPool) draw(rng *rand.Rand, envs []EnvSpec, n int, level func(EnvSpec) (lo, hi int)) []instance {
	out := make([]instance, 0, n)
	for _, k := range Mix(envs, n, rng) {
		all := p.byEnv[envs[k].Name]
		lo, hi := level(envs[k])
		var at []int
		for i, in := range all {
			if in.Difficulty >= lo && in.Difficulty <= hi {
				at = append(at, i)
			}
		}
		if len(at) == 0 {
			out = append(out, all[rng.IntN(len(all))])
			continue
		}
		out = append(out, all[at[rng.IntN(len(at))]])
	}
	return out
}

// poolInstances draws n training instances from the run's fixed pool,
// building it on first use.
func (t *Trainer) poolInstances(ctx context.Context, rng *rand.Rand, n int, sft bool) ([]instance, error) {
	if t.pool == nil {
		pool, err := t.buildPool(ctx)
		if err != nil {
			return nil, err
		}
		t.pool = pool
		t.sum.TrainPool = pool.PoolSizes()
		t.emit(PoolEvent{Sizes: t.sum.TrainPool, PerLevel: pool.counts, Want: t.cfg.TrainInstances})
	}
	return t.pool.draw(rng, t.cfg.Envs, n, func(e EnvSpec) (int, int) {
		if sft {
			hi := e.MaxDifficulty
			if t.cfg.SFTMaxDiff > 0 {
				hi = min(hi, max(t.cfg.SFTMaxDiff, e.MinDifficulty))
			}
			return e.MinDifficulty, hi
		}
		d := t.st.Curriculum.Level(e.Name)
		return d, d
	}), nil
}
