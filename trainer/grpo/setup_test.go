package grpo

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/storage"
)

// RunDir gives up on a runs folder it cannot use (here a file where the
// folder should be) with an error; it used to try run-2, run-3, … forever.
func TestRunDirUnusable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "runs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := RunDir("", filepath.Join(dir, "resyn.db"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "--out") {
			t.Fatalf("RunDir: %v, want an error pointing to --out", err)
		}
	case <-time.After(time.Minute): // a last resort: the loop never ended
		t.Fatal("RunDir still looking for a free name after a minute")
	}
	if got, err := RunDir(filepath.Join(dir, "out"), ""); err != nil || got != filepath.Join(dir, "out") {
		t.Errorf("RunDir(out): %q, %v", got, err)
	}
}

// Runs started at once (an experiment's parallel runs) get directories of
// their own. Mutation caught: choosing a free name without taking it.
func TestRunDirsStartedTogetherDiffer(t *testing.T) {
	store := filepath.Join(t.TempDir(), "resyn.db")
	dirs := make([]string, 8)
	var wg sync.WaitGroup
	for i := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := RunDir("", store)
			if err != nil {
				t.Error(err)
			}
			dirs[i] = d
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			t.Fatalf("two runs got %s: %v", d, dirs)
		}
		seen[d] = true
	}
}

// TestSetupRefusals: a spec that cannot make a run is refused before any
// work, naming what is wrong, with nothing in the store.
func TestSetupRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		name string
		spec Spec
		want string
	}{
		{"no model", Spec{}, "choose one of a preset, a model directory or a run to resume"},
		{"two models", Spec{Preset: "tiny-cpu", ModelDir: "x"}, "choose one of"},
		{"unknown preset", Spec{Preset: "huge"}, `unknown preset "huge" (have tiny-cpu)`},
		{"unknown environment", Spec{Preset: "tiny-cpu", Envs: []string{"no_such_env"}}, `unknown environment "no_such_env"`},
		{"weights for fewer", Spec{Preset: "tiny-cpu", Envs: []string{"nim_move"}, Weights: []float64{1, 2}}, "2 weights for 1 environments"},
		{"resume a run not there", Spec{Resume: 7}, "resume run 7: training run 7: not found"},
		{"resume with environments", Spec{Resume: 7, Envs: []string{"nim_move"}}, "a resumed run keeps its environments"},
		{"resume with held-out environments", Spec{Resume: 7, Holdout: []string{"nim_move"}}, "a resumed run keeps its environments (nim_move)"},
		{"difficulty out of range", Spec{Preset: "tiny-cpu", Envs: []string{"nim_move"}, MinDifficulty: 40, MaxDifficulty: 50}, "nim_move has difficulties"},
		{"not a directory", Spec{ModelDir: filepath.Join(t.TempDir(), "nowhere"), Envs: []string{"nim_move"}}, "not a Hugging Face checkpoint directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.spec.Preset != "" || c.spec.ModelDir != "" || c.spec.Resume != 0 {
				c.spec.Store, c.spec.StorePath = db, path
			}
			r, err := Setup(context.Background(), c.spec)
			if err == nil {
				r.Close()
				t.Fatalf("set up; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want %q", err, c.want)
			}
		})
	}
	var runs []storage.TrainRun
	_ = db.View(func(tx *storage.Tx) error { runs, _ = storage.ListTrainRuns(tx); return nil })
	if len(runs) != 0 {
		t.Errorf("refused specs left %d runs", len(runs))
	}
}

// TestSetupHoldsOut: --holdout-env's environments reach the run as
// HoldoutEnvs, run in its executor (evaluation needs them) and are not
// among the environments it trains on; one that is also trained on, or
// that the library lacks, is refused.
func TestSetupHoldsOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	zero := 0
	spec := Spec{Preset: "tiny-cpu", Holdout: []string{"nim_move"}, Store: db, StorePath: path, Threads: 1,
		Overrides: Overrides{SFTSteps: &zero, EvalN: &zero, MaskTruncated: true}}
	r, err := Setup(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := r.Trainer.cfg
	var trained []string
	for _, e := range cfg.Envs {
		trained = append(trained, e.Name)
	}
	for _, m := range r.Envs {
		if m.Name == "nim_move" {
			t.Fatalf("the run's environments include the held-out one: %v", trained)
		}
	}
	if len(cfg.HoldoutEnvs) != 1 || cfg.HoldoutEnvs[0].Name != "nim_move" || slices.Contains(trained, "nim_move") || !cfg.MaskTruncated {
		t.Fatalf("config: trains %v, holds out %+v, mask_truncated %v", trained, cfg.HoldoutEnvs, cfg.MaskTruncated)
	}
	h := cfg.HoldoutEnvs[0]
	if res := r.ex.Run(context.Background(), []env.Task{{Env: "nim_move", Seed: 1, Difficulty: h.MinDifficulty, Render: true}}); res[0].Err != nil {
		t.Fatalf("the executor cannot run the held-out environment: %v", res[0].Err)
	}
	for _, c := range []struct {
		holdout []string
		want    string
	}{
		{[]string{"graph_coloring"}, `"graph_coloring" is both trained on and held out`},
		{[]string{"no_such_env"}, `unknown environment "no_such_env"`},
	} {
		s := spec
		s.Holdout = c.holdout
		if r, err := Setup(context.Background(), s); err == nil || !strings.Contains(err.Error(), c.want) {
			if r != nil {
				r.Close()
			}
			t.Errorf("holdout %v: %v, want %q", c.holdout, err, c.want)
		}
	}
}

// TestSetupTokenizerEnvs: a preset's tokenizer learns from the named extra
// environments (recorded in the config, so that runs on subsets of one
// list share a vocabulary), and a held-out one is refused there.
func TestSetupTokenizerEnvs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	zero := 0
	spec := Spec{Preset: "tiny-cpu", Envs: []string{"graph_coloring"}, TokenizerEnvs: []string{"graph_coloring", "nim_move"},
		Store: db, StorePath: path, Threads: 1, Overrides: Overrides{SFTSteps: &zero, EvalN: &zero}}
	vocab := func(s Spec) []string {
		r, err := Setup(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if !slices.Equal(r.Trainer.cfg.TokenizerEnvs, s.TokenizerEnvs) {
			t.Errorf("config's tokenizer_envs %v; want %v", r.Trainer.cfg.TokenizerEnvs, s.TokenizerEnvs)
		}
		var toks []string
		for id := range r.Trainer.o.Tokenizer.VocabSize() {
			s, _ := r.Trainer.o.Tokenizer.Decode([]int{id})
			toks = append(toks, s)
		}
		return toks
	}
	with := vocab(spec)
	plain := spec
	plain.TokenizerEnvs = nil
	if slices.Equal(with, vocab(plain)) {
		t.Errorf("the tokenizer learnt nothing from nim_move's prompts")
	}
	spec.Holdout = []string{"nim_move"}
	if r, err := Setup(context.Background(), spec); err == nil || !strings.Contains(err.Error(), `"nim_move" is held out`) {
		if r != nil {
			r.Close()
		}
		t.Errorf("a held-out environment in the tokenizer's corpus: %v", err)
	}
}
