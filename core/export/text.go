package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"resyn/core/dataset"
	"resyn/core/env"
)

// ExportText is Export with a person watching (resyn export): instances
// whose environment failed, and the progress, go to pl, and an interrupted
// export says there that nothing was left behind.
func ExportText(ctx context.Context, ex env.Executor, opts Options, f Format, out string, pl *dataset.ProgressLine) (Summary, error) {
	start := time.Now()
	sum, err := Export(ctx, ex, opts, f, out,
		func(it Item, e *env.Error) {
			pl.Printf("skipped %s seed %d difficulty %d: %s\n", it.Env.Name, it.Seed, it.Difficulty, dataset.CapText(e.Error(), dataset.MaxErrorBytes))
		},
		pl.Show)
	if errors.Is(err, context.Canceled) {
		pl.End(time.Since(start))
		pl.Printf("resyn export: interrupted; nothing was written to %s (the unfinished files were removed)\n", out)
		return sum, err
	}
	if err != nil {
		pl.Printf("")
		return sum, err
	}
	pl.End(time.Since(start))
	return sum, nil
}

// WriteText prints s's files, one a line: path, rows and split, and on
// notes how many instances were skipped.
func (s Summary) WriteText(w, notes io.Writer) {
	for _, file := range s.Files {
		split := file.Split
		if split == "" {
			split = "train+test"
		}
		fmt.Fprintf(w, "%s\t%d rows\t%s\n", file.Path, file.Rows, split)
	}
	if s.Failed > 0 {
		fmt.Fprintf(notes, "%d instance(s) skipped because their environment failed (listed above)\n", s.Failed)
	}
}

// Request is an export as a person asks for it (resyn export's flags, whose
// names its errors use): the format, the output path, the levels and the
// weights as text.
type Request struct {
	Format, Out             string
	Difficulty              string // "N" or "LO-HI"
	EnvWeights, DiffWeights string // "maze=2,knapsack=0.5", "1-3=1,8-10=3"
	N                       int
	Seed                    int64
	TestFraction            float64
}

// Options checks r and parses it into the format and the Options of an
// export of envs, before any work starts.
func (r Request) Options(envs []*env.Module) (Format, Options, error) {
	f := Format(r.Format)
	if _, err := f.Ext(); err != nil {
		return f, Options{}, err
	}
	if r.Out == "" {
		return f, Options{}, fmt.Errorf("--out is required: a directory, or a file ending in .parquet or .jsonl")
	}
	lo, hi, err := dataset.ParseRange(r.Difficulty)
	if err != nil {
		return f, Options{}, err
	}
	ew, err := ParseEnvWeights(r.EnvWeights)
	if err != nil {
		return f, Options{}, err
	}
	dw, err := ParseDifficultyWeights(r.DiffWeights)
	if err != nil {
		return f, Options{}, err
	}
	if r.N < 1 {
		return f, Options{}, fmt.Errorf("--n %d: want at least 1 instance per environment", r.N)
	}
	if !(r.TestFraction >= 0 && r.TestFraction < 1) {
		return f, Options{}, fmt.Errorf("--test-fraction %v: want a number in [0, 1)", r.TestFraction)
	}
	return f, Options{Envs: envs, N: r.N, Seed: r.Seed, MinDifficulty: lo, MaxDifficulty: hi,
		TestFraction: r.TestFraction, EnvWeights: ew, DifficultyWeights: dw}, nil
}
