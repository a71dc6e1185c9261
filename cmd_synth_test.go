package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"resyn/storage"
)

// TestSynthDemoCommand runs `resyn synth` as a new user without a key
// would: it plays the built-in recording, says so on stderr, stores the
// candidates and prints the table; `synth runs` lists the run and `envs
// list` the candidates.
func TestSynthDemoCommand(t *testing.T) {
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	db := filepath.Join(t.TempDir(), "resyn.db")
	out, errOut, code := runResyn(t, db, "synth", "--json", "-q")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "playing the recorded demo run") || !strings.Contains(errOut, "✓ candidate") {
		t.Errorf("stderr:\n%s", errOut)
	}
	var res struct {
		Run     uint64 `json:"run"`
		Summary struct {
			Ideas, Stored, Finished int
			Outcomes                map[string]int
		} `json:"summary"`
		Verdicts []struct{ Name, Outcome string } `json:"verdicts"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.Run != 1 || res.Summary.Ideas != 12 || res.Summary.Finished != 12 || res.Summary.Stored != 7 || len(res.Verdicts) != 12 ||
		res.Summary.Outcomes["refused"] != 1 || res.Summary.Outcomes["duplicate"] != 1 || res.Summary.Outcomes["invalid"] != 1 {
		t.Errorf("result %+v", res)
	}
	out, _, code = runResyn(t, db, "synth", "runs")
	if code != 0 || !strings.Contains(out, "done") || !strings.Contains(out, "replay") {
		t.Errorf("synth runs (exit %d):\n%s", code, out)
	}
	out, _, _ = runResyn(t, db, "envs", "list")
	if !strings.Contains(out, "gcd_pairs") || strings.Contains(out, "parity_guess") {
		t.Errorf("envs list:\n%s", out)
	}
	// Nothing left to resume; an unknown run is an error that says so.
	if _, errOut, code := runResyn(t, db, "synth", "--resume", "1"); code == 0 || !strings.Contains(errOut, "already finished") {
		t.Errorf("resume of a finished run: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runResyn(t, db, "synth", "--resume", "9"); code == 0 || !strings.Contains(errOut, "no such run") {
		t.Errorf("resume of no run: exit %d, %s", code, errOut)
	}
}

// closedURL is a loopback base URL where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String() + "/v1"
}

// An LLM server that is not there is reported at once on stderr (which URL,
// what error, that resyn retries and for how long at most), and the run
// fails after a few quick tries with an error naming the URL and how to fix
// it, instead of minutes of silent backoff.
func TestSynthUnreachableServer(t *testing.T) {
	base := closedURL(t)
	db := filepath.Join(t.TempDir(), "resyn.db")
	_, errOut, code := runResyn(t, db, "synth", "--provider", "openai", "--base-url", base, "--model", "m", "--n", "2", "--workers", "1")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"resyn: openai:m at " + base + ": attempt 1 failed: llm: server unreachable",
		"connection refused",
		"retrying in 250ms (2 more attempt(s) at most, over at most 1s)",
		"nothing answers at " + base + " (set by --base-url): start the server there, or point --base-url or OPENAI_BASE_URL at it",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// synthKillServer plays an OpenAI-compatible model for the kill test:
// ideation gets two ideas; implementation calls hang until release is
// closed, and then get prose without code.
type synthKillServer struct {
	srv     *httptest.Server
	hanging chan struct{} // gets a value when an implementation call hangs
	release chan struct{}
}

func newSynthKillServer(t *testing.T) *synthKillServer {
	s := &synthKillServer{hanging: make(chan struct{}, 16), release: make(chan struct{})}
	ideas := `[{"name":"quokka_ledger","description":"Balance a quokka's ledger of berries across seasons and report the surplus."},` +
		`{"name":"wombat_tunnels","description":"Count the distinct wombat tunnel routes between burrows under digging rules."}]`
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		text := ideas
		if !strings.Contains(string(body), "You design reasoning tasks") {
			select {
			case s.hanging <- struct{}{}:
			default:
			}
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
			text = "I would model the burrows as a graph and count paths, but I will not write it today."
		}
		b, _ := json.Marshal(text)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140}}`, b)
	}))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
	})
	return s
}

func synthRunUsage(t *testing.T, db string) (storage.RunStatus, storage.TokenUsage) {
	t.Helper()
	out, errOut, code := runResyn(t, db, "synth", "runs", "--json")
	var runs []storage.SynthRun
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 {
		t.Fatalf("synth runs: exit %d\n%s%s", code, out, errOut)
	}
	return runs[0].Status, runs[0].Usage
}

// The tokens a run spent before it was killed with SIGKILL are on record,
// and `--resume` adds to them.
func TestSynthUsageSurvivesKill(t *testing.T) {
	s := newSynthKillServer(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	cmd := exec.Command(resynBinary(t), "--db", db, "synth", "--provider", "openai", "--base-url", s.srv.URL+"/v1",
		"--model", "m", "--n", "2", "--parallel", "1", "--workers", "1", "--categories", "logic puzzles")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.hanging:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no implementation call came\n%s", errb.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred write runs
		t.Fatal(err)
	}
	cmd.Wait()
	status, u := synthRunUsage(t, db)
	// The killed run reads as interrupted (its process is gone), with what
	// it spent.
	if status != storage.RunInterrupted || u != (storage.TokenUsage{Requests: 1, InputTokens: 100, OutputTokens: 40}) {
		t.Fatalf("after kill -9: %s %+v\n%s", status, u, errb.String())
	}
	close(s.release)
	out, errOut, code := runResyn(t, db, "synth", "--resume", "1", "--base-url", s.srv.URL+"/v1", "--workers", "1")
	if code != 0 || !strings.Contains(out, "tokens       300 in + 120 out, 3 calls") {
		t.Fatalf("resume: exit %d\n%s%s", code, out, errOut)
	}
	if status, u = synthRunUsage(t, db); status != "done" || u != (storage.TokenUsage{Requests: 3, InputTokens: 300, OutputTokens: 120}) {
		t.Fatalf("after resume: %s %+v", status, u)
	}
}
