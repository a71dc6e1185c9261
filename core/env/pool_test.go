package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunWorkerIfChild()
	os.Exit(m.Run())
}

// hostile builds a module whose body replaces one function with bad code.
func hostile(gen, render, verify string) string {
	if gen == "" {
		gen = "return {\"n\": difficulty}"
	}
	if render == "" {
		render = "return \"Say <answer>%d</answer>\" % state[\"n\"]"
	}
	if verify == "" {
		verify = "return answer == str(state[\"n\"])"
	}
	return fmt.Sprintf(`NAME = "hostile"
DESCRIPTION = "misbehaves"
TAGS = ["test"]

def generate(rng, difficulty):
    %s

def render(state):
    %s

def verify(state, answer):
    %s
`, gen, render, verify)
}

func newTestPool(t *testing.T, workers int) *Pool {
	t.Helper()
	lim := DefaultLimits()
	lim.MaxMemory = 512 << 20
	// The wall clock far above what the cases need, so that the limit
	// under test (steps, memory, recursion, output, or the CPU time for the
	// dict grown forever) is the one that acts, whatever the load: CPU time
	// hardly changes with the load, wall time does.
	lim.Timeout = time.Minute
	p, err := NewPool(PoolOptions{Workers: workers, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestIsolation runs each hostile case through a two-worker pool: each must
// come back as a typed error naming the limit (and the line where known),
// and the pool must still serve a good task afterwards.
func TestIsolation(t *testing.T) {
	p := newTestPool(t, 2)
	ctx := context.Background()
	good, err := Load("good.star", []byte(hostile("", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name             string
		gen, rend, verif string
		answers          []string
		kind             ErrorKind
		limit            Limit
		line             int // 0: not checked
		verifyErr        bool
	}{
		{name: "list of a billion", gen: "return [0] * 1000000000", kind: "limit", limit: LimitMemory},
		{name: "string of ten billion", gen: `return "a" * 10000000000`, kind: "limit", limit: LimitMemory, line: 6},
		{name: "dict grown forever", gen: "d = {}\n    i = 0\n    while True:\n        d[str(i)] = [i] * 100\n        i += 1", kind: "limit"},
		{name: "while true", gen: "while True:\n        pass", kind: "limit", limit: LimitSteps, line: 5},
		{name: "unbounded recursion", gen: "return generate(rng, difficulty)", kind: "limit", limit: LimitRecursion},
		{name: "100 MB prompt", rend: `return "x" * 100000000`, kind: "limit", limit: LimitOutput},
		{name: "verify fails", verif: `fail("broken verifier")`, answers: []string{"1"}, kind: "runtime", line: 12, verifyErr: true},
		{name: "verify returns 7", verif: "return 7", answers: []string{"1"}, kind: "result", verifyErr: true},
		{name: "verify returns nan", verif: `return float("nan")`, answers: []string{"1"}, kind: "result", verifyErr: true},
		{name: "verify returns a string", verif: `return "yes"`, answers: []string{"1"}, kind: "result", verifyErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := hostile(c.gen, c.rend, c.verif)
			m, err := p.Load(ctx, "hostile.star", []byte(src))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			res := p.Run(ctx, []Task{{Env: m.Name, Seed: 1, Difficulty: 3, Render: true, Answers: c.answers}})[0]
			var e *Error
			if c.verifyErr {
				if res.Err != nil {
					t.Fatalf("task failed before verify: %v", res.Err)
				}
				e = res.Scores[0].Err
			} else {
				e = res.Err
			}
			if e == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if e.Kind != c.kind || (c.limit != "" && e.Limit != c.limit) {
				t.Fatalf("got %s/%s (%v), want %s/%s", e.Kind, e.Limit, e, c.kind, c.limit)
			}
			if c.line > 0 && e.Line != c.line {
				t.Errorf("line %d, want %d (%v)", e.Line, c.line, e)
			}
			if !errors.Is(e, e.Unwrap()) {
				t.Errorf("error does not unwrap to its sentinel")
			}
			// Work, not wall time: the limit acted within two seconds of the
			// worker's CPU (filling the Go stack or 100 MB of fresh memory
			// takes a fraction of that).
			t.Logf("%v after %v of CPU", e, res.CPU.Round(time.Millisecond))
			if res.CPU > 2*time.Second {
				t.Errorf("the worker spent %v of CPU before the limit acted", res.CPU)
			}
			// The pool still serves.
			p.Register(good)
			ok := p.Run(ctx, []Task{{Env: "hostile", Seed: 2, Difficulty: 4, Render: true, Answers: []string{"4", "5"}}})[0]
			if ok.Err != nil || ok.Scores[0].Value != 1 || ok.Scores[1].Value != 0 {
				t.Fatalf("pool broken after %s: %+v", c.name, ok)
			}
		})
	}
}

func TestPoolBatchCrashIsolatesTheCulprit(t *testing.T) {
	p := newTestPool(t, 1)
	ctx := context.Background()
	src := hostile("if difficulty == 7:\n        return [0] * 1000000000\n    return {\"n\": difficulty}", "", "")
	m, err := p.Load(ctx, "bomb.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var tasks []Task
	for d := 1; d <= 10; d++ {
		tasks = append(tasks, Task{Env: m.Name, Seed: 1, Difficulty: d, Render: true})
	}
	res := p.Run(ctx, tasks)
	for i, r := range res {
		if i == 6 {
			if r.Err == nil || r.Err.Limit != LimitMemory {
				t.Errorf("difficulty 7: want a memory limit error, got %+v", r.Err)
			}
			continue
		}
		if r.Err != nil || !strings.Contains(r.Prompt, fmt.Sprint(i+1)) {
			t.Errorf("difficulty %d: %+v", i+1, r)
		}
	}
}

func TestPoolLoadReportsContractErrors(t *testing.T) {
	p := newTestPool(t, 1)
	_, err := p.Load(context.Background(), "bad.star", []byte("NAME = 3\nx = [0] * 1000000000\n"))
	var e *Error
	if !errors.As(err, &e) || e.Limit != LimitMemory {
		t.Fatalf("top-level bomb: got %v", err)
	}
}

// A Run on a pool that was closed meanwhile returns errors, not a panic.
func TestRunAfterClose(t *testing.T) {
	p, err := NewPool(PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load("tiny.star", []byte(tinyEnvForClose))
	if err != nil {
		t.Fatal(err)
	}
	p.Register(m)
	p.Close()
	rs := p.Run(context.Background(), []Task{{Env: "tiny", Seed: 1, Difficulty: 1}, {Env: "tiny", Seed: 2, Difficulty: 1}})
	for i, r := range rs {
		if r.Err == nil || !strings.Contains(r.Err.Msg, "closed") {
			t.Errorf("task %d after Close: %+v", i, r.Err)
		}
	}
	p.Close() // a second Close is harmless
}

const tinyEnvForClose = `NAME = "tiny"
DESCRIPTION = "A tiny environment."
TAGS = ["arithmetic"]

def generate(rng, difficulty):
    return {"n": rng.randint(0, 9)}

def render(state):
    return "Say %d inside <answer></answer> tags." % state["n"]

def verify(state, answer):
    return answer == str(state["n"])
`

// TestPoolGivenStateComesBack: a task that brings its state gets it back in
// the result (the worker does not send it over the pipe again), and scores
// as the same instance generated fresh.
func TestPoolGivenStateComesBack(t *testing.T) {
	p := newTestPool(t, 1)
	m, err := p.Load(context.Background(), "s.star", []byte(hostile("", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	gen := p.Run(context.Background(), []Task{{Env: m.Name, Seed: 3, Difficulty: 4}})[0]
	if gen.Err != nil || gen.State == nil {
		t.Fatalf("generate: %+v", gen)
	}
	given := json.RawMessage(`{"n": 7}`)
	res := p.Run(context.Background(), []Task{
		{Env: m.Name, State: given, Render: true, Answers: []string{"7", "4"}},
		{Env: m.Name, State: gen.State, Answers: []string{"4"}},
	})
	if string(res[0].State) != string(given) || res[0].Prompt == "" || res[0].Scores[0].Value != 1 || res[0].Scores[1].Value != 0 {
		t.Errorf("given state: %+v", res[0])
	}
	if string(res[1].State) != string(gen.State) || res[1].Scores[0].Value != 1 {
		t.Errorf("generated state given back: %+v", res[1])
	}
}
