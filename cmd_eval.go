package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/synth"
	"resyn/llm"
)

func init() { register(newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		pf                  llm.Flags
		envs, diff          string
		all, asJSON         bool
		n, workers, inFlite int
	)
	c := &cobra.Command{
		Use:  "eval",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkFlags(
				flagAtLeast("n", n, 1, "at least 1 (instances per difficulty level)"),
				flagAtLeast("parallel", inFlite, 1, "at least 1 (solver requests in flight)"),
				flagAtLeast("concurrency", pf.Concurrency, 1, "at least 1 (LLM requests in flight)"),
				flagAtLeast("workers", workers, 0, "0 (one per core) or more"),
				pf.Check(),
			); err != nil {
				return err
			}
			levels, err := dataset.ParseLevels(diff)
			if err != nil {
				return err
			}
			var meter llm.Meter
			p, demo, err := openProvider(pf, &meter)
			if err != nil {
				return err
			}
			if demo {
				return fmt.Errorf("the built-in demo recording holds no solver replies: name a model with --provider and --model, or a recording with --replay FILE")
			}
			pool, mods, err := libraryPool(ctx, workers, envs, all, false)
			if err != nil {
				return err
			}
			defer pool.Close()
			cals, err := synth.Eval(ctx, p, pool, mods, levels, diff, synth.CalibrateOptions{Samples: n, Parallel: inFlite}, os.Stderr)
			if err != nil {
				return err
			}
			return synth.WriteEval(os.Stdout, os.Stderr, asJSON, cals, meter.Usage())
		},
	}
	pf.Add(c.Flags())
	c.Flags().StringVar(&envs, "env", "", "comma-separated environment names")
	c.Flags().BoolVar(&all, "all", false, "every usable environment (built-in and accepted)")
	c.Flags().IntVar(&n, "n", 8, "instances per difficulty level")
	c.Flags().StringVar(&diff, "difficulty", "", "levels: N, LO-HI or A,B,C (default: each environment's lowest, middle and highest)")
	c.Flags().IntVar(&inFlite, "parallel", 4, "solver requests in flight per environment")
	c.Flags().IntVar(&workers, "workers", 0, "sandbox worker processes (default: one per core)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the pass rates as JSON on stdout")
	return c
}
