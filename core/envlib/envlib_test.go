package envlib

import (
	"context"
	"os"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/core/validate"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

var categories = []string{"constraint-satisfaction", "algorithmic", "arithmetic", "logic", "spatial", "strings", "games"}

func TestLibraryShape(t *testing.T) {
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 30 {
		t.Errorf("%d built-in environments, want at least 30", len(mods))
	}
	seen := map[string]int{}
	for _, m := range mods {
		if !m.HasSolve {
			t.Errorf("%s has no solve()", m.Name)
		}
		if len(m.Tags) == 0 {
			t.Errorf("%s has no tags", m.Name)
			continue
		}
		seen[m.Tags[0]]++
	}
	for _, c := range categories {
		if seen[c] == 0 {
			t.Errorf("no environment in category %q", c)
		}
	}
	if len(seen) < 6 {
		t.Errorf("categories %v: want at least 6", seen)
	}
}

// TestEveryBuiltinValidates runs the full validation on each built-in: a few
// seeds a level by default, the 20 in the long suite.
func TestEveryBuiltinValidates(t *testing.T) {
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	seeds := 3
	if os.Getenv("RESYN_LONG") != "" {
		seeds = 20
	}
	p, err := env.NewPool(env.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range mods {
		p.Register(m)
	}
	for _, m := range mods {
		t.Run(m.Name, func(t *testing.T) {
			// The budgets are in steps and CPU time: the same verdict on a
			// CI machine shared by parallel test packages as alone.
			r := validate.Run(context.Background(), p, m, validate.Options{SeedsPerLevel: seeds})
			if !r.OK {
				var b strings.Builder
				validate.WriteText(&b, r)
				t.Fatalf("validation failed:\n%s", b.String())
			}
		})
	}
}
