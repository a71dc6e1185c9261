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
		Use:  "export",
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
