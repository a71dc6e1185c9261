package llm

import (
	"context"
	"encoding/json"
	"time"
)

// Role is who wrote a message.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation. The system prompt is not a message;
// it is Request.System, since the two APIs place it differently.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content"`
}

// Request is one completion request.
type Request struct {
	Model       string    // overrides the provider's default model when set
	System      string    // system prompt; may be empty
	Messages    []Message // the conversation, user first
	MaxTokens   int       // 0: the provider's default (Config.MaxTokens)
	Temperature *float64  // nil: the server's default

	// Tag names the stage that makes the call ("ideate", "implement",
	// "repair", "solve") and Subject what it is about (an idea's name, a
	// category). Both are recorded with the call and let a replay file
	// address replies deterministically even when calls run concurrently.
	Tag     string
	Subject string

	// OnDelta, when set, makes the reply stream: it is called with each piece
	// of text as it arrives, from the calling goroutine. When a stream breaks
	// and the request is retried, it is called once with Restart set before
	// the new attempt's text, so that a viewer can clear what it showed.
	OnDelta func(Delta)
}

// Delta is one piece of a streamed reply.
type Delta struct {
	Text    string
	Restart bool // the previous attempt broke off; what came before is void
}

// Usage counts tokens as the server reported them. It is written as
// input_tokens and output_tokens, the names every resyn JSON output uses
// (docs/json.md); recordings and records from before read back from
// OpenAI's prompt_tokens and completion_tokens too.
type Usage struct {
	PromptTokens     int `json:"input_tokens"`
	CompletionTokens int `json:"output_tokens"`
}

// UnmarshalJSON reads input_tokens/output_tokens or the older
// prompt_tokens/completion_tokens.
func (u *Usage) UnmarshalJSON(b []byte) error {
	var v struct {
		In     *int `json:"input_tokens"`
		Out    *int `json:"output_tokens"`
		Prompt *int `json:"prompt_tokens"`
		Compl  *int `json:"completion_tokens"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*u = Usage{}
	for _, p := range []struct {
		dst      *int
		new, old *int
	}{{&u.PromptTokens, v.In, v.Prompt}, {&u.CompletionTokens, v.Out, v.Compl}} {
		switch {
		case p.new != nil:
			*p.dst = *p.new
		case p.old != nil:
			*p.dst = *p.old
		}
	}
	return nil
}

// Total is prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.PromptTokens + v.PromptTokens, u.CompletionTokens + v.CompletionTokens}
}

// Completion is a model's reply.
type Completion struct {
	Text         string        `json:"text"`
	FinishReason string        `json:"finish_reason,omitempty"` // "stop", "length", "end_turn", …
	Model        string        `json:"model,omitempty"`         // as the server named it
	Usage        Usage         `json:"usage"`
	Attempts     int           `json:"attempts"` // 1 when the first attempt succeeded
	Latency      time.Duration `json:"latency"`  // wall time including retries and waits
}

// Provider is a language model. Implementations are safe for concurrent use.
type Provider interface {
	Complete(ctx context.Context, req Request) (Completion, error)
	// Name says which provider and model this is, e.g. "openai:gpt-4o-mini".
	Name() string
}
