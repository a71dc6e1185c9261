package training

import (
	"fmt"
	"math"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"resyn/storage"
	"resyn/tui/internal/fixture"
)

// putRun stores a run with the given points and returns its id.
func putRun(t *testing.T, db *storage.DB, name string, points []storage.MetricPoint) uint64 {
	t.Helper()
	run := storage.TrainRun{Name: name, Status: "done"}
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

func TestDefaultCurve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics []string
		want    string
	}{
		{"GRPO", []string{"tokens_per_s", "loss", "reward", "kl"}, "reward"},
		{"warm start with evaluation", []string{"tokens_per_s", "grad_norm", "sft_loss", "eval_reward", "eval_pass_rate"}, "eval_reward"},
		{"warm start only", []string{"tokens_per_s", "grad_norm", "step_s", "sft_loss"}, "sft_loss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, db := newPane(t, false)
			var pts []storage.MetricPoint
			for _, n := range tc.metrics {
				pts = append(pts, storage.MetricPoint{Step: 1, Name: n, Value: 1})
			}
			putRun(t, db, "r", pts)
			press(m, "r")
			if _, cur := m.Charts(); cur != tc.want {
				t.Errorf("a run with %v opens on %s, want %s", tc.metrics, cur, tc.want)
			}
		})
	}
}

func TestSmooth(t *testing.T) {
	s := &series{steps: []int64{1, 2, 3, 4}, vals: []float64{0, 1, 1, 1}}
	got := smooth(s, 0.5).vals
	want := []float64{0, 2.0 / 3, 0.75 / 0.875, 0.875 / 0.9375}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("smooth(0,1,1,1; 0.5) = %v, want %v", got, want)
		}
	}
	if smooth(s, 0) != s {
		t.Error("weight 0 is not off")
	}
	m, _ := newPane(t, true)
	press(m, "right", "right") // loss: one curve
	press(m, "s")
	if m.smooth != 0.6 {
		t.Fatalf("s: smoothing %v", m.smooth)
	}
	v := m.View()
	if !strings.Contains(v, "smoothed (EMA 0.6, s)") || !strings.Contains(v, "smoothed ") {
		t.Errorf("the smoothing does not show:\n%s", fixture.Lines(v))
	}
	press(m, "s", "s")
	if m.smooth != 0 {
		t.Errorf("s three times: smoothing %v, want off", m.smooth)
	}
}

func TestFocusAndSameLines(t *testing.T) {
	m, db := newPane(t, false)
	var pts []storage.MetricPoint
	for step := int64(1); step <= 5; step++ {
		v := float64(step) / 5
		pts = append(pts, storage.MetricPoint{Step: step, Name: "reward", Value: v,
			PerEnv: map[string]float64{"alpha": v, "beta": v, "gamma": 1 - v}})
	}
	putRun(t, db, "r", pts)
	press(m, "r")
	lines := m.curveLines("reward")
	if len(lines) != 3 || lines[1].same != "alpha" || lines[2].same != "" {
		t.Fatalf("lines %+v: want beta marked as the same as alpha", lines)
	}
	if v := m.View(); !strings.Contains(v, "beta 1.00 (= alpha)") {
		t.Errorf("the legend does not say that beta hides under alpha:\n%s", fixture.Lines(v))
	}
	for _, want := range []string{"alpha", "beta", "gamma", ""} {
		press(m, "e")
		if m.focus != want {
			t.Fatalf("e: focus %q, want %q", m.focus, want)
		}
		if want == "" {
			break
		}
		lines := m.curveLines("reward")
		last := lines[len(lines)-1]
		if last.label != want || last.faint {
			t.Errorf("focus %s: drawn last is %s (faint %v)", want, last.label, last.faint)
		}
		for _, l := range lines[:len(lines)-1] {
			if !l.faint {
				t.Errorf("focus %s: %s is not faint", want, l.label)
			}
		}
	}
	press(m, "v")
	v := m.View()
	for _, e := range []string{"━━ alpha 1.00", "━━ beta 1.00", "━━ gamma 0"} {
		if !strings.Contains(v, e) {
			t.Errorf("split view lacks the chart of %q:\n%s", e, fixture.Lines(v))
		}
	}
}

// TestCompareRuns pins one run and draws another against it.
func TestCompareRuns(t *testing.T) {
	m, db := newPane(t, false)
	for run, scale := range []float64{1, 0.5} {
		var pts []storage.MetricPoint
		for step := int64(1); step <= 4; step++ {
			pts = append(pts, storage.MetricPoint{Step: step, Name: "reward", Value: scale * float64(step) / 4})
		}
		putRun(t, db, fmt.Sprintf("run%d", run), pts)
	}
	press(m, "r") // shows the newest, run 2
	press(m, "c")
	if m.ref == nil || m.ref.run.ID != 2 || m.comparing() {
		t.Fatalf("c did not pin run 2: %+v", m.ref)
	}
	press(m, "[")
	if m.run.ID != 1 || !m.comparing() {
		t.Fatalf("[ shows run %d; comparing %v", m.run.ID, m.comparing())
	}
	lines := m.curveLines("reward")
	if len(lines) != 2 || lines[0].label != "run 1 reward" || lines[1].label != "run 2 reward" || !lines[1].thin {
		t.Fatalf("lines %+v: want run 1 in braille and run 2 in line runes", lines)
	}
	if _, v, _ := lines[1].s.last(); v != 0.5 {
		t.Errorf("the pinned run's last reward is %v, want 0.5", v)
	}
	v := m.View()
	for _, want := range []string{"against run 2 (c)", "━━ run 1 reward 1.00", "── run 2 reward 0.500"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, fixture.Lines(v))
		}
	}
	press(m, "c")
	if m.ref != nil {
		t.Error("c again did not unpin")
	}
}

func TestTabWindow(t *testing.T) {
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("metric_number_%02d", i))
	}
	m, _ := newPane(t, false)
	for _, w := range []int{40, 80, 160} {
		m.SetSize(w, 24)
		for _, cur := range []string{names[0], names[15], names[29]} {
			tabs := m.chartTabs(names, cur)
			if lipgloss.Width(tabs) > w {
				t.Errorf("width %d, current %s: the tabs are %d wide", w, cur, lipgloss.Width(tabs))
			}
			if !strings.Contains(tabs, "["+cur+"]") {
				t.Errorf("width %d: the current tab %s is not shown: %q", w, cur, tabs)
			}
			if cur != names[0] && !strings.Contains(tabs, "‹") || cur != names[29] && !strings.Contains(tabs, "›") {
				t.Errorf("width %d, current %s: no sign of the tabs scrolled away: %q", w, cur, tabs)
			}
		}
	}
	// A click on a tab shows that curve.
	m2, _ := newPane(t, true)
	m2.SetSize(160, 45)
	parts, _, _ := tabWindow(m2.data.charts(), "reward", 160)
	m2.Update(tea.MouseMsg{X: parts[2].x0 + 1, Y: 1, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	if _, cur := m2.Charts(); cur != "loss" {
		t.Errorf("a click on the third tab shows %s", cur)
	}
}
