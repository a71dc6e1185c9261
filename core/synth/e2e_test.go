package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"resyn/core/validate"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"resyn/llm"
)

// scriptServer is an OpenAI-compatible chat-completions server that plays
// the scripted model, working out from each request's prompts alone which
// stage and candidate it is for. Every request streams when asked to, and
// the first request of all is answered 429 with a Retry-After.
func scriptServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	model := newScripted()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0.01")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"message":"slow down","type":"rate_limit"}}`)
			return
		}
		var body struct {
			Messages []struct{ Role, Content string } `json:"messages"`
			Stream   bool                             `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Messages) < 2 {
			http.Error(w, `{"error":{"message":"bad request"}}`, 400)
			return
		}
		system := body.Messages[0].Content
		var msgs []llm.Message
		for _, m := range body.Messages[1:] {
			msgs = append(msgs, llm.Message{Role: llm.Role(m.Role), Content: m.Content})
		}
		stage, subject := stageOf(system, msgs)
		if stage == StageIdeate {
			subject = "category"
		}
		c, err := model.Complete(r.Context(), llm.Request{Tag: stage, Subject: subject})
		if err != nil {
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"error":{"message":%q}}`, err.Error())
			return
		}
		text, _ := json.Marshal(c.Text)
		usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, len(system)/4, len(c.Text)/4, len(system)/4+len(c.Text)/4)
		if !body.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"scripted","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":%s}`, text, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range splitN(c.Text, 3) {
			b, _ := json.Marshal(piece)
			fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"scripted\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", b)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"scripted\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"scripted\",\"choices\":[],\"usage\":%s}\n\n", usage)
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func splitN(s string, n int) []string {
	if s == "" {
		return nil
	}
	var out []string
	step := len(s)/n + 1
	for len(s) > step {
		out = append(out, s[:step])
		s = s[step:]
	}
	return append(out, s)
}

// TestEndToEndOverHTTP is acceptance item 6: a synthesis run against a
// local server playing a scripted LLM, through the real OpenAI provider
// (streaming, retries), the sandbox and the store. A syntax error is fixed
// on repair, a loop is fixed on repair, an accept-everything verifier is
// rejected, duplicate ideas are dropped, prose and fences around code are
// handled, a refusal and an empty reply end as their own verdicts, and no
// candidate takes the run down.
func TestEndToEndOverHTTP(t *testing.T) {
	srv, requests := scriptServer(t)
	meter := &llm.Meter{}
	p, err := llm.Open(llm.Config{Provider: "openai", Model: "scripted", BaseURL: srv.URL + "/v1",
		BackoffBase: time.Millisecond, MaxConcurrency: 3, Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	pl := &Pipeline{LLM: p, Pool: testPool(t), DB: db}
	cfg := scriptConfig()
	cfg.Stream = true
	var ev events
	streamed := 0
	sum, err := pl.Run(context.Background(), cfg, func(e Event) {
		if d, ok := e.(StreamDeltaEvent); ok && d.Text != "" {
			streamed++
		}
		ev.add(e)
	})
	if err != nil {
		t.Fatal(err)
	}
	runID := ev.all[0].(RunStartedEvent).RunID
	checkScriptedOutcomes(t, db, runID, ev.verdicts())
	if sum.Dropped != 3 || sum.Stored != 7 {
		t.Errorf("summary %+v", sum)
	}
	// 3 ideation calls, 12 implementations, 7 repairs, and the 429.
	if got := requests.Load(); got != 3+12+7+1 {
		t.Errorf("%d HTTP requests", got)
	}
	if ok, failed := meter.Calls(); ok != 22 || failed != 0 || meter.Usage() != sum.Usage {
		t.Errorf("meter: %d ok, %d failed, %+v; summary usage %+v", ok, failed, meter.Usage(), sum.Usage)
	}
	if streamed == 0 {
		t.Error("no streamed deltas")
	}
	// The verdicts say why.
	vs := ev.verdicts()
	for name, want := range map[string]string{
		"parity_guess":    validate.CheckRejects,
		"forbidden_topic": "can't help",
		"vertex_paint":    "graph_coloring",
		"plan_only":       "no module in the reply",
	} {
		if !strings.Contains(vs[name].Reason, want) {
			t.Errorf("%s: reason %q lacks %q", name, vs[name].Reason, want)
		}
	}
}
