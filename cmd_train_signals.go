package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/synth"
	"resyn/storage"
)

func newTrainSignalsCmd() *cobra.Command {
	var sf signalFlags
	var asJSON bool
	c := &cobra.Command{
		Use:   "signals RUN",
		Short: "Per environment of a training run: saturated at the top level, at zero at the bottom, or learning",
		Args:  cobra.ExactArgs(1),
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
			synth.WriteSignals(os.Stdout, id, sigs)
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
