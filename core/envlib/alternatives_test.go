package envlib

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resyn/core/env"
)

// alternative is one hand-checked answer for an instance: where a task has
// several correct answers, the verifier must accept the ones that solve()
// does not give (any valid colouring, any shortest path), and still reject
// near misses.
type alternative struct {
	Seed       int64   `json:"seed"`
	Difficulty int     `json:"difficulty"`
	Answer     string  `json:"answer"`
	Want       float64 `json:"want"`
	Why        string  `json:"why"`
}

// TestAlternativeAnswers reads testdata/alternatives/<env>.json and checks
// each answer against the verifier. A correct alternative (want 1) must
// differ from the reference answer, or it would prove nothing.
func TestAlternativeAnswers(t *testing.T) {
	files, err := filepath.Glob("testdata/alternatives/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no alternatives in testdata/alternatives (%v)", err)
	}
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*env.Module{}
	for _, m := range mods {
		byName[m.Name] = m
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			m := byName[name]
			if m == nil {
				t.Fatalf("%s: no built-in environment %q", f, name)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var alts []alternative
			if err := json.Unmarshal(data, &alts); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			correct := 0
			for i, a := range alts {
				state, err := m.Generate(a.Seed, a.Difficulty, env.DefaultLimits())
				if err != nil {
					t.Fatalf("#%d: generate: %v", i, err)
				}
				if a.Want == 1 {
					correct++
					ref, err := m.Solve(state, env.DefaultLimits())
					if err != nil {
						t.Fatalf("#%d: solve: %v", i, err)
					}
					if strings.TrimSpace(ref) == strings.TrimSpace(a.Answer) {
						t.Errorf("#%d (%s): the alternative equals solve()'s answer %q; it proves nothing", i, a.Why, ref)
					}
				}
				got, err := m.Verify(state, a.Answer, env.DefaultLimits())
				if err != nil {
					t.Fatalf("#%d (%s): verify: %v", i, a.Why, err)
				}
				if got != a.Want {
					t.Errorf("#%d (%s): verify(%q) = %v, want %v", i, a.Why, a.Answer, got, a.Want)
				}
			}
			if correct == 0 {
				t.Errorf("%s: no correct alternative answer (want 1)", f)
			}
		})
	}
}
