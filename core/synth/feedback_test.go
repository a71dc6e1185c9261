package synth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/llm"
	"resyn/storage"
)

// curve is a pass-rate curve: level and pass rate per step, from step 1.
type curve struct {
	levels []int
	rates  []float64
}

func flat(n, level int, rate float64) curve {
	c := curve{}
	for range n {
		c.levels = append(c.levels, level)
		c.rates = append(c.rates, rate)
	}
	return c
}

func (c curve) then(d curve) curve {
	return curve{append(append([]int{}, c.levels...), d.levels...), append(append([]float64{}, c.rates...), d.rates...)}
}

// trainingRun stores a training run over the named built-ins with the
// given curves as its "pass_rate" and "level" metrics, the way the GRPO
// trainer writes them; it returns the run's id.
func trainingRun(t *testing.T, db *storage.DB, curves map[string]curve) uint64 {
	t.Helper()
	run := storage.TrainRun{Name: "test", Status: "done"}
	steps := 0
	for name, c := range curves {
		src, ok := envlib.Get(name)
		if !ok {
			t.Fatalf("no built-in %s", name)
		}
		m, err := env.Load(src.File, src.Code)
		if err != nil {
			t.Fatal(err)
		}
		run.Envs = append(run.Envs, storage.EnvVersion{Name: name, Hash: m.Hash, MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty})
		steps = max(steps, len(c.rates))
	}
	var points []storage.MetricPoint
	for s := 0; s < steps; s++ {
		pass, level := map[string]float64{}, map[string]float64{}
		for name, c := range curves {
			if s < len(c.rates) {
				pass[name], level[name] = c.rates[s], float64(c.levels[s])
			}
		}
		points = append(points, storage.MetricPoint{Step: int64(s + 1), Name: "pass_rate", Value: 0.5, PerEnv: pass},
			storage.MetricPoint{Step: int64(s + 1), Name: "level", PerEnv: level},
			storage.MetricPoint{Step: int64(s + 1), Name: "reward", Value: 0.5, PerEnv: pass})
	}
	err := db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		return storage.PutMetrics(tx, run.ID, points)
	})
	if err != nil {
		t.Fatal(err)
	}
	return run.ID
}

func TestTrainingSignals(t *testing.T) {
	db := openStore(t)
	rising := curve{}
	for l := 1; l <= 10; l++ {
		rising = rising.then(flat(4, l, 0.85))
	}
	id := trainingRun(t, db, map[string]curve{
		"graph_coloring": rising.then(flat(12, 10, 0.97)),                             // reaches the top and stays: saturated
		"sat_3cnf":       flat(30, 1, 0),                                              // never passes at the bottom: zero
		"knapsack":       flat(10, 1, 0.3).then(flat(20, 2, 0)),                       // zero, but not at the bottom: learning
		"maze":           flat(10, 1, 0.9).then(flat(20, 10, 0.8)),                    // at the top but below 0.9
		"n_queens":       flat(5, 1, 0),                                               // too few steps to judge
		"latin_square":   flat(20, 10, 1).then(flat(1, 10, 0.5)).then(flat(9, 10, 1)), // mean 0.95 over the window
	})
	var sigs []EnvSignal
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		sigs, err = TrainingSignals(tx, id, SignalOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]EnvSignal{}
	for _, s := range sigs {
		got[s.Env] = s
	}
	for name, want := range map[string]string{"graph_coloring": SignalSaturated, "sat_3cnf": SignalZero, "knapsack": "",
		"maze": "", "n_queens": "", "latin_square": SignalSaturated} {
		if got[name].Signal != want {
			t.Errorf("%s: signal %q (%s); want %q", name, got[name].Signal, got[name].Reason, want)
		}
	}
	gc := got["graph_coloring"]
	if len(gc.Curve) != 52 || gc.Since != 43 || gc.Level != 10 || gc.Curve[0] != (CurvePoint{Step: 1, Level: 1, PassRate: 0.85}) ||
		!strings.Contains(gc.Reason, "pass rate 0.97 over its last 10 training steps (from step 43) at level 10, its highest") {
		t.Errorf("graph_coloring: %+v", gc)
	}
	if r := got["sat_3cnf"].Reason; !strings.Contains(r, "stays at zero: pass rate 0 over its last 10 training steps (from step 21) at level 1, its lowest") {
		t.Errorf("sat_3cnf: %s", r)
	}
	if r := got["n_queens"].Reason; !strings.Contains(r, "only 5 training steps with it (10 needed") {
		t.Errorf("n_queens: %s", r)
	}
	// A stricter threshold leaves latin_square (mean 0.95) unflagged.
	_ = db.View(func(tx *storage.Tx) error {
		sigs, _ = TrainingSignals(tx, id, SignalOptions{High: 0.99})
		return nil
	})
	for _, s := range sigs {
		if s.Env == "latin_square" && s.Signal != "" {
			t.Errorf("latin_square at High 0.99: %+v", s)
		}
	}
	if err := db.View(func(tx *storage.Tx) error { _, err := TrainingSignals(tx, 99, SignalOptions{}); return err }); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
}

// reviser answers revision requests: a harder copy of graph_coloring for
// its new version, prose for anything else. It keeps every request.
type reviser struct {
	mu   sync.Mutex
	reqs []llm.Request
}

func (r *reviser) Name() string { return "reviser" }

func (r *reviser) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if req.Subject == "graph_coloring_v2" {
		src, _ := envlib.Get("graph_coloring")
		code := strings.Replace(string(src.Code), `NAME = "graph_coloring"`, `NAME = "graph_coloring_v2"`, 1)
		return llm.Completion{Text: fenced(code), Usage: llm.Usage{PromptTokens: 900, CompletionTokens: 700}}, nil
	}
	return llm.Completion{Text: "I would make it simpler.", Usage: llm.Usage{PromptTokens: 900, CompletionTokens: 5}}, nil
}

// `synth --from-run`: exactly the flagged environments are asked for, each
// request carrying the environment's code and its pass-rate curve; the new
// version is stored beside the old one as a candidate linked to the
// training run, and is not rejected as a duplicate of the version it
// replaces.
func TestFromRunRevisesExactlyTheFlagged(t *testing.T) {
	db := openStore(t)
	id := trainingRun(t, db, map[string]curve{
		"graph_coloring": flat(5, 1, 0.5).then(flat(15, 10, 1)),
		"sat_3cnf":       flat(20, 1, 0),
		"knapsack":       flat(20, 3, 0.5),
	})
	model := &reviser{}
	pl := &Pipeline{LLM: model, Pool: testPool(t), DB: db}
	var ev events
	cfg := Config{FromRun: id, MaxRepairs: -1, Validate: validateOpts()}
	sum, err := pl.Run(context.Background(), cfg, ev.add)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]string{}
	for _, r := range model.reqs {
		if r.Tag != StageImplement {
			t.Errorf("a %s call in a run that closes the loop", r.Tag)
		}
		asked[r.Subject] = r.Messages[0].Content
	}
	if len(asked) != 2 || asked["graph_coloring_v2"] == "" || asked["sat_3cnf_v2"] == "" {
		t.Fatalf("asked for %v", mapKeys(asked))
	}
	gcSrc, _ := envlib.Get("graph_coloring")
	for _, want := range []string{
		`The environment "graph_coloring" (version `, "training run 1", "step  level  pass rate",
		"   1      1       0.50", "  20     10       1.00", "The pass rate saturated", "Write a harder version",
		strings.SplitN(string(gcSrc.Code), "\n", 12)[10], `NAME = "graph_coloring_v2"`,
	} {
		if !strings.Contains(asked["graph_coloring_v2"], want) {
			t.Errorf("the graph_coloring request lacks %q:\n%s", want, asked["graph_coloring_v2"])
		}
	}
	if !strings.Contains(asked["sat_3cnf_v2"], "The pass rate stayed at zero") || !strings.Contains(asked["sat_3cnf_v2"], "write a replacement") {
		t.Errorf("the sat_3cnf request:\n%s", asked["sat_3cnf_v2"])
	}
	vs := ev.verdicts()
	if vs["graph_coloring_v2"].Outcome != OutcomeCandidate || vs["sat_3cnf_v2"].Outcome != OutcomeNoCode || sum.Stored != 1 {
		t.Fatalf("verdicts %+v", vs)
	}
	var stored storage.Env
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		stored, err = storage.GetEnv(tx, "graph_coloring_v2")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m, _ := env.Load(gcSrc.File, gcSrc.Code)
	if stored.Status != storage.StatusCandidate || stored.Origin.TrainRun != id || stored.Origin.Parent != "graph_coloring@"+m.Hash ||
		!strings.Contains(stored.Change, "from training run 1: a new version of graph_coloring (saturated)") {
		t.Errorf("stored %+v", stored)
	}
	// A second pass over the same run names the next version.
	model.reqs = nil
	if _, err := pl.Run(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range model.reqs {
		names[r.Subject] = true
	}
	if !names["graph_coloring_v3"] || !names["sat_3cnf_v2"] || len(names) != 2 {
		t.Errorf("second pass asked for %v", names)
	}
	// Nothing flagged: an error naming each environment's state.
	quiet := trainingRun(t, db, map[string]curve{"knapsack": flat(20, 3, 0.5)})
	_, err = pl.Run(context.Background(), Config{FromRun: quiet}, nil)
	if !errors.Is(err, ErrNoTrainingSignal) || !strings.Contains(err.Error(), "knapsack: learning: at level 3 of 1–10") {
		t.Errorf("nothing flagged: %v", err)
	}
	if _, err := pl.Run(context.Background(), Config{FromRun: 77}, nil); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("no such training run: %v", err)
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSampleCurve(t *testing.T) {
	var c []CurvePoint
	for i := range 100 {
		c = append(c, CurvePoint{Step: int64(i + 1)})
	}
	s := sampleCurve(c, 40)
	if len(s) != 40 || s[0].Step != 1 || s[39].Step != 100 {
		t.Errorf("sampled %d points, %v … %v", len(s), s[0], s[len(s)-1])
	}
	if got := fmt.Sprint(len(sampleCurve(c[:10], 40))); got != "10" {
		t.Errorf("a short curve: %s points", got)
	}
}
