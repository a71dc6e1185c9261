package library

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNewServePool: names pick the environments served, an unknown name
// is refused by name, and without the store's selection every entry is
// served (the built-ins of resyn bench serve).
func TestNewServePool(t *testing.T) {
	ctx := context.Background()
	entries, err := New(nil).List()
	if err != nil {
		t.Fatal(err)
	}
	p, mods, err := NewServePool(ctx, entries, true, "maze, graph_coloring", 1, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if len(mods) != 2 || mods[0].Name == mods[1].Name || (mods[0].Name != "maze" && mods[0].Name != "graph_coloring") {
		t.Errorf("served %v, want maze and graph_coloring", mods)
	}
	if _, _, err := NewServePool(ctx, entries, true, "maze,no_such_env", 1, 0); err == nil || !strings.Contains(err.Error(), `unknown environment "no_such_env"`) {
		t.Errorf("an unknown name: %v", err)
	}
	p, mods, err = NewServePool(ctx, entries, false, "maze", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if len(mods) != len(entries) || len(entries) < 10 {
		t.Errorf("the built-ins alone: %d modules of %d entries", len(mods), len(entries))
	}
}
