package synthload

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/llm"
)

// The simulated server through resyn's own OpenAI client: rate limits with
// Retry-After, overload errors, hung requests, replies cut off (streamed and
// not) are all retried by the client, and every call ends with the reply the
// model gives for its request, whatever attempt got it.
func TestServerThroughTheClient(t *testing.T) {
	c, err := Load(PartTuning)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Corpus: c, Rates: DefaultRates(), Seed: 3}
	srv := NewServer(ServerOptions{Model: m, Scale: 0.001, Seed: 5,
		Faults: Faults{RateLimited: 0.15, StormEvery: 40, StormLen: 5, ServerError: 0.1, Hang: 0.05, Cut: 0.15}})
	base, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var meter llm.Meter
	p, err := llm.Open(llm.Config{Provider: "openai", Model: "sim", BaseURL: base, MaxConcurrency: 8, MaxRetries: 30,
		Timeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond, Meter: &meter})
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		msgs   []llm.Message
		stream bool
	}
	var jobs []job
	for i := 0; i < 30; i++ {
		jobs = append(jobs,
			job{[]llm.Message{{Role: llm.RoleUser, Content: fmt.Sprintf("Propose 4 distinct reasoning tasks built around \"keyword %d\" (a kind of logic).", i)}}, i%2 == 0},
			job{[]llm.Message{{Role: llm.RoleUser, Content: fmt.Sprintf("Write the environment for this task.\n\nNAME = \"crate_stack_ops_%04x\"\nTask: x", i)}}, i%3 == 0})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	got := make([]string, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := llm.Request{System: "You write reasoning environments.", Messages: j.msgs}
			if j.stream {
				req.OnDelta = func(llm.Delta) {}
			}
			comp, err := p.Complete(context.Background(), req)
			got[i], errs[i] = comp.Text, err
		}()
	}
	wg.Wait()
	for i, j := range jobs {
		msgs := []Message{{Role: "system", Content: "You write reasoning environments."}}
		for _, x := range j.msgs {
			msgs = append(msgs, Message{Role: string(x.Role), Content: x.Content})
		}
		if want := m.Reply(msgs); errs[i] != nil || got[i] != want {
			t.Errorf("call %d (stream %v): %v; got %d bytes, want %d", i, j.stream, errs[i], len(got[i]), len(want))
		}
	}
	st := srv.Stats()
	if st.OK != len(jobs) || st.RateLimited == 0 || st.ServerErrors == 0 || st.Hangs == 0 || st.Cuts == 0 || st.Ideas != 30*4 {
		t.Errorf("stats %+v", st)
	}
	if ok, failed := meter.Calls(); ok != len(jobs) || failed != 0 {
		t.Errorf("client: %d ok, %d failed", ok, failed)
	}
	if !strings.Contains(got[1], `NAME = "crate_stack_ops_0000"`) {
		t.Errorf("implementation reply:\n%s", got[1])
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		msgs        []Message
		stage, subj string
		round       int
	}{
		{[]Message{{"system", "x"}, {"user", `Propose 8 distinct reasoning tasks built around "maze navigation" (a kind of spatial reasoning).`}}, StageIdeate, "maze navigation", 0},
		{[]Message{{"user", `Propose 5 distinct reasoning tasks in the category "logic puzzles".`}}, StageIdeate, "logic puzzles", 0},
		{[]Message{{"user", "Write the environment for this task.\n\nNAME = \"a_b\"\n"}}, StageImplement, "a_b", 0},
		{[]Message{{"user", "NAME = \"a_b\""}, {"assistant", "code"}, {"user", "fix"}, {"assistant", "code"}, {"user", "fix"}}, StageRepair, "a_b", 2},
		{[]Message{{"user", "The environment \"x\" ...\nNAME = \"x\"\n...with NAME = \"x_v2\". Reply"}}, StageImplement, "x_v2", 0},
		{[]Message{{"user", "Solve this. Answer inside <answer></answer>."}}, StageSolve, "", 0},
	} {
		st, sub, r := Classify(c.msgs)
		if st != c.stage || sub != c.subj || r != c.round {
			t.Errorf("%q: %s %q %d", c.msgs, st, sub, r)
		}
	}
}

// The model works out a repair request's round from the module it shows
// (the pipeline sends only the last one), so repairs progress round by
// round, each round's mistake as mistakeAt says, and a module once fixed
// stays fixed.
func TestModelRepairRounds(t *testing.T) {
	c, err := Load(PartTuning)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Corpus: c, Rates: DefaultRates(), Seed: 9}
	progressed := 0
	for i := 0; i < 200; i++ {
		name := fmt.Sprintf("crate_%s_%04x", c.Templates[i%len(c.Templates)].ID, i)
		_, code := m.module(name, 0)
		if code == "" {
			continue // a refusal, an empty reply, prose: no repair follows
		}
		for round := 1; round <= 4; round++ {
			msgs := []Message{{"system", "x"}, {"user", "Write the environment for this task.\n\nNAME = \"" + name + "\"\n"},
				{"assistant", "```python\n" + code + "```"}, {"user", "The module failed these validation checks: …"}}
			if got := m.RepairRound(name, msgs); got != round {
				t.Fatalf("%s: a request showing round %d's module taken for round %d", name, round-1, got)
			}
			_, code = m.module(name, round)
			if !strings.HasPrefix(code, fmt.Sprintf("# revision %d\n", round)) {
				t.Fatalf("%s round %d: no code or no revision mark: %.40q", name, round, code)
			}
			if m.Mistake(name, round-1) == "" && m.Mistake(name, round) != "" {
				t.Errorf("%s: fixed at round %d, broken again at %d", name, round-1, round)
			}
		}
		progressed++
	}
	if progressed < 150 {
		t.Errorf("only %d of 200 names had code", progressed)
	}
}
