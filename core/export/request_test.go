package export

import (
	"strings"
	"testing"
)

// TestRequestOptions: each malformed setting is refused naming its flag,
// and a good request parses into the export's options.
func TestRequestOptions(t *testing.T) {
	good := Request{Format: "verl", Out: "d", Difficulty: "3-8", EnvWeights: "maze=2", DiffWeights: "7-8=2", N: 50, Seed: 4, TestFraction: 0.1}
	f, o, err := good.Options(nil)
	if err != nil || f != FormatVerl || o.N != 50 || o.Seed != 4 || o.MinDifficulty != 3 || o.MaxDifficulty != 8 ||
		o.EnvWeights["maze"] != 2 || o.DifficultyWeights[7] != 2 || o.DifficultyWeights[8] != 2 || o.TestFraction != 0.1 {
		t.Fatalf("good request: %v %+v %v", f, o, err)
	}
	for _, c := range []struct {
		edit func(*Request)
		want string
	}{
		{func(r *Request) { r.Format = "csv" }, `"csv": want verl or jsonl`},
		{func(r *Request) { r.Out = "" }, "--out is required"},
		{func(r *Request) { r.Difficulty = "8-3" }, "8-3"},
		{func(r *Request) { r.N = 0 }, "--n 0: want at least 1"},
		{func(r *Request) { r.TestFraction = 1 }, "--test-fraction 1: want a number in [0, 1)"},
		{func(r *Request) { r.TestFraction = -0.5 }, "--test-fraction -0.5"},
	} {
		r := good
		c.edit(&r)
		if _, _, err := r.Options(nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", r, err, c.want)
		}
	}
}
