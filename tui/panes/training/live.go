package training

import (
	"context"
	"errors"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/trainer/grpo"
	"resyn/tui/pane"
)

// TrainingStartedMsg: the trainer is set up and running; its events come
// on Events.
type TrainingStartedMsg struct {
	Events <-chan grpo.Event
	Err    error
}

// TrainingEventMsg is one event of the run this workbench started.
type TrainingEventMsg struct{ Event grpo.Event }

// TrainingClosedMsg: the run's event channel is closed.
type TrainingClosedMsg struct{}

// live is what the pane knows of the run it started.
type live struct {
	runID  uint64
	phase  string // "setting up", "sft", "grpo"
	step   int
	of     int
	reward float64
	loss   float64
	tokS   float64
	err    error
	done   bool
}

// waitForProgressCmd returns the run's next event as a message, or
// TrainingClosedMsg when the channel is closed.
func waitForProgressCmd(ch <-chan grpo.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return TrainingClosedMsg{}
		}
		return TrainingEventMsg{e}
	}
}

// trainCmd starts a run: the job shows at once, the setup (a tokenizer,
// a model) runs in the command.
func (m *Model) trainCmd() tea.Cmd {
	if m.training {
		return pane.Info("a training run is already going; x stops it")
	}
	if m.ctx.StartTraining == nil || m.ctx.Store == nil {
		return pane.Info("training from the workbench needs a store; use `resyn train` for other setups")
	}
	jctx, cancel := context.WithCancel(m.ctx.Ctx)
	m.training, m.cancelTrain, m.trainJob = true, cancel, pane.NewJobID()
	m.live = &live{phase: "setting up"}
	start := m.ctx.StartTraining
	run := func() tea.Msg {
		ch, err := start(jctx)
		return TrainingStartedMsg{ch, err}
	}
	return tea.Batch(pane.Msg(pane.JobStartedMsg{ID: m.trainJob, Label: "training tiny-cpu", Cancel: cancel}), run)
}

// updateLive handles the messages of a run this pane started.
func (m *Model) updateLive(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case TrainingStartedMsg:
		if msg.Err != nil {
			m.training = false
			m.cancelTrain()
			m.live.err = msg.Err
			return tea.Batch(pane.Msg(pane.JobFinishedMsg{ID: m.trainJob}), pane.Err(fmt.Errorf("training: %w", msg.Err))), true
		}
		m.events = msg.Events
		return waitForProgressCmd(m.events), true
	case TrainingEventMsg:
		return tea.Batch(m.applyEvent(msg.Event), waitForProgressCmd(m.events)), true
	case TrainingClosedMsg:
		m.training = false
		m.live.done = true
		m.cancelTrain()
		return tea.Batch(pane.Msg(pane.JobFinishedMsg{ID: m.trainJob}), m.listCmd()), true
	}
	return nil, false
}

func (m *Model) applyEvent(e grpo.Event) tea.Cmd {
	l := m.live
	switch e := e.(type) {
	case grpo.RunStartedEvent:
		l.runID, l.phase, l.step = e.RunID, e.Phase, e.Step
		m.follow = e.RunID
		return m.listCmd() // the new run is in the store: show it
	case grpo.SFTStepEvent:
		l.phase, l.step, l.of, l.loss, l.tokS = "sft", e.Step, e.Of, e.Loss, e.TokensPerS
	case grpo.StepEvent:
		l.phase, l.step, l.of, l.reward, l.loss, l.tokS = "grpo", e.Step, e.Of, e.Reward, e.Loss, e.TokensPerS
	case grpo.FinishedEvent:
		l.err = e.Err
		if e.Err != nil && !errors.Is(e.Err, context.Canceled) {
			return pane.Err(fmt.Errorf("training run %d: %w", l.runID, e.Err))
		}
		return pane.Info(fmt.Sprintf("training run %d finished after %d GRPO steps", e.Summary.RunID, e.Summary.Steps))
	default:
		return nil
	}
	// A step was recorded: read the new points (the store's metrics writer
	// commits about once a second, so a step may show on the next one).
	if m.run.ID == l.runID && l.runID != 0 {
		return m.metricsCmd(m.run.ID, m.data.last)
	}
	return nil
}

// liveLine is the status of the run this pane started.
func (m *Model) liveLine() string {
	st := m.ctx.Styles
	l := m.live
	if l == nil || (!m.training && l.done) {
		return ""
	}
	switch l.phase {
	case "setting up":
		return st.Info.Render("● setting up the tiny-cpu preset (tokenizer, model)…")
	case "sft":
		return st.Info.Render(fmt.Sprintf("● warm start %d/%d  loss %s  %s tok/s", l.step, l.of, shortNum(l.loss), shortNum(l.tokS)))
	}
	return st.Info.Render(fmt.Sprintf("● GRPO step %d/%d  reward %s  loss %s  %s tok/s", l.step, l.of, shortNum(l.reward), shortNum(l.loss), shortNum(l.tokS)))
}
