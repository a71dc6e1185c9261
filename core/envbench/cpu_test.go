package envbench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
)

// cpuTime is this process's user+system CPU time. On a shared machine it is
// a steadier measure of work than wall time (run with -cpu 1).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEnvLocal times generate + render + verify of each built-in in
// this process (no process boundary), one sub-benchmark per environment.
// It reports cpu-µs/op next to ns/op (compare that one under load) and the
// Starlark steps per instance, which do not depend on the load at all. Run
// ALL with -benchtime of at least 1550x to cover every environment.
func BenchmarkEnvLocal(b *testing.B) {
	mods, err := envlib.Modules()
	if err != nil {
		b.Fatal(err)
	}
	l := env.NewLocal(env.DefaultLimits(), 1)
	for _, m := range mods {
		l.Register(m)
	}
	wl, err := Prepare(context.Background(), l, mods, 50)
	if err != nil {
		b.Fatal(err)
	}
	byEnv := map[string][]env.Task{}
	var order []string
	for _, t := range wl.tasks {
		if byEnv[t.Env] == nil {
			order = append(order, t.Env)
		}
		byEnv[t.Env] = append(byEnv[t.Env], t)
	}
	steps := func() (n uint64) {
		for _, m := range mods {
			n += m.Steps()
		}
		return n
	}
	run := func(b *testing.B, ts []env.Task) {
		c0, s0 := cpuTime(), steps()
		for i := 0; i < b.N; i++ {
			l.Run(context.Background(), ts[i%len(ts):i%len(ts)+1])
		}
		b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-µs/op")
		// Starlark steps do not depend on the machine's load: compare
		// these across changes to an environment's code.
		b.ReportMetric(float64(steps()-s0)/float64(b.N), "steps/op")
	}
	for _, name := range order {
		b.Run(name, func(b *testing.B) { run(b, byEnv[name]) })
	}
	b.Run("ALL", func(b *testing.B) { run(b, wl.tasks) })
}

// childCPU is the CPU time of this process's live child processes (the pool's
// workers), read from /proc.
func childCPU() time.Duration {
	tasks, _ := os.ReadDir("/proc/self/task")
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(b)) {
			st, err := os.ReadFile("/proc/" + pid + "/stat")
			if err != nil {
				continue
			}
			s := string(st)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
			ut, _ := strconv.Atoi(f[11])
			stt, _ := strconv.Atoi(f[12])
			total += time.Duration(ut+stt) * 10 * time.Millisecond // USER_HZ = 100
		}
	}
	return total
}

// BenchmarkEnvPool times the whole library through a pool of one and of two
// workers, as `resyn bench envs` does; one op is one instance. It reports
// the CPU time of this process (the pool side: scheduling, gob, pipes) and
// of the workers, per instance: equal CPU per instance at both sizes means
// the pool itself scales, whatever the wall time on a loaded machine says.
func BenchmarkEnvPool(b *testing.B) {
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) { benchPool(b, w) })
	}
}

func benchPool(b *testing.B, workers int) {
	mods, err := envlib.Modules()
	if err != nil {
		b.Fatal(err)
	}
	p, err := env.NewPool(env.PoolOptions{Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, m := range mods {
		p.Register(m)
	}
	wl, err := Prepare(context.Background(), p, mods, 40)
	if err != nil {
		b.Fatal(err)
	}
	p.Run(context.Background(), wl.tasks) // warm
	b.ResetTimer()
	c0, w0 := cpuTime(), childCPU()
	n := 0
	for n < b.N {
		ts := wl.tasks[:min(len(wl.tasks), b.N-n)]
		p.Run(context.Background(), ts)
		n += len(ts)
	}
	b.StopTimer()
	c1, w1 := cpuTime(), childCPU()
	b.ReportMetric(float64((c1-c0).Microseconds())/float64(b.N), "pool-cpu-µs/op")
	b.ReportMetric(float64((w1-w0).Microseconds())/float64(b.N), "worker-cpu-µs/op")
}
