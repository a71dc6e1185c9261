package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
)

func init() { register(newGenCmd) }

// flagAtLeast refuses a numeric flag below its least sensible value, with a
// message naming the flag, the value and what it means; cobra only checks
// that the value parses. what is the lower bound in words ("at least 1").
func flagAtLeast(name string, v, least int, what string) error {
	if v < least {
		return fmt.Errorf("--%s %d: must be %s", name, v, what)
	}
	return nil
}

// checkFlags returns the first error of checks, so a command can validate
// all its flags in one statement before doing any work.
func checkFlags(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// interrupted is the exit of a command stopped by SIGINT or SIGTERM, after
// it has said what it left behind.
var interrupted = exitError{code: 130}

func newGenCmd() *cobra.Command {
	var envs, diff, out string
	var all, solve bool
	var n, workers int
	var seed int64
	c := &cobra.Command{
		Use:  "gen",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFlags(
				flagAtLeast("n", n, 1, "at least 1 (instances per environment)"),
				flagAtLeast("workers", workers, 0, "0 (one per core) or more"),
			); err != nil {
				return err
			}
			if seed > math.MaxInt64-int64(n)+1 {
				return fmt.Errorf("--seed %d with --n %d: the last seed would overflow a 64-bit integer", seed, n)
			}
			if envs == "" && !all {
				return fmt.Errorf("name the environments with --env A,B or take every one with --all")
			}
			lo, hi, err := dataset.ParseRange(diff)
			if err != nil {
				return fmt.Errorf("--difficulty: %w", err)
			}
			p, chosen, err := libraryPool(cmd.Context(), workers, envs, all, false)
			if err != nil {
				return err
			}
			defer p.Close()
			spec := dataset.Spec{Envs: chosen, N: n, Seed: seed, MinDifficulty: lo, MaxDifficulty: hi, Solve: solve}
			if err := spec.Check(); err != nil {
				return fmt.Errorf("--n %d: %w", n, err)
			}
			if err = spec.GenerateTo(cmd.Context(), p, out, os.Stderr); errors.Is(err, context.Canceled) {
				return interrupted
			}
			return err
		},
	}
	c.Flags().StringVar(&envs, "env", "", "comma-separated environment names")
	c.Flags().BoolVar(&all, "all", false, "every environment")
	c.Flags().IntVar(&n, "n", 10, "instances per environment")
	c.Flags().StringVar(&diff, "difficulty", "1-10", "difficulty level or range LO-HI")
	c.Flags().Int64Var(&seed, "seed", 0, "first seed")
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	c.Flags().BoolVar(&solve, "solve", false, "include the reference answer")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	return c
}
