package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"resyn/storage"
	"resyn/themes"
	"resyn/tui/internal/fixture"
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
// frame with the library listed, with 1,000 environments in the store (and
// the built-ins): New, the panes' Init commands (reading the library, the
// synthesis and training runs), the window size, and View. The target is
// under 300 ms.
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
