package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/synth"
	"resyn/trainer/grpo"
	"resyn/trainer/native"
)

func init() { register(newTrainCmd) }

type trainFlags struct {
	preset, model, envs, weights, difficulty, out, name, system            string
	backend, holdout                                                       string
	resume                                                                 uint64
	steps, sftSteps, sftBatch, prompts, group, maxNew, minibatches, epochs int
	evalN, threads, ckptEvery                                              int
	lr, sftLR, kl, temperature                                             float64
	seed                                                                   int64
	noStd, keepZeroVar, asJSON, maskTruncated                              bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	c := &cobra.Command{
		Use:   "train",
		Short: "Train a model with GRPO on environments",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runTrain(cmd, f) },
	}
	c.AddCommand(newTrainSignalsCmd(), newTrainRunsCmd(), newTrainExportCmd())
	fl := c.Flags()
	fl.StringVar(&f.preset, "preset", "", "train from scratch with a preset ("+grpo.PresetNames()+")")
	fl.StringVar(&f.model, "model", "", "Hugging Face Qwen2 checkpoint directory to start from")
	fl.Uint64Var(&f.resume, "resume", 0, "continue training run RUN from its last checkpoint")
	fl.StringVar(&f.envs, "env", "", "environments, comma-separated (default: the preset's accepted ones; every accepted one for --model)")
	fl.StringVar(&f.weights, "weights", "", "mixing weights, comma-separated, one per --env (default: equal)")
	fl.StringVar(&f.difficulty, "difficulty", "", "difficulty range LO-HI the curriculum climbs (default 1-3 or the preset's)")
	fl.IntVar(&f.steps, "steps", 0, "GRPO steps (default: the preset's, or 100)")
	fl.IntVar(&f.sftSteps, "sft-steps", -1, "warm-start steps on solve() answers (default: the preset's, 0 for --model)")
	fl.IntVar(&f.sftBatch, "sft-batch", 0, "instances per warm-start step")
	fl.IntVar(&f.prompts, "prompts", 0, "prompts per step")
	fl.IntVar(&f.group, "group", 0, "completions per prompt (G)")
	fl.IntVar(&f.maxNew, "max-new-tokens", 0, "completion length cap")
	fl.IntVar(&f.minibatches, "minibatches", 0, "optimiser updates per batch of rollouts")
	fl.IntVar(&f.epochs, "epochs", 0, "passes over each batch of rollouts")
	fl.Float64Var(&f.lr, "lr", 0, "GRPO learning rate")
	fl.Float64Var(&f.sftLR, "sft-lr", 0, "warm-start learning rate")
	fl.Float64Var(&f.kl, "kl", -1, "KL coefficient to the starting model (0: no reference)")
	fl.Float64Var(&f.temperature, "temperature", -1, "sampling temperature")
	fl.BoolVar(&f.noStd, "no-std", false, "do not divide advantages by the group's standard deviation")
	fl.BoolVar(&f.keepZeroVar, "keep-zero-var", false, "train on groups whose rewards are all equal")
	fl.IntVar(&f.evalN, "eval-n", -1, "distinct evaluation instances per environment, from the share training never draws (0: no evaluation)")
	fl.StringVar(&f.holdout, "holdout-env", "", "environments never trained on (nor in the tokenizer's corpus or the warm start), comma-separated: every evaluation also scores them")
	fl.BoolVar(&f.maskTruncated, "mask-truncated", false, "completions cut off at --max-new-tokens train no token (DAPO's overlong filtering)")
	fl.IntVar(&f.ckptEvery, "checkpoint-every", -1, "GRPO steps between checkpoints")
	fl.Int64Var(&f.seed, "seed", -1, "seed of sampling and instance selection")
	fl.IntVar(&f.threads, "threads", 0, "CPU threads (0: every core)")
	fl.StringVar(&f.backend, "backend", native.BackendCPU, "numeric backend: cpu (C, built in) or cuda (libresyn_cuda.so; see docs/cuda.md)")
	fl.StringVar(&f.system, "system", "", "system prompt (default: none)")
	fl.StringVar(&f.out, "out", "", "checkpoint directory (default: runs/<time> beside the store)")
	fl.StringVar(&f.name, "name", "", "name of the run in the store")
	fl.BoolVar(&f.asJSON, "json", false, "print the run's summary as JSON on stdout")
	return c
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	ctx := cmd.Context()
	modes := 0
	for _, set := range []bool{f.preset != "", f.model != "", f.resume != 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return fmt.Errorf("choose one of --preset NAME, --model DIR or --resume RUN")
	}
	if err := checkFlagValues(f); err != nil {
		return err
	}
	// The backend first: a missing CUDA library is reported before any work.
	if _, err := native.OpenBackend(f.backend); err != nil {
		return fmt.Errorf("--backend %s: %w", f.backend, err)
	}
	spec, err := trainSpec(cmd, f)
	if err != nil {
		return err
	}
	db, err := openStore(false)
	if err != nil {
		return err
	}
	defer db.Close()
	spec.Store, spec.StorePath = db, dbPath()
	spec.Log, spec.Progress = os.Stderr, grpo.NewTextPrinter(os.Stderr).Print
	run, err := grpo.Setup(ctx, spec)
	if err != nil {
		return err
	}
	defer run.Close()
	sum, err := run.Run(ctx)
	synth.ReportSignals(os.Stderr, db, sum.RunID)
	if f.asJSON {
		if jerr := writeJSON(sum); jerr != nil && err == nil {
			err = jerr
		}
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "stopped; resume with: resyn train --resume %d\n", sum.RunID)
		return exitError{code: 130}
	}
	return err
}

// trainSpec is the run the flags ask for (without the store).
func trainSpec(cmd *cobra.Command, f trainFlags) (grpo.Spec, error) {
	s := grpo.Spec{Preset: f.preset, ModelDir: f.model, Resume: f.resume, Backend: f.backend,
		Threads: f.threads, Out: f.out, Name: f.name}
	if cmd.Flags().Changed("env") {
		if s.Envs = splitList(f.envs); len(s.Envs) == 0 {
			return s, fmt.Errorf("--env %q: name the environments to train on with --env A,B (see `resyn envs list`)", f.envs)
		}
	}
	if f.difficulty != "" {
		lo, hi, err := dataset.ParseRange(f.difficulty)
		if err != nil {
			return s, fmt.Errorf("--difficulty: %w", err)
		}
		s.MinDifficulty, s.MaxDifficulty = lo, hi
	}
	if f.weights != "" {
		for _, w := range strings.Split(f.weights, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
			if err != nil {
				return s, fmt.Errorf("--weights %q: %v", f.weights, err)
			}
			s.Weights = append(s.Weights, v)
		}
		if len(s.Weights) != len(s.Envs) {
			return s, fmt.Errorf("--weights has %d values for %d environments (--env)", len(s.Weights), len(s.Envs))
		}
	}
	if f.resume != 0 && len(s.Envs) > 0 {
		return s, fmt.Errorf("--env with --resume: a resumed run keeps its environments")
	}
	if f.holdout != "" {
		if s.Holdout = splitList(f.holdout); len(s.Holdout) == 0 {
			return s, fmt.Errorf("--holdout-env %q: name the environments to hold out with --holdout-env A,B", f.holdout)
		}
		if f.resume != 0 {
			return s, fmt.Errorf("--holdout-env with --resume: a resumed run keeps its held-out environments")
		}
	}
	o := &s.Overrides
	o.Steps, o.SFTBatch, o.Prompts, o.Group, o.MaxNewTokens = f.steps, f.sftBatch, f.prompts, f.group, f.maxNew
	o.Minibatches, o.Epochs, o.LR, o.SFTLR = f.minibatches, f.epochs, f.lr, f.sftLR
	o.NoStd, o.KeepZeroVar, o.MaskTruncated, o.System = f.noStd, f.keepZeroVar, f.maskTruncated, f.system
	if f.sftSteps != -1 {
		o.SFTSteps = &f.sftSteps
	}
	if f.evalN != -1 {
		o.EvalN = &f.evalN
	}
	if f.ckptEvery != -1 {
		o.CheckpointEvery = &f.ckptEvery
	}
	if f.kl >= 0 {
		o.KL = &f.kl
	}
	if f.temperature >= 0 {
		o.Temperature = &f.temperature
	}
	if f.seed >= 0 {
		o.Seed = &f.seed
	}
	return s, nil
}

// checkFlagValues refuses numeric flags set out of range, naming the flag.
func checkFlagValues(f trainFlags) error {
	for _, c := range []struct {
		name     string
		v, least int
	}{
		{"steps", f.steps, 0}, {"sft-steps", f.sftSteps, 0}, {"sft-batch", f.sftBatch, 1}, {"prompts", f.prompts, 1}, {"group", f.group, 2},
		{"max-new-tokens", f.maxNew, 1}, {"minibatches", f.minibatches, 1}, {"epochs", f.epochs, 1},
		{"eval-n", f.evalN, 0}, {"checkpoint-every", f.ckptEvery, 0}, {"threads", f.threads, 0},
	} {
		unset := 0
		switch c.name {
		case "sft-steps", "eval-n", "checkpoint-every":
			unset = -1
		}
		if c.v != unset && c.v < c.least {
			why := fmt.Sprintf("want %d or more", c.least)
			if c.name == "group" {
				why = "GRPO compares at least 2 completions per prompt"
			}
			return fmt.Errorf("--%s %d: %s", c.name, c.v, why)
		}
	}
	return nil
}
