package dataset

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"resyn/core/env"
	"resyn/core/textout"
	"resyn/storage"
)

// GenerateTo writes s's rows as JSON lines to out (textout.CreateOut: a
// file, or stdout for "" and "-"), resyn gen: a chunk at a time, flushed
// as the progress comes so that rows go out as they are made. Instances
// whose environment failed, and the progress, go to log; when ctx is
// cancelled log says how many rows out holds, each a complete line, and
// the error is ctx's.
func (s Spec) GenerateTo(ctx context.Context, ex env.Executor, out string, log io.Writer) error {
	w, closeOut, err := textout.CreateOut(out)
	if err != nil {
		return err
	}
	enc := NewEncoder(w)
	pl := &ProgressLine{W: log, Verb: "generated"}
	start := time.Now()
	rows := 0
	err = s.Rows(ctx, ex,
		func(r Row) error { rows++; return enc.Encode(r) },
		func(t env.Task, e *env.Error) {
			pl.Printf("skipped %s seed %d difficulty %d: %s\n", t.Env, t.Seed, t.Difficulty, CapText(e.Error(), MaxErrorBytes))
		},
		flushing(w, pl, nil))
	return pl.end(start, closeOut, err, func() string {
		return fmt.Sprintf("resyn gen: interrupted; %s holds the first %d rows, each a complete line\n", textout.OutName(out), rows)
	})
}

// ScoreTo scores r's lines as Score does into out (textout.CreateOut),
// resyn score: records flushed as the progress comes. Malformed lines are
// reported on log and counted in bad, and the progress goes there; when
// ctx is cancelled log says how many records out holds, each a complete
// line, and the error is ctx's.
func ScoreTo(ctx context.Context, ex env.Executor, r io.Reader, out string, log io.Writer) (sums []EnvSummary, bad int, err error) {
	w, closeOut, err := textout.CreateOut(out)
	if err != nil {
		return nil, 0, err
	}
	pl := &ProgressLine{W: log, Verb: "scored"}
	start := time.Now()
	scored := 0
	sums, err = Score(ctx, ex, r, w,
		func(e LineError) {
			bad++
			pl.Printf("skipped %s\n", CapText(e.Error(), MaxErrorBytes))
		},
		flushing(w, pl, &scored))
	return sums, bad, pl.end(start, closeOut, err, func() string {
		return fmt.Sprintf("resyn score: interrupted; %s holds the records of the first %d scored lines, each a complete line\n", textout.OutName(out), scored)
	})
}

// flushing is the progress callback of a job writing JSON lines to w: w
// flushed, so that lines go out as they are made, and the progress shown
// on pl; done, when not nil, is set to the items done.
func flushing(w *bufio.Writer, pl *ProgressLine, done *int) func(Progress) {
	return func(pr Progress) {
		if done != nil {
			*done = pr.Done
		}
		if err := w.Flush(); err == nil {
			pl.Show(pr)
		}
	}
}

// end ends a job that wrote to an output, which ended with err: the
// progress line closed with the time since start, the output closed (its
// error is the job's when the job had none), and, when the job was
// cancelled, interrupted's note on what the output holds.
func (pl *ProgressLine) end(start time.Time, closeOut func() error, err error, interrupted func() string) error {
	pl.End(time.Since(start))
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		pl.Printf("%s", interrupted())
	}
	return err
}

// WriteScoreSummary is resyn score's table of rewards by environment.
func WriteScoreSummary(w io.Writer, sums []EnvSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ENV\tN\tMEAN\tPASS\tOK\tFORMAT\tENV_ERROR\tTIMEOUT\t")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%d\t%d\t%d\t%d\t%d\t\n", s.Env, s.N, s.MeanScore, s.Pass, s.OK, s.Format, s.EnvError, s.Timeout)
	}
	tw.Flush()
}

// WriteRescore is resyn rescore's table: per environment the versions
// then and now and how the results moved, and a last line saying how many
// environments changed.
func WriteRescore(w io.Writer, sums []RescoreSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tVERSION THEN\tNOW\tN\tSAME\tHIGHER\tLOWER\tKIND CHANGED\tINSTANCE CHANGED\tPASS THEN → NOW\tMEAN THEN → NOW")
	changed := 0
	for _, s := range sums {
		then := make([]string, len(s.OldHashes))
		for i, h := range s.OldHashes {
			then[i] = h
			if h == "" {
				then[i] = "unrecorded"
			}
		}
		now := s.NewHash
		if now == "" {
			now = "gone"
		}
		if s.Changed() {
			changed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d → %d\t%.3f → %.3f\n", s.Env, strings.Join(then, ","), now, s.N, s.Same,
			s.Higher, s.Lower, s.Kind, s.Instance, s.OldPass, s.NewPass, s.OldMean, s.NewMean)
	}
	tw.Flush()
	if changed == 0 {
		fmt.Fprintln(w, "\nno result changed")
	} else {
		fmt.Fprintf(w, "\n%d environment(s) with changed results\n", changed)
	}
}

// RunItems are the sample rollouts training run run stored in db, to
// rescore; an error when it stored none.
func RunItems(db *storage.DB, run uint64) (func() (RescoreItem, bool, error), error) {
	var items []RescoreItem
	err := db.View(func(tx *storage.Tx) error {
		var err error
		items, err = RolloutItems(tx, run)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("--run %d: %w", run, err)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("training run %d stored no rollouts (rollouts_per_step 0?)", run)
	}
	return Items(items), nil
}

// OpenFileItems opens the completions file in and the reward records prev
// that resyn score wrote for it, paired as FileItems pairs them (unpaired
// counts lines of in without a record); done closes both.
func OpenFileItems(in, prev string, unpaired *int) (next func() (RescoreItem, bool, error), done func(), err error) {
	fi, err := os.Open(in)
	if err != nil {
		return nil, nil, err
	}
	fp, err := os.Open(prev)
	if err != nil {
		fi.Close()
		return nil, nil, err
	}
	return FileItems(fi, fp, in, prev, unpaired), func() { fi.Close(); fp.Close() }, nil
}

// ParseLevels reads a list of difficulty levels: "" (nil: the default
// levels), "N", "LO-HI" or "A,B,C".
func ParseLevels(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if strings.Contains(s, ",") {
		var out []int
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			d, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("difficulty list %q: %q is not a number", s, p)
			}
			out = append(out, d)
		}
		return out, nil
	}
	lo, hi, err := ParseRange(s)
	if err != nil {
		return nil, err
	}
	var out []int
	for d := lo; d <= hi; d++ {
		out = append(out, d)
	}
	return out, nil
}

// RescoreTo rescores next's items as Rescore does (resyn rescore), with
// the count done on log and, when out is not "", every changed item
// written to out as a JSON line.
func RescoreTo(ctx context.Context, ex env.Executor, next func() (RescoreItem, bool, error), out string, log io.Writer) ([]RescoreSummary, error) {
	var onChange func(RescoreChange) error
	closeOut := func() error { return nil }
	if out != "" {
		w, c, err := textout.CreateOut(out)
		if err != nil {
			return nil, err
		}
		closeOut = c
		enc := json.NewEncoder(w)
		onChange = func(ch RescoreChange) error { return enc.Encode(ch) }
	}
	sums, err := Rescore(ctx, ex, next, onChange, func(done int) { fmt.Fprintf(log, "\rrescored %d", done) })
	fmt.Fprintln(log)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	return sums, err
}
