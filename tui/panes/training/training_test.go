package training

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/library"
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
	m.ctx.Library = library.New(db) // the built-ins and the fixture's stored ones
	// The tiny-cpu preset, cut to runs of a few seconds: no warm start,
	// no evaluation, two prompts of two short completions a step.
	zero := 0
	m.ctx.TrainOverrides = grpo.Overrides{SFTSteps: &zero, EvalN: &zero, CheckpointEvery: &zero,
		Prompts: 2, Group: 2, MaxNewTokens: 8, KeepZeroVar: true}

	press(m, "t")
	if m.form == nil || !m.Capturing() {
		t.Fatal("t opens no form, or the form does not hold the keys")
	}
	if got := strings.Join(m.form.chosen(), ","); got != "boolean_circuit,graph_coloring,subtraction_game" {
		t.Fatalf("the form starts with %s on, want the preset's accepted environments", got)
	}
	// Turning the rejected old_maze on warns, naming it; off again.
	for m.form.entries[m.form.cursor].Name != "old_maze" {
		if m.form.focus != focusEnvs {
			m.Update(tea.KeyMsg{Type: tea.KeyTab})
			continue
		}
		press(m, "j")
	}
	press(m, " ")
	if v := m.View(); !strings.Contains(v, "old_maze is rejected in the library; training on it because it was named") {
		t.Errorf("no warning for a rejected environment turned on:\n%s", fixture.Lines(v))
	}
	press(m, " ")
	m.Update(tea.KeyMsg{Type: tea.KeyTab}) // to the model field
	m.Update(tea.KeyMsg{Type: tea.KeyTab}) // to steps
	press(m, "1", "0", "0", "0")
	if m.form.steps != "1000" {
		t.Fatalf("steps field %q", m.form.steps)
	}

	// run drives a run until its first GRPO step and stops it there with x,
	// returning the run's first event and its finish.
	run := func(cmd tea.Cmd) (grpo.RunStartedEvent, grpo.FinishedEvent) {
		t.Helper()
		var first grpo.RunStartedEvent
		var fin grpo.FinishedEvent
		stopped := false
		fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
			_, c := m.Update(msg)
			switch msg := msg.(type) {
			case pane.ErrMsg:
				t.Fatal(msg.Err)
			case TrainingMetricsMsg:
				return nil // no follow ticks: the events drive this test
			case TrainingEventMsg:
				switch e := msg.Event.(type) {
				case grpo.RunStartedEvent:
					first = e
				case grpo.StepEvent:
					if !stopped {
						stopped = true
						_, x := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
						return tea.Batch(c, x)
					}
				case grpo.FinishedEvent:
					fin = e
				}
			}
			return c
		})
		if !stopped {
			t.Fatal("the run took no step")
		}
		return first, fin
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if m.form != nil {
		t.Fatal("enter left the form open")
	}
	first, fin := run(cmd)
	if first.RunID == 0 || first.Resumed || fin.Summary.Steps < 1 || fin.Summary.Steps >= 1000 || fin.Summary.Checkpoint == "" {
		t.Fatalf("first run: started %+v, finished %+v; want a fresh run stopped after a step or two, with a checkpoint", first, fin)
	}
	if m.training || m.setup != nil || m.run.ID != first.RunID || m.run.Status != "stopped" {
		t.Fatalf("after x: training %v, showing run %d (%s); want run %d stopped", m.training, m.run.ID, m.run.Status, first.RunID)
	}
	if v := m.View(); !strings.Contains(v, "stopped") || !strings.Contains(v, "R resumes") {
		t.Errorf("the stopped run's header:\n%s", fixture.Lines(v))
	}

	_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("R")})
	again, fin2 := run(cmd)
	if !again.Resumed || again.RunID != first.RunID || again.Step != fin.Summary.Steps || fin2.Summary.Steps <= fin.Summary.Steps {
		t.Fatalf("resume: started %+v, finished %+v; want run %d resumed at step %d and stopped further on", again, fin2, first.RunID, fin.Summary.Steps)
	}
	var runs []storage.TrainRun
	var last int64
	_ = db.View(func(tx *storage.Tx) error {
		runs, _ = storage.ListTrainRuns(tx)
		last, _, _ = storage.LastMetricStep(tx, first.RunID)
		return nil
	})
	if len(runs) != 1 || runs[0].Status != "stopped" || last != int64(fin2.Summary.Steps) {
		t.Fatalf("store: %+v, last metric step %d; want one stopped run with metrics to step %d", runs, last, fin2.Summary.Steps)
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

// TestStopDuringSetup: x while the run is being set up stops it with a
// word, not an error, and records nothing.
func TestStopDuringSetup(t *testing.T) {
	m, db := newPane(t, false)
	m.ctx.Library = library.New(db)
	press(m, "t")
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("x")})
	var info string
	fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		switch msg := msg.(type) {
		case pane.ErrMsg:
			t.Errorf("an error for a stop: %v", msg.Err)
		case pane.InfoMsg:
			info = msg.Text
		}
		return c
	})
	if m.training || !strings.Contains(info, "stopped before the run started") {
		t.Errorf("training %v, last news %q", m.training, info)
	}
	var runs []storage.TrainRun
	_ = db.View(func(tx *storage.Tx) error { runs, _ = storage.ListTrainRuns(tx); return nil })
	if len(runs) != 0 {
		t.Errorf("%d runs recorded", len(runs))
	}
}

// TestNewRunForm: Esc cancels; what cannot start says why and keeps the
// form; a model directory names the environments on.
func TestNewRunForm(t *testing.T) {
	m, db := newPane(t, false)
	m.ctx.Library = fixture.StoredOnly{Library: library.New(db)}
	open := func() {
		t.Helper()
		press(m, "t")
		if m.form == nil {
			t.Fatal("t opens no form")
		}
	}
	open()
	if got := strings.Join(m.form.chosen(), ","); got != "word_reverse" {
		t.Errorf("on at first: %s, want the accepted word_reverse (the preset's own are not in this library)", got)
	}
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if m.form != nil || m.training {
		t.Fatal("esc left the form open or started a run")
	}
	if msgs := drive(m, cmd); len(msgs) != 1 || msgs[0] != (pane.InfoMsg{Text: "no run started"}) {
		t.Errorf("esc said %v", msgs)
	}
	for _, c := range []struct {
		name string
		edit func()
		want string
	}{
		{"no model", func() { m.form.model = "" }, "name a preset (tiny-cpu) or a model directory"},
		{"bad steps", func() { m.form.steps = "ten" }, `steps "ten": want a whole number`},
		{"no environment", func() { press(m, "\t"); m.form.focus = focusEnvs; press(m, "n") }, "no environment chosen"},
	} {
		open()
		c.edit()
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEnter})
		if cmd != nil || m.form == nil || m.training || !strings.Contains(m.View(), c.want) {
			t.Errorf("%s: training %v, form open %v; view:\n%s", c.name, m.training, m.form != nil, fixture.Lines(m.View()))
		}
		m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	}
	open()
	m.form.model = "/models/qwen"
	s, err := m.form.spec()
	if err != nil || s.ModelDir != "/models/qwen" || s.Preset != "" || strings.Join(s.Envs, ",") != "word_reverse" {
		t.Errorf("a model directory: %+v, %v", s, err)
	}
	m.form.model = "tiny-cpu"
	if s, _ := m.form.spec(); s.Preset != "tiny-cpu" || s.Envs == nil {
		t.Errorf("the preset with other environments than its own must name them: %+v", s)
	}
}
