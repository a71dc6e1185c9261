package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"resyn/core/textout"
	"resyn/storage"
	"resyn/trainer/grpo"
)

func newTrainRunsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "runs",
		Short: "List the training runs in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db != nil {
				defer db.Close()
			}
			rows, err := grpo.RunRows(db)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(os.Stderr, "no training runs in the store (resyn train starts one)")
				return nil
			}
			return grpo.WriteRunsTable(os.Stdout, rows)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the runs as a JSON array")
	return c
}

func newTrainExportCmd() *cobra.Command {
	var format, out string
	c := &cobra.Command{
		Use:   "export RUN",
		Short: "Write a training run's metrics as CSV or JSONL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			if format != "csv" && format != "jsonl" {
				return fmt.Errorf("--format %q: want csv or jsonl", format)
			}
			db, err := openStore(true)
			if err != nil {
				return err
			}
			if db == nil {
				return fmt.Errorf("training run %d: no store at %s", id, dbPath())
			}
			defer db.Close()
			var pts []storage.MetricPoint
			if err := db.View(func(tx *storage.Tx) error {
				var err error
				pts, err = storage.ListMetrics(tx, id, 0)
				return err
			}); err != nil {
				return fmt.Errorf("%w (resyn train runs lists them)", err)
			}
			w, closeOut, err := textout.CreateOut(out)
			if err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			err = grpo.WriteMetrics(w, format, pts)
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("writing run %d's metrics: %w", id, err)
			}
			if out != "" && out != "-" {
				fmt.Fprintf(os.Stderr, "wrote %d metric points of run %d to %s\n", len(pts), id, out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout")
	return c
}
