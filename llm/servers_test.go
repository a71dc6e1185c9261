package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Local servers that answer as vLLM, Ollama and llama.cpp's llama-server
// do, with the error bodies their sources write:
//
//   - vLLM (vllm/entrypoints/openai): since 0.10 errors are
//     {"error": {"message", "type": "BadRequestError", "param", "code": 400}};
//     before, the same fields flat with "object": "error". A request whose
//     prompt plus max_tokens exceeds --max-model-len is a 400 "'max_tokens'
//     or 'max_completion_tokens' is too large: M. This model's maximum
//     context length is W tokens and your request has P input tokens (M > W
//   - P)." (older: "This model's maximum context length is W tokens.
//     However, you requested T tokens (P in the messages, M in the
//     completion). …"). Paths outside its routes are FastAPI's 404
//     {"detail": "Not Found"}.
//   - Ollama (openai/openai.go NewError): {"error": {"message", "type":
//     "invalid_request_error" | "not_found_error" | "api_error", "param":
//     null, "code": null}}; an unknown model is a 404 'model "M" not found,
//     try pulling it first'; an unknown path is gin's text/plain "404 page
//     not found". Ollama cuts the context silently instead of refusing.
//   - llama.cpp (tools/server, format_error_response): {"error": {"code",
//     "message", "type"}}; a prompt longer than the context is a 400
//     exceed_context_size_error "request (P tokens) exceeds the available
//     context size (W tokens), try increasing it" with n_prompt_tokens and
//     n_ctx. It serves /chat/completions with and without /v1.
//
// Every one of them answers a reply cut at max_tokens before any text with
// content null (or "") and finish_reason "length".
type fakeServer struct {
	kind   string // "vllm", "vllm-old", "ollama", "llamacpp"
	window int    // context window in tokens
	prompt int    // tokens every prompt takes
	empty  bool   // answer with null content cut at max_tokens
	models []string

	mu     sync.Mutex
	bodies []map[string]any
	paths  []string
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req map[string]any
	json.Unmarshal(b, &req)
	f.mu.Lock()
	f.bodies = append(f.bodies, req)
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	route := r.URL.Path == "/v1/chat/completions" || (f.kind == "llamacpp" && r.URL.Path == "/chat/completions")
	if !route {
		switch f.kind {
		case "ollama":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(404)
			io.WriteString(w, "404 page not found")
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"detail":"Not Found"}`)
		}
		return
	}
	model, _ := req["model"].(string)
	if len(f.models) > 0 && !contains(f.models, model) {
		f.fail(w, 404, fmt.Sprintf("model %q not found, try pulling it first", model), "")
		return
	}
	maxTokens := 16
	if v, ok := req["max_tokens"].(float64); ok {
		maxTokens = int(v)
	}
	switch {
	case f.kind == "llamacpp" && f.prompt >= f.window:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"code":400,"message":"request (%d tokens) exceeds the available context size (%d tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":%d,"n_ctx":%d}}`,
			f.prompt, f.window, f.prompt, f.window)
		return
	case f.kind == "vllm" && f.prompt+maxTokens > f.window:
		f.fail(w, 400, fmt.Sprintf("'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is %d tokens and your request has %d input tokens (%d > %d - %d). (parameter=max_tokens, value=%d)",
			maxTokens, f.window, f.prompt, maxTokens, f.window, f.prompt, maxTokens), "max_tokens")
		return
	case f.kind == "vllm-old" && f.prompt+maxTokens > f.window:
		f.fail(w, 400, fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			f.window, f.prompt+maxTokens, f.prompt, maxTokens), "")
		return
	}
	content, finish := `"<answer>4</answer>"`, "stop"
	if f.empty {
		content, finish = "null", "length"
	}
	if stream, _ := req["stream"].(bool); stream {
		w.Header().Set("Content-Type", "text/event-stream")
		c := content
		if f.empty {
			c = `""`
		}
		fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":%s}}]}\n\n", model, c)
		fmt.Fprintf(w, "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":%q}]}\n\n", model, finish)
		io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"id":"x","object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":%q}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
		model, content, finish, f.prompt, maxTokens, f.prompt+maxTokens)
}

// fail writes the server's error envelope.
func (f *fakeServer) fail(w http.ResponseWriter, code int, msg, param string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	m, _ := json.Marshal(msg)
	p := "null"
	if param != "" {
		p = fmt.Sprintf("%q", param)
	}
	switch f.kind {
	case "vllm":
		fmt.Fprintf(w, `{"error":{"message":%s,"type":"BadRequestError","param":%s,"code":%d}}`, m, p, code)
	case "vllm-old":
		fmt.Fprintf(w, `{"object":"error","message":%s,"type":"BadRequestError","param":%s,"code":%d}`, m, p, code)
	case "ollama":
		etype := map[int]string{400: "invalid_request_error", 404: "not_found_error"}[code]
		if etype == "" {
			etype = "api_error"
		}
		fmt.Fprintf(w, `{"error":{"message":%s,"type":%q,"param":null,"code":null}}`, m, etype)
	case "llamacpp":
		fmt.Fprintf(w, `{"error":{"code":%d,"message":%s,"type":"invalid_request_error"}}`, code, m)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func (f *fakeServer) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

func serve(t *testing.T, f *fakeServer) string {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func complete(t *testing.T, base string, maxTokens int, stream bool) (Completion, error) {
	t.Helper()
	cfg := testConfig("openai", base)
	cfg.APIKey = ""
	cfg.MaxTokens = maxTokens
	cfg.baseFrom = "OPENAI_BASE_URL"
	c, _ := open(t, cfg)
	req := ask("2+2?")
	if stream {
		var col collect
		req.OnDelta = col.on
	}
	return c.Complete(context.Background(), req)
}

// TestMaxTokensTooLargeIsExplained: vLLM's 400 for a prompt plus
// max_tokens past --max-model-len is not retried and says which
// --max-tokens fits, in both of vLLM's error layouts; a smaller value works.
func TestMaxTokensTooLargeIsExplained(t *testing.T) {
	for _, kind := range []string{"vllm", "vllm-old"} {
		f := &fakeServer{kind: kind, window: 4096, prompt: 57}
		base := serve(t, f) + "/v1"
		_, err := complete(t, base, 8192, false)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrRequest) || e.Status != 400 || e.Attempts != 1 || f.requests() != 1 {
			t.Fatalf("%s: %v (%d requests)", kind, err, f.requests())
		}
		want := "the prompt (57 tokens) and --max-tokens 8192 do not fit the server's context window of 4096 tokens: pass --max-tokens 4039 or less"
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "vLLM --max-model-len") || !strings.Contains(err.Error(), "maximum context length is 4096") {
			t.Errorf("%s: %v", kind, err)
		}
		if f.bodies[0]["max_tokens"] != 8192.0 || f.bodies[0]["max_completion_tokens"] != nil {
			t.Errorf("%s: a local server should get max_tokens: %v", kind, f.bodies[0])
		}
		if c, err := complete(t, base, 4039, false); err != nil || c.Text != "<answer>4</answer>" {
			t.Errorf("%s: --max-tokens 4039: %v %q", kind, err, c.Text)
		}
	}
}

func TestPromptPastTheContextIsExplained(t *testing.T) {
	f := &fakeServer{kind: "llamacpp", window: 8192, prompt: 9412}
	_, err := complete(t, serve(t, f)+"/v1", 512, false)
	if !errors.Is(err, ErrRequest) || f.requests() != 1 ||
		!strings.Contains(err.Error(), "the prompt alone takes 9412 tokens, more than the server's context window of 8192") ||
		!strings.Contains(err.Error(), "llama.cpp -c") {
		t.Errorf("llama.cpp overflow: %v", err)
	}
}

// TestNotFoundSuggestsV1: a base URL without /v1 gets each server's 404,
// and the error suggests the URL with /v1; a model the server lacks names
// the model instead. llama.cpp serves both paths.
func TestNotFoundSuggestsV1(t *testing.T) {
	for _, kind := range []string{"vllm", "ollama"} {
		f := &fakeServer{kind: kind, window: 1 << 20}
		base := serve(t, f)
		_, err := complete(t, base, 64, false)
		if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), "HTTP 404") ||
			!strings.Contains(err.Error(), "try --base-url "+base+"/v1") || f.requests() != 1 {
			t.Errorf("%s: %v", kind, err)
		}
		if _, err := complete(t, base+"/v1", 64, false); err != nil {
			t.Errorf("%s with /v1: %v", kind, err)
		}
	}
	f := &fakeServer{kind: "ollama", window: 1 << 20, models: []string{"qwen2.5:7b"}}
	base := serve(t, f) + "/v1"
	_, err := complete(t, base, 64, false)
	if !errors.Is(err, ErrRequest) || !strings.Contains(err.Error(), `model "test-model" not found, try pulling it first`) ||
		!strings.Contains(err.Error(), `has no model "test-model": check --model against `+base+"/models") || strings.Contains(err.Error(), "try --base-url") {
		t.Errorf("ollama unknown model: %v", err)
	}
	if _, err := complete(t, serve(t, &fakeServer{kind: "llamacpp", window: 1 << 20}), 64, false); err != nil {
		t.Errorf("llama.cpp without /v1: %v", err)
	}
}

// TestEmptyReplyCutAtMaxTokens: content null with finish_reason length is
// ErrTruncated, not an empty success, streamed or not, and not retried.
func TestEmptyReplyCutAtMaxTokens(t *testing.T) {
	for _, kind := range []string{"vllm", "ollama", "llamacpp"} {
		for _, stream := range []bool{false, true} {
			f := &fakeServer{kind: kind, window: 1 << 20, empty: true}
			c, err := complete(t, serve(t, f)+"/v1", 256, stream)
			if !errors.Is(err, ErrTruncated) || f.requests() != 1 || c.Text != "" ||
				!strings.Contains(err.Error(), "used all 256 tokens of --max-tokens before writing any text") {
				t.Errorf("%s stream=%v: %v (%d requests)", kind, stream, err, f.requests())
			}
		}
	}
}

// redirect sends every request to a local server, keeping what the client
// asked for: a provider can be pointed at an Azure or OpenAI host name.
type redirect struct {
	to   *url.URL
	mu   sync.Mutex
	seen []*http.Request
	body []map[string]any
}

func (r *redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	r.mu.Lock()
	r.seen = append(r.seen, req.Clone(context.Background()))
	r.body = append(r.body, m)
	r.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = r.to.Scheme, r.to.Host, r.to.Host
	out.URL.Path = "/v1/chat/completions"
	out.Body = io.NopCloser(strings.NewReader(string(b)))
	out.RequestURI = ""
	return http.DefaultTransport.RoundTrip(out)
}

func TestAzureAndReasoningModels(t *testing.T) {
	u, _ := url.Parse(serve(t, &fakeServer{kind: "vllm", window: 1 << 20}))
	temp := 0.7
	cases := []struct {
		base, model, path, apiVersion string
		temperature                   bool
	}{
		{"https://myres.openai.azure.com/openai/deployments/gpt4o?api-version=2024-10-21", "gpt4o", "/openai/deployments/gpt4o/chat/completions", "2024-10-21", true},
		{"https://myres.openai.azure.com/openai/v1", "o4-mini", "/openai/v1/chat/completions", "", false},
		{"https://api.openai.com/v1", "o3-mini", "/v1/chat/completions", "", false},
		{"https://api.openai.com/v1", "gpt-5-mini", "/v1/chat/completions", "", false},
		{"https://api.openai.com/v1", "gpt-4o", "/v1/chat/completions", "", true},
	}
	for _, tc := range cases {
		rt := &redirect{to: u}
		cfg := testConfig("openai", tc.base)
		cfg.Model = tc.model
		cfg.HTTPClient = &http.Client{Transport: rt}
		c, _ := open(t, cfg)
		req := ask("2+2?")
		req.Temperature = &temp
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatalf("%s %s: %v", tc.base, tc.model, err)
		}
		seen, body := rt.seen[0], rt.body[0]
		azure := strings.Contains(tc.base, "azure")
		if seen.URL.Path != tc.path || seen.URL.Query().Get("api-version") != tc.apiVersion {
			t.Errorf("%s: request went to %s", tc.base, seen.URL)
		}
		if azure && seen.Header.Get("api-key") != "k" {
			t.Errorf("%s: no api-key header: %v", tc.base, seen.Header)
		}
		if body["max_completion_tokens"] == nil || body["max_tokens"] != nil {
			t.Errorf("%s %s: want max_completion_tokens only: %v", tc.base, tc.model, body)
		}
		if _, has := body["temperature"]; has != tc.temperature {
			t.Errorf("%s %s: temperature sent = %v, want %v", tc.base, tc.model, has, tc.temperature)
		}
	}
	// Azure needs a key like OpenAI does.
	if _, err := NewOpenAI(Config{Model: "m", BaseURL: "https://myres.openai.azure.com/openai/v1"}); !errors.Is(err, ErrNoAPIKey) {
		t.Errorf("Azure without a key: %v", err)
	}
}

func TestIsReasoningModel(t *testing.T) {
	for m, want := range map[string]bool{
		"o1": true, "o1-mini": true, "o3": true, "o3-mini-2025-01-31": true, "o4-mini": true, "openai/o3": true,
		"gpt-5": true, "gpt-5-mini": true, "gpt-5-chat-latest": false, "gpt-4o": false, "gpt-4.1-mini": false,
		"omni-moderation": false, "o": false, "Qwen/Qwen2.5-7B-Instruct": false, "olmo-2": false,
	} {
		if IsReasoningModel(m) != want {
			t.Errorf("IsReasoningModel(%q) = %v", m, !want)
		}
	}
}

func TestContextNumbers(t *testing.T) {
	for msg, want := range map[string][2]int{
		"'max_tokens' or 'max_completion_tokens' is too large: 8192. this model's maximum context length is 4096 tokens and your request has 57 input tokens (8192 > 4096 - 57).": {4096, 57},
		"this model's maximum context length is 2048 tokens. however, you requested 8242 tokens (50 in the messages, 8192 in the completion).":                                    {2048, 50},
		"request (9412 tokens) exceeds the available context size (8192 tokens), try increasing it":                                                                               {8192, 9412},
	} {
		w, p, ok := contextNumbers(msg)
		if !ok || w != want[0] || p != want[1] {
			t.Errorf("contextNumbers(%q) = %d, %d, %v", msg, w, p, ok)
		}
	}
	if _, _, ok := contextNumbers("maximum context length exceeded"); ok {
		t.Error("numbers read from a message without them")
	}
}
