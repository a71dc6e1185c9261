package env

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
)

// Each of these is one builtin call that, unbounded, runs for seconds to
// minutes of Go inside a single Starlark step (measured on the 2-core VM:
// int() of a million digits about 17 s, sorted() of 20,000 10-KB strings
// with a common prefix 1.3 s, the regexp 4.5 s, …). Charged for their work,
// each is refused at the step limit: the test asserts the typed error and
// that the call's CPU time stayed far below what the work would take.
var hostileBuiltins = []struct {
	name, gen string
}{
	{"int of a million digits", `return {"n": int("7" * 1000000)}`},
	{"str of a huge int", `x = 7
    for i in range(20):
        x = x * x * 3 + 1
    return {"n": len(str(x))}`},
	{"sum of strings", `parts = ["x" * 10] * 3000000
    return {"n": len(sum(parts, ""))}`},
	{"sorted long strings", `base = "a" * 10000
    xs = [base + str(i * 7919 % 20000) for i in range(20000)]
    return {"n": len(sorted(xs))}`},
	{"regexp big program over long input", `return {"n": re.search("(a|b)*" * 300 + "c", "ab" * 50000) != None}`},
	{"findall big program", `return {"n": len(re.findall("(a|b)*" * 300 + "c", "ab" * 50000))}`},
	{"sample huge k", `return {"n": len(rng.sample(range(1000000000), 100000000))}`},
	{"shuffle huge", `xs = list(range(50000000))
    rng.shuffle(xs)
    return {"n": xs[0]}`},
	{"list of a huge range", `return {"n": len(list(range(2000000000)))}`},
	{"max of a huge range", `return {"n": max(range(2000000000))}`},
	{"set of long strings", `return {"n": len(set(["y" * 1000000] * 3000))}`},
	{"min of long strings", `return {"n": len(min(["y" * 1000000] * 3000))}`},
	{"json decode a long number", `return {"n": json.decode("9" * 2000000)}`},
	{"modular pow with a huge modulus", `m = 7
    for i in range(12):
        m = m * m + 1
    return {"n": pow(3, m, m) % 10}`},
	{"divmod of huge ints", `x = 7
    for i in range(20):
        x = x * x + 1
    return {"n": divmod(x, x // 3 + 1)[1] % 10}`},
}

func TestHostileBuiltinsAreCharged(t *testing.T) {
	for _, c := range hostileBuiltins {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load("h.star", []byte(hostile(c.gen, "", "")))
			if err != nil {
				t.Fatal(err)
			}
			lim := DefaultLimits()
			lim.Steps = 2_000_000
			lim.Timeout = time.Minute // the steps must stop it, not the clock
			cpu := processCPU()
			_, err = m.Generate(1, 3, lim)
			used := processCPU() - cpu
			e, ok := err.(*Error)
			if !ok || e.Kind != FailLimit || e.Limit != LimitSteps {
				t.Fatalf("got %v, want a steps limit error", err)
			}
			if used > 2*time.Second {
				t.Errorf("the call used %v of CPU before it was stopped", used)
			}
			if !strings.Contains(e.Error(), "was executing line") {
				t.Errorf("the error does not say where it was: %v", e)
			}
		})
	}
}

// TestWatchdogStopsWorkStepsCannotSee: work inside single bytecode
// instructions — a membership test over a long list in a loop, one
// conversion of an integer that takes many seconds — is stopped by the
// worker's CPU-time limit: cancelled between steps when it can be, the
// worker killed when one operation does not return ("%d" of a huge int,
// which no builtin sees). Either way the error is
// a typed CPU limit, not the pool's backstop deadline (a time limit after
// 20 s), and the pool serves the next task.
func TestWatchdogStopsWorkStepsCannotSee(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxMemory = 512 << 20
	lim.Timeout = time.Minute // the CPU-time limit must come first
	lim.CPU = 300 * time.Millisecond
	p, err := NewPool(PoolOptions{Workers: 1, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	cases := []struct{ name, gen, want string }{
		{"membership over a long list", `xs = [0] * 3000000
    n = 0
    while True:
        if -1 in xs:
            n += 1
    return {"n": n}`, "CPU time"},
		{"one decimal conversion of a 12-million-digit int", `x = int("f" * 10000000, 16)
    return {"n": len("%d" % x)}`, "did not stop"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := p.Load(ctx, "w.star", []byte(hostile(c.gen, "", "")))
			if err != nil {
				t.Fatal(err)
			}
			r := p.Run(ctx, []Task{{Env: m.Name, Seed: 1, Difficulty: 2, Render: true}})[0]
			if r.Err == nil || r.Err.Kind != FailLimit || r.Err.Limit != LimitCPU || !strings.Contains(r.Err.Msg, c.want) {
				t.Fatalf("got %v, want a cpu limit error saying %q", r.Err, c.want)
			}
			good, _ := Load("good.star", []byte(hostile("", "", "")))
			p.Register(good)
			if r := p.Run(ctx, []Task{{Env: good.Name, Seed: 1, Difficulty: 2, Render: true}})[0]; r.Err != nil {
				t.Fatalf("the pool does not serve after the limit: %v", r.Err)
			}
		})
	}
}

// TestCPULimitDoesNotWaitForATick: a call is charged its CPU time from its
// first instruction and checked again when it returns, so one that ends
// over its limit fails with the typed CPU limit even when no tick of the
// watchdog fell inside it — what a busy machine does to a 10 ms ticker.
// (The verdict once depended on the load: under load the first tick came
// late, the call was charged from there and passed.) The watchdog here has
// no ticker at all; a call under its limit passes.
func TestCPULimitDoesNotWaitForATick(t *testing.T) {
	w := &watchdog{calls: map[*starlark.Thread]*watched{}, exit: func(int) { t.Error("the watchdog exited") }}
	theWatchdog.Store(w)
	defer theWatchdog.Store(nil)
	m, err := Load("busy.star", []byte(hostile(`n = 0
    for i in range(300000):
        n += i % 7
    return {"n": n}`, "", "")))
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.Timeout = time.Minute
	lim.CPU = time.Millisecond
	_, err = m.Generate(1, 2, lim)
	if e, ok := err.(*Error); !ok || e.Kind != FailLimit || e.Limit != LimitCPU || !strings.Contains(e.Msg, "CPU time") {
		t.Fatalf("a call over its CPU time with no tick: got %v, want a typed CPU limit", err)
	}
	lim.CPU = time.Minute
	if _, err := m.Generate(1, 2, lim); err != nil {
		t.Fatalf("the same call under its limit: %v", err)
	}
	if len(w.calls) != 0 {
		t.Errorf("%d calls still watched after they returned", len(w.calls))
	}
}
