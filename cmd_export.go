package main

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/export"
)

func init() { register(newExportCmd) }

// exportFlags are `resyn export`'s flags.
type exportFlags struct {
	req         export.Request
	envs        string
	all, asJSON bool
	workers     int
}

func newExportCmd() *cobra.Command {
	var x exportFlags
	c := &cobra.Command{
		Use:   "export",
		Short: "Export environments as datasets for verl (Parquet) or TRL (JSONL)",
		Long: `Writes --n instances of the chosen environments (--all: every usable one,
built-in and accepted in the store) as a training dataset for another
trainer, deterministically (the same flags give the same file on every
machine).

Formats:
  verl   Parquet in verl's RL dataset schema: data_source ("resyn/ENV"),
         prompt (chat messages), ability (the environment's first tag),
         reward_model {style: "rule", ground_truth}, extra_info {index, split,
         env, seed, difficulty}.
  jsonl  one JSON object per line with prompt (chat messages), ground_truth,
         data_source, env, seed, difficulty, split and index: what TRL's
         GRPOTrainer hands to reward functions as keyword arguments.

The ground truth is a JSON string holding the environment, seed, difficulty,
the environment's version hash and the instance's state: the reward server
(resyn serve) rebuilds the instance from it, and refuses to score it (code
env_changed) if the environment has changed since the export.

--n is the total number of instances, shared among the environments by
--env-weights (default 1 each) and, within each, among the difficulty levels
by --difficulty-weights (default 1 each). Seeds run from --seed upwards per
environment. An instance goes to the test split by a hash of (environment,
seed) against --test-fraction, so a larger export keeps the test set of a
smaller one. Rows are shuffled (deterministically) so a file read in order is
already mixed.

--out ending in .parquet or .jsonl is one file holding both splits (each row
says its split); otherwise --out is a directory that gets train.EXT and, with
--test-fraction > 0, test.EXT. Files are written under a temporary name as
the rows are produced and renamed when complete; memory does not grow with
--n. Progress (rate, time left) goes to stderr. SIGINT or SIGTERM stops within
about a second, removes the unfinished files (nothing of the dataset is
left half-written) and exits 130.`,
		Example: `  resyn export --format verl --all --n 20000 --test-fraction 0.05 --out data/resyn
  resyn export --format verl --env graph_coloring,n_queens --env-weights graph_coloring=3 \
      --difficulty 3-8 --difficulty-weights 7-8=2 --n 5000 --out mix.parquet
  resyn export --format jsonl --all --n 2000 --out trl/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runExport(cmd, &x) },
	}
	c.Flags().StringVar(&x.req.Format, "format", "verl", "verl (Parquet) or jsonl")
	c.Flags().StringVar(&x.envs, "env", "", "comma-separated environment names")
	c.Flags().BoolVar(&x.all, "all", false, "every environment")
	c.Flags().IntVar(&x.req.N, "n", 1000, "total instances, shared among the environments by weight")
	c.Flags().Int64Var(&x.req.Seed, "seed", 0, "first seed of every environment")
	c.Flags().StringVar(&x.req.Difficulty, "difficulty", "1-10", "difficulty level or range LO-HI (clamped to each environment's own)")
	c.Flags().StringVar(&x.req.EnvWeights, "env-weights", "", "mixing weights by environment, e.g. maze=2,knapsack=0.5 (default 1 each)")
	c.Flags().StringVar(&x.req.DiffWeights, "difficulty-weights", "", "mixing weights by level, e.g. 1-3=1,8-10=3 (default 1 each)")
	c.Flags().Float64Var(&x.req.TestFraction, "test-fraction", 0, "share of instances in the test split, in [0, 1)")
	c.Flags().StringVar(&x.req.Out, "out", "", "output directory, or a .parquet/.jsonl file")
	c.Flags().IntVar(&x.workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().BoolVar(&x.asJSON, "json", false, "print the summary (files, rows, failed) as JSON")
	return c
}

// runExport writes the dataset x asks for and prints its files.
func runExport(cmd *cobra.Command, x *exportFlags) error {
	f, opts, err := x.req.Options(nil) // before the worker pool starts
	if err != nil {
		return err
	}
	p, chosen, err := libraryPool(cmd.Context(), x.workers, x.envs, x.all, false)
	if err != nil {
		return err
	}
	defer p.Close()
	opts.Envs = chosen
	sum, err := export.ExportText(cmd.Context(), p, opts, f, x.req.Out, &dataset.ProgressLine{W: os.Stderr, Verb: "exported"})
	if errors.Is(err, context.Canceled) {
		return interrupted
	}
	if err != nil {
		return err
	}
	if x.asJSON {
		return writeJSON(sum)
	}
	sum.WriteText(os.Stdout, os.Stderr)
	return nil
}
