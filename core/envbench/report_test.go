package envbench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"resyn/core/envlib"
)

// TestLibraryReport: every environment gets a row on 1 worker and on all,
// each over the instances asked for, the overall row holds them all, and
// the Python reference fills in beside (rates are wall-clock: not
// asserted beyond being measured).
func TestLibraryReport(t *testing.T) {
	all, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	var mods = all[:0:0]
	for _, m := range all {
		if m.Name == "graph_coloring" || m.Name == "maze" {
			mods = append(mods, m)
		}
	}
	var progress bytes.Buffer
	rep, err := Library(context.Background(), LibraryOptions{Envs: mods, N: 3, Rounds: 1, Python: "../../bench/python/bench.py", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 || rep.Rows["ALL"] == nil {
		t.Fatalf("rows %v", rep.Rows)
	}
	for name, r := range rep.Rows {
		want := 3
		if name == "ALL" {
			want = 6
		}
		if r.One.Instances != want || r.All.Instances != want || r.One.Workers != 1 || r.All.Workers != rep.Cores || r.One.PerSec <= 0 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if rep.Python["maze"] <= 0 || rep.Python["graph_coloring"] <= 0 {
		t.Errorf("python reference %v; progress:\n%s", rep.Python, progress.String())
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(text.String()), "\n")
	if !strings.Contains(lines[0], "RESYN(1)/PYTHON") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "ALL") {
		t.Fatalf("table:\n%s", text.String())
	}
}
