package experiment

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"resyn/storage"
	"resyn/trainer/grpo"
)

func TestDesignValidate(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("the default design: %v", err)
	}
	for _, c := range []struct {
		name string
		mod  func(*Design)
		want string
	}{
		{"no 1", func(d *Design) { d.Ks = []int{2, 4, 8} }, "want 1 and all 8"},
		{"no all", func(d *Design) { d.Ks = []int{1, 2, 4} }, "want 1 and all 8"},
		{"unsorted", func(d *Design) { d.Ks = []int{1, 4, 2, 8} }, "ascending"},
		{"repeat", func(d *Design) { d.Ks = []int{1, 1, 8} }, "without repeats"},
		{"held out and trained", func(d *Design) { d.Holdout = append(d.Holdout, d.Envs[0]) }, "listed twice"},
		{"nothing held out", func(d *Design) { d.Holdout = nil }, "no held-out environment"},
		{"budget under one per env", func(d *Design) { d.Budget = 7 }, "at least one instance per environment"},
		{"budget huge", func(d *Design) { d.Budget = 1 << 30 }, "budget"},
		{"no seeds", func(d *Design) { d.Seeds = nil }, "0 seeds"},
		{"no GRPO", func(d *Design) { d.Steps = 0 }, "GRPO steps"},
		{"preset", func(d *Design) { d.Preset = "huge" }, `unknown preset "huge"`},
		{"preset and model", func(d *Design) { d.Model = "/models/qwen" }, "not both or neither"},
		{"no model", func(d *Design) { d.Preset = "" }, "not both or neither"},
		{"levels", func(d *Design) { d.Levels = [2]int{3, 1} }, "difficulty 3-1"},
		{"one env", func(d *Design) { d.Envs = d.Envs[:1]; d.Ks = []int{1} }, "want 2 to"},
	} {
		d := Defaults()
		c.mod(&d)
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// A seed's subsets are nested, K = all is the whole pool, and seeds spread
// over different environments at K = 1.
func TestSubsetsAreNested(t *testing.T) {
	d := Defaults()
	firsts := map[string]bool{}
	for seed := int64(1); seed <= 20; seed++ {
		for i := 1; i < len(d.Ks); i++ {
			small, big := d.Subset(seed, d.Ks[i-1]), d.Subset(seed, d.Ks[i])
			if !slices.Equal(small, big[:len(small)]) {
				t.Fatalf("seed %d: K=%d %v is not inside K=%d %v", seed, d.Ks[i-1], small, d.Ks[i], big)
			}
		}
		all := slices.Clone(d.Subset(seed, len(d.Envs)))
		slices.Sort(all)
		want := slices.Clone(d.Envs)
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("seed %d: K=all is %v", seed, all)
		}
		firsts[d.Subset(seed, 1)[0]] = true
	}
	if len(firsts) < 4 {
		t.Errorf("20 seeds trained K=1 on only %d environments", len(firsts))
	}
}

func TestCurvesMeanAndSD(t *testing.T) {
	nll := func(v float64) *float64 { return &v }
	r := Report{Design: Design{Ks: []int{1, 2}}, Cells: []Cell{
		{K: 1, Seed: 1, Status: CellDone, Holdout: &Metrics{Reward: 0, AnswerNLL: nll(3)}, InDist: &Metrics{Reward: 0.5}},
		{K: 1, Seed: 2, Status: CellDone, Holdout: &Metrics{Reward: 0.4, AnswerNLL: nll(1)}, InDist: &Metrics{Reward: 0.7}},
		{K: 2, Seed: 1, Status: CellFailed, Error: "x"},
		{K: 2, Seed: 2, Status: CellDone, Holdout: &Metrics{Reward: 0.4, AnswerNLL: nll(2)}, InDist: &Metrics{Reward: 0.2}},
	}}
	c := r.Curves()
	if len(c) != 2 || c[0].N != 2 || c[1].N != 1 {
		t.Fatalf("curves %+v", c)
	}
	if math.Abs(c[0].Holdout.Mean-0.2) > 1e-12 || math.Abs(c[0].Holdout.SD-math.Sqrt(0.08)) > 1e-12 || c[0].HoldoutNLL.Mean != 2 || c[0].InDist.Mean != 0.6 {
		t.Errorf("K=1: %+v", c[0])
	}
	if c[1].Holdout.SD != 0 || c[1].Holdout.Mean != 0.4 {
		t.Errorf("K=2 (one seed done, one failed): %+v", c[1])
	}
	if done, failed := r.Done(); done != 3 || failed != 1 {
		t.Errorf("done %d failed %d", done, failed)
	}
	var svg strings.Builder
	if err := r.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal([]byte(svg.String()), new(struct{})); err != nil {
		t.Fatalf("the plot is not well-formed XML: %v", err)
	}
	// 3 panels with values × 3 finished runs of grey dots, and a mean line per panel (the tags-out NLL has none)
	if n := strings.Count(svg.String(), `fill="#aaa"`); n != 9 {
		t.Errorf("%d seed dots; want 9", n)
	}
	if n := strings.Count(svg.String(), "<polyline"); n != 3 {
		t.Errorf("%d mean lines; want 3", n)
	}
	// A panel without values (the tags-out NLL, which this report lacks)
	// is left out; axes of values that are never negative stop at 0.
	if strings.Contains(svg.String(), "tags left out") || strings.Contains(svg.String(), `end">-`) {
		t.Errorf("an empty panel, or a negative tick on a non-negative axis:\n%s", svg.String())
	}
}

// tinyDesign trains two environments at K = 1 and 2 with a few steps.
func tinyDesign() Design {
	return Design{Preset: "tiny-cpu", Envs: []string{"linear_system", "base_conversion"}, Holdout: []string{"modular_equation"},
		Ks: []int{1, 2}, Seeds: []int64{5}, Budget: 6, Levels: [2]int{1, 1}, SFTSteps: 2, Steps: 1, EvalN: 3, EvalSamples: 1}
}

// A real (tiny) experiment: every run trains on Budget/K distinct instances
// per environment of its nested subset, with a tokenizer of the whole pool
// and never the held-out environment, and is measured on the same
// held-out instances; the record grows run by run; a stop keeps the
// finished runs, and the resume runs only the rest.
func TestRunRecordsStopsAndResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Design: tinyDesign(), Store: db, StorePath: path, Out: t.TempDir(), Threads: 1, Parallel: 1,
		Progress: func(Report) { cancel() }} // stop once the first run is recorded
	res, err := Run(ctx, o)
	if err == nil || res.Status != storage.RunStopped {
		t.Fatalf("stopped experiment: %v, status %s", err, res.Status)
	}
	if done, _ := res.Report.Done(); done != 1 {
		t.Fatalf("%d runs done before the stop; want 1", done)
	}
	first := res.Report.Cells[0]
	o.Resume, o.Design, o.Progress = res.ID, Design{}, nil
	res, err = Run(context.Background(), o)
	if err != nil || res.Status != storage.RunDone {
		t.Fatalf("resumed experiment: %v, status %s", err, res.Status)
	}
	if res.Report.Cells[0].RunID != first.RunID {
		t.Errorf("the resume ran the finished cell again (run %d, was %d)", res.Report.Cells[0].RunID, first.RunID)
	}
	var heldN []int
	for _, c := range res.Report.Cells {
		if c.Status != CellDone || c.Holdout == nil || c.Holdout.AnswerNLL == nil || c.InDist == nil {
			t.Fatalf("cell %+v", c)
		}
		if len(c.Pool) != c.K {
			t.Errorf("K=%d: pools %v", c.K, c.Pool)
		}
		for name, n := range c.Pool {
			if n != 6/c.K {
				t.Errorf("K=%d: %s had %d distinct training instances; want %d", c.K, name, n, 6/c.K)
			}
		}
		heldN = append(heldN, c.Holdout.N)
		checkRun(t, db, c, o.Design)
	}
	if heldN[0] != heldN[1] {
		t.Errorf("held-out evaluations of different sizes: %v", heldN)
	}
	var rec storage.Experiment
	db.View(func(tx *storage.Tx) error { rec, err = storage.GetExperiment(tx, res.ID); return err })
	var stored Report
	if err := json.Unmarshal(rec.Report, &stored); err != nil || rec.Status != storage.RunDone || len(stored.Curves()) != 2 {
		t.Errorf("stored record: status %s, %v, curves %+v", rec.Status, err, stored.Curves())
	}
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "is done") {
		t.Errorf("resuming a finished experiment: %v", err)
	}
}

// checkRun reads the cell's training run: its config trains the cell's
// subset on fixed pools, holds out the design's environments and builds
// its tokenizer from the whole pool.
func checkRun(t *testing.T, db *storage.DB, c Cell, d Design) {
	t.Helper()
	var run storage.TrainRun
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		run, err = storage.GetTrainRun(tx, c.RunID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var info grpo.RunInfo
	if err := json.Unmarshal(run.Config, &info); err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	var trained []string
	for _, e := range cfg.Envs {
		trained = append(trained, e.Name)
	}
	if !slices.Equal(trained, c.Envs) || cfg.TrainInstances != 6/c.K || len(cfg.HoldoutEnvs) != 1 || cfg.HoldoutEnvs[0].Name != "modular_equation" ||
		!slices.Equal(cfg.TokenizerEnvs, []string{"linear_system", "base_conversion"}) || !cfg.NoInitEval || !cfg.EvalAnswerNLL {
		t.Errorf("run %d config: trains %v on %d each, holds out %+v, tokenizer %v", c.RunID, trained, cfg.TrainInstances, cfg.HoldoutEnvs, cfg.TokenizerEnvs)
	}
}
