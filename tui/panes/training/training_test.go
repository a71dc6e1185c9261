package training

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/storage"
	"resyn/themes"
	"resyn/trainer/grpo"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

func newPane(t *testing.T, load bool) (*Model, *storage.DB) {
	t.Helper()
	db, path := fixture.Store(t)
	if load {
		if _, err := LoadRecorded(db, filepath.Join("..", "..", "..", "testdata", "train-run")); err != nil {
			t.Fatal(err)
		}
	}
	m := New(&pane.Context{Ctx: context.Background(), Styles: themes.NewStyles(themes.NoColor), Store: db, StorePath: path})
	m.SetSize(80, 22)
	drive(m, m.Init())
	return m, db
}

func drive(m *Model, cmd tea.Cmd) []tea.Msg {
	return fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		return c
	})
}

func press(m *Model, keys ...string) {
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "right", "left":
			msg = tea.KeyMsg{Type: map[string]tea.KeyType{"right": tea.KeyRight, "left": tea.KeyLeft}[k]}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd := m.Update(msg)
		drive(m, cmd)
	}
}

func TestRecordedRun(t *testing.T) {
	m, _ := newPane(t, true)
	names, cur := m.Charts()
	want := "reward,pass_rate,loss,kl,entropy,response_len,tokens_per_s,format_rate,grad_norm"
	if strings.Join(names, ",") != want || cur != "reward" {
		t.Fatalf("charts %v (showing %s), want %s showing reward", names, cur, want)
	}
	v := m.View()
	for _, s := range []string{"run 1 tiny-cpu demo", "done", "step 60", "[reward]", "graph_coloring 0.884", "ROLLOUTS at step 60", "format    0.00"} {
		if !strings.Contains(v, s) {
			t.Errorf("view lacks %q:\n%s", s, fixture.Lines(v))
		}
	}
	press(m, "right", "right")
	if _, cur := m.Charts(); cur != "loss" {
		t.Errorf("two → show %s, want loss", cur)
	}
	if v := m.View(); !strings.Contains(v, "loss: last") {
		t.Errorf("a single curve has no summary legend:\n%s", fixture.Lines(v))
	}
	press(m, "left", "left", "left")
	if _, cur := m.Charts(); cur != "grad_norm" {
		t.Errorf("← wraps to %s, want grad_norm", cur)
	}
	if v := m.View(); !strings.Contains(v, "[grad_norm]") {
		t.Errorf("the current tab scrolled out of sight:\n%s", fixture.Lines(v))
	}
	press(m, "o")
	if v := m.View(); !strings.Contains(v, "step 60 · knights_and_knaves") || !strings.Contains(v, "prompt │") {
		t.Errorf("o does not list the rollouts:\n%s", fixture.Lines(v))
	}
}

func TestNoRuns(t *testing.T) {
	m, _ := newPane(t, false)
	if v := m.View(); !strings.Contains(v, "No training runs") {
		t.Errorf("empty store:\n%s", fixture.Lines(v))
	}
}

func TestFollowRunningRun(t *testing.T) {
	m, db := newPane(t, false)
	run := storage.TrainRun{Name: "live", Status: "running"}
	put := func(step int64, v float64) {
		err := db.Update(func(tx *storage.Tx) error {
			if run.ID == 0 {
				if err := storage.CreateTrainRun(tx, &run); err != nil {
					return err
				}
				// As a trainer does: a run nobody holds reads as
				// interrupted, and is not followed.
				hold, err := tx.HoldRun(storage.RunTrain, run.ID)
				if err != nil {
					return err
				}
				t.Cleanup(hold.Release)
			}
			return storage.PutMetrics(tx, run.ID, []storage.MetricPoint{{Step: step, Name: "reward", Value: v}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(1, 0.1)
	// Reload the list: the run is found and read.
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")})
	var follow tea.Msg
	fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		if _, ok := msg.(TrainingMetricsMsg); ok && c != nil {
			follow = trainingFollowMsg{run.ID} // what the tick would deliver
			return nil
		}
		return c
	})
	if follow == nil {
		t.Fatal("a running run schedules no follow-up read")
	}
	put(2, 0.5)
	_, cmd = m.Update(follow)
	fixture.Run(cmd, func(msg tea.Msg) tea.Cmd { m.Update(msg); return nil })
	if s := m.data.scalar["reward"]; s == nil || len(s.vals) != 2 || s.vals[1] != 0.5 {
		t.Fatalf("after a follow tick the reward curve is %+v, want two points ending 0.5", s)
	}
}

func TestTrainFromThePane(t *testing.T) {
	m, db := newPane(t, false)
	var cancelled bool
	m.ctx.StartTraining = func(ctx context.Context) (<-chan grpo.Event, error) {
		ch := make(chan grpo.Event, 16)
		run := storage.TrainRun{Name: "fake", Status: "running"}
		err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) })
		if err != nil {
			return nil, err
		}
		ch <- grpo.RunStartedEvent{RunID: run.ID, Phase: "grpo"}
		for step := 1; step <= 3; step++ {
			err := db.Update(func(tx *storage.Tx) error {
				return storage.PutMetrics(tx, run.ID, []storage.MetricPoint{{Step: int64(step), Name: "reward", Value: float64(step) / 4}})
			})
			if err != nil {
				return nil, err
			}
			ch <- grpo.StepEvent{Step: step, Of: 3, GlobalStep: step, Reward: float64(step) / 4}
		}
		cancelled = ctx.Err() != nil
		run.Status = "done" // as the trainer records it at the end
		if err := db.Update(func(tx *storage.Tx) error { return storage.PutTrainRun(tx, &run) }); err != nil {
			return nil, err
		}
		ch <- grpo.FinishedEvent{Summary: grpo.Summary{RunID: run.ID, Steps: 3}}
		close(ch)
		return ch, nil
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("t")})
	msgs := drive(m, cmd)
	var started, finished bool
	for _, msg := range msgs {
		switch msg := msg.(type) {
		case pane.JobStartedMsg:
			started = true
		case pane.JobFinishedMsg:
			finished = true
		case pane.ErrMsg:
			t.Fatal(msg.Err)
		}
	}
	if !started || !finished || m.training || cancelled {
		t.Fatalf("job started %v finished %v; still training %v; cancelled early %v", started, finished, m.training, cancelled)
	}
	if m.run.Name != "fake" {
		t.Fatalf("the pane shows run %q, want the one it started", m.run.Name)
	}
	if s := m.data.scalar["reward"]; s == nil || len(s.vals) != 3 {
		t.Fatalf("reward curve %+v, want the three steps", s)
	}
}

// TestShowsARunAnotherProcessStarts: with the workbench open on a finished
// run, a trainer elsewhere (its own handle on the store file, as another
// process has: no process holds the store between transactions) starts a
// run; the next poll shows it, follow ticks add its steps, and once its
// process is gone it reads as interrupted.
func TestShowsARunAnotherProcessStarts(t *testing.T) {
	m, db := newPane(t, true)
	old := m.run.ID
	if old == 0 {
		t.Fatal("the recorded run is not shown")
	}
	other, err := storage.Open(db.Path(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	run := storage.TrainRun{Name: "from the CLI", Status: "running"}
	var hold *storage.RunHold
	if err := other.Update(func(tx *storage.Tx) error {
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		hold, err = tx.HoldRun(storage.RunTrain, run.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w := other.NewMetricsWriter(run.ID)
	step := func(s int64, v float64) {
		if err := w.Step(s, map[string]float64{"reward": v}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	step(1, 0.25)
	// Drive the poll and what follows, without the timers (the tick
	// messages are what the clock would deliver).
	deliver := func(msg tea.Msg) {
		_, cmd := m.Update(msg)
		fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
			_, c := m.Update(msg)
			if _, ok := msg.(TrainingMetricsMsg); ok {
				return nil // its follow tick
			}
			return c
		})
	}
	deliver(trainingPollMsg{})
	if m.run.ID != run.ID || m.run.Status != "running" {
		t.Fatalf("after a poll the pane shows run %d (%s), want the new run %d running", m.run.ID, m.run.Status, run.ID)
	}
	if s := m.data.scalar["reward"]; s == nil || len(s.vals) != 1 {
		t.Fatalf("the new run's reward curve is %+v, want one point", s)
	}
	step(2, 0.75)
	deliver(trainingFollowMsg{run.ID})
	if s := m.data.scalar["reward"]; s == nil || len(s.vals) != 2 || s.vals[1] != 0.75 {
		t.Fatalf("after a follow tick the reward curve is %+v, want two points ending 0.75", s)
	}
	view := m.View()
	if !strings.Contains(view, "running") {
		t.Errorf("the header does not say the run is running:\n%s", view)
	}
	// The trainer's process ends without recording an end.
	hold.Release()
	deliver(trainingFollowMsg{run.ID})
	if m.run.Status != storage.RunInterrupted || !strings.Contains(m.View(), "interrupted") {
		t.Fatalf("a run whose process is gone shows as %q:\n%s", m.run.Status, m.View())
	}
	// A poll while browsing an older run keeps it on screen.
	press(m, "[")
	browsing := m.run.ID
	deliver(trainingPollMsg{})
	if m.run.ID != browsing {
		t.Errorf("a poll moved the pane from run %d to %d", browsing, m.run.ID)
	}
}
