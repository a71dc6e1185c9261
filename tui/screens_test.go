package tui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"resyn/storage"
	"resyn/tui/panes/training"
)

// sizes are the terminal sizes every new screen has a golden file at.
var sizes = [][2]int{{80, 24}, {160, 45}}

// loadRuns imports the recorded run, and with second a run whose reward
// curves are lower (so that a comparison has two lines to draw).
func loadRuns(t *testing.T, db *storage.DB, second bool) {
	t.Helper()
	id, err := training.LoadRecorded(db, filepath.Join("..", "testdata", "train-run"))
	if err != nil {
		t.Fatal(err)
	}
	if !second {
		return
	}
	var pts []storage.MetricPoint
	err = db.View(func(tx *storage.Tx) error {
		pts, err = storage.ListMetrics(tx, id, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pts {
		pts[i].Value *= 0.7
		for e, v := range pts[i].PerEnv {
			pts[i].PerEnv[e] = v * 0.7
		}
	}
	storeRun(t, db, "baseline", pts)
}

// storeRun stores a finished training run with its points.
func storeRun(t *testing.T, db *storage.DB, name string, pts []storage.MetricPoint) {
	t.Helper()
	err := db.Update(func(tx *storage.Tx) error {
		run := storage.TrainRun{Name: name, Status: "done"}
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		return storage.PutMetrics(tx, run.ID, pts)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// warmStartRun stores a run that has only a warm start's metrics.
func warmStartRun(t *testing.T, db *storage.DB) {
	t.Helper()
	var pts []storage.MetricPoint
	for step := int64(1); step <= 30; step++ {
		x := float64(step) / 30
		pts = append(pts,
			storage.MetricPoint{Step: step, Name: "sft_loss", Value: 3 - 2*x},
			storage.MetricPoint{Step: step, Name: "tokens_per_s", Value: 900 + 10*float64(step%5)},
			storage.MetricPoint{Step: step, Name: "grad_norm", Value: 1 / (1 + x)})
		if step%10 == 0 {
			pts = append(pts, storage.MetricPoint{Step: step, Name: "eval_reward", Value: 0.2 + 0.5*x,
				PerEnv: map[string]float64{"graph_coloring": 0.3 + 0.5*x, "boolean_circuit": 0.1 + 0.5*x}})
		}
	}
	storeRun(t, db, "warm start only", pts)
}

// TestNewScreens: the screens of issue 19 (marks and the bulk question,
// sorting, search over every field, undo, the copy question, an answer
// kept after enter, and the curves: smoothed, one environment in front,
// one chart per environment, two runs compared, the curve tabs scrolled, a
// warm-start-only run, the help overlay) at 80×24 and 160×45.
func TestNewScreens(t *testing.T) {
	// A step is keys to send (text after "type:"), or a string to wait
	// for (after "wait:").
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, db *storage.DB)
		steps []string
	}{
		{"library", nil, []string{"wait:word_reverse"}},
		{"marked and asking", nil, []string{"space", "space", "x", "wait:Reject 2 marked"}},
		{"sorted by status", nil, []string{"o", "wait:STATUS▲"}},
		{"search over every field", nil, []string{"/", "type:bit string", "wait:1 of 4"}},
		{"undone", nil, []string{"a", "wait:u undoes", "u", "wait:undone: accepted adder"}},
		{"copy question", nil, []string{"enter", "wait:verify → 1", "y", "wait:copy: p prompt"}},
		{"answer kept after enter", nil, []string{"enter", "wait:verify → 1", "i", "type:35", "wait:✓ score 1", "enter", "type:9", "wait:answer › 359"}},
		{"curves smoothed", loadOne, []string{"4", "wait:[reward]", "s", "wait:smoothed (EMA 0.6"}},
		{"curves one environment in front", loadOne, []string{"4", "wait:[reward]", "e", "wait:focus boolean_circuit"}},
		{"curves one chart per environment", loadOne, []string{"4", "wait:[reward]", "v", "wait:one chart per environment"}},
		{"curves of two runs", loadTwo, []string{"4", "wait:run 2 baseline", "c", "[", "wait:── run 2 reward"}},
		{"curve tabs scrolled", loadOne, []string{"4", "wait:[reward]", "h", "wait:[grad_norm]"}},
		{"warm-start-only run", warmStartRun, []string{"4", "wait:[eval_reward]"}},
		{"help", nil, []string{"?", "wait:Library — keys"}},
		{"new training run form", nil, []string{"4", "wait:No training runs", "t", "wait:ENVIRONMENTS  1 of 4 on"}},
		{"new run form rejected environment on", nil, []string{"4", "wait:No training runs", "t", "wait:ENVIRONMENTS",
			"tab", "tab", "j", "space", "wait:old_maze is rejected in the library"}},
	} {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%dx%d", tc.name, size[0], size[1]), func(t *testing.T) {
				m, db := newModel(t)
				if tc.setup != nil {
					tc.setup(t, db)
				}
				tm := startAt(t, m, size[0], size[1])
				waitFor(t, tm, "4 of 4")
				for _, step := range tc.steps {
					switch {
					case strings.HasPrefix(step, "wait:"):
						waitFor(t, tm, strings.TrimPrefix(step, "wait:"))
					case strings.HasPrefix(step, "type:"):
						tm.Type(strings.TrimPrefix(step, "type:"))
					default:
						keys(tm, step)
					}
				}
				requireGoldenAt(t, finalView(t, tm), size[0], size[1])
			})
		}
	}
}

func loadOne(t *testing.T, db *storage.DB) { loadRuns(t, db, false) }
func loadTwo(t *testing.T, db *storage.DB) { loadRuns(t, db, true) }
