package tui

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"resyn/core/env"
	corelib "resyn/core/library"
	coresynth "resyn/core/synth"
	"resyn/core/validate"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
	"resyn/tui/panes/library"
	synthpane "resyn/tui/panes/synth"
	"resyn/tui/panes/training"
)

// The goldens are drawn at this size, without colour.
const width, height = 80, 24

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// newModel builds the workbench on the fixture store (built-ins hidden).
func newModel(t *testing.T) (*Model, *storage.DB) {
	t.Helper()
	db, _ := fixture.Store(t)
	pool, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m, err := New(ctx, Options{Store: db, StorePath: "/tmp/resyn-test/resyn.db", Theme: themes.NoColor,
		Pool: pool, Library: fixture.StoredOnly{Library: corelib.New(db)}, Editor: "true"})
	if err != nil {
		t.Fatal(err)
	}
	return m, db
}

func start(t *testing.T, m *Model) *teatest.TestModel {
	t.Helper()
	return startAt(t, m, width, height)
}

func startAt(t *testing.T, m *Model, w, h int) *teatest.TestModel {
	t.Helper()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = tm.Quit() })
	return tm
}

// transcripts hold everything each program has written so far.
var transcripts sync.Map // *teatest.TestModel → *bytes.Buffer

// waitFor reads the program's output until everything it has written
// contains every string. (The renderer repaints only changed lines, so a
// screen is known by what has appeared, not by the last frame alone.)
func waitFor(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	v, _ := transcripts.LoadOrStore(tm, new(bytes.Buffer))
	seen := v.(*bytes.Buffer)
	var last []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		last = b
		all := append(slices.Clip(seen.Bytes()), b...)
		for _, w := range want {
			if !bytes.Contains(all, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(20*time.Millisecond))
	seen.Write(last)
}

func keys(tm *teatest.TestModel, ks ...string) {
	for _, k := range ks {
		switch k {
		case "enter":
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "esc":
			tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
		case "tab":
			tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		case "space":
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{' '}})
		default:
			tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		}
	}
}

// finalView quits the program and returns its last view, with dates made
// stable.
func finalView(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	return fixture.Stable(fm.View())
}

func requireGolden(t *testing.T, view string) {
	t.Helper()
	requireGoldenAt(t, view, width, height)
}

func requireGoldenAt(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, lw, w, l)
		}
	}
	golden.RequireEqual(t, []byte(view))
}

func TestLibraryScreens(t *testing.T) {
	t.Run("list", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "word_reverse", "4 of 4")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("search", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "/", "w", "r")
		waitFor(t, tm, "1 of 4")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("candidates", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "s")
		waitFor(t, tm, "2 of 4")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("history", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "G", "h")
		waitFor(t, tm, "history of word_reverse")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("diff", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "G", "h")
		waitFor(t, tm, "history of word_reverse")
		keys(tm, "enter")
		waitFor(t, tm, "revision 2 against 1")
		requireGolden(t, finalView(t, tm))
	})
}

func TestPreviewScreens(t *testing.T) {
	open := func(t *testing.T) (*teatest.TestModel, string) {
		m, db := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "enter") // adder
		waitFor(t, tm, "PROMPT", "verify → 1")
		// The reference answer, to type it.
		var sol string
		lib := corelib.New(db)
		if _, err := lib.Get("adder"); err != nil {
			t.Fatal(err)
		}
		r := m.ctx.Pool.Run(context.Background(), []env.Task{{Env: "adder", Seed: 0, Difficulty: 1, Solve: true}})[0]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		sol = r.Solution
		return tm, sol
	}
	t.Run("instance", func(t *testing.T) {
		tm, _ := open(t)
		requireGolden(t, finalView(t, tm))
	})
	t.Run("correct", func(t *testing.T) {
		tm, sol := open(t)
		keys(tm, "i")
		tm.Type(sol)
		waitFor(t, tm, "✓ score 1  ok")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("wrong", func(t *testing.T) {
		tm, sol := open(t)
		keys(tm, "i")
		tm.Type(sol + "9")
		waitFor(t, tm, "✗ score 0  ok  (wrong)")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("harder", func(t *testing.T) {
		tm, _ := open(t)
		keys(tm, "+", "+", "]")
		waitFor(t, tm, "seed 1  difficulty 3 (1–10)")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("failing report", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "j", "j", "enter") // parity_bits
		waitFor(t, tm, "parity_bits", "PROMPT")
		keys(tm, "G") // the viewport's bottom: the report
		waitFor(t, tm, "1 of 6 checks failed")
		requireGolden(t, finalView(t, tm))
	})
}

func TestTrainingScreen(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		want string
	}{
		{"reward", nil, "[reward]"},
		{"pass rate", []string{"l"}, "[pass_rate]"},
		{"loss", []string{"l", "l"}, "loss: last"},
		{"rollouts", []string{"o"}, "reply  │"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, db := newModel(t)
			if _, err := training.LoadRecorded(db, filepath.Join("..", "testdata", "train-run")); err != nil {
				t.Fatal(err)
			}
			tm := start(t, m)
			waitFor(t, tm, "4 of 4")
			keys(tm, "4")
			waitFor(t, tm, "run 1 tiny-cpu demo")
			keys(tm, tc.keys...)
			waitFor(t, tm, tc.want)
			requireGolden(t, finalView(t, tm))
		})
	}
}

// TestTrainingScreenEmpty: with no run in the store the training pane says
// how to start one, every line whole at 80 columns.
func TestTrainingScreenEmpty(t *testing.T) {
	m, _ := newModel(t)
	tm := start(t, m)
	waitFor(t, tm, "4 of 4")
	keys(tm, "4")
	waitFor(t, tm, "No training runs in the store yet")
	view := finalView(t, tm)
	for _, want := range []string{"t starts a run here", "`resyn train` has every option", "--load-run testdata/train-run"} {
		if !strings.Contains(view, want) {
			t.Errorf("the empty training pane lacks %q:\n%s", want, view)
		}
	}
	requireGolden(t, view)
}

// synthEvents is a made-up run, so that the synthesis screen does not
// depend on a model or the built-in library.
func synthEvents() []coresynth.Event {
	report := &validate.Report{Env: "clock_angle", OK: false}
	return []coresynth.Event{
		coresynth.RunStartedEvent{RunID: 7, Provider: "replay:demo", N: 3},
		coresynth.IdeasReadyEvent{Ideas: []coresynth.Idea{
			{Name: "clock_angle", Category: "arithmetic", Description: "The angle between the hands of a clock."},
			{Name: "bracket_depth", Category: "strings", Description: "The deepest nesting of brackets."},
			{Name: "river_crossing", Category: "planning", Description: "Get everyone across the river."},
		}, Dropped: []coresynth.DroppedIdea{{Idea: coresynth.Idea{Name: "clock_hands"}, SimilarTo: "clock_angle"}}},
		coresynth.CandidateStartedEvent{Index: 0, Idea: coresynth.Idea{Name: "clock_angle", Category: "arithmetic", Description: "The angle between the hands of a clock."}},
		coresynth.CodeWrittenEvent{Index: 0, Name: "clock_angle", Lines: 31},
		coresynth.ValidatedEvent{Index: 0, Name: "clock_angle", OK: false, Report: report, Failed: []validate.Check{{Name: validate.CheckSolve}}},
		coresynth.RepairStartedEvent{Index: 0, Name: "clock_angle", Round: 1},
		coresynth.CodeWrittenEvent{Index: 0, Name: "clock_angle", Round: 1, Lines: 33},
		coresynth.ValidatedEvent{Index: 0, Name: "clock_angle", Round: 1, OK: true},
		coresynth.VerdictEvent{Index: 0, Name: "clock_angle", Outcome: coresynth.OutcomeCandidate, Repairs: 1},
		coresynth.CandidateStartedEvent{Index: 1, Idea: coresynth.Idea{Name: "bracket_depth", Category: "strings", Description: "The deepest nesting of brackets."}},
		coresynth.VerdictEvent{Index: 1, Name: "bracket_depth", Outcome: coresynth.OutcomeRefused, Reason: "the model declined"},
		coresynth.CandidateStartedEvent{Index: 2, Idea: coresynth.Idea{Name: "river_crossing", Category: "planning", Description: "Get everyone across the river."}},
		coresynth.CodeWrittenEvent{Index: 2, Name: "river_crossing", Lines: 58},
		coresynth.TotalsEvent{Summary: coresynth.Summary{N: 3, Ideas: 3, Dropped: 1, Finished: 2, Valid: 1,
			Outcomes: map[coresynth.Outcome]int{coresynth.OutcomeCandidate: 1, coresynth.OutcomeRefused: 1}}},
	}
}

func TestSynthesisScreen(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "3")
		waitFor(t, tm, "No synthesis runs")
		requireGolden(t, finalView(t, tm))
	})
	t.Run("live", func(t *testing.T) {
		m, _ := newModel(t)
		tm := start(t, m)
		waitFor(t, tm, "4 of 4")
		keys(tm, "3")
		for _, e := range synthEvents() {
			tm.Send(synthpane.SynthEventMsg{Event: e})
		}
		waitFor(t, tm, "2/3 finished")
		keys(tm, "j", "j")
		requireGolden(t, finalView(t, tm))
	})
}

func TestHelpOverlay(t *testing.T) {
	m, _ := newModel(t)
	tm := start(t, m)
	waitFor(t, tm, "4 of 4")
	keys(tm, "?")
	waitFor(t, tm, "Library — keys")
	requireGolden(t, finalView(t, tm))
}

func TestQuitWhileAJobRunsAsks(t *testing.T) {
	m, _ := newModel(t)
	tm := start(t, m)
	waitFor(t, tm, "4 of 4")
	var cancelled atomic.Bool
	tm.Send(pane.JobStartedMsg{ID: 999, Label: "a slow job", Cancel: func() {
		cancelled.Store(true)
		go tm.Send(pane.JobFinishedMsg{ID: 999}) // the job notices and ends
	}})
	waitFor(t, tm, "a slow job")
	keys(tm, "q")
	waitFor(t, tm, "Quit and stop them?", "· a slow job")
	if cancelled.Load() {
		t.Fatal("the job was cancelled before the user said yes")
	}
	keys(tm, "y")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if !cancelled.Load() {
		t.Fatal("quitting did not cancel the running job")
	}
}

func TestQuitQuestion(t *testing.T) {
	m, _ := newModel(t)
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	var cancelled int
	m.Update(pane.JobStartedMsg{ID: 1, Label: "job", Cancel: func() { cancelled++ }})
	press := func(k string) tea.Cmd {
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		return cmd
	}
	if cmd := press("q"); cmd != nil || !m.confirmQuit {
		t.Fatal("q with a job running did not ask")
	}
	if press("n"); m.confirmQuit || cancelled != 0 {
		t.Fatal("n did not take the question away, or cancelled the job")
	}
	press("q")
	cmd := press("y")
	if cancelled != 1 || !m.quitting || cmd == nil {
		t.Fatalf("y: cancelled %d, quitting %v", cancelled, m.quitting)
	}
	// The job reports that it stopped: the program quits.
	_, cmd = m.Update(pane.JobFinishedMsg{ID: 1})
	if cmd == nil {
		t.Fatal("the last job ended and nothing quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("the last job ended and the command is not tea.Quit")
	}
}

func TestPaneSwitching(t *testing.T) {
	m, _ := newModel(t)
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	for _, tc := range []struct {
		key  tea.KeyMsg
		want string
	}{
		{tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("2")}, "Preview"},
		{tea.KeyMsg{Type: tea.KeyTab}, "Synthesis"},
		{tea.KeyMsg{Type: tea.KeyTab}, "Training"},
		{tea.KeyMsg{Type: tea.KeyTab}, "Experiments"},
		{tea.KeyMsg{Type: tea.KeyTab}, "Library"},
		{tea.KeyMsg{Type: tea.KeyShiftTab}, "Experiments"},
		{tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("5")}, "Experiments"},
		{tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("1")}, "Library"},
	} {
		m.Update(tc.key)
		if got := m.Active().Title(); got != tc.want {
			t.Fatalf("after %s the pane is %s, want %s", tc.key, got, tc.want)
		}
	}
	// While the search reads text, digits are text, not pane numbers.
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/")})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("3")})
	if got := m.Active().Title(); got != "Library" {
		t.Errorf("typing 3 in the search switched to %s", got)
	}
}

func TestResize(t *testing.T) {
	m, _ := newModel(t)
	fixture.Run(m.Init(), func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
	for _, size := range [][2]int{{80, 24}, {200, 60}, {60, 16}, {80, 24}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for i := range m.panes {
			m.active = i
			v := m.View()
			lines := strings.Split(v, "\n")
			if len(lines) != size[1] {
				t.Errorf("%s at %dx%d: %d lines", m.Active().Title(), size[0], size[1], len(lines))
			}
			for j, l := range lines {
				if w := lipgloss.Width(l); w > size[0] {
					t.Errorf("%s at %dx%d: line %d is %d wide", m.Active().Title(), size[0], size[1], j+1, w)
				}
			}
		}
	}
}

func TestEmptyPreviewOpensTheLibrarySelection(t *testing.T) {
	m, _ := newModel(t)
	fixture.Run(m.Init(), func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("2")})
	if cmd == nil {
		t.Fatal("2 with an empty preview did nothing")
	}
	if msg, ok := cmd().(pane.OpenEnvMsg); !ok || msg.Name != "adder" {
		t.Fatalf("2 sent %#v, want OpenEnvMsg{adder}", msg)
	}
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// drain runs the model's commands to quiet, synchronously.
func drain(m *Model, cmd tea.Cmd) []tea.Msg {
	return fixture.Run(cmd, func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
}

// TestBurstOfKeys: runes that arrive in one read are each a key; once a
// text box opens, the rest is its text.
func TestBurstOfKeys(t *testing.T) {
	m, _ := newModel(t)
	drain(m, m.Init())
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	lib := m.Active().(*library.Model)
	drain(m, send(m, runes("jjj")))
	if sel, _ := lib.Selected(); sel.Name != "word_reverse" {
		t.Fatalf("jjj in one read moved to %s, want word_reverse (three rows down)", sel.Name)
	}
	drain(m, send(m, runes("gg/wor")))
	if got := lib.Entries(); len(got) != 1 || got[0].Name != "word_reverse" || !lib.Capturing() {
		t.Fatalf("/wor in one read: %d shown, capturing %v", len(got), lib.Capturing())
	}
	// Esc and a key in one read come as Alt+key: they are esc (the box
	// closes, the search stays), then the key (s: only candidates).
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("s"), Alt: true}))
	if v := lib.View(); lib.Capturing() || !strings.Contains(v, "status: candidate") {
		t.Fatalf("esc and s in one read: capturing %v; want the box closed and candidates only:\n%s", lib.Capturing(), v)
	}
	// A paste is text for a box, never keys.
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyEsc}))
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyEsc}))
	msgs := drain(m, send(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("xxq"), Paste: true}))
	if len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1].(pane.InfoMsg).Text, "pasted text (3 characters) ignored") {
		t.Fatalf("a paste outside a box: %v", msgs)
	}
	if sel, _ := lib.Selected(); sel.Status == storage.StatusRejected {
		t.Errorf("a paste of x rejected %s", sel.Name)
	}
}

// TestAnswerEnterThenKeys is the misfire of the issue: an answer, enter,
// then "1 x" — the keys stay in the answer box; nothing is switched or
// rejected.
func TestAnswerEnterThenKeys(t *testing.T) {
	m, db := newModel(t)
	drain(m, m.Init())
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyEnter})) // adder in the preview
	drain(m, send(m, runes("i")))
	drain(m, send(m, runes("42")))
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyEnter}))
	drain(m, send(m, runes("1 x")))
	if got := m.Active().Title(); got != "Preview" {
		t.Fatalf("after the answer, enter and 1 x the pane is %s", got)
	}
	e, _ := corelib.New(db).Get("adder")
	if e.Status != storage.StatusCandidate {
		t.Fatalf("adder is %s", e.Status)
	}
	if !strings.Contains(m.View(), "answer › 421 x") {
		t.Errorf("the keys are not in the answer box:\n%s", fixture.Lines(m.View()))
	}
}

func TestMouseOnTheTabRow(t *testing.T) {
	m, _ := newModel(t)
	drain(m, m.Init())
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	x := strings.Index(m.View(), "3 Synthesis")
	drain(m, send(m, tea.MouseMsg{X: x, Y: 0, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft}))
	if got := m.Active().Title(); got != "Synthesis" {
		t.Fatalf("a click on the Synthesis tab shows %s", got)
	}
	drain(m, send(m, tea.MouseMsg{X: 1, Y: 0, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft}))
	// A click in the pane area reaches the pane, one row up (the tab row).
	drain(m, send(m, tea.MouseMsg{X: 10, Y: 5, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft}))
	if sel, _ := m.Active().(*library.Model).Selected(); sel.Name != "parity_bits" {
		t.Errorf("a click on the screen's sixth line selected %s, want the third row", sel.Name)
	}
}

func TestHelpOverlayScrolls(t *testing.T) {
	m, _ := newModel(t)
	drain(m, m.Init())
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 14})
	drain(m, send(m, runes("?")))
	first := m.View()
	if !strings.Contains(first, "↑/↓ scroll, lines 1–") {
		t.Fatalf("a help taller than the window does not say it scrolls:\n%s", first)
	}
	drain(m, send(m, tea.KeyMsg{Type: tea.KeyDown}))
	if v := m.View(); v == first || !strings.Contains(v, "lines 2–") {
		t.Errorf("↓ did not scroll the help:\n%s", v)
	}
	drain(m, send(m, runes("x")))
	if m.showHelp {
		t.Error("another key did not close the help")
	}
}

// send is Update for tests that want only the command.
func send(m *Model, msg tea.Msg) tea.Cmd {
	_, cmd := m.Update(msg)
	return cmd
}
