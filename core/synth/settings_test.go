package synth

import (
	"strings"
	"testing"
)

// TestCheckModes: one way of choosing the ideas at a time, and categories
// only for category ideation.
func TestCheckModes(t *testing.T) {
	for _, c := range []struct {
		given []string
		want  string // "" for no error
	}{
		{nil, ""},
		{[]string{"seeds"}, ""},
		{[]string{"resume", "categories"}, ""},
		{[]string{"seeds", "resume"}, "do not go together"},
		{[]string{"from-run", "resume"}, "do not go together"},
		{[]string{"seeds", "categories"}, "--categories is for category ideation"},
		{[]string{"from-run", "categories"}, "--categories is for category ideation"},
	} {
		given := func(name string) bool {
			for _, g := range c.given {
				if g == name {
					return true
				}
			}
			return false
		}
		err := CheckModes(given)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want %q", c.given, err, c.want)
		}
	}
}

// TestSettingsConfig: the demo's settings stand where none was given,
// seeds and a training run keep every idea unless --n was given, and no
// repairs is a negative MaxRepairs.
func TestSettingsConfig(t *testing.T) {
	demo := DemoConfig()
	s := Settings{N: 3, Parallel: 2, IdeasPerCall: 1, Repairs: 0, Given: func(name string) bool { return name == "parallel" }}
	cfg := s.Config(true)
	if cfg.N != demo.N || cfg.Parallel != 2 || cfg.MaxRepairs != demo.MaxRepairs || cfg.IdeasPerCall != demo.IdeasPerCall {
		t.Errorf("demo with --parallel: %+v", cfg)
	}
	cfg = s.Config(false)
	if cfg.N != 3 || cfg.MaxRepairs != -1 || cfg.IdeasPerCall != 1 {
		t.Errorf("not the demo: %+v", cfg)
	}
	s.Seeds, s.PerSeed = []Seed{{Keyword: "mazes"}}, 5
	if cfg = s.Config(false); cfg.N != 0 || cfg.PerSeed != 5 || len(cfg.Seeds) != 1 {
		t.Errorf("seeds without --n: %+v", cfg)
	}
	s.Given = func(name string) bool { return name == "n" }
	if cfg = s.Config(false); cfg.N != 3 {
		t.Errorf("seeds with --n 3: N %d", cfg.N)
	}
}
