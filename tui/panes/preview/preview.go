package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	corelib "resyn/core/library"
	"resyn/core/validate"
	"resyn/tui/pane"
)

// FoldLines is how many lines of the state show while it is folded.
const FoldLines = 12

// PreviewLoadedMsg: the environment is loaded into the pool.
type PreviewLoadedMsg struct {
	Entry  corelib.Entry
	Module *env.Module
	Report *validate.Report // the stored report, when there is one
	Err    error
}

// PreviewGeneratedMsg carries an instance (prompt, state, reference
// answer and its score).
type PreviewGeneratedMsg struct {
	Seq    int
	Result env.Result
}

// PreviewScoredMsg carries the verifier's verdict on the typed answer.
type PreviewScoredMsg struct {
	Seq    int
	Reward env.Reward
}

// PreviewValidatedMsg carries a fresh validation report.
type PreviewValidatedMsg struct {
	Name   string
	Hash   string
	Report *validate.Report
	Job    int64
}

// Model is the preview-and-verify pane.
type Model struct {
	ctx  *pane.Context
	keys keyMap
	w, h int

	entry     corelib.Entry
	module    *env.Module
	loading   bool
	reloading bool // the entry shown is read again after a change
	loadErr   error

	seed       int64
	difficulty int
	genSeq     int
	gen        *env.Result
	generating bool

	input     textinput.Model
	answering bool
	copying   bool // y was pressed: the next key says what to copy
	scoreSeq  int
	reward    *env.Reward
	scoring   bool

	report     *validate.Report
	validating bool

	folded bool
	vp     viewport.Model
}

// New makes the preview pane.
func New(ctx *pane.Context) *Model {
	in := textinput.New()
	// A steady cursor: no blink ticks, so nothing redraws over SSH while idle.
	in.Cursor.SetMode(cursor.CursorStatic)
	in.Prompt = "answer › "
	in.PromptStyle = ctx.Styles.Prompt
	in.TextStyle = ctx.Styles.Text
	in.Placeholder = "type an answer (i); <answer> tags are added when missing"
	in.PlaceholderStyle = ctx.Styles.Faint
	in.CharLimit = env.MaxAnswerBytes
	return &Model{ctx: ctx, keys: newKeyMap(), input: in, folded: true, vp: viewport.New(0, 0)}
}

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Preview" }

// Capturing reports whether the answer box (or the copy question) has
// the keyboard.
func (m *Model) Capturing() bool { return m.answering || m.copying }

// SetSize gives the pane its area.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.vp.Width, m.vp.Height = w, max(h-4, 1)
	m.input.Width = max(w-len(m.input.Prompt)-2, 10)
	m.refresh()
}

// Init does nothing: the pane waits for an environment.
func (m *Model) Init() tea.Cmd { return nil }

// Name is the environment shown, or "".
func (m *Model) Name() string { return m.entry.Name }

// Reward is the verdict on the typed answer, when there is one.
func (m *Model) Reward() *env.Reward { return m.reward }

// Open starts showing an environment.
func (m *Model) Open(name string) tea.Cmd {
	m.entry = corelib.Entry{Name: name}
	m.module, m.gen, m.reward, m.report, m.loadErr = nil, nil, nil, nil, nil
	m.loading, m.reloading, m.copying, m.seed = true, false, false, 0
	m.input.SetValue("")
	m.refresh()
	return m.loadCmd(name)
}

func (m *Model) loadCmd(name string) tea.Cmd {
	c := m.ctx
	return func() tea.Msg {
		e, err := c.Library.Get(name)
		if err != nil {
			return PreviewLoadedMsg{Entry: corelib.Entry{Name: name}, Err: err}
		}
		var rep *validate.Report
		if len(e.Report) > 0 {
			rep = new(validate.Report)
			if json.Unmarshal(e.Report, rep) != nil {
				rep = nil
			}
		}
		if !e.Stored {
			for _, b := range c.Builtins {
				if b.Name == name {
					c.Pool.Register(b)
					return PreviewLoadedMsg{Entry: e, Module: b, Report: rep}
				}
			}
		}
		mod, err := c.Pool.Load(c.Ctx, e.File, []byte(e.Source))
		return PreviewLoadedMsg{Entry: e, Module: mod, Report: rep, Err: err}
	}
}

func (m *Model) generateCmd() tea.Cmd {
	if m.module == nil {
		return nil
	}
	m.genSeq++
	m.generating = true
	seq, pool, ctx := m.genSeq, m.ctx.Pool, m.ctx.Ctx
	t := env.Task{Env: m.module.Name, Seed: m.seed, Difficulty: m.difficulty, Render: true, VerifySolution: m.module.HasSolve}
	return func() tea.Msg {
		return PreviewGeneratedMsg{Seq: seq, Result: pool.Run(ctx, []env.Task{t})[0]}
	}
}

// Completion is what the typed text is scored as (env.TypedCompletion):
// itself when it has an <answer> block, else the text wrapped in one.
func Completion(typed string) string { return env.TypedCompletion(typed) }

func (m *Model) scoreCmd() tea.Cmd {
	if m.gen == nil || m.gen.Err != nil || m.module == nil {
		return nil
	}
	m.scoreSeq++
	m.scoring = true
	seq, pool, ctx := m.scoreSeq, m.ctx.Pool, m.ctx.Ctx
	item := env.ScoreItem{Env: m.module.Name, Seed: m.seed, Difficulty: m.difficulty, State: m.gen.State, Completion: Completion(m.input.Value())}
	return func() tea.Msg {
		return PreviewScoredMsg{Seq: seq, Reward: env.ScoreCompletions(ctx, pool, []env.ScoreItem{item})[0]}
	}
}

func (m *Model) validateCmd() tea.Cmd {
	if m.module == nil || m.validating {
		return nil
	}
	m.validating = true
	id := pane.NewJobID()
	jctx, cancel := context.WithCancel(m.ctx.Ctx)
	pool, mod := m.ctx.Pool, m.module
	run := func() tea.Msg {
		defer cancel()
		rep := validate.Run(jctx, pool, mod, validate.Options{})
		return PreviewValidatedMsg{Name: mod.Name, Hash: mod.Hash, Report: rep, Job: id}
	}
	return tea.Batch(pane.Msg(pane.JobStartedMsg{ID: id, Label: "validating " + mod.Name, Cancel: cancel}), run)
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (pane.Pane, tea.Cmd) {
	switch msg := msg.(type) {
	case pane.OpenEnvMsg:
		return m, m.Open(msg.Name)
	case pane.LibraryChangedMsg:
		// The environment shown was edited, curated or undone: read it
		// again, at the same seed and difficulty.
		if m.entry.Name != "" && (msg.Name == m.entry.Name || msg.Name == "") && !m.loading {
			m.loading, m.reloading = true, true
			m.refresh()
			return m, m.loadCmd(m.entry.Name)
		}
		return m, nil
	case PreviewLoadedMsg:
		if msg.Entry.Name != m.entry.Name {
			return m, nil // the user has moved on
		}
		reload := m.reloading
		m.loading, m.reloading = false, false
		prevHash := ""
		if m.module != nil {
			prevHash = m.module.Hash
		}
		m.entry, m.module, m.report, m.loadErr = msg.Entry, msg.Module, msg.Report, msg.Err
		if msg.Err != nil {
			m.refresh()
			return m, pane.Err(fmt.Errorf("loading %s: %w", msg.Entry.Name, msg.Err))
		}
		if reload && m.module.Hash == prevHash {
			m.refresh() // curation only: the instance is the same
			return m, nil
		}
		if !reload || m.difficulty < m.module.MinDifficulty || m.difficulty > m.module.MaxDifficulty {
			m.difficulty = m.module.MinDifficulty
		}
		m.refresh()
		return m, m.generateCmd()
	case PreviewGeneratedMsg:
		if msg.Seq != m.genSeq {
			return m, nil
		}
		m.generating = false
		r := msg.Result
		m.gen = &r
		m.reward = nil
		m.refresh()
		if m.input.Value() != "" {
			return m, m.scoreCmd()
		}
		return m, nil
	case PreviewScoredMsg:
		if msg.Seq != m.scoreSeq {
			return m, nil
		}
		m.scoring = false
		r := msg.Reward
		m.reward = &r
		return m, nil
	case PreviewValidatedMsg:
		done := pane.Msg(pane.JobFinishedMsg{ID: msg.Job})
		m.validating = false
		if m.module != nil && msg.Name == m.module.Name && msg.Hash == m.module.Hash {
			m.report = msg.Report
			m.refresh()
		}
		verdict := "passed"
		if !msg.Report.OK {
			verdict = fmt.Sprintf("failed %d check(s)", len(msg.Report.Failed()))
		}
		return m, tea.Batch(done, pane.Info(msg.Name+": validation "+verdict))
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	case tea.MouseMsg:
		return m, m.handleMouse(msg)
	}
	if m.answering {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if m.copying {
		m.copying = false
		return m.copyCmd(msg)
	}
	if m.answering {
		switch msg.Type {
		case tea.KeyEsc:
			m.answering = false
			m.input.Blur()
			return nil
		case tea.KeyEnter:
			// Enter scores what is typed and keeps the box: only esc
			// leaves it, so keys typed after an answer are never commands.
			if m.input.Value() == "" || m.scoring {
				return nil
			}
			return m.scoreCmd()
		}
		before := m.input.Value()
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		if m.input.Value() != before {
			if m.input.Value() == "" {
				m.reward = nil
				m.scoreSeq++ // drop any result in flight
				return cmd
			}
			return tea.Batch(cmd, m.scoreCmd())
		}
		return cmd
	}
	if m.module == nil {
		return nil
	}
	switch {
	case key.Matches(msg, k.NextSeed):
		m.seed++
		return m.generateCmd()
	case key.Matches(msg, k.PrevSeed):
		if m.seed > 0 {
			m.seed--
			return m.generateCmd()
		}
	case key.Matches(msg, k.RandomSeed):
		m.seed = rand.Int64N(1 << 31)
		return m.generateCmd()
	case key.Matches(msg, k.Harder):
		if m.difficulty < m.module.MaxDifficulty {
			m.difficulty++
			return m.generateCmd()
		}
	case key.Matches(msg, k.Easier):
		if m.difficulty > m.module.MinDifficulty {
			m.difficulty--
			return m.generateCmd()
		}
	case key.Matches(msg, k.Answer):
		m.answering = true
		return m.input.Focus()
	case key.Matches(msg, k.Fold):
		m.folded = !m.folded
		m.refresh()
	case key.Matches(msg, k.Validate):
		return m.validateCmd()
	case key.Matches(msg, k.Copy):
		m.copying = true
		return nil
	case key.Matches(msg, k.Top):
		m.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		m.vp.GotoBottom()
	default:
		var cmd tea.Cmd
		m.vp, cmd = m.vp.Update(msg)
		return cmd
	}
	return nil
}

// copyCmd copies what the key after y names (OSC 52).
func (m *Model) copyCmd(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	var what, text string
	switch {
	case key.Matches(msg, k.CopyPrompt) && m.gen != nil:
		what, text = "prompt", m.gen.Prompt
	case key.Matches(msg, k.CopyAnswer) && m.gen != nil:
		what, text = "reference answer", m.gen.Solution
	case key.Matches(msg, k.CopyTyped):
		what, text = "typed answer", m.input.Value()
	case key.Matches(msg, k.CopyState) && m.gen != nil:
		what, text = "state", string(m.gen.State)
	case key.Matches(msg, k.CopyCode) && m.module != nil:
		what, text = "source of "+m.entry.Name, string(m.module.Source)
	case msg.Type == tea.KeyEsc:
		return nil
	default:
		return pane.Info("nothing copied: y then p (prompt), a (reference answer), t (typed answer), s (state) or c (code)")
	}
	return m.ctx.CopyCmd(what, text)
}

// handleMouse: the wheel scrolls, a click on the answer line opens the
// answer box.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft {
		if msg.Y == 2+m.vp.Height && m.module != nil && !m.answering {
			m.answering = true
			return m.input.Focus()
		}
		return nil
	}
	var cmd tea.Cmd
	m.vp, cmd = m.vp.Update(msg)
	return cmd
}
