package synth

import (
	"context"
	"fmt"
	"io"

	"resyn/core/env"
	"resyn/core/textout"
	"resyn/llm"
)

// Eval measures p's pass rates on each of mods (resyn eval): Calibrate at
// the levels of levels inside the environment's range (nil: its default
// levels), o.Samples instances each. An environment with no level in its
// range is skipped, and one whose measurement fails is kept with what it
// measured; both are said on log, where levelsText names the levels asked
// for. It stops at once with ctx.Err() when ctx is cancelled.
func Eval(ctx context.Context, p llm.Provider, pool env.Executor, mods []*env.Module, levels []int, levelsText string, o CalibrateOptions, log io.Writer) ([]Calibration, error) {
	var cals []Calibration
	for _, m := range mods {
		var ls []int
		for _, d := range levels {
			if d >= m.MinDifficulty && d <= m.MaxDifficulty {
				ls = append(ls, d)
			}
		}
		if levels != nil && ls == nil {
			fmt.Fprintf(log, "%s: no level of --difficulty %s in its range %d-%d; skipped\n", m.Name, levelsText, m.MinDifficulty, m.MaxDifficulty)
			continue
		}
		fmt.Fprintf(log, "%s: solving…\n", m.Name)
		o.Levels = ls
		cal, _, err := Calibrate(ctx, p, pool, m, o, CallOptions{})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(log, "%s: %v\n", m.Name, err)
		}
		cals = append(cals, cal)
	}
	return cals, nil
}

// ScoredAny is the error of an eval that scored nothing: every request
// failed (an unreachable or refusing server, a model that never answered),
// so the rates are no measurement.
func ScoredAny(cals []Calibration) error {
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

// WriteCalibrations is resyn eval's table: a row per environment and
// level, and one for all its levels with the trend test's p-value.
func WriteCalibrations(w io.Writer, cals []Calibration) {
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

// WriteEval prints an eval's end (resyn eval): the tokens used on log,
// then the pass rates on out (as JSON with asJSON, else
// WriteCalibrations). Its error is ScoredAny's when writing succeeded.
func WriteEval(out, log io.Writer, asJSON bool, cals []Calibration, u llm.Usage) error {
	fmt.Fprintf(log, "tokens: %d in + %d out\n", u.PromptTokens, u.CompletionTokens)
	if asJSON {
		if err := textout.WriteJSON(out, cals); err != nil {
			return err
		}
	} else {
		WriteCalibrations(out, cals)
	}
	return ScoredAny(cals)
}
