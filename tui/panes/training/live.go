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
// on Events. Run is closed once they end.
type TrainingStartedMsg struct {
	Events <-chan grpo.Event
	Run    *grpo.Run
	Err    error
}

// TrainingEventMsg is one event of the run this workbench started.
type TrainingEventMsg struct{ Event grpo.Event }

// TrainingClosedMsg: the run's event channel is closed.
type TrainingClosedMsg struct{}

// live is what the pane knows of the run it started.
type live struct {
	runID  uint64
	what   string // the preset, model directory or run resumed
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
// a model) runs in the command (grpo.Setup, as `resyn train` does).
func (m *Model) trainCmd(spec grpo.Spec) tea.Cmd {
	if m.training {
		return pane.Info("a training run is already going; x stops it")
	}
	if m.ctx.Store == nil {
		return pane.Info("training from the workbench needs a store: runs are recorded there")
	}
	spec.Store, spec.StorePath = m.ctx.Store, m.ctx.StorePath
	o := m.ctx.TrainOverrides
	if spec.Overrides.Steps > 0 {
		o.Steps = spec.Overrides.Steps
	}
	spec.Overrides = o
	jctx, cancel := context.WithCancel(m.ctx.Ctx)
	m.training, m.cancelTrain, m.trainCtx, m.trainJob = true, cancel, jctx, pane.NewJobID()
	what := spec.Preset
	switch {
	case spec.Resume != 0:
		what = fmt.Sprintf("run %d", spec.Resume)
	case spec.ModelDir != "":
		what = spec.ModelDir
	}
	m.live = &live{phase: "setting up", what: what}
	run := func() tea.Msg {
		r, err := grpo.Setup(jctx, spec)
		if err != nil {
			return TrainingStartedMsg{Err: err}
		}
		return TrainingStartedMsg{Events: r.Start(jctx), Run: r}
	}
	verb := "training "
	if spec.Resume != 0 {
		verb = "resuming "
	}
	return tea.Batch(pane.Msg(pane.JobStartedMsg{ID: m.trainJob, Label: verb + what, Cancel: cancel}), run)
}

// ctxErr is the error of the run's context: set once x stopped it.
func (m *Model) ctxErr() error { return m.trainCtx.Err() }

// updateLive handles the messages of a run this pane started.
func (m *Model) updateLive(msg tea.Msg) (tea.Cmd, bool) {
	switch msg := msg.(type) {
	case TrainingStartedMsg:
		if msg.Err != nil {
			stopped := m.ctxErr() != nil
			m.training = false
			m.cancelTrain()
			m.live.err = msg.Err
			if stopped { // x during the setup: whatever failed, it was told to stop
				m.live.done = true
				return tea.Batch(pane.Msg(pane.JobFinishedMsg{ID: m.trainJob}), pane.Info("stopped before the run started; nothing was recorded")), true
			}
			return tea.Batch(pane.Msg(pane.JobFinishedMsg{ID: m.trainJob}), pane.Err(fmt.Errorf("training: %w", msg.Err))), true
		}
		m.events, m.setup = msg.Events, msg.Run
		var cmds []tea.Cmd
		for _, w := range msg.Run.Warnings {
			cmds = append(cmds, pane.Info("warning: "+w))
		}
		return tea.Batch(append(cmds, waitForProgressCmd(m.events))...), true
	case TrainingEventMsg:
		return tea.Batch(m.applyEvent(msg.Event), waitForProgressCmd(m.events)), true
	case TrainingClosedMsg:
		m.training = false
		m.live.done = true
		m.cancelTrain()
		if m.setup != nil {
			m.setup.Close()
			m.setup = nil
		}
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
	switch {
	case l.phase == "setting up":
		return st.Info.Render("● setting up " + l.what + " (environments, tokenizer, model)…")
	case l.of == 0:
		// Started, before its first step: the held-out evaluation runs.
		return st.Info.Render(fmt.Sprintf("● run %d started; evaluating before the first step…", l.runID))
	}
	switch l.phase {
	case "setting up":
		return st.Info.Render("● setting up " + l.what + " (environments, tokenizer, model)…")
	case "sft":
		return st.Info.Render(fmt.Sprintf("● warm start %d/%d  loss %s  %s tok/s", l.step, l.of, shortNum(l.loss), shortNum(l.tokS)))
	}
	return st.Info.Render(fmt.Sprintf("● GRPO step %d/%d  reward %s  loss %s  %s tok/s", l.step, l.of, shortNum(l.reward), shortNum(l.loss), shortNum(l.tokS)))
}
