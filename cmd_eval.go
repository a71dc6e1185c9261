package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/synth"
	"resyn/core/textout"
	"resyn/llm"
)

func init() { register(newEvalCmd) }

// parseLevels reads --difficulty for eval: "" (the default levels), "N",
// "LO-HI" or "A,B,C".
func parseLevels(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if strings.Contains(s, ",") {
		var out []int
		for _, p := range splitList(s) {
			d, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("difficulty list %q: %q is not a number", s, p)
			}
			out = append(out, d)
		}
		return out, nil
	}
	lo, hi, err := dataset.ParseRange(s)
	if err != nil {
		return nil, err
	}
	var out []int
	for d := lo; d <= hi; d++ {
		out = append(out, d)
	}
	return out, nil
}

func newEvalCmd() *cobra.Command {
	var (
		pf                  providerFlags
		envs, diff          string
		all, asJSON         bool
		n, workers, inFlite int
	)
	c := &cobra.Command{
		Use:   "eval",
		Short: "A model's pass rate per environment and difficulty",
		Long: `Renders --n instances per difficulty level of each chosen environment, asks the
model to solve them, scores the answers with the environments' verifiers and
prints the pass rate per environment and level (a pass is a score of 1). This
is the same measurement synthesis uses to calibrate candidates. Levels outside
an environment's range are clamped away; without --difficulty each environment
is measured at its lowest, middle and highest level.`,
		Example: `  resyn eval --provider openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct --all --n 8
  resyn eval --provider anthropic --model claude-haiku-4-5 --env graph_coloring,sat_3cnf --difficulty 1-10 --n 4 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkFlags(
				flagAtLeast("n", n, 1, "at least 1 (instances per difficulty level)"),
				flagAtLeast("parallel", inFlite, 1, "at least 1 (solver requests in flight)"),
				flagAtLeast("concurrency", pf.concurrency, 1, "at least 1 (LLM requests in flight)"),
				flagAtLeast("workers", workers, 0, "0 (one per core) or more"),
				pf.check(),
			); err != nil {
				return err
			}
			levels, err := parseLevels(diff)
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
			var cals []synth.Calibration
			for _, m := range mods {
				var ls []int
				for _, d := range levels {
					if d >= m.MinDifficulty && d <= m.MaxDifficulty {
						ls = append(ls, d)
					}
				}
				if levels != nil && ls == nil {
					fmt.Fprintf(os.Stderr, "%s: no level of --difficulty %s in its range %d-%d; skipped\n", m.Name, diff, m.MinDifficulty, m.MaxDifficulty)
					continue
				}
				fmt.Fprintf(os.Stderr, "%s: solving…\n", m.Name)
				cal, _, err := synth.Calibrate(ctx, p, pool, m, synth.CalibrateOptions{Levels: ls, Samples: n, Parallel: inFlite}, synth.CallOptions{})
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", m.Name, err)
				}
				cals = append(cals, cal)
			}
			u := meter.Usage()
			fmt.Fprintf(os.Stderr, "tokens: %d in + %d out\n", u.PromptTokens, u.CompletionTokens)
			if asJSON {
				if err := writeJSON(cals); err != nil {
					return err
				}
			} else {
				printEval(os.Stdout, cals)
			}
			return evalScoredAny(cals)
		},
	}
	pf.add(c)
	c.Flags().StringVar(&envs, "env", "", "comma-separated environment names")
	c.Flags().BoolVar(&all, "all", false, "every usable environment (built-in and accepted)")
	c.Flags().IntVar(&n, "n", 8, "instances per difficulty level")
	c.Flags().StringVar(&diff, "difficulty", "", "levels: N, LO-HI or A,B,C (default: each environment's lowest, middle and highest)")
	c.Flags().IntVar(&inFlite, "parallel", 4, "solver requests in flight per environment")
	c.Flags().IntVar(&workers, "workers", 0, "sandbox worker processes (default: one per core)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the pass rates as JSON on stdout")
	return c
}

// evalScoredAny is the error of an eval that scored nothing: every request
// failed (an unreachable or refusing server, a model that never answered),
// so the rates printed are no measurement and the exit status is 1.
func evalScoredAny(cals []synth.Calibration) error {
	scored, failed := 0, 0
	for _, c := range cals {
		for _, l := range c.Levels {
			scored += l.N
			failed += l.Failed
		}
	}
	if scored == 0 {
		return fmt.Errorf("nothing could be scored: %d of %d instances failed (the model's call or the environment; see the errors above)", failed, failed)
	}
	return nil
}

func printEval(w io.Writer, cals []synth.Calibration) {
	t := textout.NewTable("ENV", "DIFF", "N", "PASSED", "RATE", "MEAN", "NO ANSWER", "FAILED", "TREND").RightAligned(1, 2, 3, 4, 5, 6, 7).Wrapping(8)
	for _, c := range cals {
		var passed, total int
		for _, l := range c.Levels {
			passed += l.Passed
			total += l.N
			t.Row(c.Env, fmt.Sprint(l.Difficulty), fmt.Sprint(l.N), fmt.Sprint(l.Passed), fmt.Sprintf("%.0f%%", 100*l.Rate),
				fmt.Sprintf("%.2f", l.MeanScore), fmt.Sprint(l.Format), fmt.Sprint(l.Failed), "")
		}
		if total > 0 {
			trend := ""
			if c.Trend != nil {
				trend = fmt.Sprintf("falls: p=%.2g", c.Trend.PValue)
			}
			t.Row(c.Env, "all", fmt.Sprint(total), fmt.Sprint(passed), fmt.Sprintf("%.0f%%", 100*float64(passed)/float64(total)), "", "", "", trend)
		}
	}
	t.WriteFitted(w)
}
