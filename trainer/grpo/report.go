package grpo

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"resyn/core/textout"
	"resyn/storage"
)

// What `resyn train` prints: the progress of a run as text lines, the runs
// in a store, and a run's metrics as CSV or JSONL.

// TextPrinter writes one line per event, with the steps' rate and the time
// the phase has left: the progress of `resyn train` on stderr.
type TextPrinter struct {
	w         io.Writer
	SFT, GRPO *textout.Rate // the phases' rates (tests set their clocks)
}

// NewTextPrinter prints events to w.
func NewTextPrinter(w io.Writer) *TextPrinter {
	return &TextPrinter{w: w, SFT: textout.NewRate(), GRPO: textout.NewRate()}
}

// Print writes one event.
func (p *TextPrinter) Print(e Event) {
	w := p.w
	switch e := e.(type) {
	case RunStartedEvent:
		verb := "started"
		if e.Resumed {
			verb = "resumed"
		}
		fmt.Fprintf(w, "run %d %s at step %d (%s); checkpoints in %s\n", e.RunID, verb, e.Step, e.Phase, e.Dir)
	case SFTStepEvent:
		p.SFT.StartAt(e.Step-1, p.SFT.Now().Add(-e.Elapsed))
		eta := p.SFT.Line(e.Step, e.Of, "steps")
		if e.Step == 1 || e.Step%10 == 0 || e.Step == e.Of {
			fmt.Fprintf(w, "sft %4d/%d%s  loss %.4f  grad %.3f  %6.0f tok/s\n", e.Step, e.Of, textout.Paren(eta), e.Loss, e.GradNorm, e.TokensPerS)
		}
	case StepEvent:
		p.GRPO.StartAt(e.Step-1, p.GRPO.Now().Add(-e.Elapsed))
		eta := p.GRPO.Line(e.Step, e.Of, "steps")
		var envs []string
		for name, s := range e.PerEnv {
			envs = append(envs, fmt.Sprintf("%s %.2f@%d", name, s.Reward, s.Level))
		}
		sort.Strings(envs)
		fmt.Fprintf(w, "step %4d/%d%s  reward %.3f  pass %.2f  loss %+.4f  kl %.4f  ent %.3f  len %.1f  clip %.3f  kept %d/%d  %6.0f tok/s  [%s]\n",
			e.Step, e.Of, textout.Paren(eta), e.Reward, e.PassRate, e.Loss, e.KL, e.Entropy, e.ResponseLen, e.ClipFrac,
			e.GroupsKept, e.Groups, e.TokensPerS, strings.Join(envs, ", "))
	case LevelUpEvent:
		fmt.Fprintf(w, "curriculum: %s now at difficulty %d\n", e.Env, e.Level)
	case EvalEvent:
		fmt.Fprintf(w, "eval (%s): %s\n", e.Label, e.Result.Format())
	case PoolEvent:
		var envs []string
		for _, name := range slices.Sorted(maps.Keys(e.Sizes)) {
			envs = append(envs, fmt.Sprintf("%s %d", name, e.Sizes[name]))
		}
		fmt.Fprintf(w, "training pool: %d distinct instances per environment asked; found %s\n", e.Want, strings.Join(envs, ", "))
	case CheckpointEvent:
		fmt.Fprintf(w, "checkpoint at step %d: %s\n", e.Step, e.Path)
	case FinishedEvent:
		if e.Err != nil && !errors.Is(e.Err, context.Canceled) {
			fmt.Fprintf(w, "training failed after %v: %v\n", e.Summary.Elapsed.Round(time.Second), e.Err)
			return
		}
		fmt.Fprintf(w, "finished %d SFT + %d GRPO steps in %v\n", e.Summary.SFTSteps, e.Summary.Steps, e.Summary.Elapsed.Round(time.Second))
	}
}

// RunRow is one training run as `resyn train runs` lists it (its --json
// shape: docs/json.md).
type RunRow struct {
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

// RunRows reads every run in db, oldest first, with its last step and
// reward; a nil db (no store yet) has none.
func RunRows(db *storage.DB) ([]RunRow, error) {
	rows := []RunRow{}
	if db == nil {
		return rows, nil
	}
	err := db.View(func(tx *storage.Tx) error {
		runs, err := storage.ListTrainRuns(tx)
		if err != nil {
			return err
		}
		for _, r := range runs {
			row, err := runRow(tx, r)
			if err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

func runRow(tx *storage.Tx, r storage.TrainRun) (RunRow, error) {
	row := RunRow{ID: r.ID, Name: r.Name, Status: r.Status, Started: r.Created, Error: r.Error, Envs: []string{}}
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
	if err != nil || !ok {
		return row, err
	}
	row.Steps = last
	// The last step's points, back to the last with a reward (a warm
	// start's steps have none).
	pts, err := storage.ListMetrics(tx, r.ID, 0)
	if err != nil {
		return row, err
	}
	for i := len(pts) - 1; i >= 0; i-- {
		if pts[i].Name == "reward" {
			if v := pts[i].Value; !math.IsNaN(v) && !math.IsInf(v, 0) {
				row.LastReward = &v
			}
			break
		}
	}
	return row, nil
}

// WriteRunsTable prints rows as `resyn train runs` does, fitted to w.
func WriteRunsTable(w io.Writer, rows []RunRow) error {
	t := textout.NewTable("RUN", "NAME", "STATUS", "STEPS", "REWARD", "STARTED").Wrapping(1).RightAligned(0, 3, 4)
	for _, r := range rows {
		reward := "-"
		if r.LastReward != nil {
			reward = strconv.FormatFloat(*r.LastReward, 'f', 3, 64)
		}
		t.Row(strconv.FormatUint(r.ID, 10), r.Name, string(r.Status), strconv.FormatInt(r.Steps, 10), reward,
			r.Started.Local().Format("2006-01-02 15:04"))
	}
	return t.WriteFitted(w)
}

// metricRow is one line of `resyn train export --format jsonl`.
type metricRow struct {
	Step   int64  `json:"step"`
	Metric string `json:"metric"`
	Env    string `json:"env,omitempty"`
	Value  any    `json:"value"` // a number, or "NaN", "+Inf", "-Inf"
}

// ExportMetrics writes the metric points of run id in db to out ("" or
// "-": stdout) as csv or jsonl (WriteMetrics), and returns how many.
func ExportMetrics(db *storage.DB, id uint64, format, out string) (int, error) {
	if format != "csv" && format != "jsonl" {
		return 0, fmt.Errorf("--format %q: want csv or jsonl", format)
	}
	if db == nil {
		return 0, fmt.Errorf("training run %d: there is no store", id)
	}
	var pts []storage.MetricPoint
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		pts, err = storage.ListMetrics(tx, id, 0)
		return err
	}); err != nil {
		return 0, fmt.Errorf("%w (resyn train runs lists them)", err)
	}
	w, closeOut, err := textout.CreateOut(out)
	if err != nil {
		return 0, fmt.Errorf("--out: %w", err)
	}
	err = WriteMetrics(w, format, pts)
	if cerr := closeOut(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("writing run %d's metrics: %w", id, err)
	}
	return len(pts), nil
}

// WriteMetrics writes points as CSV (step,metric,env,value) or JSONL rows:
// one per step, metric and environment, a metric broken down by
// environment with its overall row (env empty) first.
func WriteMetrics(w io.Writer, format string, pts []storage.MetricPoint) error {
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
	switch format {
	case "csv":
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
	case "jsonl":
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
	return fmt.Errorf("--format %q: want csv or jsonl", format)
}
