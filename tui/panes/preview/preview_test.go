package preview

import (
	"context"
	"os"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	corelib "resyn/core/library"
	"resyn/themes"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func newPane(t *testing.T) *Model {
	t.Helper()
	db, path := fixture.Store(t)
	pool, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	ctx := &pane.Context{Ctx: context.Background(), Styles: themes.NewStyles(themes.NoColor),
		Library: corelib.New(db), Store: db, StorePath: path, Pool: pool}
	m := New(ctx)
	m.SetSize(80, 22)
	return m
}

func drive(m *Model, cmd tea.Cmd) []tea.Msg {
	return fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		return c
	})
}

func typeText(m *Model, s string) {
	for _, r := range s {
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		drive(m, cmd)
	}
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func press(m *Model, ks ...string) {
	for _, k := range ks {
		_, cmd := m.Update(keyMsg(k))
		drive(m, cmd)
	}
}

func TestOpenShowsInstance(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	if m.gen == nil || m.gen.Err != nil {
		t.Fatalf("no instance: %+v", m.gen)
	}
	v := m.View()
	for _, want := range []string{"adder", "seed 0", "difficulty 1 (1–10)", "PROMPT", "Put the sum in", "STATE", "REFERENCE ANSWER", "verify → 1", "VALIDATION", "all 5 checks passed"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, fixture.Lines(v))
		}
	}
}

func TestSeedAndDifficultyKeys(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	first := string(m.gen.State)
	tests := []struct {
		key        string
		seed       int64
		difficulty int
	}{
		{"]", 1, 1}, {"n", 2, 1}, {"[", 1, 1}, {"N", 0, 1}, {"[", 0, 1}, // the seed stops at 0
		{"+", 0, 2}, {"+", 0, 3}, {"-", 0, 2},
	}
	for _, tc := range tests {
		press(m, tc.key)
		if m.seed != tc.seed || m.difficulty != tc.difficulty {
			t.Fatalf("after %q: seed %d difficulty %d, want %d %d", tc.key, m.seed, m.difficulty, tc.seed, tc.difficulty)
		}
	}
	if string(m.gen.State) == first {
		t.Error("a harder instance has the same state as the first")
	}
	for range 12 {
		press(m, "+")
	}
	if m.difficulty != 10 {
		t.Errorf("difficulty went to %d, past the module's range (1, 10)", m.difficulty)
	}
	for range 12 {
		press(m, "-")
	}
	if string(m.gen.State) != first {
		t.Errorf("back at seed 0 difficulty 1 the state is %s, want %s", m.gen.State, first)
	}
}

func TestTypedAnswerIsScoredLive(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	right := m.gen.Solution
	press(m, "i")
	if !m.Capturing() {
		t.Fatal("i did not focus the answer box")
	}
	typeText(m, right)
	if r := m.Reward(); r == nil || r.Kind != env.KindOK || r.Score != 1 {
		t.Fatalf("answer %q: reward %+v, want ok 1", right, r)
	}
	if v := m.View(); !strings.Contains(v, "✓ score 1  ok") {
		t.Errorf("the view does not show the score:\n%s", fixture.Lines(v))
	}
	typeText(m, "7")
	if r := m.Reward(); r == nil || r.Kind != env.KindOK || r.Score != 0 {
		t.Fatalf("answer %q: reward %+v, want ok 0", right+"7", r)
	}
	if v := m.View(); !strings.Contains(v, "✗ score 0  ok  (wrong)") {
		t.Errorf("the view does not show the wrong answer:\n%s", fixture.Lines(v))
	}
	// Text with a closing tag is scored as a whole completion: without an
	// opening tag it is a format failure.
	for range len(right) + 1 {
		press(m, "backspace")
	}
	typeText(m, "3</answer>")
	if r := m.Reward(); r == nil || r.Kind != env.KindFormat {
		t.Fatalf("completion %q: reward %+v, want kind format", "3</answer>", r)
	}
	press(m, "esc")
	if m.Capturing() {
		t.Error("esc did not leave the answer box")
	}
}

func TestCompletion(t *testing.T) {
	for in, want := range map[string]string{
		"42":                          "<answer>42</answer>",
		"I think <answer>42</answer>": "I think <answer>42</answer>",
		"<ANSWER>x</ANSWER>":          "<ANSWER>x</ANSWER>",
	} {
		if got := Completion(in); got != want {
			t.Errorf("Completion(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFailingReportIsHighlighted(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("parity_bits"))
	m.SetSize(80, 60)
	v := m.View()
	for _, want := range []string{"1 of 6 checks failed", "✗ reward-hacking probes score below 1 (line 12)", `answer "even odd" scored 1`} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, fixture.Lines(v))
		}
	}
	// Failing checks come before passing ones.
	if strings.Index(v, "✗ reward-hacking") > strings.Index(v, "✓ loads") {
		t.Error("the failing check is listed after the passing ones")
	}
}

func TestFold(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	for range 9 {
		press(m, "+") // difficulty 10: eleven numbers, more than FoldLines lines of JSON
	}
	m.SetSize(80, 60)
	if !strings.Contains(m.View(), "folded (f unfolds)") {
		t.Fatalf("long state not folded:\n%s", fixture.Lines(m.View()))
	}
	press(m, "f")
	if strings.Contains(m.View(), "more lines") {
		t.Errorf("f did not unfold the state:\n%s", fixture.Lines(m.View()))
	}
}

func TestValidateRunsAsJob(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("word_reverse"))
	m.report = nil
	_, cmd := m.Update(keyMsg("v"))
	msgs := drive(m, cmd)
	var started, finished bool
	for _, msg := range msgs {
		switch msg.(type) {
		case pane.JobStartedMsg:
			started = true
		case pane.JobFinishedMsg:
			finished = true
		}
	}
	if !started || !finished {
		t.Fatalf("validation: job started %v finished %v", started, finished)
	}
	if m.report == nil || !m.report.OK {
		t.Fatalf("report %+v, want a passing one", m.report)
	}
}

func TestUnknownEnvironment(t *testing.T) {
	m := newPane(t)
	msgs := drive(m, m.Open("no_such_env"))
	var err error
	for _, msg := range msgs {
		if e, ok := msg.(pane.ErrMsg); ok {
			err = e.Err
		}
	}
	if err == nil || !strings.Contains(err.Error(), "no_such_env") {
		t.Fatalf("opening an unknown environment reported %v", err)
	}
	if v := m.View(); !strings.Contains(v, "ERROR") {
		t.Errorf("the view does not show the error:\n%s", fixture.Lines(v))
	}
}
