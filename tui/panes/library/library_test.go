package library

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/env"
	corelib "resyn/core/library"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/internal/fixture"
	"resyn/tui/pane"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func newPane(t *testing.T) (*Model, *storage.DB) {
	t.Helper()
	db, path := fixture.Store(t)
	ctx := &pane.Context{Ctx: context.Background(), Styles: themes.NewStyles(themes.NoColor),
		Library: fixture.StoredOnly{Library: corelib.New(db)}, Store: db, StorePath: path}
	m := New(ctx)
	m.SetSize(80, 22)
	drive(m, m.Init())
	return m, db
}

// drive runs cmd and what follows from it, and returns the messages.
func drive(m *Model, cmd tea.Cmd) []tea.Msg {
	return fixture.Run(cmd, func(msg tea.Msg) tea.Cmd {
		_, c := m.Update(msg)
		return c
	})
}

func keys(s string) []tea.KeyMsg {
	var out []tea.KeyMsg
	for _, r := range s {
		out = append(out, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	return out
}

var (
	enter = tea.KeyMsg{Type: tea.KeyEnter}
	esc   = tea.KeyMsg{Type: tea.KeyEsc}
)

func press(m *Model, ks ...tea.KeyMsg) []tea.Msg {
	var msgs []tea.Msg
	for _, k := range ks {
		_, cmd := m.Update(k)
		msgs = append(msgs, drive(m, cmd)...)
	}
	return msgs
}

func listed(m *Model) string {
	var out []string
	for _, e := range m.Entries() {
		out = append(out, e.Name)
	}
	return strings.Join(out, ",")
}

func TestFilters(t *testing.T) {
	tests := []struct {
		name  string
		keys  []tea.KeyMsg
		want  string
		input bool // still reading text afterwards
	}{
		{"all", nil, "adder,old_maze,parity_bits,word_reverse", false},
		{"status candidate", keys("s"), "adder,parity_bits", false},
		{"status accepted", keys("ss"), "word_reverse", false},
		{"status rejected", keys("sss"), "old_maze", false},
		{"status cycles back to all", keys("ssss"), "adder,old_maze,parity_bits,word_reverse", false},
		{"fuzzy search while typing", keys("/wr"), "word_reverse", true},
		{"enter keeps the search box", append(keys("/add"), enter), "adder", true},
		{"esc leaves the box, the search stays", append(keys("/add"), esc), "adder", false},
		{"esc again drops it", append(keys("/add"), esc, esc), "adder,old_maze,parity_bits,word_reverse", false},
		{"search finds a tag", keys("/warmup"), "adder", true},
		{"search finds the category", keys("/grids"), "old_maze", true},
		{"search finds words of the description", keys("/bit string"), "parity_bits", true},
		{"every word must match", keys("/bit maze"), "", true},
		{"field terms", keys("/tag:ea"), "word_reverse", true},
		{"status term", keys("/status:rej"), "old_maze", true},
		{"category term and a word", keys("/cat:arith add"), "adder", true},
		{"tag filter by prefix, as you type", keys("tar"), "adder", true},
		{"tag filter stays after esc", append(keys("tar"), esc), "adder", false},
		{"esc clears every filter", append(append(keys("s"), keys("/par")...), esc, esc), "adder,old_maze,parity_bits,word_reverse", false},
		{"sort by status", keys("o"), "adder,parity_bits,word_reverse,old_maze", false},
		{"sort by status, reversed", keys("oO"), "old_maze,word_reverse,parity_bits,adder", false},
		{"sort by category", keys("oo"), "adder,parity_bits,old_maze,word_reverse", false},
		{"sort by validation", keys("ooo"), "parity_bits,old_maze,adder,word_reverse", false},
		{"sort by difficulty", keys("oooo"), "word_reverse,parity_bits,adder,old_maze", false},
		{"sort by calibration", keys("ooooo"), "old_maze,parity_bits,word_reverse,adder", false},
		{"a search ranks name matches first", keys("/ma"), "old_maze,adder", true},
		{"a chosen order wins over the ranking", append(append(keys("/ma"), esc), keys("oo")...), "adder,old_maze", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := newPane(t)
			press(m, tc.keys...)
			if got := listed(m); got != tc.want {
				t.Errorf("after %q the list is %s, want %s", tc.keys, got, tc.want)
			}
			if m.Capturing() != tc.input {
				t.Errorf("Capturing() = %v, want %v", m.Capturing(), tc.input)
			}
		})
	}
}

func TestCuration(t *testing.T) {
	tests := []struct {
		name  string
		keys  []tea.KeyMsg
		check func(t *testing.T, e corelib.Entry)
	}{
		{"accept", keys("a"), func(t *testing.T, e corelib.Entry) {
			if e.Status != storage.StatusAccepted {
				t.Errorf("status %s, want accepted", e.Status)
			}
		}},
		{"reject", keys("x"), func(t *testing.T, e corelib.Entry) {
			if e.Status != storage.StatusRejected {
				t.Errorf("status %s, want rejected", e.Status)
			}
		}},
		{"add a tag", append(keys("+easy"), tea.KeyMsg{Type: tea.KeyEnter}), func(t *testing.T, e corelib.Entry) {
			if strings.Join(e.Tags, ",") != "arithmetic,warmup,easy" {
				t.Errorf("tags %v", e.Tags)
			}
		}},
		{"remove a tag", append(keys("-warmup"), tea.KeyMsg{Type: tea.KeyEnter}), func(t *testing.T, e corelib.Entry) {
			if strings.Join(e.Tags, ",") != "arithmetic" {
				t.Errorf("tags %v", e.Tags)
			}
		}},
		{"note", append(keys("nlooks fine"), tea.KeyMsg{Type: tea.KeyEnter}), func(t *testing.T, e corelib.Entry) {
			if n := len(e.Notes); n != 2 || e.Notes[1].Text != "looks fine" {
				t.Errorf("notes %+v", e.Notes)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, db := newPane(t)
			msgs := press(m, tc.keys...)
			for _, msg := range msgs {
				if e, ok := msg.(pane.ErrMsg); ok {
					t.Fatalf("error: %v", e.Err)
				}
			}
			sel, _ := m.Selected()
			if sel.Name != "adder" {
				t.Fatalf("cursor moved to %s", sel.Name)
			}
			tc.check(t, sel)
			// The store agrees with what the pane shows.
			e, err := corelib.New(db).Get("adder")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, e)
		})
	}
}

func TestBadTagIsReported(t *testing.T) {
	m, _ := newPane(t)
	msgs := press(m, append(keys("+Bad Tag"), tea.KeyMsg{Type: tea.KeyEnter})...)
	var err error
	for _, msg := range msgs {
		if e, ok := msg.(pane.ErrMsg); ok {
			err = e.Err
		}
	}
	if err == nil || !strings.Contains(err.Error(), "invalid tag") {
		t.Fatalf("adding %q gave %v, want an invalid-tag error", "Bad Tag", err)
	}
}

func TestHistoryAndDiff(t *testing.T) {
	m, _ := newPane(t)
	press(m, keys("G")...) // word_reverse
	press(m, keys("h")...)
	if m.mode != modeHistory || len(m.history) != 2 {
		t.Fatalf("mode %d with %d revisions, want history of 2", m.mode, len(m.history))
	}
	press(m, tea.KeyMsg{Type: tea.KeyEnter})
	if m.mode != modeDiff {
		t.Fatalf("enter in history: mode %d, want diff", m.mode)
	}
	v := m.View()
	if !strings.Contains(v, `"basket"`) || !strings.Contains(v, "revision 2 against 1") {
		t.Errorf("diff view does not show the change:\n%s", fixture.Lines(v))
	}
	press(m, tea.KeyMsg{Type: tea.KeyEsc}, tea.KeyMsg{Type: tea.KeyEsc})
	if m.mode != modeBrowse {
		t.Errorf("two esc: mode %d, want the list", m.mode)
	}
}

func TestEnterOpensPreview(t *testing.T) {
	m, _ := newPane(t)
	press(m, keys("j")...)
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if cmd == nil {
		t.Fatal("enter returned no command")
	}
	if msg, ok := cmd().(pane.OpenEnvMsg); !ok || msg.Name != "old_maze" {
		t.Fatalf("enter sent %#v, want OpenEnvMsg{old_maze}", msg)
	}
}

func TestResizeKeepsCursorVisible(t *testing.T) {
	m, _ := newPane(t)
	press(m, keys("G")...)
	for _, h := range []int{6, 8, 30} {
		m.SetSize(60, h)
		v := m.View()
		if got := strings.Count(v, "\n") + 1; got != h {
			t.Errorf("height %d: view has %d lines", h, got)
		}
		if !strings.Contains(v, "›  word_reverse") {
			t.Errorf("height %d: the selected row is not shown:\n%s", h, fixture.Lines(v))
		}
	}
}

// TestEditIsValidatedAndStored follows an edit from the moment the editor
// exits: the file is read, validated in the pool and stored as a new
// revision, as a job.
func TestEditIsValidatedAndStored(t *testing.T) {
	m, db := newPane(t)
	pool, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	m.ctx.Pool = pool
	for _, tc := range []struct {
		name, src string
		valid     bool
	}{
		{"valid edit", strings.Replace(fixture.Adder, "Add a few small numbers.", "Add small numbers.", 1), true},
		{"edit that breaks solve", strings.Replace(fixture.Adder, `return str(sum(state["xs"]))`, `return "0"`, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := corelib.New(db).Get("adder")
			dir := t.TempDir()
			path := filepath.Join(dir, "adder.star")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			msgs := drive(m, pane.Msg(LibraryEditorClosedMsg{Name: "adder", Path: path}))
			var started, finished bool
			var info string
			for _, msg := range msgs {
				switch msg := msg.(type) {
				case pane.JobStartedMsg:
					started = true
				case pane.JobFinishedMsg:
					finished = true
				case pane.InfoMsg:
					info = msg.Text
				case pane.ErrMsg:
					t.Fatal(msg.Err)
				}
			}
			if !started || !finished {
				t.Fatalf("job started %v finished %v", started, finished)
			}
			e, err := corelib.New(db).Get("adder")
			if err != nil {
				t.Fatal(err)
			}
			if e.Revision != before.Revision+1 || e.Source != tc.src {
				t.Fatalf("revision %d (was %d); source stored: %v", e.Revision, before.Revision, e.Source == tc.src)
			}
			if got := e.Validation == "pass"; got != tc.valid {
				t.Errorf("validation %q, want pass=%v", e.Validation, tc.valid)
			}
			if !tc.valid && !strings.Contains(info, "validation failed") {
				t.Errorf("status says %q, want it to say validation failed", info)
			}
			if _, err := os.Stat(dir); err == nil {
				if _, err := os.Stat(path); err == nil {
					t.Error("the temporary file was left behind")
				}
			}
		})
	}
	// Saving the file unchanged stores nothing.
	before, _ := corelib.New(db).Get("adder")
	dir := t.TempDir()
	path := filepath.Join(dir, "adder.star")
	os.WriteFile(path, []byte(before.Source), 0o600)
	drive(m, pane.Msg(LibraryEditorClosedMsg{Name: "adder", Path: path}))
	if after, _ := corelib.New(db).Get("adder"); after.Revision != before.Revision {
		t.Errorf("an unchanged save stored revision %d", after.Revision)
	}
}

func TestCalibrationShown(t *testing.T) {
	m, _ := newPane(t)
	v := m.View()
	for _, want := range []string{"58%", "calibration replay:demo: d1 100% · d5 50% · d10 25%"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, fixture.Lines(v))
		}
	}
}

// TestCalibrationShowsTrend: the details line carries the p-value of the
// calibration's trend test.
func TestCalibrationShowsTrend(t *testing.T) {
	e := corelib.Entry{Calibration: []byte(`{"env":"adder","solver":"s","levels":[{"difficulty":1,"n":4,"passed":4,"rate":1},{"difficulty":10,"n":4,"passed":0,"rate":0}],"trend":{"p_value":0.014,"falls":true}}`)}
	c, ok := calibration(e)
	if !ok || !strings.Contains(c.detail, "falls with the level: p=0.014") {
		t.Fatalf("calibration detail %q lacks the trend's p-value", c.detail)
	}
}
