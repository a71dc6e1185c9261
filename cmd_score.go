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
		Use:   "score",
		Short: "Score completions with the environments' verifiers",
		Long: `Reads JSON lines with env, seed, difficulty and completion (and optionally the
instance's state) and writes one reward record per line: the input line number,
kind (ok, format, env_error, timeout), score and the extracted answer. The
answer is the text inside the last <answer>…</answer> of the completion; none
is a format failure with score 0. A summary per environment goes to stderr (or
to stdout as JSON with --json and --out).

env, seed, difficulty and completion are all required: there are no defaults,
since the instance depends on env, seed and difficulty together. Other fields
are ignored, so resyn gen's lines with a "completion" added score as they are.
A malformed line (not a JSON object, a field missing or of the wrong type, or
longer than 16 MiB) is reported on stderr with its line number and skipped;
the rest is still scored, and the exit status is then 1. Blank lines are
ignored.

Lines are read and scored in chunks (4096 lines or 64 MiB of completions)
and the records written as each chunk is done, so memory does not grow with
the input. Progress (rate; time left when --in is a file) goes to stderr.
SIGINT or SIGTERM stops within about a second: --out then holds the records
of the chunks finished, each a complete line, and the exit status is 130.`,
		Example: `  resyn score --in completions.jsonl --out rewards.jsonl
  echo '{"env":"graph_coloring","seed":1,"difficulty":2,"completion":"<answer>1 2 3</answer>"}' | resyn score --in -`,
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
