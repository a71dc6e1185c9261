package pane

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/bubbles/help"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	"resyn/core/library"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/trainer/grpo"
)

// Pane is one screen of the workbench.
type Pane interface {
	help.KeyMap
	Init() tea.Cmd
	Update(tea.Msg) (Pane, tea.Cmd)
	View() string
	// SetSize gives the pane its area (the whole window minus the tab row
	// and the status bar).
	SetSize(width, height int)
	// Title is the pane's name on the tab row.
	Title() string
	// Capturing reports that the pane is reading text (a search, an
	// answer, a note): the root model then leaves every key but ctrl+c
	// to it.
	Capturing() bool
}

// Context is what every pane shares, made once by the root model.
type Context struct {
	// Ctx is cancelled when the workbench quits; jobs derive theirs from it.
	Ctx context.Context

	Styles    themes.Styles
	Library   Library
	Store     *storage.DB // nil when the workbench runs without a store
	StorePath string
	// Pool runs environment code (stored environments are untrusted, so in
	// worker processes); the built-ins are registered in it.
	Pool     *env.Pool
	Builtins []*env.Module
	// Editor is the command that edits a file ($VISUAL, $EDITOR, vi).
	Editor string
	// OpenLLM opens an LLM provider by name ("openai", "anthropic",
	// "replay") for synthesis; demo reports the built-in recorded run,
	// which plays only with synth.DemoConfig. Nil: synthesis is off.
	OpenLLM func(provider, model string) (p llm.Provider, demo bool, err error)
	// Provider is the provider synthesis starts with: the one whose key
	// is set, else "replay".
	Provider string
	// TrainOverrides are applied to every run the training pane starts
	// (grpo.Spec.Overrides): tests shrink runs with them; zero keeps the
	// recipes'.
	TrainOverrides grpo.Overrides
	// Poll is how often panes re-read the store for what other resyn
	// processes wrote (runs started from the command line); 0: never
	// (tests drive those reads themselves).
	Poll time.Duration
	// Terminal is where the clipboard sequence (OSC 52) goes: the
	// program's output, written between frames. Nil: copying reports that
	// there is no terminal. Tmux says the workbench runs inside tmux.
	Terminal io.Writer
	Tmux     bool
}

// Library is what the panes need of core/library; *library.Library is
// the one implementation outside tests.
type Library interface {
	List() ([]library.Entry, error)
	Get(name string) (library.Entry, error)
	SetStatus(name string, s storage.Status, why string) (library.Entry, error)
	Tag(name string, add, remove []string) (library.Entry, error)
	Note(name, text string) (library.Entry, error)
	History(name string) ([]storage.Env, error)
	Edit(ctx context.Context, pool *env.Pool, name string, src []byte, opts library.AddOptions) (library.Entry, *validate.Report, error)
	SetStatusAll(names []string, s storage.Status) ([]library.Change, error)
	TagAll(names []string, add, remove []string) ([]library.Change, error)
	Revert(items []library.RevertItem) ([]library.Change, error)
}

var _ Library = (*library.Library)(nil)

// ErrMsg is a failure a pane reports; the status bar shows it.
type ErrMsg struct{ Err error }

// InfoMsg is news for the status bar.
type InfoMsg struct{ Text string }

// JobStartedMsg announces long work, shown on the status bar until its
// JobFinishedMsg. Cancel stops it; quitting calls it for every running job
// and waits for their JobFinishedMsg.
type JobStartedMsg struct {
	ID     int64
	Label  string
	Cancel context.CancelFunc
}

// JobFinishedMsg ends a job. Panes send it alongside their own result
// message (tea.Batch), so the root model knows the job is over.
type JobFinishedMsg struct{ ID int64 }

// OpenEnvMsg asks for an environment to be shown in the preview pane.
type OpenEnvMsg struct{ Name string }

// LibraryChangedMsg says an environment was added or changed in the
// store (Name is empty when many were); the library pane reloads.
type LibraryChangedMsg struct{ Name string }

var jobIDs atomic.Int64

// NewJobID returns a fresh job id.
func NewJobID() int64 { return jobIDs.Add(1) }

// Err turns an error into a command that reports it.
func Err(err error) tea.Cmd { return func() tea.Msg { return ErrMsg{err} } }

// Info turns a line of news into a command.
func Info(text string) tea.Cmd { return func() tea.Msg { return InfoMsg{text} } }

// Msg wraps a message in a command.
func Msg(m tea.Msg) tea.Cmd { return func() tea.Msg { return m } }
