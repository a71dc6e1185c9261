package servebench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

// TestRunAnswersEveryItem: every request of every batch size comes back
// with one reward per item and none an environment error (the rates are
// wall-clock and not asserted).
func TestRunAnswersEveryItem(t *testing.T) {
	all, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	mods := all[:3]
	p, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range mods {
		p.Register(m)
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Options{Pool: p, Envs: mods, Sizes: []int{1, 8}, Clients: []int{2}, By: "instance",
		Duration: 10 * time.Second, MaxRequests: 6, Group: 4, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Workers != 1 || rep.Group != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Rows {
		if r.Requests != 6 || r.Errors != 0 || r.Scores != r.Requests*r.Batch || r.PerSec <= 0 || r.P99Millis < r.P50Millis {
			t.Errorf("row %+v", r)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "SCORES/s") || !strings.Contains(progress.String(), "batch 8: 2 clients") {
		t.Fatalf("%v\n%s\n%s", err, text.String(), progress.String())
	}
}

func TestOptionsNameWhatIsWrong(t *testing.T) {
	p := &env.Pool{}
	mods := []*env.Module{{Name: "x"}}
	good := Options{Pool: p, Envs: mods, Sizes: []int{1}, Clients: []int{1}, By: "instance", Duration: time.Second, MaxRequests: 1, Group: 1}
	for _, c := range []struct {
		mut  func(*Options)
		want string
	}{
		{func(o *Options) { o.Pool = nil }, "no pool"},
		{func(o *Options) { o.Sizes = nil }, "no batch sizes"},
		{func(o *Options) { o.Sizes, o.Clients = []int{1, 2, 3}, []int{1, 2} }, "2 client counts for 3 batch sizes"},
		{func(o *Options) { o.By = "seed" }, `items by "seed"`},
		{func(o *Options) { o.Group = 0 }, "group 0"},
		{func(o *Options) { o.Sizes = []int{0} }, "must be positive, got 0"},
	} {
		o := good
		c.mut(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", o, err, c.want)
		}
	}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
}
