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
		Long: `Lists every training run in the store, oldest first: its number (for
--resume, export and signals), name, status, the last step with a metric, the
last mean reward and when it started. STATUS is running (a live process is
training it), done, stopped (Ctrl-C, or x in the workbench: resumable), failed,
or interrupted (its process ended without recording how, e.g. kill -9:
resumable from its last checkpoint).`,
		Example: `  resyn train runs
  resyn train runs --json | jq '.[] | select(.status == "stopped") | .id'`,
		Args: cobra.NoArgs,
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
		Long: `Writes every metric point of training run RUN (resyn train runs lists
them), in step order and by name within a step: one row per step, metric and
environment — a metric broken down by environment (reward, pass_rate…) has its
overall row (env empty) and one row per environment.

--format csv has the header step,metric,env,value; --format jsonl one object a
line, {"step":…,"metric":…,"env":…,"value":…} (env left out for the overall
value; a value that is not a finite number is the string "NaN", "+Inf" or
"-Inf"). The output goes to stdout, or to --out FILE.`,
		Example: `  resyn train export 3 --format csv --out run3.csv
  resyn train export 3 --format jsonl | jq 'select(.metric == "reward" and .env == null)'`,
		Args: cobra.ExactArgs(1),
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
