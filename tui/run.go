package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	"resyn/core/envlib"
	corelib "resyn/core/library"
	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/pane"
	"resyn/tui/panes/experiments"
	"resyn/tui/panes/library"
	"resyn/tui/panes/preview"
	"resyn/tui/panes/synth"
	"resyn/tui/panes/training"
)

// Options configure the workbench.
type Options struct {
	Store *storage.DB // may be nil: the built-in library alone
	// Library is the environment library; nil means core/library over
	// Store. Tests pass one that hides the built-ins.
	Library   pane.Library
	StorePath string // shown on the status bar
	Theme     themes.Theme
	// Pool runs environment code; nil makes one with two workers, closed
	// by Close.
	Pool *env.Pool
	// Editor edits sources; empty means $VISUAL, $EDITOR, then vi.
	Editor string
	// OpenLLM and Provider: see pane.Context.
	OpenLLM  func(provider, model string) (llm.Provider, bool, error)
	Provider string
	// Poll: see pane.Context. Run sets DefaultPoll when it is zero.
	Poll time.Duration
	// NoMouse leaves the mouse to the terminal (its own text selection)
	// instead of the workbench's clicks and wheel.
	NoMouse bool
	// Terminal receives the clipboard sequence (OSC 52); Run sets it to
	// the program's output. Tests pass a buffer.
	Terminal io.Writer
}

// DefaultPoll is how often the workbench looks for what other resyn
// processes wrote to the store (a run `resyn train` started in another
// terminal).
const DefaultPoll = 2 * time.Second

// New builds the root model. ctx is cancelled to stop every job; Close
// releases what New made.
func New(ctx context.Context, o Options) (*Model, error) {
	builtins, err := envlib.Modules()
	if err != nil {
		return nil, err
	}
	pool := o.Pool
	ownPool := false
	if pool == nil {
		pool, _, err = corelib.NewPool(ctx, nil, corelib.ExecutorOptions{Workers: 2})
		if err != nil {
			return nil, err
		}
		ownPool = true
	}
	for _, b := range builtins {
		pool.Register(b)
	}
	if o.Theme.Name == "" {
		o.Theme = themes.Dark
	}
	editor := o.Editor
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if editor == "" {
			editor = os.Getenv(v)
		}
	}
	if editor == "" {
		editor = "vi"
	}
	lib := o.Library
	if lib == nil {
		lib = corelib.New(o.Store)
	}
	pc := &pane.Context{
		Ctx:       ctx,
		Styles:    themes.NewStyles(o.Theme),
		Library:   lib,
		Store:     o.Store,
		StorePath: o.StorePath,
		Pool:      pool,
		Builtins:  builtins,
		Editor:    editor,
		OpenLLM:   o.OpenLLM,
		Provider:  o.Provider,

		Poll:     o.Poll,
		Terminal: o.Terminal,
		Tmux:     os.Getenv("TMUX") != "",
	}
	h := help.New()
	h.Styles = pc.Styles.Help
	m := &Model{
		ctx:  pc,
		help: h,
		panes: []pane.Pane{
			library.New(pc),
			preview.New(pc),
			synth.New(pc),
			training.New(pc),
			experiments.New(pc),
		},
	}
	m.keys = newGlobalKeys(len(m.panes))
	if ownPool {
		m.closers = append(m.closers, pool.Close)
	}
	return m, nil
}

// Close releases what New made (the worker pool when it made one).
func (m *Model) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Run opens the workbench on the terminal and returns when the user quits.
func Run(ctx context.Context, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	term := &terminal{f: os.Stdout}
	o.Terminal = term
	m, err := New(ctx, o)
	if err != nil {
		return err
	}
	defer m.Close()
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(term)}
	if !o.NoMouse {
		opts = append(opts, tea.WithMouseCellMotion())
	}
	p := tea.NewProgram(m, opts...)
	if _, err := p.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("workbench: %w", err)
	}
	return nil
}

// terminal is the program's output with a lock, so that the clipboard
// sequence is written between two frames and never inside one (the
// renderer writes each frame in one Write). It is a term.File, so that
// bubbletea still sees a terminal (for its size and raw mode).
type terminal struct {
	mu sync.Mutex
	f  *os.File
}

func (t *terminal) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.Write(b)
}

func (t *terminal) Read(b []byte) (int, error) { return t.f.Read(b) }
func (t *terminal) Close() error               { return nil } // stdout stays open
func (t *terminal) Fd() uintptr                { return t.f.Fd() }
