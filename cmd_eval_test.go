package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// evalServer answers chat completions as vLLM does with --max-model-len
// 4096: a prompt of 60 tokens plus max_tokens past the window is vLLM's 400.
type evalServer struct {
	mu        sync.Mutex
	maxTokens []float64
}

func (s *evalServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &req)
	mt, _ := req["max_tokens"].(float64)
	s.mu.Lock()
	s.maxTokens = append(s.maxTokens, mt)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if mt+60 > 4096 {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is 4096 tokens and your request has 60 input tokens (%d > 4096 - 60). (parameter=max_tokens, value=%d)","type":"BadRequestError","param":"max_tokens","code":400}}`, int(mt), int(mt), int(mt))
		return
	}
	fmt.Fprint(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"<answer>no idea</answer>"},"finish_reason":"stop"}],"usage":{"prompt_tokens":60,"completion_tokens":5,"total_tokens":65}}`)
}

// resyn eval sends --max-tokens; when every call is refused it explains
// the 400 and exits 1 (nothing was scored), and with a value that fits it
// scores the answers and exits 0.
func TestEvalMaxTokensAndNothingScored(t *testing.T) {
	s := &evalServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "resyn.db")
	args := []string{"eval", "--provider", "openai", "--base-url", srv.URL + "/v1", "--model", "m",
		"--env", "graph_coloring", "--difficulty", "1", "--n", "2", "--workers", "1", "--json"}
	out, errOut, code := runResyn(t, db, args...)
	if code != 1 || !strings.Contains(errOut, "nothing could be scored: 2 of 2 instances failed") ||
		!strings.Contains(errOut, "pass --max-tokens 4036 or less") {
		t.Fatalf("default --max-tokens 8192: exit %d\n%s\n%s", code, out, errOut)
	}
	var cals []map[string]any
	if err := json.Unmarshal([]byte(out), &cals); err != nil || len(cals) != 1 {
		t.Errorf("--json output of a failed eval: %v\n%s", err, out)
	}
	out, errOut, code = runResyn(t, db, append(args, "--max-tokens", "4000")...)
	if code != 0 || !strings.Contains(out, `"n": 2`) {
		t.Fatalf("--max-tokens 4000: exit %d\n%s\n%s", code, out, errOut)
	}
	s.mu.Lock()
	last := s.maxTokens[len(s.maxTokens)-1]
	s.mu.Unlock()
	if last != 4000 {
		t.Errorf("the server got max_tokens %v, want 4000", last)
	}
	if _, errOut, code := runResyn(t, db, append(args, "--max-tokens", "0")...); code != 1 || !strings.Contains(errOut, "--max-tokens 0: want at least 1") {
		t.Errorf("--max-tokens 0: exit %d\n%s", code, errOut)
	}
}
