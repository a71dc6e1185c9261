package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/textout"
)

func init() { register(newScoreCmd) }

func newScoreCmd() *cobra.Command {
	var in, out string
	var workers int
	var asJSON bool
	c := &cobra.Command{
		Use:  "score",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flagAtLeast("workers", workers, 0, "0 (one per core) or more"); err != nil {
				return err
			}
			if in == "" {
				return fmt.Errorf("--in is required (use --in - for stdin)")
			}
			r, closeIn, err := textout.OpenIn(in)
			if err != nil {
				return err
			}
			defer closeIn()
			p, mods, err := libraryPool(cmd.Context(), workers, "", false, true)
			if err != nil {
				return err
			}
			defer p.Close()
			sums, bad, err := dataset.ScoreTo(cmd.Context(), dataset.WithHashes(p, mods), r, out, os.Stderr)
			if errors.Is(err, context.Canceled) {
				return interrupted
			}
			if err != nil {
				return err
			}
			if asJSON && out != "" && out != "-" {
				return writeJSON(sums)
			}
			dataset.WriteScoreSummary(os.Stderr, sums)
			if bad > 0 {
				// The good lines are scored and written; the exit status
				// says that the input was not all good, so that a pipeline
				// does not go on with a silently shorter file.
				fmt.Fprintf(os.Stderr, "resyn: %d malformed line(s) skipped (see above); the other lines were scored\n", bad)
				return exitError{code: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "completions JSONL (- for stdin)")
	c.Flags().StringVar(&out, "out", "", "rewards JSONL (default stdout)")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().BoolVar(&asJSON, "json", false, "with --out: print the per-environment summary as JSON on stdout")
	return c
}
