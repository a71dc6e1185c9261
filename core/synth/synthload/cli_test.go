package synthload

import (
	"strings"
	"testing"
)

// TestBenchOptionsCheck: each setting out of range is refused naming its
// flag; the defaults of resyn bench synth pass.
func TestBenchOptionsCheck(t *testing.T) {
	good := BenchOptions{Candidates: 1000, Concurrency: 32, Scale: 0.1, Part: PartHeldBack}
	if err := good.Check(); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for _, c := range []struct {
		edit func(*BenchOptions)
		want string
	}{
		{func(o *BenchOptions) { o.Candidates = 0 }, "--candidates 0: must be at least 1"},
		{func(o *BenchOptions) { o.Concurrency = 0 }, "--concurrency 0"},
		{func(o *BenchOptions) { o.Parallel = -1 }, "--parallel -1"},
		{func(o *BenchOptions) { o.KillAfter = -2 }, "--kill-after -2"},
		{func(o *BenchOptions) { o.Workers = -1 }, "--workers -1"},
		{func(o *BenchOptions) { o.Scale = 0 }, "--latency-scale 0: must be in (0, 10]"},
		{func(o *BenchOptions) { o.Scale = 11 }, "--latency-scale 11"},
		{func(o *BenchOptions) { o.Part = "all" }, `--corpus "all": want heldback or tuning`},
	} {
		o := good
		c.edit(&o)
		if err := o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", o, err, c.want)
		}
	}
	if err := (&BenchReport{Kill: &KillCheck{}}).Redone(); err != nil {
		t.Errorf("nothing redone: %v", err)
	}
	if err := (&BenchReport{Kill: &KillCheck{IdeationRedone: 1}}).Redone(); err == nil {
		t.Error("an ideation call redone was not an error")
	}
}
