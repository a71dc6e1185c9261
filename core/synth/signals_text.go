package synth

import (
	"fmt"
	"io"
	"text/tabwriter"

	"resyn/storage"
)

// WriteSignals prints a training run's signals as a table, and what to do
// next when any environment is flagged (resyn train signals).
func WriteSignals(w io.Writer, runID uint64, sigs []EnvSignal) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tSIGNAL\tLEVEL\tRANGE\tRECENT PASS\tSTEPS\tWHY")
	flagged := 0
	for _, s := range sigs {
		sig := s.Signal
		if sig == "" {
			sig = "-"
		} else {
			flagged++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d-%d\t%.2f\t%d\t%s\n", s.Env, sig, s.Level, s.MinDifficulty, s.MaxDifficulty, s.Recent, len(s.Curve), s.Reason)
	}
	tw.Flush()
	if flagged > 0 {
		fmt.Fprintf(w, "\n%d environment(s) flagged: `resyn synth --from-run %d` asks for harder versions of the saturated and replacements of those at zero\n", flagged, runID)
	}
}

// ReportSignals prints, at the end of resyn train, which environments of
// run runID saturated or stayed at zero (default options); nothing when
// the run has no signals to read.
func ReportSignals(w io.Writer, db *storage.DB, runID uint64) {
	if runID == 0 {
		return
	}
	var sigs []EnvSignal
	if db.View(func(tx *storage.Tx) error {
		var err error
		sigs, err = TrainingSignals(tx, runID, SignalOptions{})
		return err
	}) != nil || len(sigs) == 0 {
		return
	}
	fmt.Fprintf(w, "\npass rate per environment (resyn train signals %d):\n", runID)
	WriteSignals(w, runID, sigs)
}
