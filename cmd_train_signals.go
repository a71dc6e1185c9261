package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/synth"
	"resyn/storage"
)

func newTrainSignalsCmd() *cobra.Command {
	var sf signalFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "signals RUN",
		Short: "Per environment of a training run: saturated at the top level, at zero at the bottom, or learning",
		Long: `Reads training run RUN's stored metrics — each environment's pass rate and
curriculum level at every step — and says for each environment whether its
pass rate saturated at its highest level (nothing left to teach: harden it),
stayed at zero at its lowest (no learning signal: replace it), or neither. The
last --signal-window steps decide. resyn synth --from-run RUN asks the
synthesizer for new versions of exactly the flagged ones. resyn train prints
the same at the end of a run.`,
		Example: `  resyn train signals 3
  resyn train signals 3 --signal-window 20 --saturation 0.95 --json | jq '.[] | select(.signal != null)'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if err := sf.check(); err != nil {
				return err
			}
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db == nil {
				return fmt.Errorf("no store at %s: no training runs", dbPath())
			}
			defer db.Close()
			var sigs []synth.EnvSignal
			if err := db.View(func(tx *storage.Tx) error {
				sigs, err = synth.TrainingSignals(tx, id, sf.options())
				return err
			}); err != nil {
				return fmt.Errorf("training run %d: %w", id, err)
			}
			if asJSON {
				return writeJSON(sigs)
			}
			printSignals(os.Stdout, id, sigs)
			return nil
		},
	}
	sf.add(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print every environment's signal and pass-rate curve as JSON")
	return c
}

func parseRunID(s string) (uint64, error) {
	var id uint64
	if _, err := fmt.Sscan(s, &id); err != nil || id == 0 || fmt.Sprint(id) != s {
		return 0, fmt.Errorf("%q is not a run number (resyn train runs are numbered from 1)", s)
	}
	return id, nil
}

// printSignals is the table of a run's signals, and what to do next.
func printSignals(w io.Writer, runID uint64, sigs []synth.EnvSignal) {
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

// reportSignals prints, at the end of resyn train, which environments
// saturated or stayed at zero (on stderr, with the progress).
func reportSignals(db *storage.DB, runID uint64) {
	if runID == 0 {
		return
	}
	var sigs []synth.EnvSignal
	if db.View(func(tx *storage.Tx) error {
		var err error
		sigs, err = synth.TrainingSignals(tx, runID, synth.SignalOptions{})
		return err
	}) != nil || len(sigs) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "\npass rate per environment (resyn train signals %d):\n", runID)
	printSignals(os.Stderr, runID, sigs)
}

// envHashes is the version hash of each module: a training run's lineage.
func envHashes(mods []*env.Module) map[string]string {
	out := map[string]string{}
	for _, m := range mods {
		out[m.Name] = m.Hash
	}
	return out
}
