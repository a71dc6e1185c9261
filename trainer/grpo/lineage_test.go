package grpo

import (
	"context"
	"path/filepath"
	"testing"

	"resyn/storage"
	"resyn/trainer/tokenizer"
)

// Verifier lineage: the run record holds the version hash of every
// environment it trained on, every stored rollout the hash of the one that
// scored it, and a resume with a changed environment records the new
// version with the step it took over from.
func TestRunRecordsEnvironmentVersions(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := t.TempDir()
	c := testConfig()
	c.SFTSteps, c.EvalN = 0, 0
	tok := tokenizer.ByteLevel()
	m := newBigram(tok.VocabSize(), 1).favour(tok.IMEnd, 4)
	tr, err := New(Options{Config: c, Model: m, ModelConfig: m.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, Dir: dir, EnvHashes: map[string]string{"graph_coloring": "aaaa000000000001"}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c2 := c
	c2.Steps = 3
	m2 := newBigram(tok.VocabSize(), 2).favour(tok.IMEnd, 4)
	tr2, err := New(Options{Config: c2, Model: m2, ModelConfig: m2.cfg, Tokenizer: tok, Executor: testExecutor(t),
		Store: db, RunID: sum.RunID, Dir: dir, ResumeFrom: sum.Checkpoint, EnvHashes: map[string]string{"graph_coloring": "bbbb000000000002"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var run storage.TrainRun
	var ro []storage.Rollout
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		if run, err = storage.GetTrainRun(tx, sum.RunID); err != nil {
			return err
		}
		ro, err = storage.ListRollouts(tx, sum.RunID, 0, 100)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want := []storage.EnvVersion{
		{Name: "graph_coloring", Hash: "aaaa000000000001", MinDifficulty: 1, MaxDifficulty: 2, FromStep: 0},
		{Name: "graph_coloring", Hash: "bbbb000000000002", MinDifficulty: 1, MaxDifficulty: 2, FromStep: 2},
	}
	if len(run.Envs) != 2 || run.Envs[0] != want[0] || run.Envs[1] != want[1] {
		t.Errorf("lineage %+v; want %+v", run.Envs, want)
	}
	if len(ro) != 6 {
		t.Fatalf("%d rollouts", len(ro))
	}
	for _, r := range ro {
		if h := map[bool]string{true: "aaaa000000000001", false: "bbbb000000000002"}[r.Step <= 2]; r.EnvHash != h {
			t.Errorf("rollout at step %d has env_hash %q; want %q", r.Step, r.EnvHash, h)
		}
	}
}
