package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"resyn/storage"
)

// trainRunRow is one line of `resyn train runs --json` (docs/json.md).
type trainRunRow struct {
	ID         uint64            `json:"id"`
	Name       string            `json:"name"`
	Status     storage.RunStatus `json:"status"`
	Steps      int64             `json:"steps"`       // the last step with a metric (SFT steps first, then GRPO steps)
	LastReward *float64          `json:"last_reward"` // null before the first GRPO step
	Envs       []string          `json:"envs"`
	Started    time.Time         `json:"started"`
	Finished   *time.Time        `json:"finished,omitempty"`
	Error      string            `json:"error,omitempty"`
}

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
			rows, err := trainRunRows()
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
			t := newTable("RUN", "NAME", "STATUS", "STEPS", "REWARD", "STARTED").wrapping(1).rightAligned(0, 3, 4)
			for _, r := range rows {
				reward := "-"
				if r.LastReward != nil {
					reward = strconv.FormatFloat(*r.LastReward, 'f', 3, 64)
				}
				t.row(strconv.FormatUint(r.ID, 10), r.Name, string(r.Status), strconv.FormatInt(r.Steps, 10), reward,
					r.Started.Local().Format("2006-01-02 15:04"))
			}
			return t.write(os.Stdout, outputWidth(os.Stdout))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the runs as a JSON array")
	return c
}

// trainRunRows reads every run with its last step and reward.
func trainRunRows() ([]trainRunRow, error) {
	db, err := openStore(true)
	if err != nil {
		return nil, err
	}
	rows := []trainRunRow{}
	if db == nil {
		return rows, nil
	}
	defer db.Close()
	err = db.View(func(tx *storage.Tx) error {
		runs, err := storage.ListTrainRuns(tx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			row := trainRunRow{ID: r.ID, Name: r.Name, Status: r.Status, Started: r.Created, Error: r.Error, Envs: []string{}}
			if !r.Finished.IsZero() {
				f := r.Finished
				row.Finished = &f
			}
			seen := map[string]bool{}
			for _, e := range r.Envs {
				if !seen[e.Name] {
					seen[e.Name] = true
					row.Envs = append(row.Envs, e.Name)
				}
			}
			last, ok, err := storage.LastMetricStep(tx, r.ID)
			if err != nil {
				return err
			}
			if ok {
				row.Steps = last
				// The last step's points, back to the last with a reward
				// (a warm start's steps have none).
				pts, err := storage.ListMetrics(tx, r.ID, 0)
				if err != nil {
					return err
				}
				for i := len(pts) - 1; i >= 0; i-- {
					if pts[i].Name == "reward" {
						v := pts[i].Value
						if !math.IsNaN(v) && !math.IsInf(v, 0) {
							row.LastReward = &v
						}
						break
					}
				}
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
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
			w := io.Writer(os.Stdout)
			var f *os.File
			if out != "" {
				if f, err = os.Create(out); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				w = f
			}
			bw := bufio.NewWriter(w)
			err = writeMetrics(bw, format, pts)
			if ferr := bw.Flush(); err == nil {
				err = ferr
			}
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return fmt.Errorf("writing run %d's metrics: %w", id, err)
			}
			if out != "" {
				fmt.Fprintf(os.Stderr, "wrote %d metric points of run %d to %s\n", len(pts), id, out)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "csv", "csv or jsonl")
	c.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout")
	return c
}

// metricRow is one line of `resyn train export --format jsonl`.
type metricRow struct {
	Step   int64  `json:"step"`
	Metric string `json:"metric"`
	Env    string `json:"env,omitempty"`
	Value  any    `json:"value"` // a number, or "NaN", "+Inf", "-Inf"
}

// writeMetrics writes points as CSV or JSONL rows.
func writeMetrics(w io.Writer, format string, pts []storage.MetricPoint) error {
	var rows []metricRow
	for _, p := range pts {
		rows = append(rows, metricRow{Step: p.Step, Metric: p.Name, Value: p.Value})
		envs := make([]string, 0, len(p.PerEnv))
		for e := range p.PerEnv {
			envs = append(envs, e)
		}
		sort.Strings(envs)
		for _, e := range envs {
			rows = append(rows, metricRow{Step: p.Step, Metric: p.Name, Env: e, Value: p.PerEnv[e]})
		}
	}
	if format == "csv" {
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"step", "metric", "env", "value"}); err != nil {
			return err
		}
		for _, r := range rows {
			v := strconv.FormatFloat(r.Value.(float64), 'g', -1, 64)
			if err := cw.Write([]string{strconv.FormatInt(r.Step, 10), r.Metric, r.Env, v}); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if v := r.Value.(float64); math.IsNaN(v) || math.IsInf(v, 0) {
			r.Value = strconv.FormatFloat(v, 'g', -1, 64) // NaN, +Inf, -Inf
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
