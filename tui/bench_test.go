package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/sahilm/fuzzy"

	corelib "resyn/core/library"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/internal/fixture"
	"resyn/tui/panes/library"
)

// storeWith makes a store holding n environments (copies of the fixture's
// adder under other names), closed when the benchmark ends.
func storeWith(b *testing.B, n int) (*storage.DB, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *storage.Tx) error {
		for i := range n {
			name := fmt.Sprintf("adder_%04d", i)
			src := strings.Replace(fixture.Adder, `NAME = "adder"`, fmt.Sprintf("NAME = %q", name), 1)
			e := storage.Env{Name: name, Source: src, Status: storage.StatusCandidate, Tags: []string{"arithmetic", "synthetic"},
				Origin: storage.Origin{Kind: storage.OriginSynthesis, SynthRun: 1}, Change: "added"}
			if err := storage.PutEnv(tx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db, path
}

// BenchmarkFirstFrame is the time from building the workbench to its first
// frame with the library listed, with 1,000 candidates in the store (and
// the built-ins): New, the panes' Init commands (reading the library, the
// synthesis and training runs), the window size, and View. The target is
// under 300 ms; BenchmarkLibraryList, the store read alone, is its floor.
func BenchmarkFirstFrame(b *testing.B) {
	db, path := storeWith(b, 1000)
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		m, err := New(ctx, Options{Store: db, StorePath: path, Theme: themes.Dark})
		if err != nil {
			b.Fatal(err)
		}
		fixture.Run(m.Init(), func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		if v := m.View(); !strings.Contains(v, "adder_0000") {
			b.Fatalf("the first frame does not list the stored environments:\n%s", v)
		}
		m.Close()
		cancel()
	}
}

// BenchmarkLibraryList is core/library's List of the 1,000 candidates and
// the built-ins: the part of the first frame the workbench cannot avoid.
func BenchmarkLibraryList(b *testing.B) {
	db, _ := storeWith(b, 1000)
	lib := corelib.New(db)
	for b.Loop() {
		if es, err := lib.List(); err != nil || len(es) < 1000 {
			b.Fatalf("%d entries, %v", len(es), err)
		}
	}
}

// opened is the workbench on 1,000 candidates, loaded and drawn once.
func opened(b *testing.B) (*Model, *library.Model) {
	b.Helper()
	db, path := storeWith(b, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	m, err := New(ctx, Options{Store: db, StorePath: path, Theme: themes.Dark})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	fixture.Run(m.Init(), func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 45})
	m.View()
	return m, m.Active().(*library.Model)
}

// BenchmarkFilterKeystroke is one key typed into the search box over 1,000
// candidates and the built-ins — the search over names, tags, categories
// and descriptions, the order, and the next frame — alternating a letter
// and a backspace so that every keystroke changes the query ("adder_00"
// and "adder_007"). The target is under 50 ms, well inside the 100 ms a
// person notices; BenchmarkFuzzyNames is the plain fuzzy match over the
// same names the search did before, for reference.
func BenchmarkFilterKeystroke(b *testing.B) {
	m, lib := opened(b)
	m.Update(runes("/"))
	for _, r := range "adder_00" {
		m.Update(runes(string(r)))
	}
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			m.Update(runes("7"))
		} else {
			m.Update(tea.KeyMsg{Type: tea.KeyBackspace})
		}
		i++
		m.View()
	}
	if n := len(lib.Entries()); n == 0 {
		b.Fatal("the search found nothing")
	}
}

// BenchmarkFuzzyNames is sahilm/fuzzy over the names alone (what the
// search was before it covered tags and descriptions), for reference.
func BenchmarkFuzzyNames(b *testing.B) {
	_, lib := opened(b)
	var names []string
	for _, e := range lib.Entries() {
		names = append(names, e.Name)
	}
	for b.Loop() {
		fuzzy.Find("adder_007", names)
	}
}

// BenchmarkSortKeystroke is o (the next column) over 1,000 candidates and
// the built-ins, with the next frame.
func BenchmarkSortKeystroke(b *testing.B) {
	m, _ := opened(b)
	for b.Loop() {
		m.Update(runes("o"))
		m.View()
	}
}

// BenchmarkBulkCurate marks every candidate shown (1,000), rejects them
// after the question and takes it back with u: two transactions of 1,000
// revisions each (with the commit's fsync) and the frames after them.
func BenchmarkBulkCurate(b *testing.B) {
	m, lib := opened(b)
	run := func(msg tea.Msg) {
		fixture.Run(func() tea.Msg { return msg }, func(msg tea.Msg) tea.Cmd { _, c := m.Update(msg); return c })
	}
	run(runes("s")) // candidates only
	run(runes("*"))
	if n := len(lib.Marked()); n != 1000 {
		b.Fatalf("%d marked", n)
	}
	for b.Loop() {
		run(runes("x"))
		run(runes("y"))
		m.View()
		run(runes("u"))
		m.View()
	}
	if got := lib.Undoable(); len(got) != 0 {
		b.Fatalf("undo list %v", got)
	}
}
