package synth

import (
	"context"
	"time"

	"resyn/llm"
)

// CallOptions tune the LLM calls of a stage.
type CallOptions struct {
	Temperature *float64
	MaxTokens   int
	OnDelta     func(llm.Delta) // nil: no streaming
}

// call makes one tagged request and records it as an Exchange (also when it
// fails, with the error).
func call(ctx context.Context, p llm.Provider, stage, subject, system string, msgs []llm.Message, o CallOptions) (Exchange, error) {
	ex := Exchange{Stage: stage, System: system, Messages: msgs, Started: time.Now().UTC()}
	c, err := p.Complete(ctx, llm.Request{
		System: system, Messages: msgs, MaxTokens: o.MaxTokens, Temperature: o.Temperature,
		Tag: stage, Subject: subject, OnDelta: o.OnDelta,
	})
	ex.Elapsed = time.Since(ex.Started)
	if err != nil {
		ex.Error = err.Error()
		return ex, err
	}
	ex.Reply, ex.Usage, ex.Attempts = c.Text, c.Usage, c.Attempts
	return ex, nil
}
