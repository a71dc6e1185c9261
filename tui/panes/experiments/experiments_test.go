package experiments

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"

	"resyn/storage"
	"resyn/themes"
	"resyn/trainer/experiment"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

// storeReport records an experiment of two K and two seeds, one run of
// K=4 still to come.
func storeReport(t *testing.T, db *storage.DB) {
	t.Helper()
	d := experiment.Defaults()
	d.Envs, d.Ks, d.Seeds = d.Envs[:4], []int{1, 4}, []int64{1, 2}
	rep := experiment.NewReport(d)
	nll := func(v float64) *float64 { return &v }
	vals := map[[2]int64][3]float64{{1, 1}: {0.10, 3.2, 0.50}, {1, 2}: {0.20, 3.0, 0.40}, {4, 1}: {0.30, 2.5, 0.35}}
	for i, c := range rep.Cells {
		v, ok := vals[[2]int64{int64(c.K), c.Seed}]
		if !ok {
			continue
		}
		rep.Cells[i].Status, rep.Cells[i].RunID = experiment.CellDone, uint64(i+1)
		rep.Cells[i].Holdout = &experiment.Metrics{Reward: v[0], AnswerNLL: nll(v[1])}
		rep.Cells[i].InDist = &experiment.Metrics{Reward: v[2]}
	}
	design, _ := json.Marshal(d)
	report, _ := json.Marshal(rep)
	if err := db.Update(func(tx *storage.Tx) error {
		return storage.CreateExperiment(tx, &storage.Experiment{Kind: experiment.Kind, Name: "demo", Status: storage.RunStopped,
			Design: design, Report: report})
	}); err != nil {
		t.Fatal(err)
	}
}

func newPane(t *testing.T, record bool) *Model {
	t.Helper()
	db, path := fixture.Store(t)
	if record {
		storeReport(t, db)
	}
	m := New(&pane.Context{Ctx: context.Background(), Styles: themes.NewStyles(themes.NoColor), Store: db, StorePath: path})
	m.SetSize(90, 26)
	fixture.Run(m.Init(), func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		return c
	})
	return m
}

// The pane lists the stored experiment and draws each curve by K with
// the seeds' values; the keys move between the curves.
func TestExperimentsScreen(t *testing.T) {
	m := newPane(t, true)
	if id, cur := m.Selected(); id != 1 || cur != "held-out reward" {
		t.Fatalf("selected %d showing %s", id, cur)
	}
	view := m.View()
	for _, want := range []string{"1  diversity  stopped", "3/4 runs", "0.150 ± 0.071  (0.100, 0.200)", "0.300 ± 0.000  (0.300)"} {
		if !strings.Contains(view, want) {
			t.Errorf("the view lacks %q:\n%s", want, view)
		}
	}
	golden.RequireEqual(t, []byte(view))
	m.Update(tea.KeyMsg{Type: tea.KeyRight})
	if _, cur := m.Selected(); cur != "held-out answer NLL" || !strings.Contains(m.View(), "3.100 ± 0.141") {
		t.Errorf("after → the pane shows %s:\n%s", cur, m.View())
	}
	m.Update(tea.KeyMsg{Type: tea.KeyLeft})
	m.Update(tea.KeyMsg{Type: tea.KeyLeft})
	if _, cur := m.Selected(); cur != "in-distribution reward" {
		t.Errorf("← twice from the NLL: %s", cur)
	}
}

func TestExperimentsEmpty(t *testing.T) {
	m := newPane(t, false)
	if v := m.View(); !strings.Contains(v, "No experiments yet") || !strings.Contains(v, "resyn experiment diversity") {
		t.Errorf("empty store:\n%s", v)
	}
}
