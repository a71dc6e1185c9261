package synth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	"resyn/core/envlib"
	corelib "resyn/core/library"
	coresynth "resyn/core/synth"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func newPane(t *testing.T, open func(string, string) (llm.Provider, bool, error)) (*Model, *storage.DB) {
	t.Helper()
	db, path := fixture.Store(t)
	pool, err := env.NewPool(env.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		pool.Register(m)
	}
	ctx := &pane.Context{Ctx: context.Background(), Styles: themes.NewStyles(themes.NoColor), Store: db, StorePath: path,
		Library: corelib.New(db), Pool: pool, Builtins: mods, OpenLLM: open, Provider: "replay"}
	m := New(ctx)
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

func press(m *Model, keys ...string) []tea.Msg {
	var out []tea.Msg
	for _, k := range keys {
		msg := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		}
		_, cmd := m.Update(msg)
		out = append(out, drive(m, cmd)...)
	}
	return out
}

func TestForm(t *testing.T) {
	m, _ := newPane(t, nil)
	press(m, "p")
	if m.provider != "openai" {
		t.Errorf("p from replay gives %s, want openai", m.provider)
	}
	press(m, "+", "+", "-")
	if m.n != 11 {
		t.Errorf("n = %d after + + -, want 11", m.n)
	}
	press(m, "m")
	if !m.Capturing() {
		t.Fatal("m does not edit the model")
	}
	for _, r := range "gpt-x" {
		press(m, string(r))
	}
	press(m, "enter", "s") // enter keeps the box: s is text
	if !m.Capturing() || m.modelIn.Value() != "gpt-xs" {
		t.Errorf("model %q (capturing %v), want gpt-xs in a box that kept the focus", m.modelIn.Value(), m.Capturing())
	}
	press(m, "backspace", "esc")
	if m.Capturing() || m.modelIn.Value() != "gpt-x" {
		t.Errorf("model %q (capturing %v) after esc, want gpt-x", m.modelIn.Value(), m.Capturing())
	}
	press(m, "c", "x", "esc")
	if m.catsIn.Value() != "x" {
		t.Errorf("esc dropped the categories typed: %q", m.catsIn.Value())
	}
	if v := m.View(); !strings.Contains(v, "provider openai  model gpt-x  n 11  categories x") {
		t.Errorf("form:\n%s", fixture.Lines(v))
	}
}

func TestStartFailureIsReported(t *testing.T) {
	m, _ := newPane(t, func(string, string) (llm.Provider, bool, error) {
		return nil, false, errors.New("no OPENAI_API_KEY")
	})
	msgs := press(m, "s")
	var err error
	for _, msg := range msgs {
		if e, ok := msg.(pane.ErrMsg); ok {
			err = e.Err
		}
	}
	if err == nil || !strings.Contains(err.Error(), "no OPENAI_API_KEY") || m.Running() {
		t.Fatalf("start with a failing provider: err %v, running %v", err, m.Running())
	}
}

func TestEventsBuildTheLog(t *testing.T) {
	m, _ := newPane(t, nil)
	events := []coresynth.Event{
		coresynth.RunStartedEvent{RunID: 4, N: 2},
		coresynth.CandidateStartedEvent{Index: 1, Idea: coresynth.Idea{Name: "b", Category: "logic"}},
		coresynth.CandidateStartedEvent{Index: 0, Idea: coresynth.Idea{Name: "a", Category: "graphs"}},
		coresynth.CodeWrittenEvent{Index: 0, Name: "a", Lines: 20, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 50}},
		coresynth.ValidatedEvent{Index: 0, Name: "a", OK: false, Failed: []validate.Check{{Name: "solve() scores 1.0"}}},
		coresynth.RepairStartedEvent{Index: 0, Name: "a", Round: 1},
		coresynth.VerdictEvent{Index: 0, Name: "a", Outcome: coresynth.OutcomeInvalid, Reason: "still failing"},
		coresynth.VerdictEvent{Index: 1, Name: "b", Outcome: coresynth.OutcomeCandidate},
	}
	var changed []string
	for _, e := range events {
		for _, msg := range drive(m, pane.Msg(SynthEventMsg{e})) {
			if c, ok := msg.(pane.LibraryChangedMsg); ok {
				changed = append(changed, c.Name)
			}
		}
	}
	if len(m.cands) != 2 || m.cands[0].Name != "a" || m.cands[1].Name != "b" {
		t.Fatalf("candidates %+v, want a then b", m.cands)
	}
	a := m.cands[0]
	if a.Outcome != coresynth.OutcomeInvalid || a.Tokens != 150 || len(a.Failed) != 1 {
		t.Errorf("candidate a: %+v", a)
	}
	if strings.Join(changed, ",") != "b" {
		t.Errorf("library told of %v, want only the valid candidate b", changed)
	}
}

// TestReplayDemoRun plays the recorded demo run through the pane, as
// pressing s with the replay provider does, to the end.
func TestReplayDemoRun(t *testing.T) {
	rec, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "synth", "run.jsonl"))
	if err != nil {
		t.Skipf("the demo recording is not there: %v", err)
	}
	m, db := newPane(t, func(string, string) (llm.Provider, bool, error) {
		r, err := llm.ParseReplay(bytes.NewReader(rec))
		return r, true, err
	})
	var started, finished bool
	for _, msg := range press(m, "s") {
		switch msg.(type) {
		case pane.JobStartedMsg:
			started = true
		case pane.JobFinishedMsg:
			finished = true
		}
	}
	if !started || !finished || m.Running() {
		t.Fatalf("job started %v, finished %v, still running %v", started, finished, m.Running())
	}
	if m.runErr != nil {
		t.Fatalf("the demo run failed: %v", m.runErr)
	}
	if m.totals.Valid == 0 {
		t.Fatalf("the demo run produced no valid candidate: %+v", m.totals)
	}
	es, err := corelib.New(db).List()
	if err != nil {
		t.Fatal(err)
	}
	inLibrary := map[string]bool{}
	for _, e := range es {
		if e.Status == storage.StatusCandidate && e.Origin.Kind == storage.OriginSynthesis && e.Origin.SynthRun == m.runID {
			inLibrary[e.Name] = true
		}
	}
	for _, c := range m.cands {
		if c.Outcome == coresynth.OutcomeCandidate && !inLibrary[c.Name] {
			t.Errorf("candidate %s of run %d is not in the library", c.Name, m.runID)
		}
	}
	if v := m.View(); !strings.Contains(v, "done") {
		t.Errorf("finished run:\n%s", fixture.Lines(v))
	}
	// The totals add up: stored, rejected and failed are the finished.
	m.SetSize(200, 22)
	var done, n, stored, rejected int
	line := strings.Split(m.View(), "\n")[1]
	if _, err := fmt.Sscanf(line[strings.Index(line, "done")+len("done"):], " %d/%d finished: stored %d · rejected %d", &done, &n, &stored, &rejected); err != nil {
		t.Fatalf("totals %q: %v", line, err)
	}
	if stored+rejected+m.totals.Outcomes[coresynth.OutcomeError] != done || stored != m.totals.Stored {
		t.Errorf("totals %q do not add up (%+v)", line, m.totals)
	}
}

func TestCandidateDetail(t *testing.T) {
	m, _ := newPane(t, nil)
	src := "NAME = \"a\"\nDESCRIPTION = \"x\"\n"
	for _, e := range []coresynth.Event{
		coresynth.CandidateStartedEvent{Index: 0, Idea: coresynth.Idea{Name: "a", Description: "An idea."}},
		coresynth.CodeWrittenEvent{Index: 0, Name: "a", Lines: 2, Source: src},
		coresynth.ValidatedEvent{Index: 0, Name: "a", OK: false, Failed: []validate.Check{{Name: "solve() scores 1.0"}}},
	} {
		drive(m, pane.Msg(SynthEventMsg{e}))
	}
	press(m, "enter")
	v := m.View()
	for _, want := range []string{"An idea.", "✗ solve() scores 1.0", `   1 NAME = "a"`, "round 0, 2 lines"} {
		if !strings.Contains(v, want) {
			t.Errorf("detail lacks %q:\n%s", want, fixture.Lines(v))
		}
	}
	press(m, "esc")
	if m.detail {
		t.Error("esc did not leave the detail")
	}
}
