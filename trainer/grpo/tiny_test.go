package grpo

import (
	"context"
	"math"
	"os"
	"testing"
)

// trainPreset runs preset p from scratch on the native CPU model, one
// thread, and returns its summary and GRPO step events.
func trainPreset(t *testing.T, p Preset) (Summary, []StepEvent) {
	t.Helper()
	ex := testExecutor(t)
	tok, err := p.Tokenizer(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	m, hfCfg, err := p.NewModel(tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var steps []StepEvent
	tr, err := New(Options{Config: p.Config, Model: Native(m), ModelConfig: hfCfg, Tokenizer: tok, Executor: ex, Dir: t.TempDir(),
		Progress: func(e Event) {
			if s, ok := e.(StepEvent); ok {
				steps = append(steps, s)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum, steps
}

// TestTinyCPULearns trains the tiny-cpu preset from scratch, exactly as
// `resyn train --preset tiny-cpu --threads 1` does, on the native CPU model
// with its fixed seed (one thread: the same numbers on any machine with the
// same kernels), and checks what docs/benchmarks.md (Training) reports,
// measured on the evaluation partition (instances training never draws):
//
//   - the warm start lifts mean reward clearly above the untrained model's
//     (0.000 → 0.396 with this seed);
//   - the GRPO steps raise the reward of their own rollouts (fresh training
//     instances at the sampling temperature, 1.5): the mean of the last five
//     steps exceeds that of the first five by 0.05 or more (0.139 → 0.285);
//   - on unseen instances at evaluation temperature 1 they do not add
//     reward (0.396 → 0.320, intervals [0.33, 0.46] and [0.26, 0.39]): the
//     test asserts only that they do not undo the warm start (a fall of at
//     most 0.15). The gain the preset used to show was on subtraction_game's
//     six level-1 instances, all of which training draws: it has no
//     evaluation number now;
//   - every step trains on groups with a signal, with a finite loss.
//
// It is the long suite's slowest test (13 minutes on a shared 2-core
// machine).
func TestTinyCPULearns(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	t.Parallel() // one thread each: the two share a 2-core machine
	p := TinyCPU()
	p.Config.CheckpointEvery = 0
	sum, steps := trainPreset(t, p)
	for _, s := range steps {
		t.Logf("step %d: reward %.3f pass %.3f entropy %.3f kept %d/%d resampled %d", s.Step, s.Reward, s.PassRate, s.Entropy, s.GroupsKept, s.Groups, s.Resampled)
	}
	t.Logf("init: %s", sum.Init.Format())
	t.Logf("after SFT: %s", sum.AfterSFT.Format())
	t.Logf("final: %s", sum.Final.Format())
	t.Logf("mean held-out reward: init %.3f, after SFT %.3f %v, after %d GRPO steps %.3f %v (%v)",
		sum.Init.Reward, sum.AfterSFT.Reward, sum.AfterSFT.PerEnv, p.Config.Steps, sum.Final.Reward, sum.Final.PerEnv, sum.Elapsed)
	if sum.AfterSFT.Reward < sum.Init.Reward+0.15 {
		t.Errorf("the warm start took mean held-out reward from %.3f to %.3f; want a rise of at least 0.15", sum.Init.Reward, sum.AfterSFT.Reward)
	}
	if sum.Final.Reward < sum.AfterSFT.Reward-0.15 {
		t.Errorf("GRPO took mean reward on unseen instances from %.3f (after the warm start) to %.3f; want a fall of at most 0.15", sum.AfterSFT.Reward, sum.Final.Reward)
	}
	if len(steps) >= 10 {
		var first, last float64
		for i := range 5 {
			first += steps[i].Reward / 5
			last += steps[len(steps)-1-i].Reward / 5
		}
		if last < first+0.05 {
			t.Errorf("GRPO's rollout reward went from %.3f (first five steps) to %.3f (last five); want a rise of at least 0.05", first, last)
		}
	}
	if len(steps) != p.Config.Steps {
		t.Fatalf("%d GRPO step events; want %d", len(steps), p.Config.Steps)
	}
	kept := 0
	for _, s := range steps {
		kept += s.GroupsKept
		if s.GroupsKept == 0 {
			t.Errorf("step %d: no group had reward variance", s.Step)
		}
		if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			t.Errorf("step %d: loss %v", s.Step, s.Loss)
		}
	}
	t.Logf("groups kept: %d of %d", kept, len(steps)*p.Config.PromptsPerStep)
}

// TestTinyCPUShortRun is the preset shortened (60 warm-start steps, 6 GRPO
// steps, a smaller evaluation), fixed seed, one thread. The run from
// scratch must raise mean reward on the evaluation partition (instances
// training never draws) significantly, by 0.15 or more (0.000 → 0.367 →
// 0.352 when written, on 64 distinct instances: subtraction_game's six
// level-1 instances all fall in training's share, so it has no number),
// and the few GRPO steps must not undo the warm start. What the GRPO steps
// add is measured on their own rollouts (fresh training instances each
// step, at the sampling temperature): the mean reward of the last two steps
// must exceed that of the first two by 0.015 (0.040 → 0.069 when written;
// with the learning rate at 1e-12, 0.042 → 0.038, and the test fails).
// TestTinyCPULearns runs the whole preset.
func TestTinyCPUShortRun(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	t.Parallel() // one thread each: the two share a 2-core machine
	p := TinyCPU()
	p.Config.SFTSteps = 60
	p.Config.Steps = 6
	p.Config.EvalN, p.Config.EvalSamples = 32, 2
	p.Config.CheckpointEvery = 0
	sum, steps := trainPreset(t, p)
	kept := 0
	for _, s := range steps {
		kept += s.GroupsKept
		t.Logf("step %d: reward %.3f pass %.3f entropy %.3f kept %d/%d resampled %d", s.Step, s.Reward, s.PassRate, s.Entropy, s.GroupsKept, s.Groups, s.Resampled)
	}
	t.Logf("init: %s", sum.Init.Format())
	t.Logf("after SFT: %s", sum.AfterSFT.Format())
	t.Logf("final: %s", sum.Final.Format())
	t.Logf("mean held-out reward: init %.3f, after SFT %.3f, final %.3f (%v); groups kept: %d of %d",
		sum.Init.Reward, sum.AfterSFT.Reward, sum.Final.Reward, sum.Elapsed, kept, p.Config.Steps*p.Config.PromptsPerStep)
	if sum.Final.Reward < sum.Init.Reward+0.15 {
		t.Errorf("mean held-out reward went from %.3f to %.3f over the run; want a rise of at least 0.15", sum.Init.Reward, sum.Final.Reward)
	}
	if sum.Final.Reward < sum.AfterSFT.Reward-0.1 {
		t.Errorf("GRPO lowered mean held-out reward from %.3f (after the warm start) to %.3f; want at most 0.1 less", sum.AfterSFT.Reward, sum.Final.Reward)
	}
	if kept == 0 {
		t.Errorf("no GRPO group had reward variance in %d steps: nothing trained", p.Config.Steps)
	}
	first := (steps[0].Reward + steps[1].Reward) / 2
	last := (steps[len(steps)-2].Reward + steps[len(steps)-1].Reward) / 2
	if last < first+0.015 {
		t.Errorf("GRPO's rollout reward went from %.3f (first two steps) to %.3f (last two); want a rise of at least 0.015", first, last)
	}
}
