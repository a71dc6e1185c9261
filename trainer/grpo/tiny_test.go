package grpo

import (
	"context"
	"os"
	"testing"
)

// TestTinyCPULearns trains the tiny-cpu preset from scratch, shortened, on
// the native CPU model with a fixed seed, and checks that mean reward on
// held-out seeds rises clearly from the untrained model's.
func TestTinyCPULearns(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	p := TinyCPU()
	p.Config.SFTSteps = 60
	p.Config.Steps = 4
	p.Config.EvalN, p.Config.EvalSamples = 32, 2
	p.Config.CheckpointEvery = 0
	ex := testExecutor(t)
	tok, err := p.Tokenizer(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	m, hfCfg, err := p.NewModel(tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr, err := New(Options{Config: p.Config, Model: Native(m), ModelConfig: hfCfg, Tokenizer: tok, Executor: ex, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mean reward: init %.3f, after SFT %.3f, final %.3f (%v)", sum.Init.Reward, sum.AfterSFT.Reward, sum.Final.Reward, sum.Elapsed)
	if sum.Final.Reward < sum.Init.Reward+0.15 {
		t.Errorf("mean held-out reward rose from %.3f to %.3f; want a rise of at least 0.15", sum.Init.Reward, sum.Final.Reward)
	}
}
