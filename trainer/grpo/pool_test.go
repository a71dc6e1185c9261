package grpo

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/trainer/tokenizer"
)

// Mutation caught: a fixed instance budget (Config.TrainInstances) that
// training ignores (fresh seeds each draw). Over many draws of both phases
// each environment shows exactly its pool's distinct instances, all of the
// training partition, and the pool is the same for a new trainer of the
// same config (a resumed run trains on the same data).
func TestTrainPoolFixesTheData(t *testing.T) {
	c := testConfig()
	c.Envs = []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 2},
		{Name: "subtraction_game", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}
	c.TrainInstances, c.EvalShare = 5, 0.3
	draw := func() (map[string]map[uint64]bool, []PoolEvent) {
		var pools []PoolEvent
		tr, err := New(Options{Config: c, Model: newBigram(259, 1), ModelConfig: newBigram(259, 1).cfg, Tokenizer: tokenizer.ByteLevel(),
			Executor: coinExecutor(t), Dir: t.TempDir(), Progress: func(e Event) {
				if p, ok := e.(PoolEvent); ok {
					pools = append(pools, p)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]map[uint64]bool{}
		rng := rand.New(rand.NewPCG(1, 1))
		for _, sft := range []bool{true, false} {
			for range 20 {
				insts, err := tr.trainInstances(context.Background(), rng, 16, sft)
				if err != nil {
					t.Fatal(err)
				}
				if len(insts) != 16 {
					t.Fatalf("%d training instances; want 16", len(insts))
				}
				for _, in := range insts {
					if eval, ok := inEvalPartition(in.Env, in.State, c.EvalShare); !ok || eval {
						t.Fatalf("a pool instance of the evaluation partition: %s %s", in.Env, in.State)
					}
					if in.Solution == "" {
						t.Fatalf("a pool instance without its solve() answer: %s %s", in.Env, in.State)
					}
					h, _ := env.InstanceHash(in.Env, in.State)
					if seen[in.Env] == nil {
						seen[in.Env] = map[uint64]bool{}
					}
					seen[in.Env][h] = true
				}
			}
		}
		return seen, pools
	}
	a, pools := draw()
	if n := len(a["coin"]); n != 5 {
		t.Errorf("coin: %d distinct instances trained on; want its pool of 5", n)
	}
	// subtraction_game level 1 has 6 instances, some in the evaluation share
	if n := len(a["subtraction_game"]); n == 0 || n > 5 {
		t.Errorf("subtraction_game: %d distinct instances trained on; want 1-5", n)
	}
	if len(pools) != 1 || pools[0].Want != 5 || pools[0].Sizes["coin"] != 5 || pools[0].Sizes["subtraction_game"] != len(a["subtraction_game"]) {
		t.Errorf("pool events %+v; want one, saying coin 5 and subtraction_game %d", pools, len(a["subtraction_game"]))
	}
	b, _ := draw()
	for name, hs := range a {
		for h := range hs {
			if !b[name][h] {
				t.Fatalf("%s: the same config built another pool", name)
			}
		}
	}
	c.TrainInstances = MaxTrainInstances + 1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "train_instances") {
		t.Errorf("an absurd pool size: %v", err)
	}
}

// Mutation caught: the reference-answer likelihood not per token (summed),
// or taken over the prompt; the answer's own NLL taken over the tags. A model with all-zero logits gives every
// token probability 1/V, so the NLL is exactly ln V whatever the answer's
// length; favouring the tokens of the answer lowers it.
func TestEvaluateAnswerNLL(t *testing.T) {
	ex := coinExecutor(t)
	m := newScripted(t, func(call, row int) string { return "1" })
	for i := range m.table() {
		m.table()[i] = 0
	}
	o := EvalOptions{Envs: []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}, N: 6, MaxNewTokens: 16,
		PassScore: 1, Seed: 3, AnswerNLL: true}
	r, err := Evaluate(context.Background(), m, tokenizer.ByteLevel(), ex, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.AnswerNLL == nil || math.Abs(*r.AnswerNLL-math.Log(259)) > 1e-4 || math.Abs(r.PerEnvNLL["coin"]-math.Log(259)) > 1e-4 {
		t.Fatalf("uniform model: answer NLL %v (coin %v); want ln 259 = %.4f", r.AnswerNLL, r.PerEnvNLL, math.Log(259))
	}
	if r.ContentNLL == nil || math.Abs(*r.ContentNLL-math.Log(259)) > 1e-4 {
		t.Fatalf("uniform model: content NLL %v; want ln 259", r.ContentNLL)
	}
	uniform := *r.AnswerNLL
	// Favouring the tags' bytes lowers the whole answer's NLL and raises
	// that of the answer itself (its "1" gets less of each row's mass).
	for _, c := range "<answer/>" {
		m.favour(int(m.p.encodeAnswer(string(c))[8]), 2)
	}
	if r, err = Evaluate(context.Background(), m, tokenizer.ByteLevel(), ex, o); err != nil {
		t.Fatal(err)
	}
	if !(*r.AnswerNLL < uniform-0.5) || !(*r.ContentNLL > uniform+0.1) {
		t.Errorf("favouring the tags: NLL %v, without the tags %v; uniform %v", *r.AnswerNLL, *r.ContentNLL, uniform)
	}
	for i := range m.table() {
		m.table()[i] = 0
	}
	for _, id := range m.p.encodeAnswer("1") {
		m.favour(int(id), 2)
	}
	if r, err = Evaluate(context.Background(), m, tokenizer.ByteLevel(), ex, o); err != nil {
		t.Fatal(err)
	}
	if !(*r.AnswerNLL < uniform-0.5) {
		t.Errorf("favouring the answer's tokens: NLL %v, uniform %v", *r.AnswerNLL, uniform)
	}
	if !strings.Contains(r.Format(), "reference-answer NLL") {
		t.Errorf("the report does not give the NLL: %s", r.Format())
	}
	o.AnswerNLL = false
	if r, _ = Evaluate(context.Background(), m, tokenizer.ByteLevel(), ex, o); r.AnswerNLL != nil {
		t.Errorf("NLL measured when not asked")
	}
}
