package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"resyn/core/textout"
	"resyn/storage"
	"resyn/trainer/grpo"
)

// Report is an experiment's results so far: one cell per run, in the
// design's order (seed, then K).
type Report struct {
	Design Design `json:"design"`
	Cells  []Cell `json:"cells"`
}

// Cell is one training run of the experiment.
type Cell struct {
	K       int            `json:"k"`
	Seed    int64          `json:"seed"`
	Envs    []string       `json:"envs"`              // trained on
	PerEnv  int            `json:"instances_per_env"` // asked for: Budget/K
	RunID   uint64         `json:"run,omitempty"`     // the training run in the store
	Status  string         `json:"status"`            // "pending", "done" or "failed"
	Error   string         `json:"error,omitempty"`
	Pool    map[string]int `json:"pool,omitempty"` // distinct training instances each environment had
	Elapsed time.Duration  `json:"elapsed_ns,omitempty"`
	// InDist is the final evaluation on the run's own environments
	// (instances training never drew); Holdout on the held-out ones;
	// HoldoutSFT the held-out evaluation after the warm start, before GRPO.
	InDist     *Metrics `json:"in_distribution,omitempty"`
	Holdout    *Metrics `json:"holdout,omitempty"`
	HoldoutSFT *Metrics `json:"holdout_after_sft,omitempty"`
}

// Cell statuses.
const (
	CellPending = "pending"
	CellDone    = "done"
	CellFailed  = "failed"
)

// Metrics is one evaluation, as the report keeps it.
type Metrics struct {
	Reward    float64    `json:"reward"`
	RewardCI  [2]float64 `json:"reward_ci"`
	PassRate  float64    `json:"pass_rate"`
	AnswerNLL *float64   `json:"answer_nll,omitempty"` // nats per token of solve()'s answers
	// ContentNLL: the same without the <answer> tags every environment
	// shares: what the model knows of the answer beyond its format.
	ContentNLL *float64           `json:"answer_content_nll,omitempty"`
	PerEnv     map[string]float64 `json:"per_env"`
	PerEnvNLL  map[string]float64 `json:"per_env_answer_nll,omitempty"`
	N          int                `json:"n"` // completions scored
}

func metricsOf(r *grpo.EvalResult) *Metrics {
	if r == nil {
		return nil
	}
	return &Metrics{Reward: r.Reward, RewardCI: r.RewardCI, PassRate: r.PassRate, AnswerNLL: r.AnswerNLL, ContentNLL: r.ContentNLL,
		PerEnv: r.PerEnv, PerEnvNLL: r.PerEnvNLL, N: r.N}
}

// Total is the training instances the run had in all (its pools' sizes).
func (c Cell) Total() int {
	n := 0
	for _, v := range c.Pool {
		n += v
	}
	return n
}

// Point is one K's result over the seeds that finished.
type Point struct {
	K int `json:"k"`
	N int `json:"seeds"` // runs done
	// The mean and the sample standard deviation over the seeds (0 with
	// one seed) of the held-out reward, the held-out answer NLL and the
	// in-distribution reward; Values are the seeds' own, in seed order.
	Holdout           Stat `json:"holdout_reward"`
	HoldoutNLL        Stat `json:"holdout_answer_nll"`
	HoldoutContentNLL Stat `json:"holdout_answer_content_nll"`
	InDist            Stat `json:"in_distribution_reward"`
}

// Stat is a mean over seeds, its standard deviation, and the values.
type Stat struct {
	Mean   float64   `json:"mean"`
	SD     float64   `json:"sd"`
	Values []float64 `json:"values"`
}

func stat(vs []float64) Stat {
	s := Stat{Values: vs}
	if len(vs) == 0 {
		return s
	}
	for _, v := range vs {
		s.Mean += v
	}
	s.Mean /= float64(len(vs))
	if len(vs) > 1 {
		for _, v := range vs {
			s.SD += (v - s.Mean) * (v - s.Mean)
		}
		s.SD = math.Sqrt(s.SD / float64(len(vs)-1))
	}
	return s
}

// Curves is the result by K: one point per K of the design with at least
// one finished run.
func (r Report) Curves() []Point {
	var out []Point
	for _, k := range r.Design.Ks {
		var hr, hn, hc, id []float64
		for _, c := range r.Cells {
			if c.K != k || c.Status != CellDone || c.Holdout == nil {
				continue
			}
			hr = append(hr, c.Holdout.Reward)
			if c.Holdout.AnswerNLL != nil {
				hn = append(hn, *c.Holdout.AnswerNLL)
			}
			if c.Holdout.ContentNLL != nil {
				hc = append(hc, *c.Holdout.ContentNLL)
			}
			if c.InDist != nil {
				id = append(id, c.InDist.Reward)
			}
		}
		if len(hr) > 0 {
			out = append(out, Point{K: k, N: len(hr), Holdout: stat(hr), HoldoutNLL: stat(hn), HoldoutContentNLL: stat(hc), InDist: stat(id)})
		}
	}
	return out
}

// Done counts the finished and failed cells.
func (r Report) Done() (done, failed int) {
	for _, c := range r.Cells {
		switch c.Status {
		case CellDone:
			done++
		case CellFailed:
			failed++
		}
	}
	return done, failed
}

// WriteText prints the curves as a table and each run's line.
func (r Report) WriteText(w io.Writer) error {
	d := r.Design
	done, failed := r.Done()
	fmt.Fprintf(w, "diversity: %d training environments, held out %s; budget %d instances a run; %d SFT + %d GRPO steps; %d of %d runs done",
		len(d.Envs), strings.Join(d.Holdout, ", "), d.Budget, d.SFTSteps, d.Steps, done, len(r.Cells))
	if failed > 0 {
		fmt.Fprintf(w, ", %d failed", failed)
	}
	fmt.Fprintln(w)
	t := textout.NewTable("K", "instances/env", "seeds", "held-out reward", "held-out answer NLL", "without the tags", "in-distribution reward").RightAligned(0, 1, 2)
	for _, p := range r.Curves() {
		t.Row(fmt.Sprint(p.K), fmt.Sprint(d.PerEnv(p.K)), fmt.Sprint(p.N), p.Holdout.format(3), p.HoldoutNLL.format(3), p.HoldoutContentNLL.format(3), p.InDist.format(3))
	}
	if err := t.Write(w, 0); err != nil {
		return err
	}
	fmt.Fprintln(w)
	runs := textout.NewTable("seed", "K", "run", "status", "instances", "held-out reward [95% CI]", "NLL", "w/o tags", "in-dist", "error").
		RightAligned(0, 1, 2, 4).Wrapping(9)
	for _, c := range r.Cells {
		row := []string{fmt.Sprint(c.Seed), fmt.Sprint(c.K), runName(c.RunID), c.Status, fmt.Sprint(c.Total()), "", "", "", "", c.Error}
		if h := c.Holdout; h != nil {
			row[5] = fmt.Sprintf("%.3f [%.3f, %.3f]", h.Reward, h.RewardCI[0], h.RewardCI[1])
			row[6], row[7] = optional(h.AnswerNLL), optional(h.ContentNLL)
		}
		if c.InDist != nil {
			row[8] = fmt.Sprintf("%.3f", c.InDist.Reward)
		}
		runs.Row(row...)
	}
	if err := runs.WriteFitted(w); err != nil {
		return err
	}
	// A seed's subsets are nested: its largest names them all.
	fmt.Fprintln(w, "\nenvironments (each seed's order; a run of K trains on the first K):")
	for _, seed := range d.Seeds {
		_, err := fmt.Fprintf(w, "  seed %d: %s\n", seed, strings.Join(d.Subset(seed, len(d.Envs)), ", "))
		if err != nil {
			return err
		}
	}
	return nil
}

func optional(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%.3f", *v)
}

func runName(id uint64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

func (s Stat) format(prec int) string {
	if len(s.Values) == 0 {
		return "-"
	}
	if len(s.Values) == 1 {
		return fmt.Sprintf("%.*f", prec, s.Mean)
	}
	return fmt.Sprintf("%.*f ± %.*f", prec, s.Mean, prec, s.SD)
}

// WriteFiles writes the report as JSON to report and its plot to svg
// (either may be empty: not written; "-": stdout).
func (r Report) WriteFiles(report, svg string) error {
	if svg != "" {
		var b strings.Builder
		if err := r.WriteSVG(&b); err != nil {
			return err
		}
		if err := textout.WriteOut(svg, []byte(b.String())); err != nil {
			return fmt.Errorf("--svg: %w", err)
		}
	}
	if report == "" {
		return nil
	}
	w, closeOut, err := textout.CreateOut(report)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return errors.Join(textout.WriteJSON(w, r), closeOut())
}

// Load reads a stored experiment and its report.
func Load(db *storage.DB, id uint64) (storage.Experiment, Report, error) {
	var rec storage.Experiment
	var rep Report
	err := db.View(func(tx *storage.Tx) error {
		var err error
		rec, err = storage.GetExperiment(tx, id)
		return err
	})
	if err == nil {
		if err = json.Unmarshal(rec.Report, &rep); err != nil {
			err = fmt.Errorf("experiment %d: its report: %w", id, err)
		}
	}
	return rec, rep, err
}

// Show prints stored experiment id (WriteText) and writes its files
// (WriteFiles); with report "-" the JSON report alone goes to stdout.
func Show(w io.Writer, db *storage.DB, id uint64, report, svg string) error {
	rec, rep, err := Load(db, id)
	if err != nil {
		return err
	}
	if report == "-" { // the JSON alone on stdout
		return rep.WriteFiles(report, svg)
	}
	fmt.Fprintf(w, "experiment %d (%s): %s\n", rec.ID, rec.Kind, rec.Status)
	return errors.Join(rep.WriteText(w), rep.WriteFiles(report, svg))
}

// List reads every stored experiment's record and report, oldest first.
func List(db *storage.DB) ([]storage.Experiment, []Report, error) {
	var recs []storage.Experiment
	err := db.View(func(tx *storage.Tx) error {
		var err error
		recs, err = storage.ListExperiments(tx)
		return err
	})
	reps := make([]Report, len(recs))
	for i, rec := range recs {
		if err == nil {
			if jerr := json.Unmarshal(rec.Report, &reps[i]); jerr != nil {
				err = fmt.Errorf("experiment %d: its report: %w", rec.ID, jerr)
			}
		}
	}
	return recs, reps, err
}

// WriteList prints the store's experiments, a line each.
func WriteList(w io.Writer, db *storage.DB) error {
	recs, reps, err := List(db)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no experiments in the store (resyn experiment diversity runs one)")
		return err
	}
	t := textout.NewTable("id", "kind", "name", "status", "runs", "K", "held out", "created").RightAligned(0)
	for i, rec := range recs {
		done, failed := reps[i].Done()
		runs := fmt.Sprintf("%d/%d", done, len(reps[i].Cells))
		if failed > 0 {
			runs += fmt.Sprintf(" (%d failed)", failed)
		}
		t.Row(fmt.Sprint(rec.ID), rec.Kind, rec.Name, string(rec.Status), runs, fmt.Sprint(reps[i].Design.Ks),
			strings.Join(reps[i].Design.Holdout, ","), rec.Created.Local().Format("2006-01-02 15:04"))
	}
	return t.WriteFitted(w)
}
