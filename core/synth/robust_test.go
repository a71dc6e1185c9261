package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"resyn/llm"
	"resyn/storage"
)

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, c := range []struct{ in, want string }{
		{"", "nothing (an empty reply)"},
		{" \n\t", `only white space: " \n\t"`},
		{"Sure!\n\x1b[31mred\x1b[0m\x00", `"Sure!\n\x1b[31mred\x1b[0m\x00"`},
		{long, `"` + strings.Repeat("é", 150) + `"… (300 of 400 bytes shown)`},
		{"ab" + long, `"ab` + strings.Repeat("é", 149) + `"… (300 of 402 bytes shown)`},
	} {
		if got := Excerpt(c.in, 300); got != c.want {
			t.Errorf("Excerpt(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// chatServer is a fake OpenAI-compatible server answering every request
// with reply(n) (n counts requests from 0).
func chatServer(t *testing.T, reply func(n int) string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, _ := json.Marshal(reply(int(n.Add(1)) - 1))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"fake","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`, text)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A model whose ideation replies hold no readable idea ends the run with an
// error that quotes what it said (bounded, control characters escaped),
// each failed call is an event, and the log has the same quote.
func TestUnreadableIdeasQuoteTheReply(t *testing.T) {
	reply := "I'm sorry, as a language model I prefer poems.\n\x1b[2J" + strings.Repeat("Roses are red. ", 40)
	srv, requests := chatServer(t, func(int) string { return reply })
	p, err := llm.Open(llm.Config{Provider: "openai", Model: "fake", BaseURL: srv.URL + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	pl := &Pipeline{LLM: p, Pool: testPool(t), DB: db}
	var ev events
	cfg := scriptConfig()
	_, err = pl.Run(context.Background(), cfg, ev.add)
	if !errors.Is(err, ErrNoIdeas) || !errors.Is(err, ErrUnreadableIdeas) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{`"I'm sorry, as a language model I prefer poems.\n\x1b[2JRoses are red.`, fmt.Sprintf("(300 of %d bytes shown)", len(reply))} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %s:\n%s", want, msg)
		}
	}
	if strings.ContainsAny(msg, "\n\x1b") {
		t.Errorf("error carries raw control characters: %q", msg)
	}
	if got := requests.Load(); got != 3 {
		t.Errorf("%d ideation calls, want 3", got)
	}
	failed := 0
	for _, e := range ev.all {
		if f, ok := e.(IdeateFailedEvent); ok && errors.Is(f.Err, ErrUnreadableIdeas) && f.Category != "" {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d IdeateFailedEvent events", failed)
	}
	runID := ev.all[0].(RunStartedEvent).RunID
	db.View(func(tx *storage.Tx) error {
		log, err := storage.ListSynthLog(tx, runID, 0)
		if err != nil || len(log) != 3 || !strings.Contains(log[0].Message, "I'm sorry") || log[0].Usage.InputTokens != 10 {
			t.Errorf("log %+v, %v", log, err)
		}
		r, _ := storage.GetSynthRun(tx, runID)
		if r.Status != storage.RunFailed || !strings.Contains(r.Error, "I'm sorry") || r.Usage.Requests != 3 || r.Usage.InputTokens != 30 {
			t.Errorf("run %+v", r)
		}
		return nil
	})
}

// A writer whose server is not there stops the run at the first call: one
// ideation call (with its quick retries inside llm), not three, and an
// error that names the URL.
func TestUnreachableServerStopsIdeation(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String() + "/v1"
	l.Close()
	var retries atomic.Int32
	p, err := llm.Open(llm.Config{Provider: "openai", Model: "m", BaseURL: base, UnreachableRetries: -1,
		OnRetry: func(llm.RetryNotice) { retries.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	pl := &Pipeline{LLM: p, Pool: testPool(t), DB: openStore(t)}
	var ev events
	_, err = pl.Run(context.Background(), scriptConfig(), ev.add)
	if !errors.Is(err, llm.ErrUnreachable) || !strings.Contains(err.Error(), base) || !strings.Contains(err.Error(), "--base-url") {
		t.Fatalf("err = %v", err)
	}
	n := 0
	for _, e := range ev.all {
		if _, ok := e.(IdeateFailedEvent); ok {
			n++
		}
	}
	if n != 1 || retries.Load() != 0 {
		t.Errorf("%d failed ideation calls, %d retries", n, retries.Load())
	}
}

// unreachableImpl plays the script for ideation and fails every
// implementation call as an unreachable server does.
type unreachableImpl struct {
	*scripted
	impl atomic.Int32
}

func (u *unreachableImpl) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	if req.Tag == StageImplement {
		u.impl.Add(1)
		return llm.Completion{}, &llm.Error{Provider: "scripted", Kind: llm.ErrUnreachable, Attempts: 3, Err: errors.New("connection refused")}
	}
	return u.scripted.Complete(ctx, req)
}

// When the server goes away mid-run, the run stops instead of failing every
// remaining candidate one by one: the candidate that met it gets verdict
// "error", the run is failed with the cause, and a resume picks it all up.
func TestUnreachableServerHaltsTheRun(t *testing.T) {
	db := openStore(t)
	model := &unreachableImpl{scripted: newScripted()}
	pl := &Pipeline{LLM: model, Pool: testPool(t), DB: db}
	cfg := scriptConfig()
	cfg.Parallel = 1
	var ev events
	sum, err := pl.Run(context.Background(), cfg, ev.add)
	if !errors.Is(err, llm.ErrUnreachable) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("err = %v", err)
	}
	if got := model.impl.Load(); got != 1 {
		t.Errorf("%d implementation calls after the server went away, want 1", got)
	}
	if sum.Outcomes[OutcomeError] != 1 || sum.Finished != 0 {
		t.Errorf("summary %+v", sum)
	}
	runID := ev.all[0].(RunStartedEvent).RunID
	var status storage.RunStatus
	db.View(func(tx *storage.Tx) error {
		r, _ := storage.GetSynthRun(tx, runID)
		status = r.Status
		return nil
	})
	if status != storage.RunFailed {
		t.Errorf("status %q", status)
	}
	// The server is back: the resume does every candidate.
	pl.LLM = model.scripted
	sum, err = pl.Resume(context.Background(), runID, nil)
	if err != nil || sum.Finished != 12 {
		t.Fatalf("resume: %v, %+v", err, sum)
	}
}

// The run record holds the usage of every finished call as soon as the call
// returns, not only at verdicts: a process killed while a call hangs
// (before any verdict) loses none of what it spent. A resume adds to it.
func TestUsageIsOnDiskAfterEveryCall(t *testing.T) {
	db := openStore(t)
	model := newScripted()
	model.block = make(chan struct{}) // implementation calls hang
	pl := &Pipeline{LLM: model, Pool: testPool(t), DB: db}
	cfg := scriptConfig()
	cfg.Parallel = 1
	ctx, cancel := context.WithCancel(context.Background())
	var runID atomic.Uint64
	done := make(chan error, 1)
	go func() {
		_, err := pl.Run(ctx, cfg, func(e Event) {
			if s, ok := e.(RunStartedEvent); ok {
				runID.Store(s.RunID)
			}
		})
		done <- err
	}()
	// Wait for the first implementation call to hang.
	deadline := time.Now().Add(30 * time.Second)
	for {
		model.mu.Lock()
		n := 0
		for k, v := range model.calls {
			if strings.HasPrefix(k, StageImplement+"/") {
				n += v
			}
		}
		model.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no implementation call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// What a kill -9 now would leave on disk: the run record with the
	// ideation calls' usage, which the log confirms.
	var run storage.SynthRun
	var logged storage.TokenUsage
	db.View(func(tx *storage.Tx) error {
		run, _ = storage.GetSynthRun(tx, runID.Load())
		log, _ := storage.ListSynthLog(tx, runID.Load(), 0)
		logged = loggedUsage(log)
		return nil
	})
	if run.Status != storage.RunRunning || run.Usage.Requests != 3 || run.Usage.InputTokens == 0 || run.Usage != logged {
		t.Fatalf("mid-run record %+v, log says %+v", run, logged)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	var cancelled storage.SynthRun
	db.View(func(tx *storage.Tx) error { cancelled, _ = storage.GetSynthRun(tx, runID.Load()); return nil })

	model.block = nil
	sum, err := pl.Resume(context.Background(), runID.Load(), nil)
	if err != nil || sum.Finished != 12 {
		t.Fatalf("resume: %v %+v", err, sum)
	}
	var final storage.SynthRun
	var all storage.TokenUsage
	db.View(func(tx *storage.Tx) error {
		final, _ = storage.GetSynthRun(tx, runID.Load())
		log, _ := storage.ListSynthLog(tx, runID.Load(), 0)
		all = loggedUsage(log)
		return nil
	})
	// Every token spent is counted once; the cancelled call is one more
	// request without tokens.
	if final.Usage.InputTokens != all.InputTokens || final.Usage.OutputTokens != all.OutputTokens ||
		final.Usage.Requests != all.Requests+1 || final.Usage.Requests != int64(sum.Calls) ||
		cancelled.Usage.Requests != 4 || int(final.Usage.InputTokens) != sum.Usage.PromptTokens {
		t.Errorf("final %+v, logged %+v, summary %+v (calls %d)", final.Usage, all, sum.Usage, sum.Calls)
	}
}

// A run stored before the record was kept current (killed before its first
// verdict, its record at zero) resumes from the usage its log holds.
func TestResumeRecoversUsageFromTheLog(t *testing.T) {
	db := openStore(t)
	pl := &Pipeline{LLM: newScripted(), Pool: testPool(t), DB: db}
	run := storage.SynthRun{Status: storage.RunRunning}
	raw, _ := json.Marshal(scriptConfig())
	run.Config = raw
	err := db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateSynthRun(tx, &run); err != nil {
			return err
		}
		e := storage.SynthLogEntry{Stage: StageIdeate, Message: "lost tokens",
			Usage: storage.TokenUsage{Requests: 2, InputTokens: 1000, OutputTokens: 500}}
		return storage.AppendSynthLog(tx, run.ID, &e)
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := pl.Resume(context.Background(), run.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got storage.SynthRun
	var logged storage.TokenUsage
	db.View(func(tx *storage.Tx) error {
		got, _ = storage.GetSynthRun(tx, run.ID)
		log, _ := storage.ListSynthLog(tx, run.ID, 0)
		logged = loggedUsage(log)
		return nil
	})
	if got.Usage != logged || got.Usage.InputTokens <= 1000 || sum.Usage.PromptTokens != int(got.Usage.InputTokens) {
		t.Errorf("record %+v, log %+v, summary %+v", got.Usage, logged, sum.Usage)
	}
}
