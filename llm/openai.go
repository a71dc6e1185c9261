package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

const openaiDefaultBase = "https://api.openai.com/v1"

// NewOpenAI returns a provider for any server that speaks OpenAI's chat
// completions API: OpenAI itself, vLLM, SGLang, Ollama (…/v1), llama.cpp's
// server. A key is required only for api.openai.com; local servers get a
// placeholder.
func NewOpenAI(cfg Config) (Provider, error) {
	if cfg.Model == "" {
		return nil, fmt.Errorf("llm openai: no model given (--model)")
	}
	base := cfg.BaseURL
	if base == "" {
		base = openaiDefaultBase
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("llm openai: base URL %q is not an absolute URL", base)
	}
	official := strings.HasSuffix(u.Hostname(), "openai.com")
	key := cfg.APIKey
	if key == "" {
		if official {
			return nil, fmt.Errorf("%w: set OPENAI_API_KEY (or --api-key) for %s", ErrNoAPIKey, base)
		}
		key = "no-key"
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base),
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // client.go retries; see there
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	b := &openaiBackend{
		c:        openai.NewClient(opts...),
		label:    "openai:" + cfg.Model,
		official: official,
	}
	return newClient(b, cfg, endpoint{url: base, envVar: "OPENAI_BASE_URL"}), nil
}

type openaiBackend struct {
	c        openai.Client
	label    string
	official bool // api.openai.com: max_completion_tokens instead of max_tokens
}

func (b *openaiBackend) name() string { return b.label }

func (b *openaiBackend) params(req Request) openai.ChatCompletionNewParams {
	var msgs []openai.ChatCompletionMessageParamUnion
	if req.System != "" {
		msgs = append(msgs, openai.SystemMessage(req.System))
	}
	for _, m := range req.Messages {
		if m.Role == RoleAssistant {
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		} else {
			msgs = append(msgs, openai.UserMessage(m.Content))
		}
	}
	p := openai.ChatCompletionNewParams{Model: shared.ChatModel(req.Model), Messages: msgs}
	// OpenAI's reasoning models refuse max_tokens; vLLM, SGLang, Ollama and
	// llama.cpp all read max_tokens and some ignore the newer name.
	if b.official {
		p.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	} else {
		p.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		p.Temperature = openai.Float(*req.Temperature)
	}
	return p
}

func (b *openaiBackend) attempt(ctx context.Context, req Request, progress func(string)) (Completion, error) {
	p := b.params(req)
	if progress == nil {
		resp, err := b.c.Chat.Completions.New(ctx, p)
		if err != nil {
			return Completion{}, openaiError(err)
		}
		if len(resp.Choices) == 0 {
			return Completion{}, badReply{errors.New("no choices in the reply")}
		}
		ch := resp.Choices[0]
		return Completion{
			Text:         ch.Message.Content,
			FinishReason: string(ch.FinishReason),
			Model:        resp.Model,
			Usage:        Usage{int(resp.Usage.PromptTokens), int(resp.Usage.CompletionTokens)},
		}, nil
	}

	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := b.c.Chat.Completions.NewStreaming(ctx, p)
	defer s.Close()
	var (
		text strings.Builder
		comp Completion
	)
	for s.Next() {
		chunk := s.Current()
		if chunk.Model != "" {
			comp.Model = chunk.Model
		}
		if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			comp.Usage = Usage{int(chunk.Usage.PromptTokens), int(chunk.Usage.CompletionTokens)}
		}
		delta := ""
		if len(chunk.Choices) > 0 {
			delta = chunk.Choices[0].Delta.Content
			if fr := chunk.Choices[0].FinishReason; fr != "" {
				comp.FinishReason = fr
			}
		}
		text.WriteString(delta)
		progress(delta)
	}
	if err := s.Err(); err != nil {
		return Completion{}, openaiError(err)
	}
	// The SDK ends a stream quietly at EOF, [DONE] or not; only a finish
	// reason tells a complete reply from a cut one.
	if comp.FinishReason == "" {
		return Completion{}, ErrStreamCut
	}
	comp.Text = text.String()
	return comp, nil
}

// openaiError turns the SDK's errors into what client.classify reads.
func openaiError(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		se := &statusError{code: apiErr.StatusCode, msg: apiErr.Message}
		if apiErr.Response != nil {
			se.header = apiErr.Response.Header
		}
		return se
	}
	return jsonError(err)
}

// jsonError marks JSON decoding failures as ErrBadReply.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) || strings.Contains(err.Error(), "invalid character") {
		return badReply{err}
	}
	return err
}

// badReply is a reply that could not be understood; it reads as its cause
// and matches ErrBadReply.
type badReply struct{ err error }

func (b badReply) Error() string        { return b.err.Error() }
func (b badReply) Unwrap() error        { return b.err }
func (b badReply) Is(target error) bool { return target == ErrBadReply }
