package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"resyn/core/synth"
	"resyn/storage"
	"resyn/trainer/grpo"
	"resyn/trainer/native"

	"github.com/spf13/cobra"
)

func init() { register(newTrainCmd) }

// trainFlags are resyn train's flags: most bind to the run's spec, the
// rest are parsed into it (trainSpec).
type trainFlags struct {
	spec                               grpo.Spec
	envs, weights, difficulty, holdout string
	sftSteps, evalN, ckptEvery         int
	kl, temperature                    float64
	seed                               int64
	asJSON                             bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	c := &cobra.Command{
		Use:  "train",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runTrain(cmd, f) },
	}
	c.AddCommand(newTrainSignalsCmd(), newTrainRunsCmd(), newTrainExportCmd())
	fl := c.Flags()
	fl.StringVar(&f.spec.Preset, "preset", "", "train from scratch with a preset ("+grpo.PresetNames()+")")
	fl.StringVar(&f.spec.ModelDir, "model", "", "Hugging Face Qwen2 checkpoint directory to start from")
	fl.Uint64Var(&f.spec.Resume, "resume", 0, "continue training run RUN from its last checkpoint")
	fl.StringVar(&f.envs, "env", "", "environments, comma-separated (default: the preset's accepted ones; every accepted one for --model)")
	fl.StringVar(&f.weights, "weights", "", "mixing weights, comma-separated, one per --env (default: equal)")
	fl.StringVar(&f.difficulty, "difficulty", "", "difficulty range LO-HI the curriculum climbs (default 1-3 or the preset's)")
	fl.IntVar(&f.spec.Overrides.Steps, "steps", 0, "GRPO steps (default: the preset's, or 100)")
	fl.IntVar(&f.sftSteps, "sft-steps", -1, "warm-start steps on solve() answers (default: the preset's, 0 for --model)")
	fl.IntVar(&f.spec.Overrides.SFTBatch, "sft-batch", 0, "instances per warm-start step")
	fl.IntVar(&f.spec.Overrides.Prompts, "prompts", 0, "prompts per step")
	fl.IntVar(&f.spec.Overrides.Group, "group", 0, "completions per prompt (G)")
	fl.IntVar(&f.spec.Overrides.MaxNewTokens, "max-new-tokens", 0, "completion length cap")
	fl.IntVar(&f.spec.Overrides.Minibatches, "minibatches", 0, "optimiser updates per batch of rollouts")
	fl.IntVar(&f.spec.Overrides.Epochs, "epochs", 0, "passes over each batch of rollouts")
	fl.Float64Var(&f.spec.Overrides.LR, "lr", 0, "GRPO learning rate")
	fl.Float64Var(&f.spec.Overrides.SFTLR, "sft-lr", 0, "warm-start learning rate")
	fl.Float64Var(&f.kl, "kl", -1, "KL coefficient to the starting model (0: no reference)")
	fl.Float64Var(&f.temperature, "temperature", -1, "sampling temperature")
	fl.BoolVar(&f.spec.Overrides.NoStd, "no-std", false, "do not divide advantages by the group's standard deviation")
	fl.BoolVar(&f.spec.Overrides.KeepZeroVar, "keep-zero-var", false, "train on groups whose rewards are all equal")
	fl.IntVar(&f.evalN, "eval-n", -1, "distinct evaluation instances per environment, from the share training never draws (0: no evaluation)")
	fl.StringVar(&f.holdout, "holdout-env", "", "environments never trained on (nor in the tokenizer's corpus or the warm start), comma-separated: every evaluation also scores them")
	fl.BoolVar(&f.spec.Overrides.MaskTruncated, "mask-truncated", false, "completions cut off at --max-new-tokens train no token (DAPO's overlong filtering)")
	fl.IntVar(&f.ckptEvery, "checkpoint-every", -1, "GRPO steps between checkpoints")
	fl.Int64Var(&f.seed, "seed", -1, "seed of sampling and instance selection")
	fl.IntVar(&f.spec.Threads, "threads", 0, "CPU threads (0: every core)")
	fl.StringVar(&f.spec.Backend, "backend", native.BackendCPU, "numeric backend: cpu (C, built in) or cuda (libresyn_cuda.so; see docs/cuda.md)")
	fl.StringVar(&f.spec.Overrides.System, "system", "", "system prompt (default: none)")
	fl.StringVar(&f.spec.Out, "out", "", "checkpoint directory (default: runs/<time> beside the store)")
	fl.StringVar(&f.spec.Name, "name", "", "name of the run in the store")
	fl.BoolVar(&f.asJSON, "json", false, "print the run's summary as JSON on stdout")
	return c
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	ctx := cmd.Context()
	if f.spec.Sources() != 1 {
		return fmt.Errorf("choose one of --preset NAME, --model DIR or --resume RUN")
	}
	if err := checkFlagValues(f); err != nil {
		return err
	}
	// The backend first: a missing CUDA library is reported before any work.
	if _, err := native.OpenBackend(f.spec.Backend); err != nil {
		return fmt.Errorf("--backend %s: %w", f.spec.Backend, err)
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
	s := f.spec
	if err := s.ParseLists(grpo.SpecLists{Envs: f.envs, EnvsSet: cmd.Flags().Changed("env"), Weights: f.weights,
		Difficulty: f.difficulty, Holdout: f.holdout}); err != nil {
		return s, err
	}
	o := &s.Overrides
	o.SFTSteps, o.EvalN, o.CheckpointEvery = unlessNegative(f.sftSteps), unlessNegative(f.evalN), unlessNegative(f.ckptEvery)
	o.KL, o.Temperature, o.Seed = unlessNegative(f.kl), unlessNegative(f.temperature), unlessNegative(f.seed)
	return s, nil
}

// unlessNegative is &v, or nil for a flag left at its negative "unset".
func unlessNegative[T int | int64 | float64](v T) *T {
	if v < 0 {
		return nil
	}
	return &v
}

// checkFlagValues refuses numeric flags set out of range, naming the flag.
func checkFlagValues(f trainFlags) error {
	for _, c := range []struct {
		name     string
		v, least int
	}{
		{"steps", f.spec.Overrides.Steps, 0}, {"sft-steps", f.sftSteps, 0}, {"sft-batch", f.spec.Overrides.SFTBatch, 1}, {"prompts", f.spec.Overrides.Prompts, 1}, {"group", f.spec.Overrides.Group, 2},
		{"max-new-tokens", f.spec.Overrides.MaxNewTokens, 1}, {"minibatches", f.spec.Overrides.Minibatches, 1}, {"epochs", f.spec.Overrides.Epochs, 1},
		{"eval-n", f.evalN, 0}, {"checkpoint-every", f.ckptEvery, 0}, {"threads", f.spec.Threads, 0},
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

func newTrainRunsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:  "runs",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			rows, err := grpo.RunRows(db)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(os.Stderr, "no training runs in the store (resyn train starts one)")
				return nil
			}
			return grpo.WriteRunsTable(os.Stdout, rows)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the runs as a JSON array")
	return c
}

func newTrainExportCmd() *cobra.Command {
	var format, out string
	c := &cobra.Command{
		Use:  "export RUN",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := storage.ParseID(args[0], storage.RunTrain)
			if err != nil {
				return err
			}
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db == nil {
				return fmt.Errorf("training run %d: no store at %s", id, dbPath())
			}
			defer db.Close()
			n, err := grpo.ExportMetrics(db, id, format, out)
			if err != nil {
				return err
			}
			if out != "" && out != "-" {
				fmt.Fprintf(os.Stderr, "wrote %d metric points of run %d to %s\n", n, id, out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout")
	return c
}

func newTrainSignalsCmd() *cobra.Command {
	var sf synth.SignalOptions
	var asJSON bool
	c := &cobra.Command{
		Use:  "signals RUN",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := storage.ParseID(args[0], storage.RunTrain)
			if err != nil {
				return err
			}
			if err := sf.CheckFlags(); err != nil {
				return err
			}
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db == nil {
				return fmt.Errorf("no store at %s: no training runs", dbPath())
			}
			defer db.Close()
			var sigs []synth.EnvSignal
			if err := db.View(func(tx *storage.Tx) error {
				sigs, err = synth.TrainingSignals(tx, id, sf)
				return err
			}); err != nil {
				return fmt.Errorf("training run %d: %w", id, err)
			}
			if asJSON {
				return writeJSON(sigs)
			}
			synth.WriteSignals(os.Stdout, id, sigs)
			return nil
		},
	}
	sf.AddFlags(c.Flags())
	c.Flags().BoolVar(&asJSON, "json", false, "print every environment's signal and pass-rate curve as JSON")
	return c
}
