package synthload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// Check refuses options that cannot work, naming resyn bench synth's flags
// for them.
func (o BenchOptions) Check() error {
	for _, c := range []struct {
		flag     string
		v, least int
		mustBe   string
	}{
		{"candidates", o.Candidates, 1, "at least 1"},
		{"concurrency", o.Concurrency, 1, "at least 1 (LLM requests in flight)"},
		{"parallel", o.Parallel, 0, "0 (1.5 × --concurrency) or more"},
		{"kill-after", o.KillAfter, 0, "0 (no kill) or a number of verdicts"},
		{"workers", o.Workers, 0, "0 (one per core) or more"},
	} {
		if c.v < c.least {
			return fmt.Errorf("--%s %d: must be %s", c.flag, c.v, c.mustBe)
		}
	}
	if !(o.Scale > 0 && o.Scale <= 10) {
		return fmt.Errorf("--latency-scale %v: must be in (0, 10] (1: replies take seconds to a minute)", o.Scale)
	}
	if o.Part != PartHeldBack && o.Part != PartTuning {
		return fmt.Errorf("--corpus %q: want %s or %s", o.Part, PartHeldBack, PartTuning)
	}
	return nil
}

// BenchSelf is Bench of this very binary (os.Executable); with no o.DB
// the store is a temporary one, removed after.
func BenchSelf(ctx context.Context, o BenchOptions) (*BenchReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	o.Exe = exe
	if o.DB == "" {
		dir, err := os.MkdirTemp("", "resyn-bench-synth-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.DB = filepath.Join(dir, "resyn.db")
	}
	return Bench(ctx, o)
}

// Redone is the error of a kill-and-resume whose resumed run redid
// finished work (a verdict, a candidate or an ideation call); nil when
// nothing was redone or there was no kill.
func (r *BenchReport) Redone() error {
	if k := r.Kill; k != nil && (k.Redone > 0 || k.DoubleVerdicts > 0 || k.IdeationRedone > 0) {
		return fmt.Errorf("the resumed run redid finished work: %+v", *k)
	}
	return nil
}
