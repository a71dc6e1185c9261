package loadgen

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/core/serve"
)

// Every kind against a small in-process server: each gets the answer a
// sound server gives, and the tally says so.
func TestEveryKindGetsItsAnswer(t *testing.T) {
	m, err := env.Load("loud.star", []byte(LoudEnv))
	if err != nil {
		t.Fatal(err)
	}
	ex := env.NewLocal(env.DefaultLimits(), 2)
	ex.Register(m)
	s, err := serve.New(serve.Options{Exec: ex, Envs: []*env.Module{m}, MaxBodyBytes: 1 << 20, MaxBodyTotal: 8 << 20, MaxItems: 256, MaxQueued: 1024})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	var streams []Stream
	for _, k := range Kinds {
		streams = append(streams, Stream{Kind: k, Clients: 1, Requests: 3})
	}
	rep := Run(context.Background(), Options{URL: srv.URL, Envs: []string{"loud"}, GoodBatch: 4, LargeBatch: 200, MaxSend: 4 << 20, Seed: 1}, streams)
	var tally strings.Builder
	rep.Write(&tally)
	if rep.Violations() != 0 {
		t.Fatalf("violations:\n%s", tally.String())
	}
	for k, want := range map[Kind]int{Good: 200, Large: 200, Slow: 200, Loud: 200, TooMany: 413, Empties: 400, HugeBody: 413, Garbage: 400} {
		if st := rep.Of(k); st.Requests != 3 || st.Statuses[want] != 3 {
			t.Errorf("%s: %d requests, statuses %v; want 3 × %d\n%s", k, st.Requests, st.Statuses, want, tally.String())
		}
	}
	if !strings.Contains(tally.String(), "too_many") || rep.Of(Aborted).Requests != 3 {
		t.Fatalf("tally:\n%s", tally.String())
	}
}

// A server that answers wrongly is caught: here one whose replies keep the
// verifier's whole error text.
func TestAWrongAnswerIsAViolation(t *testing.T) {
	c := &client{o: Options{MaxErrorBytes: 100}}
	long := `{"rewards":[{"kind":"env_error","error":"` + strings.Repeat("x", 200) + `"}]}`
	if v := c.rewards(200, []byte(long), 1, func(kind, msg string) bool { return len(msg) <= c.o.MaxErrorBytes }); v == "" {
		t.Fatal("an uncapped error passed")
	}
	if v := want(413)(400, nil, []byte(`{"error":"x"}`)); v == "" {
		t.Fatal("400 passed for 413")
	}
	if v := want(503)(503, map[string][]string{}, []byte(`{"error":"x"}`)); !strings.Contains(v, "Retry-After") {
		t.Fatalf("503 without Retry-After: %q", v)
	}
	if v := c.rewards(200, []byte(`{"rewards":[]}`), 2, c.sound); !strings.Contains(v, "0 rewards for 2 items") {
		t.Fatalf("short answer: %q", v)
	}
}
