package llm

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Meter accumulates the token usage and call count of a run. The zero value
// is ready; it is safe for concurrent use.
type Meter struct {
	prompt, completion, calls, failures atomic.Int64
}

// Add records one successful call's usage.
func (m *Meter) Add(u Usage) {
	if m == nil {
		return
	}
	m.prompt.Add(int64(u.PromptTokens))
	m.completion.Add(int64(u.CompletionTokens))
	m.calls.Add(1)
}

// Fail records one call that ended in an error.
func (m *Meter) Fail() {
	if m != nil {
		m.failures.Add(1)
	}
}

// Usage is the total so far.
func (m *Meter) Usage() Usage {
	if m == nil {
		return Usage{}
	}
	return Usage{int(m.prompt.Load()), int(m.completion.Load())}
}

// Calls is the number of successful and failed calls so far.
func (m *Meter) Calls() (ok, failed int) {
	if m == nil {
		return 0, 0
	}
	return int(m.calls.Load()), int(m.failures.Load())
}

// Metered wraps a provider so that every call's usage is added to m. Use it
// for providers that do not take a Meter of their own (Replay).
func Metered(p Provider, m *Meter) Provider { return metered{p, m} }

type metered struct {
	p Provider
	m *Meter
}

func (w metered) Name() string { return w.p.Name() }

func (w metered) Complete(ctx context.Context, req Request) (Completion, error) {
	c, err := w.p.Complete(ctx, req)
	if err != nil {
		w.m.Fail()
	} else {
		w.m.Add(c.Usage)
	}
	return c, err
}

// Summary is the meter in one line: "N calls (F failed), P+C tokens",
// failed calls counted among the calls.
func (m *Meter) Summary() string {
	u := m.Usage()
	calls, errs := m.Calls()
	return fmt.Sprintf("%d calls (%d failed), %d+%d tokens", calls+errs, errs, u.PromptTokens, u.CompletionTokens)
}
