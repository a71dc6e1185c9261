package training

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"resyn/storage"
	"resyn/trainer/grpo"
	"resyn/tui/pane"
)

// FollowInterval is how often a running run is re-read: with the
// trainer's metrics committed at most a second after each step
// (storage.MetricsWriter), a step shows within two seconds.
const FollowInterval = time.Second

// TrainingRunsMsg carries the list of runs in the store.
type TrainingRunsMsg struct {
	Runs []storage.TrainRun
	Err  error
	// polled: read by the poll for runs other processes started (not
	// asked for by the user).
	polled bool
}

// TrainingMetricsMsg carries a run's record and its metric points from
// FromStep on, with its latest rollouts.
type TrainingMetricsMsg struct {
	Run      storage.TrainRun
	FromStep int64
	Points   []storage.MetricPoint
	Rollouts []storage.Rollout
	Err      error
}

// trainingFollowMsg asks to re-read a running run.
type trainingFollowMsg struct{ runID uint64 }

// Model is the training pane.
type Model struct {
	ctx  *pane.Context
	keys keyMap
	w, h int

	runs    []storage.TrainRun
	runIdx  int
	loaded  bool
	run     storage.TrainRun
	data    *metrics
	chart   string // the curve shown; the first when it is not (yet) there
	rolls   []storage.Rollout
	showAll bool
	vp      viewport.Model

	// A run started from this pane.
	training    bool
	cancelTrain context.CancelFunc
	trainCtx    context.Context
	setup       *grpo.Run // closed when its events end
	form        *form     // the new-run form, while open
	trainJob    int64
	events      <-chan grpo.Event
	live        *live
	follow      uint64 // the run to show when the list next arrives
	polling     bool   // a poll tick is scheduled (Context.Poll)

	// How the curves are drawn.
	smooth float64    // the EMA weight; 0 is off
	focus  string     // the environment in front ("" all alike)
	split  bool       // one small chart per environment
	ref    *reference // a pinned run to compare with
}

// New makes the training pane.
func New(ctx *pane.Context) *Model {
	return &Model{ctx: ctx, keys: newKeyMap(), data: newMetrics(), vp: viewport.New(0, 0)}
}

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Training" }

// Capturing: the new-run form reads text and keys until Esc or Enter.
func (m *Model) Capturing() bool { return m.form != nil }

// SetSize gives the pane its area.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.vp.Width, m.vp.Height = w, max(h-2, 1)
	m.vp.SetContent(m.rolloutsText())
}

// Init lists the runs.
func (m *Model) Init() tea.Cmd { return m.listCmd() }

// Charts returns the names of the curves on offer, and the one shown.
func (m *Model) Charts() ([]string, string) {
	cs := m.data.charts()
	if len(cs) == 0 {
		return nil, ""
	}
	if slices.Contains(cs, m.chart) {
		return cs, m.chart
	}
	return cs, cs[0]
}

func (m *Model) listCmd() tea.Cmd { return m.listRunsCmd(false) }

// pollListCmd is listCmd for the poll: it switches to a run only when one
// is new.
func (m *Model) pollListCmd() tea.Cmd { return m.listRunsCmd(true) }

func (m *Model) listRunsCmd(polled bool) tea.Cmd {
	db := m.ctx.Store
	if db == nil {
		return nil
	}
	return func() tea.Msg {
		var runs []storage.TrainRun
		err := db.View(func(tx *storage.Tx) error {
			var err error
			runs, err = storage.ListTrainRuns(tx)
			return err
		})
		return TrainingRunsMsg{Runs: runs, Err: err, polled: polled}
	}
}

// pollCmd schedules the next look for runs other processes started, once
// (Context.Poll; none when it is 0).
func (m *Model) pollCmd() tea.Cmd {
	if m.ctx.Poll <= 0 || m.polling {
		return nil
	}
	m.polling = true
	return tea.Tick(m.ctx.Poll, func(time.Time) tea.Msg { return trainingPollMsg{} })
}

// trainingPollMsg is the poll tick.
type trainingPollMsg struct{}

// metricsCmd reads a run's points from step from on (the last step known
// is read again: it may have grown) and its rollouts of the last steps.
func (m *Model) metricsCmd(id uint64, from int64) tea.Cmd {
	db := m.ctx.Store
	return func() tea.Msg {
		msg := TrainingMetricsMsg{FromStep: from}
		msg.Err = db.View(func(tx *storage.Tx) error {
			var err error
			if msg.Run, err = storage.GetTrainRun(tx, id); err != nil {
				return err
			}
			if msg.Points, err = storage.ListMetrics(tx, id, from); err != nil {
				return err
			}
			last, ok, err := storage.LastMetricStep(tx, id)
			if err != nil || !ok {
				return err
			}
			// The rollouts of the last hundred steps: enough to read, small
			// enough to load at every follow tick.
			msg.Rollouts, err = storage.ListRollouts(tx, id, max(last-100, 0), last)
			return err
		})
		return msg
	}
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (pane.Pane, tea.Cmd) {
	if cmd, ok := m.updateLive(msg); ok {
		return m, cmd
	}
	switch msg := msg.(type) {
	case TrainingRunsMsg:
		m.loaded = true
		poll := m.pollCmd()
		if msg.Err != nil {
			return m, tea.Batch(poll, pane.Err(fmt.Errorf("listing training runs: %w", msg.Err)))
		}
		known := len(m.runs)
		m.runs = msg.Runs
		if len(m.runs) == 0 {
			return m, poll
		}
		if msg.polled {
			// Another process may have started a run: show it when the
			// newest run was on screen and is not still running, else
			// keep what is on screen.
			onNewest := known == 0 || m.runIdx == known-1
			if len(m.runs) == known || m.run.Status == "running" || !onNewest {
				for i, r := range m.runs {
					if r.ID == m.run.ID {
						m.runIdx = i
					}
				}
				return m, poll
			}
		}
		m.runIdx = len(m.runs) - 1 // the newest, or the one just started
		for i, r := range m.runs {
			if r.ID == m.follow {
				m.runIdx = i
			}
		}
		if m.runs[m.runIdx].ID == m.run.ID && m.data.last > 0 {
			return m, tea.Batch(poll, m.metricsCmd(m.run.ID, m.data.last)) // the same run: read on
		}
		return m, tea.Batch(poll, m.open())
	case TrainingMetricsMsg:
		if msg.Err != nil {
			return m, pane.Err(fmt.Errorf("reading training run: %w", msg.Err))
		}
		if r := m.ref; r != nil && msg.Run.ID == r.run.ID && msg.Run.ID != m.run.ID {
			// The pinned run, followed while it runs.
			r.run = msg.Run
			r.data.add(msg.Points)
			if r.run.Status == "running" {
				id := r.run.ID
				return m, tea.Tick(FollowInterval, func(time.Time) tea.Msg { return trainingFollowMsg{id} })
			}
			return m, nil
		}
		if msg.Run.ID != m.run.ID {
			return m, nil
		}
		m.run = msg.Run
		m.data.add(msg.Points)
		m.rolls = msg.Rollouts
		m.vp.SetContent(m.rolloutsText())
		if m.run.Status == "running" {
			id := m.run.ID
			return m, tea.Tick(FollowInterval, func(time.Time) tea.Msg { return trainingFollowMsg{id} })
		}
		return m, nil
	case trainingPollMsg:
		m.polling = false
		return m, m.pollListCmd()
	case trainingFollowMsg:
		if msg.runID == m.run.ID && m.run.Status == "running" {
			return m, m.metricsCmd(m.run.ID, m.data.last)
		}
		if r := m.ref; r != nil && msg.runID == r.run.ID && r.run.Status == "running" {
			return m, m.metricsCmd(r.run.ID, r.data.last)
		}
		return m, nil
	case TrainingFormMsg:
		if msg.Err != nil {
			return m, pane.Err(fmt.Errorf("reading the library: %w", msg.Err))
		}
		m.form = newForm(msg.Entries)
		return m, nil
	case tea.MouseMsg:
		if m.form != nil {
			return m, nil
		}
		return m, m.handleMouse(msg)
	case tea.KeyMsg:
		if m.form != nil {
			return m, m.formKey(msg)
		}
		return m, m.handleKey(msg)
	}
	return m, nil
}

// open starts showing the run at runIdx.
func (m *Model) open() tea.Cmd {
	m.run = m.runs[m.runIdx]
	m.data = newMetrics()
	if m.ref != nil && m.ref.run.ID == m.run.ID {
		m.data = m.ref.data // the pinned run itself: one copy, read on together
	}
	m.rolls = nil
	return m.metricsCmd(m.run.ID, m.data.last)
}

// handleMouse: a click on a curve's tab shows it; the wheel scrolls the
// rollouts (o) or steps through the curves.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if m.showAll {
		var cmd tea.Cmd
		m.vp, cmd = m.vp.Update(msg)
		return cmd
	}
	if msg.Y != 1 || msg.Action != tea.MouseActionPress || msg.Button != tea.MouseButtonLeft {
		return nil
	}
	names, cur := m.Charts()
	parts, _, _ := tabWindow(names, cur, m.w)
	for _, p := range parts {
		if msg.X >= p.x0 && msg.X < p.x1 {
			m.chart = p.name
		}
	}
	return nil
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	cs, cur := m.Charts()
	i, n := slices.Index(cs, cur), len(cs)
	switch {
	case key.Matches(msg, k.NextChart) && n > 0:
		m.chart = cs[(i+1)%n]
	case key.Matches(msg, k.PrevChart) && n > 0:
		m.chart = cs[(i+n-1)%n]
	case key.Matches(msg, k.NextRun) && len(m.runs) > 0:
		m.runIdx = (m.runIdx + 1) % len(m.runs)
		return m.open()
	case key.Matches(msg, k.PrevRun) && len(m.runs) > 0:
		m.runIdx = (m.runIdx + len(m.runs) - 1) % len(m.runs)
		return m.open()
	case key.Matches(msg, k.Smooth):
		i := slices.Index(Smoothings, m.smooth)
		m.smooth = Smoothings[(i+1)%len(Smoothings)]
	case key.Matches(msg, k.Focus):
		envs := m.data.envsOf(cur)
		if len(envs) == 0 {
			m.focus = ""
			return pane.Info(cur + " has no per-environment lines")
		}
		j := slices.Index(envs, m.focus) // -1 (all) → the first
		if j+1 < len(envs) {
			m.focus = envs[j+1]
		} else {
			m.focus = ""
		}
	case key.Matches(msg, k.Split):
		if len(m.data.envsOf(cur)) < 2 {
			return pane.Info(cur + " has no per-environment lines to split")
		}
		m.split = !m.split
	case key.Matches(msg, k.Compare):
		if m.ref != nil {
			m.ref = nil
			return pane.Info("comparison off")
		}
		if m.run.ID == 0 {
			return nil
		}
		m.ref = &reference{run: m.run, data: m.data}
		return pane.Info(fmt.Sprintf("run %d pinned; [ ] picks the other, c unpins", m.run.ID))
	case key.Matches(msg, k.Rollouts):
		m.showAll = !m.showAll
		m.vp.GotoBottom()
	case key.Matches(msg, k.Reload):
		return m.listCmd()
	case key.Matches(msg, k.Train):
		if m.training {
			return pane.Info("a training run is already going; x stops it")
		}
		return m.openFormCmd()
	case key.Matches(msg, k.Resume):
		return m.resumeCmd()
	case key.Matches(msg, k.Stop):
		if m.training {
			m.cancelTrain()
			return pane.Info("stopping training (it saves a checkpoint first)…")
		}
	case m.showAll:
		var cmd tea.Cmd
		m.vp, cmd = m.vp.Update(msg)
		return cmd
	}
	return nil
}

// View draws the pane.
func (m *Model) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	st := m.ctx.Styles
	if m.form != nil {
		return m.formView()
	}
	if len(m.runs) == 0 {
		if l := m.liveLine(); l != "" {
			return pane.Fit("\n  "+l, m.w, m.h)
		}
		msg := "No training runs in the store yet."
		switch {
		case !m.loaded && m.ctx.Store != nil:
			msg = "reading training runs…"
		case m.ctx.Store == nil:
			msg = "No store: training runs live in the store."
		}
		hint := "t starts a run here (the tiny-cpu preset trains in about ten minutes on\ntwo cores); `resyn train` has every option; or load the recorded demo run:\n  resyn --db /tmp/demo.db workbench --load-run testdata/train-run"
		return pane.Fit("\n  "+st.Faint.Render(msg)+"\n\n"+st.Faint.Render(indent(hint, "  ")), m.w, m.h)
	}
	var b strings.Builder
	b.WriteString(pane.Cut(m.header(), m.w) + "\n")
	if m.showAll {
		b.WriteString(st.Faint.Render(strings.Repeat("─", m.w)) + "\n")
		b.WriteString(m.vp.View())
		return pane.Fit(b.String(), m.w, m.h)
	}
	rollH := 0
	if m.h >= 16 {
		rollH = min(5, 1+len(m.rolls))
	}
	b.WriteString(m.curvesView(m.h - 1 - rollH))
	if rollH > 0 {
		b.WriteString("\n" + m.rolloutsBox(rollH))
	}
	return pane.Fit(b.String(), m.w, m.h)
}

func (m *Model) header() string {
	st := m.ctx.Styles
	r := m.run
	name := r.Name
	if name == "" {
		name = "(unnamed)"
	}
	status := st.Secondary.Render(string(r.Status))
	switch r.Status {
	case "running":
		status = st.Info.Render("● running")
	case "done":
		status = st.OK.Render("done")
	case "failed":
		status = st.Error.Render("failed")
	case storage.RunInterrupted:
		status = st.Warn.Render("interrupted (its process ended)")
	case "stopped", "cancelled":
		status = st.Warn.Render("stopped")
	}
	if resumable(r.Status) && !m.training {
		status += st.Faint.Render("  R resumes")
	}
	h := st.Title.Render(fmt.Sprintf("run %d", r.ID)) + " " + st.Text.Render(name) + "  " + status +
		st.Secondary.Render(fmt.Sprintf("  step %d", m.data.last))
	if len(m.runs) > 1 {
		h += st.Faint.Render(fmt.Sprintf("  (%d of %d runs: [ ])", m.runIdx+1, len(m.runs)))
	}
	if r.Error != "" {
		h += "  " + st.Error.Render(r.Error)
	}
	if l := m.liveLine(); l != "" && m.training {
		h += "  " + l
	}
	return h
}

// rolloutsBox is the few latest rollouts under the chart.
func (m *Model) rolloutsBox(h int) string {
	st := m.ctx.Styles
	if len(m.rolls) == 0 {
		return st.Faint.Render("no sample rollouts stored")
	}
	last := m.rolls[len(m.rolls)-1].Step
	lines := []string{st.Heading.Render(fmt.Sprintf("ROLLOUTS at step %d", last)) + st.Faint.Render("  (o: all)")}
	var at []storage.Rollout
	for _, r := range m.rolls {
		if r.Step == last {
			at = append(at, r)
		}
	}
	for i := 0; i < len(at) && len(lines) < h; i++ {
		lines = append(lines, m.rolloutLine(at[i]))
	}
	return strings.Join(lines, "\n")
}

func (m *Model) rolloutLine(r storage.Rollout) string {
	st := m.ctx.Styles
	comp := strings.Join(strings.Fields(r.Completion), " ")
	head := "  " + pane.Pad(r.Env, 20) + st.Faint.Render(fmt.Sprintf("d%-3d", r.Difficulty)) + m.score(r) + "  "
	return head + st.Text.Render(pane.Cut(comp, m.w-lipgloss.Width(head)))
}

// score is a rollout's outcome and reward, coloured by how it went.
func (m *Model) score(r storage.Rollout) string {
	st := m.ctx.Styles
	text := fmt.Sprintf("%-9s %4.2f", r.Outcome, r.Reward)
	switch {
	case r.Outcome != "ok":
		return st.Error.Render(text)
	case r.Reward < 1:
		return st.Warn.Render(text)
	}
	return st.OK.Render(text)
}

// rolloutsText is every loaded rollout in full, for the scrolling view.
func (m *Model) rolloutsText() string {
	st := m.ctx.Styles
	if len(m.rolls) == 0 {
		return st.Faint.Render("no sample rollouts stored")
	}
	w := max(m.w-len("  prompt │ ")-1, 10)
	var b strings.Builder
	for _, r := range m.rolls {
		b.WriteString(st.Heading.Render(fmt.Sprintf("step %d · %s · seed %d · difficulty %d", r.Step, r.Env, r.Seed, r.Difficulty)))
		b.WriteString("  " + m.score(r) + "\n")
		b.WriteString(st.Secondary.Render(indent(pane.Wrap(r.Prompt, w), "  prompt │ ")) + "\n")
		b.WriteString(st.Text.Render(indent(pane.Wrap(r.Completion, w), "  reply  │ ")) + "\n\n")
	}
	return b.String()
}

// resumable says whether a run with this status can be resumed (from its
// last checkpoint; grpo.Setup says so when it has none).
func resumable(status storage.RunStatus) bool {
	switch status {
	case storage.RunStopped, storage.RunCancelled, storage.RunInterrupted, storage.RunFailed:
		return true
	}
	return false
}

// resumeCmd resumes the run on screen.
func (m *Model) resumeCmd() tea.Cmd {
	if m.training {
		return pane.Info("a training run is already going; x stops it")
	}
	if m.run.ID == 0 || !resumable(m.run.Status) {
		return pane.Info(fmt.Sprintf("run %d is %s: only a stopped, interrupted or failed run resumes", m.run.ID, m.run.Status))
	}
	m.follow = m.run.ID
	return m.trainCmd(grpo.Spec{Resume: m.run.ID})
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
