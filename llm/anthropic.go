package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
)

const anthropicDefaultBase = "https://api.anthropic.com"

// NewAnthropic returns a provider for Anthropic's Messages API.
func NewAnthropic(cfg Config) (Provider, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("llm anthropic: no model given (--model)")
	}
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("%w: set ANTHROPIC_API_KEY (or --api-key)", ErrNoAPIKey)
	}
	opts := []option.RequestOption{
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(0), // client.go retries; see there
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	b := &anthropicBackend{c: anthropic.NewClient(opts...), label: "anthropic:" + cfg.Model}
	base := cfg.BaseURL
	if base == "" {
		base = anthropicDefaultBase
	}
	return newClient(b, cfg, endpoint{url: base, envVar: "ANTHROPIC_BASE_URL"}), nil
}

type anthropicBackend struct {
	c     anthropic.Client
	label string
}

func (b *anthropicBackend) name() string { return b.label }

func (b *anthropicBackend) attempt(ctx context.Context, req Request, progress func(string)) (Completion, error) {
	p := anthropic.MessageNewParams{Model: anthropic.Model(req.Model), MaxTokens: int64(req.MaxTokens)}
	if req.System != "" {
		p.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	for _, m := range req.Messages {
		if m.Role == RoleAssistant {
			p.Messages = append(p.Messages, anthropic.NewAssistantMessage(anthropic.NewTextBlock(m.Content)))
		} else {
			p.Messages = append(p.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		}
	}
	if req.Temperature != nil {
		p.Temperature = anthropic.Float(*req.Temperature)
	}

	var msg anthropic.Message
	if progress == nil {
		m, err := b.c.Messages.New(ctx, p)
		if err != nil {
			return Completion{}, anthropicError(err)
		}
		msg = *m
	} else {
		s := b.c.Messages.NewStreaming(ctx, p)
		defer s.Close()
		stopped := false
		for s.Next() {
			ev := s.Current()
			if err := msg.Accumulate(ev); err != nil {
				return Completion{}, badReply{err}
			}
			delta := ""
			switch ev.Type {
			case "content_block_delta":
				if ev.Delta.Type == "text_delta" {
					delta = ev.Delta.Text
				}
			case "message_stop":
				stopped = true
			}
			progress(delta)
		}
		if err := s.Err(); err != nil {
			return Completion{}, anthropicError(err)
		}
		if !stopped {
			return Completion{}, ErrStreamCut
		}
	}
	var text strings.Builder
	for _, c := range msg.Content {
		if c.Type == "text" {
			text.WriteString(c.Text)
		}
	}
	if text.Len() == 0 && msg.StopReason == "max_tokens" {
		return Completion{}, truncated{req.MaxTokens}
	}
	return Completion{
		Text:         text.String(),
		FinishReason: string(msg.StopReason),
		Model:        string(msg.Model),
		Usage:        Usage{int(msg.Usage.InputTokens), int(msg.Usage.OutputTokens)},
	}, nil
}

func anthropicError(err error) error {
	var apiErr *anthropic.Error
	if errors.As(err, &apiErr) {
		se := &statusError{code: apiErr.StatusCode}
		if apiErr.Response != nil {
			se.header = apiErr.Response.Header
		}
		se.msg = apiErr.RawJSON()
		return se
	}
	return jsonError(err)
}
