package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
)

func init() { register(newRescoreCmd) }

func newRescoreCmd() *cobra.Command {
	var in, prev, out string
	var run uint64
	var workers int
	var asJSON bool
	c := &cobra.Command{
		Use:  "rescore",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flagAtLeast("workers", workers, 0, "0 (one per core) or more"); err != nil {
				return err
			}
			switch {
			case run != 0 && (in != "" || prev != ""):
				return fmt.Errorf("--run rescores a training run's rollouts, --in/--prev a scored file: choose one")
			case run == 0 && (in == "" || prev == ""):
				return fmt.Errorf("name what to rescore: --run RUN, or --in COMPLETIONS.jsonl with --prev REWARDS.jsonl (what resyn score read and wrote)")
			}
			ctx := cmd.Context()
			unpaired := 0
			next, closeIn, err := rescoreInput(run, in, prev, &unpaired)
			if err != nil {
				return err
			}
			defer closeIn()
			p, mods, err := libraryPool(ctx, workers, "", false, true)
			if err != nil {
				return err
			}
			defer p.Close()
			sums, err := dataset.RescoreTo(ctx, dataset.WithHashes(p, mods), next, out, os.Stderr)
			if err != nil {
				return err
			}
			if unpaired > 0 {
				fmt.Fprintf(os.Stderr, "%d line(s) of %s have no reward record in %s (malformed or not scored then): skipped\n", unpaired, in, prev)
			}
			if asJSON {
				return writeJSON(sums)
			}
			dataset.WriteRescore(os.Stdout, sums)
			return nil
		},
	}
	c.Flags().Uint64Var(&run, "run", 0, "rescore the rollouts stored by training run `RUN`")
	c.Flags().StringVar(&in, "in", "", "the completions JSONL resyn score read")
	c.Flags().StringVar(&prev, "prev", "", "the reward records resyn score wrote for --in")
	c.Flags().StringVar(&out, "out", "", "write every changed item as JSONL here")
	c.Flags().IntVar(&workers, "workers", 0, "sandbox worker processes (default: one per core)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the per-environment summary as JSON")
	return c
}

// rescoreInput is what `resyn rescore` reads: training run run's stored
// rollouts, or the completions file in paired with the rewards prev that
// resyn score wrote for it (unpaired counts lines of in without a record
// in prev); done closes what it opened.
func rescoreInput(run uint64, in, prev string, unpaired *int) (next func() (dataset.RescoreItem, bool, error), done func(), err error) {
	if run != 0 {
		db, err := openStore(true)
		if err != nil {
			return nil, nil, err
		}
		if db == nil {
			return nil, nil, fmt.Errorf("no store at %s: no training runs", dbPath())
		}
		defer db.Close()
		next, err := dataset.RunItems(db, run)
		return next, func() {}, err
	}
	return dataset.OpenFileItems(in, prev, unpaired)
}
