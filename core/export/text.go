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
