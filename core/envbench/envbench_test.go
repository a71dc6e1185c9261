package envbench

import (
	"context"
	"os"
	"testing"

	"resyn/core/env"
	"resyn/core/envlib"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func TestWorkloadVerifies(t *testing.T) {
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.NewPool(env.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, m := range mods {
		p.Register(m)
	}
	wl, err := Prepare(context.Background(), p, mods, 5)
	if err != nil {
		t.Fatal(err)
	}
	res, err := wl.Run(context.Background(), p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if last := res[len(res)-1]; last.Env != "ALL" || last.Instances != 5*len(mods) || last.PerSec <= 0 {
		t.Fatalf("overall row: %+v", last)
	}
}

// BenchmarkLocal measures the runtime without the process boundary.
func BenchmarkLocal(b *testing.B) {
	mods, _ := envlib.Modules()
	l := env.NewLocal(env.DefaultLimits(), 1)
	for _, m := range mods {
		l.Register(m)
	}
	wl, err := Prepare(context.Background(), l, mods, 50)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Run(context.Background(), wl.tasks[i%len(wl.tasks):i%len(wl.tasks)+1])
	}
}

func TestCPUScaling(t *testing.T) {
	// No timing assertion: a loaded machine gives anything from about 1 up
	// to n. The measure must still be a positive, finite ratio.
	if s := CPUScaling(2, 1); !(s > 0 && s < 100) {
		t.Fatalf("CPUScaling(2) = %v", s)
	}
}
