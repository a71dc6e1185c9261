package synth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	coresynth "resyn/core/synth"
	"resyn/storage"
	"resyn/tui/pane"
)

// Providers are the LLM providers the pane offers, in the order p cycles.
var Providers = []string{"openai", "anthropic", "replay"}

type field int

const (
	fieldNone field = iota
	fieldModel
	fieldCategories
)

// SynthEventMsg is one event of the running pipeline.
type SynthEventMsg struct{ Event coresynth.Event }

// SynthClosedMsg says the event channel is closed: the run is over.
type SynthClosedMsg struct{}

// SynthRunsMsg carries the stored runs.
type SynthRunsMsg struct {
	Runs []storage.SynthRun
	Err  error
}

// candidate is what the pane knows of one candidate.
type candidate struct {
	Index    int
	Name     string
	Category string
	Idea     string
	Stage    string // what is happening now, or the verdict
	Round    int
	Lines    int
	Failed   []string
	Outcome  coresynth.Outcome
	Reason   string
	Flags    []string
	Tokens   int
	Source   string // the latest module the model wrote
}

// Model is the synthesis pane.
type Model struct {
	ctx  *pane.Context
	keys keyMap
	w, h int

	provider string
	n        int
	modelIn  textinput.Model
	catsIn   textinput.Model
	editing  field

	running  bool
	stopping bool
	cancel   context.CancelFunc
	job      int64
	events   <-chan coresynth.Event
	demo     bool

	runID   uint64
	started *coresynth.RunStartedEvent
	cands   []*candidate
	dropped int
	totals  coresynth.Summary
	runErr  error
	cursor  int

	runs []storage.SynthRun

	detail bool // showing one candidate's code and checks
	vp     viewport.Model
}

// New makes the synthesis pane.
func New(ctx *pane.Context) *Model {
	in := func(prompt, placeholder string) textinput.Model {
		t := textinput.New()
		t.Cursor.SetMode(cursor.CursorStatic)
		t.Prompt = prompt
		t.Placeholder = placeholder
		t.PromptStyle = ctx.Styles.Prompt
		t.TextStyle = ctx.Styles.Text
		t.PlaceholderStyle = ctx.Styles.Faint
		return t
	}
	p := ctx.Provider
	if !slices.Contains(Providers, p) {
		p = "replay"
	}
	return &Model{
		ctx: ctx, keys: newKeyMap(), provider: p, n: 10,
		modelIn: in("model: ", "the provider's default"),
		catsIn:  in("categories: ", "the default eight, comma-separated"),
		vp:      viewport.New(0, 0),
	}
}

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Synthesis" }

// Capturing reports whether a form field is being edited.
func (m *Model) Capturing() bool { return m.editing != fieldNone }

// SetSize gives the pane its area.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.modelIn.Width = max(w-12, 10)
	m.catsIn.Width = max(w-16, 10)
	m.vp.Width, m.vp.Height = w, max(h-4, 1)
}

// Running reports whether a run is in progress.
func (m *Model) Running() bool { return m.running }

// Init lists the stored runs.
func (m *Model) Init() tea.Cmd { return m.runsCmd() }

func (m *Model) runsCmd() tea.Cmd {
	db := m.ctx.Store
	if db == nil {
		return nil
	}
	return func() tea.Msg {
		var runs []storage.SynthRun
		err := db.View(func(tx *storage.Tx) error {
			var err error
			runs, err = storage.ListSynthRuns(tx)
			return err
		})
		return SynthRunsMsg{runs, err}
	}
}

// waitForProgressCmd returns the next event of the run as a message, or
// SynthClosedMsg when the channel is closed. Update issues it again after
// every event.
func waitForProgressCmd(ch <-chan coresynth.Event) tea.Cmd {
	return func() tea.Msg {
		e, ok := <-ch
		if !ok {
			return SynthClosedMsg{}
		}
		return SynthEventMsg{e}
	}
}

// start opens the provider and starts a run (resume != 0: resumes it).
func (m *Model) start(resume uint64) tea.Cmd {
	if m.running {
		return pane.Info("a synthesis run is already going; x stops it")
	}
	if m.ctx.Store == nil || m.ctx.OpenLLM == nil {
		return pane.Err(errors.New("synthesis needs a store and an LLM provider"))
	}
	provider, model := m.provider, strings.TrimSpace(m.modelIn.Value())
	if resume != 0 {
		for _, r := range m.runs {
			if r.ID == resume {
				provider, model = providerOf(r, provider, model)
			}
		}
	}
	llm, demo, err := m.ctx.OpenLLM(provider, model)
	if err != nil {
		return pane.Err(fmt.Errorf("synthesis: %w", err))
	}
	cfg := coresynth.Config{N: m.n}
	if demo {
		cfg = coresynth.DemoConfig()
	}
	for _, c := range strings.Split(m.catsIn.Value(), ",") {
		if c = strings.TrimSpace(c); c != "" {
			cfg.Categories = append(cfg.Categories, c)
		}
	}
	cfg.Provider, cfg.Model, cfg.Stream = llm.Name(), model, false
	pl := &coresynth.Pipeline{LLM: llm, Pool: m.ctx.Pool, DB: m.ctx.Store}
	jctx, cancel := context.WithCancel(m.ctx.Ctx)
	m.running, m.stopping, m.cancel, m.demo = true, false, cancel, demo
	m.job = pane.NewJobID()
	m.cands, m.started, m.totals, m.runErr, m.dropped, m.cursor = nil, nil, coresynth.Summary{}, nil, 0, 0
	if resume != 0 {
		m.events = pl.StartResume(jctx, resume)
	} else {
		m.events = pl.Start(jctx, cfg)
	}
	label := fmt.Sprintf("synthesis: %d candidates with %s", cfg.N, llm.Name())
	if resume != 0 {
		label = fmt.Sprintf("synthesis: resuming run %d", resume)
	}
	return tea.Batch(pane.Msg(pane.JobStartedMsg{ID: m.job, Label: label, Cancel: cancel}), waitForProgressCmd(m.events))
}

// providerOf is the provider and model stored run r used
// (core/synth.RunProvider), where the record says; else the ones given.
func providerOf(r storage.SynthRun, provider, model string) (string, string) {
	p, mod := coresynth.RunProvider(r)
	if p != "" {
		provider = p
	}
	if mod != "" {
		model = mod
	}
	return provider, model
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (pane.Pane, tea.Cmd) {
	switch msg := msg.(type) {
	case SynthRunsMsg:
		if msg.Err != nil {
			return m, pane.Err(fmt.Errorf("listing synthesis runs: %w", msg.Err))
		}
		m.runs = msg.Runs
		return m, nil
	case SynthEventMsg:
		cmd := m.apply(msg.Event)
		if m.events == nil {
			return m, cmd
		}
		return m, tea.Batch(cmd, waitForProgressCmd(m.events))
	case SynthClosedMsg:
		m.running, m.stopping = false, false
		if m.cancel != nil {
			m.cancel()
		}
		return m, tea.Batch(pane.Msg(pane.JobFinishedMsg{ID: m.job}), m.runsCmd(), pane.Msg(pane.LibraryChangedMsg{}))
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	case tea.MouseMsg:
		m.handleMouse(msg)
	}
	return m, nil
}

// handleMouse: the wheel moves through the candidates (or scrolls one
// candidate's code), a click selects one.
func (m *Model) handleMouse(msg tea.MouseMsg) {
	if m.detail {
		m.vp, _ = m.vp.Update(msg)
		return
	}
	switch {
	case msg.Button == tea.MouseButtonWheelUp:
		m.cursor = max(m.cursor-1, 0)
	case msg.Button == tea.MouseButtonWheelDown:
		m.cursor = min(m.cursor+1, max(len(m.cands)-1, 0))
	case msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft:
		if i := m.listStart() + msg.Y - 4; msg.Y >= 4 && msg.Y < 4+m.listHeight() && i < len(m.cands) {
			m.cursor = i
		}
	}
}

func (m *Model) cand(i int) *candidate {
	for _, c := range m.cands {
		if c.Index == i {
			return c
		}
	}
	c := &candidate{Index: i, Stage: "waiting"}
	m.cands = append(m.cands, c)
	slices.SortFunc(m.cands, func(a, b *candidate) int { return a.Index - b.Index })
	return c
}

// apply folds one event into the pane's picture of the run.
func (m *Model) apply(e coresynth.Event) tea.Cmd {
	switch e := e.(type) {
	case coresynth.RunStartedEvent:
		m.runID, m.started = e.RunID, &e
		return pane.Info(fmt.Sprintf("synthesis run %d started", e.RunID))
	case coresynth.IdeasReadyEvent:
		for i, idea := range e.Ideas {
			c := m.cand(i)
			c.Name, c.Category, c.Idea = idea.Name, idea.Category, idea.Description
			c.Stage = "idea"
		}
		m.dropped = len(e.Dropped)
	case coresynth.CandidateStartedEvent:
		c := m.cand(e.Index)
		c.Name, c.Category, c.Idea, c.Stage = e.Idea.Name, e.Idea.Category, e.Idea.Description, "writing code"
	case coresynth.CodeWrittenEvent:
		c := m.cand(e.Index)
		c.Name, c.Round, c.Lines, c.Source = nonEmpty(e.Name, c.Name), e.Round, e.Lines, e.Source
		c.Tokens += e.Usage.Total()
		c.Stage = fmt.Sprintf("code (%d lines)", e.Lines)
		if e.Round > 0 {
			c.Stage = fmt.Sprintf("repaired (round %d)", e.Round)
		}
	case coresynth.ValidatedEvent:
		c := m.cand(e.Index)
		c.Name, c.Failed = nonEmpty(e.Name, c.Name), nil
		for _, f := range e.Failed {
			c.Failed = append(c.Failed, f.Name)
		}
		c.Stage = "valid"
		if !e.OK {
			c.Stage = fmt.Sprintf("%d check(s) failed", len(e.Failed))
		}
	case coresynth.RepairStartedEvent:
		c := m.cand(e.Index)
		c.Stage = fmt.Sprintf("repair round %d", e.Round)
	case coresynth.CalibratedEvent:
		c := m.cand(e.Index)
		c.Stage = "calibrated"
	case coresynth.VerdictEvent:
		c := m.cand(e.Index)
		c.Name, c.Outcome, c.Reason, c.Flags = nonEmpty(e.Name, c.Name), e.Outcome, e.Reason, e.Flags
		c.Stage = string(e.Outcome)
		if e.Outcome == coresynth.OutcomeCandidate {
			return pane.Msg(pane.LibraryChangedMsg{Name: c.Name})
		}
	case coresynth.TotalsEvent:
		m.totals = e.Summary
	case coresynth.RunFinishedEvent:
		m.totals, m.runErr = e.Summary, e.Err
		if e.RunID != 0 {
			m.runID = e.RunID
		}
		switch {
		case e.Err == nil:
			return pane.Info(fmt.Sprintf("synthesis run %d done: %d valid of %d", m.runID, e.Summary.Valid, e.Summary.N))
		case errors.Is(e.Err, context.Canceled):
			return pane.Info(fmt.Sprintf("synthesis run %d stopped; R resumes it", m.runID))
		default:
			return pane.Err(fmt.Errorf("synthesis run %d: %w", m.runID, e.Err))
		}
	}
	return nil
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if m.editing != fieldNone {
		in := &m.modelIn
		if m.editing == fieldCategories {
			in = &m.catsIn
		}
		// Like every text box: what is typed applies as it is typed, enter
		// keeps the box, only esc leaves it (keeping the text).
		switch msg.Type {
		case tea.KeyEnter:
			return pane.Info("esc leaves the box; what is typed is kept")
		case tea.KeyEsc:
			m.editing = fieldNone
			in.Blur()
			return nil
		}
		var cmd tea.Cmd
		*in, cmd = in.Update(msg)
		return cmd
	}
	if m.detail {
		switch {
		case key.Matches(msg, k.Open), msg.Type == tea.KeyEsc:
			m.detail = false
		case key.Matches(msg, k.Stop):
			m.detail = false
			return m.handleKey(msg)
		default:
			var cmd tea.Cmd
			m.vp, cmd = m.vp.Update(msg)
			return cmd
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Open):
		if m.cursor < len(m.cands) {
			m.detail = true
			m.vp.SetContent(m.detailText(m.cands[m.cursor]))
			m.vp.GotoTop()
		}
	case key.Matches(msg, k.Up):
		m.cursor = max(m.cursor-1, 0)
	case key.Matches(msg, k.Down):
		m.cursor = min(m.cursor+1, max(len(m.cands)-1, 0))
	case key.Matches(msg, k.Stop):
		if m.running && !m.stopping {
			m.stopping = true
			m.cancel()
			return pane.Info("stopping the synthesis run…")
		}
	case m.running:
		return nil // the form is frozen while a run goes
	case key.Matches(msg, k.Start):
		return m.start(0)
	case key.Matches(msg, k.Resume):
		for i := len(m.runs) - 1; i >= 0; i-- {
			// Not a finished run, nor one that another process is running.
			if st := m.runs[i].Status; st != storage.RunDone && st != storage.RunRunning {
				return m.start(m.runs[i].ID)
			}
		}
		return pane.Info("no unfinished synthesis run to resume")
	case key.Matches(msg, k.Provider):
		i := slices.Index(Providers, m.provider)
		m.provider = Providers[(i+1)%len(Providers)]
	case key.Matches(msg, k.More):
		m.n = min(m.n+1, 1000)
	case key.Matches(msg, k.Less):
		m.n = max(m.n-1, 1)
	case key.Matches(msg, k.Model):
		m.editing = fieldModel
		return m.modelIn.Focus()
	case key.Matches(msg, k.Categories):
		m.editing = fieldCategories
		return m.catsIn.Focus()
	}
	return nil
}
