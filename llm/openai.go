package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

const openaiDefaultBase = "https://api.openai.com/v1"

// NewOpenAI returns a provider for any server that speaks OpenAI's chat
// completions API: OpenAI itself, Azure OpenAI, vLLM, SGLang, Ollama
// (…/v1), llama.cpp's server. A key is required only for api.openai.com and
// Azure; local servers get a placeholder.
//
// The servers differ in a few ways the requests follow:
//   - OpenAI and Azure get max_completion_tokens (their reasoning models
//     refuse max_tokens); vLLM, SGLang, Ollama and llama.cpp read max_tokens,
//     and some ignore the newer name.
//   - OpenAI's reasoning models (o1, o3, o4-mini, …, gpt-5 but not
//     gpt-5-chat) accept no temperature but the default: none is sent.
//   - Azure authenticates with an api-key header; a base URL of the classic
//     form …/openai/deployments/NAME?api-version=V keeps its api-version on
//     every request, and the v1 form …/openai/v1 needs none.
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
	official := u.Hostname() == "openai.com" || strings.HasSuffix(u.Hostname(), ".openai.com")
	azure := isAzure(u.Hostname())
	key := cfg.APIKey
	if key == "" {
		if official || azure {
			return nil, fmt.Errorf("%w: set OPENAI_API_KEY (or --api-key) for %s", ErrNoAPIKey, base)
		}
		key = "no-key"
	}
	sdkBase := base
	var query url.Values
	if azure && u.RawQuery != "" {
		// The SDK joins paths to the base URL and drops its query: the
		// api-version goes on every request as a query option instead.
		query = u.Query()
		v := *u
		v.RawQuery = ""
		sdkBase = v.String()
	}
	opts := []option.RequestOption{
		option.WithBaseURL(sdkBase),
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // client.go retries; see there
	}
	if azure {
		opts = append(opts, option.WithHeader("api-key", key))
		for k, vs := range query {
			for _, v := range vs {
				opts = append(opts, option.WithQueryAdd(k, v))
			}
		}
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	b := &openaiBackend{
		c:        openai.NewClient(opts...),
		label:    "openai:" + cfg.Model,
		official: official || azure,
	}
	return newClient(b, cfg, endpoint{url: base, envVar: "OPENAI_BASE_URL"}), nil
}

type openaiBackend struct {
	c        openai.Client
	label    string
	official bool // api.openai.com or Azure: max_completion_tokens instead of max_tokens
}

// isAzure says whether a host is an Azure OpenAI (or Azure AI Foundry)
// endpoint.
func isAzure(host string) bool {
	for _, suffix := range []string{".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// IsReasoningModel says whether model names one of OpenAI's reasoning
// models (o1, o3-mini, o4-mini, gpt-5, …, optionally behind a "openai/"
// prefix), which refuse a temperature other than the default. gpt-5-chat
// models are not reasoning models and take one.
func IsReasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if strings.HasPrefix(m, "gpt-5") {
		return !strings.Contains(m, "chat")
	}
	if len(m) >= 2 && m[0] == 'o' && m[1] >= '1' && m[1] <= '9' {
		rest := strings.TrimLeft(m[1:], "0123456789")
		return rest == "" || rest[0] == '-'
	}
	return false
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
	if req.Temperature != nil && !IsReasoningModel(req.Model) {
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
		if ch.Message.Content == "" && ch.FinishReason == "length" {
			return Completion{}, truncated{req.MaxTokens}
		}
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
	if comp.Text == "" && comp.FinishReason == "length" {
		return Completion{}, truncated{req.MaxTokens}
	}
	return comp, nil
}

// truncated is a reply that reached max_tokens with no text; it matches
// ErrTruncated.
type truncated struct{ maxTokens int }

func (t truncated) Error() string {
	return fmt.Sprintf("finish_reason \"length\" with no content after max_tokens %d", t.maxTokens)
}
func (t truncated) Is(target error) bool { return target == ErrTruncated }

// openaiError turns the SDK's errors into what client.classify reads.
func openaiError(err error) error {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		se := &statusError{code: apiErr.StatusCode, msg: apiErr.Message}
		if apiErr.Response != nil {
			se.header = apiErr.Response.Header
			if se.msg == "" && apiErr.Response.Body != nil {
				se.msg = bodyMessage(apiErr.Response.Body)
			}
		}
		return se
	}
	return jsonError(err)
}

// bodyMessage reads the message of an error body the SDK did not
// understand (it reads only {"error": {"message": …}}): vLLM before 0.10
// writes the fields flat ({"object": "error", "message": …}), FastAPI's
// 404 is {"detail": …}, Ollama's native API {"error": "…"}, and gin's 404
// is plain text. At most 64 KiB are read and 1,000 bytes kept.
func bodyMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	var flat struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Error   json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(b, &flat) == nil {
		var s string
		switch {
		case flat.Message != "":
			msg = flat.Message
		case json.Unmarshal(flat.Error, &s) == nil && s != "":
			msg = s
		case json.Unmarshal(flat.Detail, &s) == nil && s != "":
			msg = s
		case len(flat.Detail) > 0:
			msg = string(flat.Detail)
		}
	} else {
		msg = strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	if len(msg) > 1000 {
		msg = strings.ToValidUTF8(msg[:1000], "") + "…"
	}
	return msg
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
