package preview

import (
	"bytes"
	"context"
	"encoding/base64"
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
	drive(m, m.Open("maze")) // a built-in: its rows are one a line
	for range 4 {
		press(m, "+") // difficulty 5: more than FoldLines lines of JSON
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

// TestEnterScoresAndStays: enter in the answer box scores the answer and
// keeps the box, so the keys typed next are text, not commands.
func TestEnterScoresAndStays(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	right := m.gen.Solution
	press(m, "i")
	typeText(m, right)
	m.reward = nil // forget the live score: enter must score it again
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	drive(m, cmd)
	if !m.Capturing() {
		t.Fatal("enter left the answer box")
	}
	if r := m.Reward(); r == nil || r.Score != 1 {
		t.Fatalf("enter did not score the answer: %+v", r)
	}
	seed := m.seed
	typeText(m, "]n")
	if m.seed != seed || m.input.Value() != right+"]n" {
		t.Errorf("keys after enter: seed %d (was %d), box %q; want them typed", m.seed, seed, m.input.Value())
	}
	press(m, "esc")
	if m.Capturing() {
		t.Error("esc did not leave the box")
	}
	press(m, "]")
	if m.seed != seed+1 {
		t.Errorf("] after esc: seed %d, want %d", m.seed, seed+1)
	}
}

func TestCopy(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	var term bytes.Buffer
	m.ctx.Terminal = &term
	for _, tc := range []struct{ key, want string }{
		{"p", m.gen.Prompt},
		{"a", m.gen.Solution},
		{"s", string(m.gen.State)},
		{"c", fixture.Adder},
	} {
		term.Reset()
		press(m, "y")
		if !m.Capturing() || !strings.Contains(m.View(), "copy: p prompt") {
			t.Fatalf("y does not ask what to copy:\n%s", fixture.Lines(m.View()))
		}
		press(m, tc.key)
		want := "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(tc.want)) + "\a"
		if term.String() != want {
			t.Errorf("y %s sent %q, want %q", tc.key, term.String(), want)
		}
		if m.Capturing() {
			t.Errorf("y %s left the pane waiting", tc.key)
		}
	}
	term.Reset()
	press(m, "y", "esc")
	if term.Len() != 0 || m.Capturing() {
		t.Errorf("y esc copied %q", term.String())
	}
}

// TestReloadAfterAChange: an edit (or its undo) of the environment shown
// is read again at the same seed and difficulty.
func TestReloadAfterAChange(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("adder"))
	press(m, "]", "+")
	lib := m.ctx.Library.(*corelib.Library)
	edited := strings.Replace(fixture.Adder, "Put the sum in", "Write the sum in", 1)
	if _, _, err := lib.Edit(context.Background(), m.ctx.Pool, "adder", []byte(edited), corelib.AddOptions{KeepInvalid: true}); err != nil {
		t.Fatal(err)
	}
	_, cmd := m.Update(pane.LibraryChangedMsg{Name: "adder"})
	drive(m, cmd)
	if m.seed != 1 || m.difficulty != 2 || !strings.Contains(m.gen.Prompt, "Write the sum in") {
		t.Fatalf("after the edit: seed %d difficulty %d prompt %q", m.seed, m.difficulty, m.gen.Prompt)
	}
}

func TestMouseScrolls(t *testing.T) {
	m := newPane(t)
	drive(m, m.Open("parity_bits"))
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	if m.vp.YOffset == 0 {
		t.Error("the wheel did not scroll")
	}
	_, cmd := m.Update(tea.MouseMsg{Y: 2 + m.vp.Height, Action: tea.MouseActionPress, Button: tea.MouseButtonLeft})
	drive(m, cmd)
	if !m.Capturing() {
		t.Error("a click on the answer line did not open the box")
	}
}
