package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"resyn/core/validate"
)

// TestValidateWithJudge: `envs validate --judge` has a model on a local
// OpenAI-compatible server review the file, records the call with
// --record, and the recording replays the same verdict with --provider
// replay and no server.
func TestValidateWithJudge(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	file := filepath.Join(dir, "parity.star")
	if err := os.WriteFile(file, []byte(parityEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	verdict := `{"reference_free": {"ok": true, "why": "computes parity"}, "complete": {"ok": true, "why": "one word"}, "difficulty_scales": {"ok": false, "why": "parity of a longer number is not harder"}, "well_specified": {"ok": true, "why": "clear"}, "no_loophole": {"ok": true, "why": "exact match"}, "problems": ["difficulty only adds digits"]}`
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "difficulty_scales") || !strings.Contains(string(body), "def verify(state, answer)") {
			t.Errorf("the judge's request lacks the questions or the code")
		}
		calls.Add(1)
		b, _ := json.Marshal(verdict)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":900,"completion_tokens":80,"total_tokens":980}}`, b)
	}))
	defer srv.Close()
	rec := filepath.Join(dir, "judge.jsonl")
	check := func(out string) {
		t.Helper()
		var reps []validate.Report
		if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
			t.Fatalf("reports: %v\n%s", err, out)
		}
		c, ok := reps[0].Check(validate.CheckJudge)
		if !ok || c.OK || reps[0].OK || !strings.Contains(strings.Join(c.Failures, "\n"), "difficulty_scales: no") || len(reps[0].Judge) == 0 {
			t.Fatalf("judge check %+v (report ok %v)", c, reps[0].OK)
		}
	}
	out, errOut, code := runResyn(t, db, "envs", "validate", "--seeds", "3", "--json", "--judge",
		"--provider", "openai", "--base-url", srv.URL+"/v1", "--model", "m", "--api-key", "k", "--record", rec, file)
	if code != 1 || calls.Load() != 1 || !strings.Contains(errOut, "judge openai:m: 1 calls") {
		t.Fatalf("exit %d, %d calls\n%s", code, calls.Load(), errOut)
	}
	check(out)
	out, errOut, code = runResyn(t, db, "envs", "validate", "--seeds", "3", "--json", "--judge", "--provider", "replay", "--replay", rec, file)
	if code != 1 || calls.Load() != 1 {
		t.Fatalf("replay: exit %d, %d calls\n%s", code, calls.Load(), errOut)
	}
	check(out)
	// No model named: a clear refusal, not the synthesis demo.
	if _, errOut, code := runResyn(t, db, "envs", "validate", "--judge", "--provider", "replay", file); code == 0 || !strings.Contains(errOut, "--judge needs a model") {
		t.Errorf("--judge with the demo recording: exit %d\n%s", code, errOut)
	}
}

// TestEnvsAddRefusesATakenName: `envs add` of a file whose NAME a
// built-in has is refused unless --replace.
func TestEnvsAddRefusesATakenName(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	file := filepath.Join(dir, "gc.star")
	mine := strings.Replace(parityEnv, `NAME = "parity"`, `NAME = "graph_coloring"`, 1)
	if err := os.WriteFile(file, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runResyn(t, db, "envs", "add", "--seeds", "3", file); code == 0 || !strings.Contains(errOut, "belongs to a built-in") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runResyn(t, db, "envs", "add", "--seeds", "3", "--replace", file); code != 0 {
		t.Fatalf("--replace: exit %d\n%s", code, errOut)
	}
}
