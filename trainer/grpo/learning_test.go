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

// These fast tests fail when learning breaks in a way the long runs would
// only show as a worse number: each names the mutation it catches.

// coinEnv is a small test environment: 40 instances per level, answer
// "1" scores 1, "0" scores 0, and "boom" makes verify raise (an
// environment error).
const coinEnv = `
NAME = "coin"
DESCRIPTION = "Say 1."
TAGS = ["test"]
DIFFICULTY = (1, 2)

def generate(rng, difficulty):
    return {"n": rng.randint(0, 39), "d": difficulty}

def render(state):
    return "Instance " + str(state["n"]) + ". Answer 1 inside <answer></answer>."

def verify(state, answer):
    if answer == "boom":
        fail("boom")
    return answer == "1"

def solve(state):
    return "1"
`

func coinExecutor(t *testing.T) *recordingExecutor {
	t.Helper()
	m, err := env.Load("coin.star", []byte(coinEnv))
	if err != nil {
		t.Fatal(err)
	}
	ex := testExecutor(t).(*env.Local)
	ex.Register(m)
	return &recordingExecutor{Executor: ex}
}

// recordingExecutor keeps every task it ran.
type recordingExecutor struct {
	env.Executor
	tasks []env.Task
}

func (r *recordingExecutor) Run(ctx context.Context, tasks []env.Task) []env.Result {
	r.tasks = append(r.tasks, tasks...)
	return r.Executor.Run(ctx, tasks)
}

// scripted is a bigram whose Generate answers from a script: call k, row i
// gets "<answer>" + answers(k, i) + "</answer>" and the stop token.
type scripted struct {
	*bigram
	p       *prompter
	calls   int
	answers func(call, row int) string
}

func (s *scripted) Generate(r GenRequest) ([][]int32, error) {
	out := make([][]int32, len(r.Prompts))
	for i := range out {
		out[i] = s.p.encodeAnswer(s.answers(s.calls, i))
	}
	s.calls++
	return out, nil
}

func newScripted(t *testing.T, answers func(call, row int) string) *scripted {
	p, err := newPrompter(tokenizer.ByteLevel(), "")
	if err != nil {
		t.Fatal(err)
	}
	return &scripted{bigram: newBigram(259, 3), p: p, answers: answers}
}

func roll(kind env.Kind, score float64, shaped float64, tokens int) rollout {
	in := &instance{Env: "coin", Tokens: []int32{1, 2}}
	return rollout{inst: in, tokens: make([]int32, tokens), reward: env.Reward{Kind: kind, Score: score}, shaped: shaped}
}

// Mutation caught: env_error (or timeout) completions kept in their group.
func TestGroupsDropEnvErrors(t *testing.T) {
	c := testConfig()
	c.GroupSize, c.ScaleByStd, c.DropZeroVar = 4, false, true
	rolls := []rollout{roll(env.KindOK, 1, 1, 3), roll(env.KindEnvError, 0, 0, 3), roll(env.KindOK, 0, 0, 3), roll(env.KindTimeout, 0, 0, 3)}
	seqs, kept := buildGroups(rolls, c)
	if kept != 1 || len(seqs) != 2 {
		t.Fatalf("kept %d groups, %d sequences; want 1 group of the 2 scored completions", kept, len(seqs))
	}
	if seqs[0].adv != 0.5 || seqs[1].adv != -0.5 {
		t.Errorf("advantages %v %v; want ±0.5 (the mean of the scored pair only)", seqs[0].adv, seqs[1].adv)
	}
	// a group left with one scored completion does not train
	rolls[2] = roll(env.KindEnvError, 0, 0, 3)
	if _, kept := buildGroups(rolls, c); kept != 0 {
		t.Errorf("a group of one scored completion trained")
	}
}

// Mutations caught: zero-variance groups kept; the overlong penalty alone
// keeping a group whose task rewards are all equal.
func TestGroupsDropZeroVariance(t *testing.T) {
	c := testConfig()
	c.GroupSize, c.DropZeroVar = 3, true
	same := []rollout{roll(env.KindOK, 1, 1, 3), roll(env.KindOK, 1, 1, 3), roll(env.KindOK, 1, 1, 3)}
	if seqs, kept := buildGroups(same, c); kept != 0 || len(seqs) != 0 {
		t.Errorf("a group of equal rewards trained (%d sequences)", len(seqs))
	}
	penalised := []rollout{roll(env.KindFormat, 0, 0, 3), roll(env.KindFormat, 0, -0.5, 3), roll(env.KindFormat, 0, -1, 3)}
	if seqs, kept := buildGroups(penalised, c); kept != 0 || len(seqs) != 0 {
		t.Errorf("a group whose task rewards are all 0 trained on the overlong penalty alone (%d sequences)", len(seqs))
	}
	c.DropZeroVar = false
	if _, kept := buildGroups(penalised, c); kept != 1 {
		t.Errorf("without DropZeroVar the penalised group did not train")
	}
}

// Mutation caught: advantages not divided by the group's std.
func TestGroupsScaleByStd(t *testing.T) {
	c := testConfig()
	c.GroupSize = 4
	rolls := []rollout{roll(env.KindOK, 1, 1, 2), roll(env.KindOK, 0, 0, 2), roll(env.KindOK, 0, 0, 2), roll(env.KindOK, 0, 0, 2)}
	for _, scale := range []bool{true, false} {
		c.ScaleByStd = scale
		seqs, _ := buildGroups(rolls, c)
		want := 0.75
		if scale {
			want /= math.Sqrt(0.1875) + 1e-6
		}
		if math.Abs(float64(seqs[0].adv)-want) > 1e-6 {
			t.Errorf("scale_by_std %v: advantage %v; want %v", scale, seqs[0].adv, want)
		}
	}
}

// MaskTruncated: a truncated completion counts in the group's statistics
// but trains no token.
func TestGroupsMaskTruncated(t *testing.T) {
	c := testConfig()
	c.GroupSize, c.ScaleByStd = 3, false
	rolls := []rollout{roll(env.KindOK, 1, 1, 2), roll(env.KindOK, 0, 0, 2), roll(env.KindFormat, 0, 0, 24)}
	rolls[2].truncated = true
	seqs, _ := buildGroups(rolls, c)
	if len(seqs) != 3 {
		t.Fatalf("%d sequences without MaskTruncated; want 3", len(seqs))
	}
	c.MaskTruncated = true
	seqs, kept := buildGroups(rolls, c)
	if kept != 1 || len(seqs) != 2 {
		t.Fatalf("MaskTruncated: %d groups, %d sequences; want 1 group training the 2 completions that stopped", kept, len(seqs))
	}
	if math.Abs(float64(seqs[0].adv)-2.0/3) > 1e-6 {
		t.Errorf("advantage %v; want 2/3 (the truncated completion still counts in the mean)", seqs[0].adv)
	}
}

// recorder records the d(loss)/d(logprob) of every Backward.
type recorder struct {
	*bigram
	dlp [][]float32
}

func (r *recorder) Backward(d []float32) error {
	r.dlp = append(r.dlp, append([]float32(nil), d...))
	return r.bigram.Backward(d)
}

func updateTrainer(t *testing.T, m Model, c Config) *Trainer {
	t.Helper()
	tr, err := New(Options{Config: c, Model: m, ModelConfig: newBigram(259, 1).cfg, Tokenizer: tokenizer.ByteLevel(),
		Executor: testExecutor(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Mutation caught: the loss divided by the number of sequences instead of
// the number of completion tokens (DAPO's token-level aggregation).
func TestLossIsPerToken(t *testing.T) {
	c := testConfig()
	c.Minibatches, c.Epochs, c.MicroBatch = 1, 1, 0
	m := &recorder{bigram: newBigram(259, 1)}
	tr := updateTrainer(t, m, c)
	seqs := []*sequence{{prompt: []int32{5, 6}, completion: []int32{7}, adv: 1},
		{prompt: []int32{5}, completion: []int32{8, 9, 10}, adv: 1}}
	var ev StepEvent
	if _, err := tr.update(rand.New(rand.NewPCG(1, 2)), seqs, &ev); err != nil {
		t.Fatal(err)
	}
	if len(m.dlp) != 1 {
		t.Fatalf("%d backward passes; want 1", len(m.dlp))
	}
	n := 0
	for _, g := range m.dlp[0] {
		if g != 0 {
			n++
			// ratio 1 at the first update: d(-r·A)/d(logp) / tokens = -1/4
			if math.Abs(float64(g)+0.25) > 1e-6 {
				t.Errorf("d loss/d logp = %v at a completion token; want -1/4 (1/tokens, not 1/sequences)", g)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d positions with a gradient; want the 4 completion tokens", n)
	}
}

// Mutation caught: old (and new) log-probs of the model's own distribution
// instead of the sampling one — here temperature 1.5 at top_p 1.
func TestOldLogprobsAreOfTheSamplingDistribution(t *testing.T) {
	c := testConfig()
	c.Temperature, c.TopP = 1.5, 1
	c.Minibatches = 1
	m := newBigram(259, 1).favour(7, 3)
	tr := updateTrainer(t, m, c)
	seqs := []*sequence{{prompt: []int32{5, 6}, completion: []int32{7, 8}, adv: 1}}
	var ev StepEvent
	if _, err := tr.update(rand.New(rand.NewPCG(1, 2)), seqs, &ev); err != nil {
		t.Fatal(err)
	}
	// the update moved the table; the old log-probs were taken before it,
	// so compare against a fresh copy of the starting model
	ref := newBigram(259, 1).favour(7, 3)
	ls := make([]float64, ref.V)
	prev := []int32{6, 7}
	for j, tok := range seqs[0].completion {
		ref.logSoftmaxAt(prev[j], 1.5, ls)
		want := ls[tok]
		ref.logSoftmaxAt(prev[j], 1, ls)
		own := ls[tok]
		got := float64(seqs[0].old[j])
		if math.Abs(got-want) > 1e-5 {
			t.Errorf("token %d: old log-prob %v; want %v at temperature 1.5 (the model's own: %v)", j, got, want, own)
		}
	}
}

// Mutation caught: zero-variance groups dropped but not replaced (the
// batch shrinks). The first round's answers are all "0" (no signal); the
// replacements' vary.
func TestDynamicSamplingRefillsTheBatch(t *testing.T) {
	c := testConfig()
	c.Envs = []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}
	c.SFTSteps, c.EvalN, c.Steps, c.CheckpointEvery = 0, 0, 1, 0
	c.PromptsPerStep, c.GroupSize = 3, 4
	c.DropZeroVar, c.MaxResampleRounds = true, 2
	c.OverlongBuffer = 0
	m := newScripted(t, func(call, row int) string {
		if call == 0 || row%2 == 0 {
			return "0"
		}
		return "1"
	})
	var steps []StepEvent
	ex := coinExecutor(t)
	tr, err := New(Options{Config: c, Model: m, ModelConfig: m.cfg, Tokenizer: tokenizer.ByteLevel(), Executor: ex, Dir: t.TempDir(),
		Progress: func(e Event) {
			if s, ok := e.(StepEvent); ok {
				steps = append(steps, s)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := steps[0]
	if s.GroupsKept != 3 || s.ResampleRounds != 1 || s.Resampled != 3 || s.Groups != 6 {
		t.Errorf("kept %d of %d groups after %d extra rounds (%d prompts); want 3 of 6 after 1 round of 3",
			s.GroupsKept, s.Groups, s.ResampleRounds, s.Resampled)
	}
	// bounded: answers that never vary stop after MaxResampleRounds
	m2 := newScripted(t, func(int, int) string { return "0" })
	steps = nil
	tr, err = New(Options{Config: c, Model: m2, ModelConfig: m.cfg, Tokenizer: tokenizer.ByteLevel(), Executor: ex, Dir: t.TempDir(),
		Progress: func(e Event) {
			if s, ok := e.(StepEvent); ok {
				steps = append(steps, s)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := steps[0]; s.GroupsKept != 0 || s.ResampleRounds != 2 || m2.calls != 3 {
		t.Errorf("no signal: %d groups kept, %d extra rounds, %d generate calls; want 0, 2 and 3", s.GroupsKept, s.ResampleRounds, m2.calls)
	}
}

// Mutation caught: evaluation instances equal to training ones (a split by
// seed, or none). Over many training draws of both phases, no training
// instance shares a canonical state with an evaluation one; evaluation
// reports its distinct instances per level, and a level whose few
// instances all fall in training's share says so instead of a number.
func TestEvaluationInstancesAreNeverTrainedOn(t *testing.T) {
	c := testConfig()
	c.Envs = []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 2},
		{Name: "subtraction_game", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}
	c.EvalShare = 0.3
	ex := coinExecutor(t)
	tr, err := New(Options{Config: c, Model: newBigram(259, 1), ModelConfig: newBigram(259, 1).cfg, Tokenizer: tokenizer.ByteLevel(),
		Executor: ex, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	trained := map[uint64]bool{}
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
				h, _ := env.InstanceHash(in.Env, in.State)
				trained[h] = true
			}
		}
	}
	p, _ := newPrompter(tokenizer.ByteLevel(), "")
	o := EvalOptions{Envs: c.Envs, N: 30, Share: c.EvalShare}
	insts, counts, none, err := evalInstances(context.Background(), ex, p, o, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, in := range insts {
		h, _ := env.InstanceHash(in.Env, in.State)
		if trained[h] {
			t.Fatalf("evaluation instance %s seed %d level %d (%s) is a training instance", in.Env, in.Seed, in.Difficulty, in.State)
		}
		if seen[h] {
			t.Fatalf("evaluation instance %s %s appears twice", in.Env, in.State)
		}
		seen[h] = true
	}
	// coin has 40 instances per level: about 12 in the evaluation share
	for d := 1; d <= 2; d++ {
		if n := counts["coin"][d]; n < 5 || n > 15 {
			t.Errorf("coin level %d: %d distinct evaluation instances; want about 40 × 0.3", d, n)
		}
	}
	// subtraction_game level 1 has 6 instances (piles 1..9, not 0 mod 3)
	if n := counts["subtraction_game"][1]; n > 6 {
		t.Errorf("subtraction_game level 1: %d distinct evaluation instances of a 6-instance space", n)
	}
	if counts["subtraction_game"][1] == 0 && len(none["subtraction_game"]) != 1 {
		t.Errorf("subtraction_game level 1 held nothing out but no_holdout is %v", none)
	}
	if len(trained) < 30 {
		t.Errorf("only %d distinct training instances in 640 draws", len(trained))
	}
}

// Mutation caught: Evaluate averaging environment errors in as 0 (training
// drops them).
func TestEvaluateDropsEnvErrors(t *testing.T) {
	ex := coinExecutor(t)
	m := newScripted(t, func(call, row int) string {
		if row%2 == 0 {
			return "boom"
		}
		return "1"
	})
	r, err := Evaluate(context.Background(), m, tokenizer.ByteLevel(), ex, EvalOptions{
		Envs: []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}, N: 6, MaxNewTokens: 16, PassScore: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.EnvErrors != 3 || r.N != 3 || r.Reward != 1 || r.PerEnv["coin"] != 1 {
		t.Errorf("%d env errors, %d scored, reward %v (coin %v); want 3 dropped, 3 scored at 1", r.EnvErrors, r.N, r.Reward, r.PerEnv["coin"])
	}
	if r.RewardCI != [2]float64{1, 1} {
		t.Errorf("interval %v of constant scores; want [1, 1]", r.RewardCI)
	}
	if !strings.Contains(r.Format(), "3 environment errors dropped") {
		t.Errorf("the report does not say what was dropped: %s", r.Format())
	}
}

func TestBootstrapIntervals(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	mk := func(n int) [][]float64 {
		s := make([][]float64, n)
		for i := range s {
			for range 4 {
				s[i] = append(s[i], float64(rng.IntN(2)))
			}
		}
		return s
	}
	small, large := mk(10), mk(400)
	a, b := Bootstrap(small, 9), Bootstrap(small, 9)
	if a != b {
		t.Errorf("the same scores and seed gave %v and %v", a, b)
	}
	mean := func(s [][]float64) float64 {
		var t, n float64
		for _, x := range s {
			for _, v := range x {
				t += v
				n++
			}
		}
		return t / n
	}
	for _, s := range [][][]float64{small, large} {
		ci := Bootstrap(s, 9)
		if m := mean(s); !(ci[0] <= m && m <= ci[1]) || ci[0] == ci[1] {
			t.Errorf("interval %v around mean %v", ci, m)
		}
	}
	if ws, wl := a[1]-a[0], Bootstrap(large, 9)[1]-Bootstrap(large, 9)[0]; wl >= ws/3 {
		t.Errorf("the interval of 400 instances (%v wide) is not much narrower than that of 10 (%v)", wl, ws)
	}
}

// The held-out environments never reach the tokenizer's corpus, the warm
// start or GRPO: only evaluation runs them, on evaluation seeds, and
// every evaluation reports them.
func TestHoldoutEnvironmentsDoNotLeak(t *testing.T) {
	ex := coinExecutor(t)
	p := TinyCPU()
	p.Config.Envs = []EnvSpec{{Name: "coin", Weight: 1, MinDifficulty: 1, MaxDifficulty: 2}}
	p.Config.HoldoutEnvs = []EnvSpec{{Name: "subtraction_game", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1}}
	p.TokenizerSamples, p.VocabSize = 4, 300
	if _, err := p.Tokenizer(context.Background(), ex); err != nil {
		t.Fatal(err)
	}
	for _, tk := range ex.tasks {
		if tk.Env == "subtraction_game" {
			t.Fatalf("the tokenizer's corpus ran the held-out environment (%+v)", tk)
		}
	}
	c := testConfig()
	c.Envs, c.HoldoutEnvs = p.Config.Envs, p.Config.HoldoutEnvs
	c.SFTSteps, c.Steps, c.EvalN, c.CheckpointEvery = 2, 1, 4, 0
	var evals []EvalEvent
	tr, err := New(Options{Config: c, Model: newBigram(259, 1), ModelConfig: newBigram(259, 1).cfg, Tokenizer: tokenizer.ByteLevel(),
		Executor: ex, Dir: t.TempDir(), Progress: func(e Event) {
			if v, ok := e.(EvalEvent); ok {
				evals = append(evals, v)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ex.tasks = nil
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	heldOut := 0
	for _, tk := range ex.tasks {
		if tk.Env == "subtraction_game" {
			heldOut++
			if tk.Solve || tk.Seed < EvalSeedBase {
				t.Fatalf("a training task of the held-out environment: %+v", tk)
			}
		}
	}
	if heldOut == 0 || len(evals) != 3 {
		t.Fatalf("%d evaluations, %d held-out tasks", len(evals), heldOut)
	}
	for _, e := range evals {
		if e.Result.Holdout == nil || e.Result.Holdout.Instances["subtraction_game"][1] != 4 || e.Result.Holdout.N != 4 {
			t.Errorf("evaluation %s: held-out result %+v", e.Label, e.Result.Holdout)
		}
	}
	c.HoldoutEnvs = append(c.HoldoutEnvs, c.Envs[0])
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "both trained on and held out") {
		t.Errorf("an environment both trained on and held out: %v", err)
	}
}
