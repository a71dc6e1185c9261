package grpo

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/storage"
	"resyn/trainer/tokenizer"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func TestGroupAdvantages(t *testing.T) {
	adv, zero := GroupAdvantages([]float64{1, 0, 0, 1}, true, 0)
	if zero {
		t.Fatal("a group with different rewards reported zero variance")
	}
	for i, want := range []float64{1, -1, -1, 1} {
		if math.Abs(adv[i]-want) > 1e-12 {
			t.Errorf("scaled advantage %d = %v, want %v", i, adv[i], want)
		}
	}
	adv, _ = GroupAdvantages([]float64{1, 0, 0, 1}, false, 0)
	for i, want := range []float64{0.5, -0.5, -0.5, 0.5} {
		if math.Abs(adv[i]-want) > 1e-12 {
			t.Errorf("unscaled advantage %d = %v, want %v", i, adv[i], want)
		}
	}
	adv, zero = GroupAdvantages([]float64{0.3, 0.3, 0.3}, true, 1e-6)
	if !zero || adv[0] != 0 || adv[2] != 0 {
		t.Errorf("equal rewards: zero=%v adv=%v, want zero variance and 0 advantages", zero, adv)
	}
}

func TestOverlongPenalty(t *testing.T) {
	for _, c := range []struct {
		n    int
		want float64
	}{{10, 0}, {80, 0}, {90, -0.5}, {100, -1}, {120, -1}} {
		if got := OverlongPenalty(c.n, 100, 20, 1); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("OverlongPenalty(%d, 100, 20, 1) = %v, want %v", c.n, got, c.want)
		}
	}
	if got := OverlongPenalty(100, 100, 0, 1); got != 0 {
		t.Errorf("no buffer: penalty %v, want 0", got)
	}
}

// lossOf sums the per-token loss PolicyLoss reports, divided by norm.
func lossOf(logp, old, ref, adv, mask []float32, norm float64, p LossParams) float64 {
	d := make([]float32, len(logp))
	return PolicyLoss(logp, old, ref, adv, mask, nil, norm, p, d).Loss / norm
}

func TestPolicyLossGradientMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 40
	logp, old, ref, adv, mask := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		old[i] = float32(-rng.Float64() * 3)
		logp[i] = old[i] + float32(rng.NormFloat64()*0.3)
		ref[i] = old[i] + float32(rng.NormFloat64()*0.2)
		adv[i] = float32(rng.NormFloat64())
		if i%7 != 3 {
			mask[i] = 1
		}
	}
	p := LossParams{ClipLow: 0.2, ClipHigh: 0.28, KLCoef: 0.05}
	d := make([]float32, n)
	st := PolicyLoss(logp, old, ref, adv, mask, nil, 33, p, d)
	if st.Clipped == 0 || st.Clipped == st.Tokens {
		t.Fatalf("want a mix of clipped and unclipped tokens, got %v of %v clipped", st.Clipped, st.Tokens)
	}
	for i := range n {
		const h = 1e-3
		// Stay away from the clip boundaries, where the loss has a kink.
		r := math.Exp(float64(logp[i] - old[i]))
		if math.Abs(r-0.8) < 0.01 || math.Abs(r-1.28) < 0.01 {
			continue
		}
		up, dn := append([]float32(nil), logp...), append([]float32(nil), logp...)
		up[i] += h
		dn[i] -= h
		num := (lossOf(up, old, ref, adv, mask, 33, p) - lossOf(dn, old, ref, adv, mask, 33, p)) / (2 * h)
		if math.Abs(num-float64(d[i])) > 1e-4 {
			t.Errorf("token %d (mask %v, ratio %.3f, adv %.3f): d loss = %v, finite difference %v", i, mask[i], r, adv[i], d[i], num)
		}
	}
}

func TestPolicyLossClipping(t *testing.T) {
	p := LossParams{ClipLow: 0.2, ClipHigh: 0.28}
	lg := func(r float64) float32 { return float32(math.Log(r)) }
	cases := []struct {
		name    string
		ratio   float64
		adv     float32
		clipped bool
	}{
		{"positive advantage above 1+high", 1.5, 1, true},
		{"positive advantage inside", 1.2, 1, false},
		{"positive advantage below 1-low (not clipped)", 0.5, 1, false},
		{"negative advantage below 1-low", 0.5, -1, true},
		{"negative advantage above 1+high (not clipped)", 1.5, -1, false},
	}
	for _, c := range cases {
		d := make([]float32, 1)
		st := PolicyLoss([]float32{lg(c.ratio)}, []float32{0}, nil, []float32{c.adv}, nil, nil, 1, p, d)
		if (st.Clipped == 1) != c.clipped {
			t.Errorf("%s: clipped = %v, want %v", c.name, st.Clipped == 1, c.clipped)
		}
		if c.clipped && d[0] != 0 {
			t.Errorf("%s: gradient %v through a clipped token", c.name, d[0])
		}
		if !c.clipped && math.Abs(float64(d[0])+c.ratio*float64(c.adv)) > 1e-6 {
			t.Errorf("%s: gradient %v, want -ratio*adv = %v", c.name, d[0], -c.ratio*float64(c.adv))
		}
	}
}

func TestPolicyLossDualClip(t *testing.T) {
	p := LossParams{ClipLow: 0.2, ClipHigh: 0.28, DualClip: 3}
	for _, c := range []struct {
		ratio   float64
		adv     float32
		clipped bool
	}{{2, -1, false}, {5, -1, true}, {5, 1, true}, {0.5, -1, true}} {
		d := make([]float32, 1)
		st := PolicyLoss([]float32{float32(math.Log(c.ratio))}, []float32{0}, nil, []float32{c.adv}, nil, nil, 1, p, d)
		if (st.Clipped == 1) != c.clipped || (c.clipped && d[0] != 0) {
			t.Errorf("ratio %v adv %v: clipped %v grad %v; want clipped %v", c.ratio, c.adv, st.Clipped, d[0], c.clipped)
		}
		if c.ratio == 5 && c.adv < 0 && math.Abs(st.Loss-3) > 1e-6 {
			t.Errorf("dual-clipped loss %v; want -c·A = 3", st.Loss)
		}
	}
}

func TestKLClampedFarFromTheReference(t *testing.T) {
	d := make([]float32, 1)
	// logp_ref - logp = 30: unclamped, k3 would be e^30 and its gradient too.
	st := PolicyLoss([]float32{-31}, []float32{-31}, []float32{-1}, []float32{0}, nil, nil, 1,
		LossParams{ClipLow: 0.2, ClipHigh: 0.2, KLCoef: 1}, d)
	if want := math.Exp(10) - 11; math.Abs(st.KL-want) > 1e-6*want || d[0] != 0 {
		t.Errorf("kl %v (want %v), grad %v (want 0 beyond the clamp)", st.KL, want, d[0])
	}
}

func TestKLIsZeroAtTheReference(t *testing.T) {
	d := make([]float32, 2)
	st := PolicyLoss([]float32{-1, -2}, []float32{-1, -2}, []float32{-1, -2}, []float32{0, 0}, nil, nil, 2,
		LossParams{ClipLow: 0.2, ClipHigh: 0.2, KLCoef: 1}, d)
	if st.KL != 0 || d[0] != 0 || d[1] != 0 {
		t.Errorf("policy equal to reference: kl %v grads %v, want 0", st.KL, d)
	}
	st = PolicyLoss([]float32{-1}, []float32{-1}, []float32{-2}, []float32{0}, nil, nil, 1,
		LossParams{ClipLow: 0.2, ClipHigh: 0.2, KLCoef: 1}, d[:1])
	want := math.Exp(-1) + 1 - 1 // k3 at logp_ref - logp = -1
	if math.Abs(st.KL-want) > 1e-6 || !(d[0] > 0) {
		t.Errorf("kl %v (want %v), grad %v (want > 0: lowering logp moves toward the reference)", st.KL, want, d[0])
	}
}

func TestSFTLoss(t *testing.T) {
	d := make([]float32, 3)
	sum, n := SFTLoss([]float32{-1, -2, -3}, []float32{1, 0, 1}, 2, d)
	if sum != 4 || n != 2 || d[0] != -0.5 || d[1] != 0 || d[2] != -0.5 {
		t.Errorf("SFTLoss = %v over %v tokens, grads %v", sum, n, d)
	}
}

func TestCurriculumRaisesLevelAtThreshold(t *testing.T) {
	c := NewCurriculum([]EnvSpec{{Name: "a", Weight: 1, MinDifficulty: 1, MaxDifficulty: 2}}, 0.75, 4)
	if c.Observe("a", 1, []bool{true, true, false}) {
		t.Fatal("raised before the window filled")
	}
	if c.Observe("a", 1, []bool{false}) { // 2 of 4
		t.Fatal("raised at a 50% pass rate")
	}
	if !c.Observe("a", 1, []bool{true, true, true}) { // last 4: f,t,t,t
		t.Fatalf("not raised at 75%%: recent %v", c.Recent["a"])
	}
	if c.Level("a") != 2 || len(c.Recent["a"]) != 0 {
		t.Fatalf("level %d recent %v after raise", c.Level("a"), c.Recent["a"])
	}
	if c.Observe("a", 1, []bool{true, true, true, true}) {
		t.Error("outcomes of the old level raised the new one")
	}
	if c.Observe("a", 2, []bool{true, true, true, true}) || c.Level("a") != 2 {
		t.Error("raised past MaxDifficulty")
	}
}

func TestMixFollowsWeights(t *testing.T) {
	envs := []EnvSpec{{Name: "a", Weight: 3}, {Name: "b", Weight: 1}}
	got := Mix(envs, 8, rand.New(rand.NewPCG(1, 1)))
	n := [2]int{}
	for _, k := range got {
		n[k]++
	}
	if n != [2]int{6, 2} {
		t.Errorf("3:1 weights over 8 prompts gave %v", n)
	}
	got = Mix([]EnvSpec{{Name: "a", Weight: 1}, {Name: "b", Weight: 1}, {Name: "c", Weight: 1}}, 4, rand.New(rand.NewPCG(2, 1)))
	if len(got) != 4 {
		t.Errorf("got %d prompts, want 4", len(got))
	}
}

func TestPackMasksCompletionOnly(t *testing.T) {
	s1 := &sequence{prompt: []int32{1, 2, 3}, completion: []int32{4, 5}, adv: 0.5}
	s2 := &sequence{prompt: []int32{7}, completion: []int32{8}, adv: -1}
	p := pack([]*sequence{s1, s2})
	if p.T != 4 {
		t.Fatalf("T = %d, want 4", p.T)
	}
	wantTok := []int32{1, 2, 3, 4, 7, 8, 0, 0}
	wantTgt := []int32{2, 3, 4, 5, 8, 0, 0, 0}
	wantMask := []float32{0, 0, 1, 1, 1, 0, 0, 0}
	for i := range wantTok {
		if p.Tokens[i] != wantTok[i] || p.Targets[i] != wantTgt[i] || p.Mask[i] != wantMask[i] {
			t.Fatalf("packed tokens %v targets %v mask %v", p.Tokens, p.Targets, p.Mask)
		}
	}
	if p.adv[2] != 0.5 || p.adv[4] != -1 {
		t.Errorf("advantages %v", p.adv)
	}
	p.gather([]*sequence{s1, s2}, []float32{0, 0, 9, 8, 7, 0, 0, 0}, func(s *sequence) *[]float32 { return &s.old })
	if len(s1.old) != 2 || s1.old[0] != 9 || s1.old[1] != 8 || s2.old[0] != 7 {
		t.Errorf("gathered %v %v", s1.old, s2.old)
	}
}

// testExecutor runs the built-in environments in process.
func testExecutor(t *testing.T) env.Executor {
	t.Helper()
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	ex := env.NewLocal(env.DefaultLimits(), 2)
	for _, m := range mods {
		ex.Register(m)
	}
	return ex
}

func testConfig() Config {
	c := Defaults()
	c.Envs = []EnvSpec{{Name: "graph_coloring", Weight: 1, MinDifficulty: 1, MaxDifficulty: 2}}
	c.Seed = 7
	c.SFTSteps, c.SFTBatch, c.SFTLR = 2, 4, 0.05
	c.Steps, c.PromptsPerStep, c.GroupSize, c.MaxNewTokens = 2, 3, 4, 24
	c.LR = 0.05
	c.EvalN = 4
	c.CheckpointEvery = 1
	c.RolloutsPerStep = 2
	// The test model never writes an answer; rewards differ by length
	// through the overlong penalty (the model favours the stop token). Such
	// groups carry no task signal, and DropZeroVar would drop every one.
	c.OverlongBuffer, c.OverlongPenalty = c.MaxNewTokens, 1
	c.DropZeroVar = false
	return c
}

func TestMinibatchUpdatesMoveTheRatioAndClip(t *testing.T) {
	c := testConfig()
	c.SFTSteps, c.EvalN = 0, 0
	c.Steps, c.PromptsPerStep, c.GroupSize = 1, 4, 8
	c.Temperature = 1.5          // varied completions, so groups have reward variance
	c.Minibatches, c.LR = 4, 1.5 // the loss is of logits / 1.5: gradients 1/1.5 as large
	c.DropZeroVar = false
	var steps []StepEvent
	tr, err := New(Options{Config: c, Model: newBigram(259, 1).favour(258, 4), ModelConfig: newBigram(259, 1).cfg,
		Tokenizer: tokenizer.ByteLevel(), Executor: testExecutor(t), Dir: t.TempDir(),
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
	if len(steps) != 1 || len(steps[0].Updates) != 4 {
		t.Fatalf("want 1 step of 4 updates, got %+v", steps)
	}
	u := steps[0].Updates
	if u[0].RatioMin != 1 || u[0].RatioMax != 1 || u[0].ClipFrac != 0 {
		t.Errorf("first update: ratio [%v, %v], clip %v; want exactly 1 and no clipping", u[0].RatioMin, u[0].RatioMax, u[0].ClipFrac)
	}
	moved, clipped := false, false
	for _, x := range u[1:] {
		moved = moved || x.RatioMin != 1 || x.RatioMax != 1
		clipped = clipped || x.ClipFrac > 0
	}
	if !moved || !clipped {
		t.Errorf("later updates: ratio moved %v, clipped %v; want both (updates %+v)", moved, clipped, u[1:])
	}
}

func TestRunStoresMetricsCheckpointsAndResumes(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	c := testConfig()
	tok := tokenizer.ByteLevel()
	m := newBigram(tok.VocabSize(), 1).favour(tok.IMEnd, 4)
	var kinds []string
	tr, err := New(Options{Config: c, Model: m, ModelConfig: m.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, Name: "test", Source: "test", Dir: dir,
		Progress: func(e Event) {
			switch e.(type) {
			case SFTStepEvent:
				kinds = append(kinds, "sft")
			case StepEvent:
				kinds = append(kinds, "step")
			case EvalEvent:
				kinds = append(kinds, "eval")
			case CheckpointEvent:
				kinds = append(kinds, "ckpt")
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 2 || sum.SFTSteps != 2 || sum.Init == nil || sum.AfterSFT == nil || sum.Final == nil {
		t.Fatalf("summary %+v", sum)
	}
	if sum.Init.N != 4 {
		t.Errorf("evaluated %d instances, want 4", sum.Init.N)
	}
	if m.OptimizerStep() != int64(2+2*c.Minibatches) {
		t.Errorf("optimizer took %d steps, want %d", m.OptimizerStep(), 2+2*c.Minibatches)
	}
	t.Logf("events: %v", kinds)

	var names = map[string]bool{}
	err = db.View(func(tx *storage.Tx) error {
		r, err := storage.GetTrainRun(tx, sum.RunID)
		if err != nil {
			return err
		}
		if r.Status != "done" {
			t.Errorf("run status %q, want done", r.Status)
		}
		pts, err := storage.ListMetrics(tx, sum.RunID, 0)
		if err != nil {
			return err
		}
		for _, p := range pts {
			names[p.Name] = true
			if p.Name == "pass_rate" && p.PerEnv["graph_coloring"] != p.Value {
				t.Errorf("pass_rate per env %v, overall %v", p.PerEnv, p.Value)
			}
		}
		cks, err := storage.ListCheckpoints(tx, sum.RunID)
		if err != nil {
			return err
		}
		if len(cks) != 3 || cks[len(cks)-1].Step != 4 {
			t.Errorf("checkpoints %+v, want after SFT, step 3 and step 4", cks)
		}
		ro, err := storage.ListRollouts(tx, sum.RunID, 0, 100)
		if err != nil {
			return err
		}
		if len(ro) != 4 {
			t.Errorf("%d rollouts stored, want 2 per step", len(ro))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"sft_loss", "reward", "pass_rate", "pass_rate/graph_coloring", "loss", "kl", "entropy",
		"grad_norm", "response_len", "tokens_per_s", "eval_reward", "level/graph_coloring"} {
		if !names[n] {
			t.Errorf("metric %q not stored (have %v)", n, names)
		}
	}

	// Resume from the last checkpoint with two more steps.
	c2 := c
	c2.Steps = 4
	m2 := newBigram(tok.VocabSize(), 99).favour(tok.IMEnd, 4) // different init: the checkpoint must overwrite it
	tr2, err := New(Options{Config: c2, Model: m2, ModelConfig: m2.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, RunID: sum.RunID, Dir: dir, ResumeFrom: sum.Checkpoint})
	if err != nil {
		t.Fatal(err)
	}
	sum2, err := tr2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Steps != 4 || sum2.RunID != sum.RunID || sum2.Init != nil && sum2.Init.N != sum.Init.N {
		t.Errorf("resumed summary %+v", sum2)
	}
	if m2.OptimizerStep() != int64(2+4*c.Minibatches) {
		t.Errorf("resumed optimizer at %d steps, want %d", m2.OptimizerStep(), 2+4*c.Minibatches)
	}
}

func TestCancelSavesACheckpoint(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := testConfig()
	c.Steps, c.CheckpointEvery = 10, 0
	tok := tokenizer.ByteLevel()
	m := newBigram(tok.VocabSize(), 1).favour(tok.IMEnd, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, err := New(Options{Config: c, Model: m, ModelConfig: m.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var last FinishedEvent
	for e := range tr.Start(ctx) {
		if s, ok := e.(StepEvent); ok && s.Step == 2 {
			cancel()
		}
		if f, ok := e.(FinishedEvent); ok {
			last = f
		}
	}
	if last.Err == nil || last.Summary.Steps >= 10 {
		t.Fatalf("finished %+v, want a cancelled run", last)
	}
	if _, err := os.Stat(filepath.Join(last.Summary.Checkpoint, stateFile)); err != nil {
		t.Fatalf("no checkpoint after cancel: %v", err)
	}
	_ = db.View(func(tx *storage.Tx) error {
		r, _ := storage.GetTrainRun(tx, last.Summary.RunID)
		if r.Status != "stopped" {
			t.Errorf("status %q, want stopped", r.Status)
		}
		return nil
	})
}

// A stop during the first evaluation, before any step, still leaves a
// checkpoint (the untrained model at step 0), and resuming it evaluates the
// untrained model and trains to the end: the workbench's R works on every
// stopped run.
func TestStopDuringTheFirstEvaluationResumes(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := testConfig()
	c.SFTSteps, c.Steps, c.CheckpointEvery = 0, 2, 0
	tok := tokenizer.ByteLevel()
	m := newBigram(tok.VocabSize(), 1).favour(tok.IMEnd, 4)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last FinishedEvent
	// Progress runs on the trainer's goroutine: the cancel lands before the
	// first evaluation begins.
	progress := func(e Event) {
		switch e := e.(type) {
		case RunStartedEvent:
			cancel()
		case EvalEvent:
			t.Errorf("evaluation %q finished after the stop", e.Label)
		case FinishedEvent:
			last = e
		}
	}
	tr, err := New(Options{Config: c, Model: m, ModelConfig: m.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, Dir: dir, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tr.Run(ctx)
	if !errors.Is(last.Err, context.Canceled) || last.Summary.Steps != 0 {
		t.Fatalf("finished %+v, want a run stopped before its first step", last)
	}
	var cks []storage.Checkpoint
	_ = db.View(func(tx *storage.Tx) error {
		r, _ := storage.GetTrainRun(tx, last.Summary.RunID)
		if r.Status != storage.RunStopped {
			t.Errorf("status %q, want stopped", r.Status)
		}
		cks, _ = storage.ListCheckpoints(tx, last.Summary.RunID)
		return nil
	})
	if len(cks) != 1 || cks[0].Step != 0 {
		t.Fatalf("checkpoints %+v, want one at step 0", cks)
	}
	m2 := newBigram(tok.VocabSize(), 1)
	tr2, err := New(Options{Config: c, Model: m2, ModelConfig: m2.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, RunID: last.Summary.RunID, Dir: dir, ResumeFrom: cks[0].Path})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr2.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Steps != 2 || sum.Init == nil || sum.Init.N == 0 || sum.Final == nil {
		t.Errorf("resumed summary %+v, want 2 steps with the first and the final evaluation", sum)
	}
}

func TestTrainBPEShortensAndRoundTrips(t *testing.T) {
	texts := []string{"Colour the vertices of this graph.", "Colour the edges of this graph!", "the vertices 1 2 3"}
	tok, err := TrainBPE(texts, 300)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() <= 259 || tok.VocabSize() > 300 {
		t.Fatalf("vocabulary %d, want 260..300", tok.VocabSize())
	}
	s := "Colour the vertices <|im_end|> 12"
	ids := tok.Encode(s)
	if len(ids) >= len(s)-10 {
		t.Errorf("%d tokens for %d bytes: merges did not apply", len(ids), len(s))
	}
	back, err := tok.Decode(ids)
	if err != nil || back != s {
		t.Errorf("round trip %q, %v", back, err)
	}
	if tok.IMEnd != 258 || tok.IMStart != 257 {
		t.Errorf("special ids %d %d", tok.IMStart, tok.IMEnd)
	}
	again, _ := TrainBPE(texts, 300)
	if a, b := tok.Encode(s), again.Encode(s); len(a) != len(b) {
		t.Error("training is not deterministic")
	}
}
