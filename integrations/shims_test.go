package integrations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// rewardServer plays `resyn serve`'s POST /score: each item's completion
// "<answer>ok</answer>" is kind ok with score 1, "fail" is env_error, and
// anything else is format. The first len(fail) requests get those statuses
// instead (with Retry-After headers), as a proxy or a full queue would.
type rewardServer struct {
	mu       sync.Mutex
	fail     []failure
	requests [][]map[string]any
}

type failure struct {
	status     int
	retryAfter string
}

func (s *rewardServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items []map[string]any `json:"items"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &body)
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, body.Items)
	s.mu.Unlock()
	if n < len(s.fail) {
		f := s.fail[n]
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.WriteHeader(f.status)
		fmt.Fprintf(w, `{"error":"scripted %d"}`, f.status)
		return
	}
	var out []map[string]any
	for _, it := range body.Items {
		switch it["completion"] {
		case "<answer>ok</answer>":
			out = append(out, map[string]any{"kind": "ok", "score": 1.0, "answer": "ok"})
		case "fail":
			out = append(out, map[string]any{"kind": "env_error", "score": 0.0, "error": "x.verify (line 3): boom"})
		default:
			out = append(out, map[string]any{"kind": "format", "score": 0.0, "error": "no <answer>…</answer> block"})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"rewards": out})
}

func (s *rewardServer) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, r := range s.requests {
		n = append(n, len(r))
	}
	return n
}

// runPython runs a harness with python3 (standard library only) and the
// shims' paths, decoding its JSON on stdout; stderr comes back too.
func runPython(t *testing.T, env []string, harness string, args ...string) (map[string]json.RawMessage, string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("the Python shims need python3 on PATH (Debian: apt-get install python3): %v", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "harness.py")
	os.WriteFile(file, []byte(harness), 0o644)
	verl, _ := filepath.Abs(filepath.Join("verl", "resyn_reward.py"))
	trl, _ := filepath.Abs(filepath.Join("trl", "resyn_reward.py"))
	cmd := exec.Command(py, append([]string{file, verl, trl}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 harness: %v\n%s%s", err, out.String(), errb.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("harness output: %v\n%s", err, out.String())
	}
	return got, errb.String()
}

const loadShims = `
import asyncio, importlib.util, json, os, sys, types

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

verl = load("resyn_verl", sys.argv[1])
trl_shim = load("resyn_trl", sys.argv[2])
`

func longSuite(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite (python3 against a local server); set RESYN_LONG=1")
	}
}

// TestShimsRetryTransientStatuses: 502 and 504 (a proxy in front of the
// server), 429 and 503 are retried, with Retry-After as seconds or as an
// HTTP date (which the shims used to crash on); a 400 is not.
func TestShimsRetryTransientStatuses(t *testing.T) {
	longSuite(t)
	for _, shim := range []string{"verl", "trl"} {
		s := &rewardServer{fail: []failure{{502, ""}, {504, "Wed, 21 Oct 2015 07:28:00 GMT"}, {503, "0"}, {429, "Thu, 01 Jan 2037 00:00:00 GMT"}}}
		srv := httptest.NewServer(s)
		call := map[string]string{
			"verl": `verl.compute_score("resyn/x", "<answer>ok</answer>", "{}")`,
			"trl":  `trl_shim.resyn_reward(["<answer>ok</answer>"], ["{}"])`,
		}[shim]
		// The 429's date is years away: the wait is capped, and the harness
		// replaces time.sleep to record it instead of sleeping.
		got, _ := runPython(t, []string{"RESYN_URL=" + srv.URL}, loadShims+`
slept = []
for m in (verl, trl_shim):
    m.time.sleep = lambda s: slept.append(s)
out = {"result": `+call+`, "slept": slept}
try:
    verl.score_items([{"ground_truth": "{}", "completion": "x"}], url=sys.argv[3] + "/bad")
except verl.ResynError as e:
    out["bad"] = str(e)
json.dump(out, sys.stdout)
`, srv.URL)
		srv.Close()
		var slept []float64
		json.Unmarshal(got["slept"], &slept)
		if n := len(s.sizes()); n < 5 || len(slept) != 4 || slept[0] != 0.5 || slept[1] != 0 || slept[2] != 0 || slept[3] != 300 {
			t.Errorf("%s: %d requests, waits %v (want 0.5 backoff, 0 for a past date, 0, 300 for a far date)", shim, n, slept)
		}
		want := map[string]string{"verl": `{"score": 1.0, "resyn_valid": 1.0}`, "trl": `[1.0]`}[shim]
		if string(got["result"]) != want {
			t.Errorf("%s: result %s, want %s", shim, got["result"], want)
		}
	}
	// A status that retrying cannot fix is raised at once.
	s := &rewardServer{fail: []failure{{400, ""}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	got, _ := runPython(t, []string{"RESYN_URL=" + srv.URL}, loadShims+`
try:
    verl.compute_score("resyn/x", "<answer>ok</answer>", "{}")
    out = "no error"
except verl.ResynError as e:
    out = str(e)
json.dump({"err": out}, sys.stdout)
`)
	if !strings.Contains(string(got["err"]), "HTTP 400: scripted 400") || len(s.sizes()) != 1 {
		t.Errorf("400: %s after %d requests", got["err"], len(s.sizes()))
	}
}

// TestRetryAfterParsing covers the header's forms in both shims.
func TestRetryAfterParsing(t *testing.T) {
	longSuite(t)
	got, _ := runPython(t, nil, loadShims+`
from datetime import datetime, timezone
now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
cases = ["2", "1.5", "-3", "1e9", "nan", "Thu, 01 Jan 2026 12:00:07 GMT", "Thu, 01 Jan 2026 11:00:00 GMT", "soon", "", None]
json.dump({"verl": [verl.retry_after(c, 9.0, now) for c in cases], "trl": [trl_shim.retry_after(c, 9.0, now) for c in cases]}, sys.stdout)
`)
	want := "[2.0, 1.5, 0.0, 300.0, 9.0, 7.0, 0.0, 9.0, 9.0, 9.0]"
	if string(got["verl"]) != want || string(got["trl"]) != want {
		t.Errorf("retry_after:\n verl %s\n  trl %s\n want %s", got["verl"], got["trl"], want)
	}
}

// fakeVerl is the part of verl's API the shim calls for other data
// sources: verl.utils.reward_score.default_compute_score (gsm8k: 1.0 when
// the ground truth ends the solution; an unknown source raises
// NotImplementedError, as verl's does).
const fakeVerl = `
def default_compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    if data_source == "openai/gsm8k":
        return 1.0 if solution_str.strip().endswith(ground_truth) else 0.0
    if data_source == "math_dapo":
        return {"score": -1.0, "acc": False, "pred": "x"}
    raise NotImplementedError(f"Reward function is not implemented for {data_source=}")
`

// TestVerlShimMixedDataSources: rows of other datasets go to verl's
// default_compute_score and never to the server, in every entry point;
// the async entry point sends concurrent resyn calls in one request.
func TestVerlShimMixedDataSources(t *testing.T) {
	longSuite(t)
	s := &rewardServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	pkg := t.TempDir()
	os.MkdirAll(filepath.Join(pkg, "verl", "utils", "reward_score"), 0o755)
	os.WriteFile(filepath.Join(pkg, "verl", "__init__.py"), []byte(`__version__ = "0.7.0"`), 0o644)
	os.WriteFile(filepath.Join(pkg, "verl", "utils", "__init__.py"), nil, 0o644)
	os.WriteFile(filepath.Join(pkg, "verl", "utils", "reward_score", "__init__.py"), []byte(fakeVerl), 0o644)
	got, errOut := runPython(t, []string{"RESYN_URL=" + srv.URL, "PYTHONPATH=" + pkg}, loadShims+`
sources = ["resyn/a", "openai/gsm8k", "resyn/b", "math_dapo", "resyn/c", "openai/gsm8k"]
sols = ["<answer>ok</answer>", "so 42", "fail", "x", "no tags", "so 41"]
gts = ["{}", "42", {"resyn": 1}, "1", "{}", "42"]
out = {"single": [verl.compute_score(d, s, g) for d, s, g in zip(sources, sols, gts)]}
out["batch"] = verl.compute_score_batch(sources, sols, gts, [{}] * len(sources))

async def together():
    return await asyncio.gather(*[verl.compute_score_async(d, s, g, {}) for d, s, g in zip(sources, sols, gts)])
out["async"] = asyncio.run(together())
try:
    verl.compute_score("lighteval/unknown", "x", "y")
    out["unknown"] = "no error"
except NotImplementedError as e:
    out["unknown"] = str(e)
json.dump(out, sys.stdout)
`)
	want := `[{"score": 1.0, "resyn_valid": 1.0}, {"score": 1.0, "resyn_valid": 1.0}, {"score": 0.0, "resyn_valid": 0.0}, {"score": -1.0, "resyn_valid": 1.0}, {"score": 0.0, "resyn_valid": 1.0}, {"score": 0.0, "resyn_valid": 1.0}]`
	for _, k := range []string{"single", "batch", "async"} {
		if string(got[k]) != want {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], want)
		}
	}
	// single: 3 requests of 1; batch: 1 of 3; async: 1 of 3. The other
	// datasets' rows never reach the server.
	if sizes := fmt.Sprint(s.sizes()); sizes != "[1 1 1 3 3]" {
		t.Errorf("request sizes %s, want [1 1 1 3 3]", sizes)
	}
	if !strings.Contains(string(got["unknown"]), "not implemented for data_source='lighteval/unknown'") {
		t.Errorf("a source verl does not know either: %s", got["unknown"])
	}
	if !strings.Contains(errOut, "item not scored (env_error): x.verify (line 3): boom") {
		t.Errorf("stderr: %s", errOut)
	}
}

// TestTRLShimNoneSemantics: the reward of an item the environment failed
// on, and the warning, for each TRL generation (a module "trl" with its
// __version__ stands for the installed one).
func TestTRLShimNoneSemantics(t *testing.T) {
	longSuite(t)
	s := &rewardServer{}
	srv := httptest.NewServer(s)
	defer srv.Close()
	for version, want := range map[string]struct {
		rewards, warn string
	}{
		"1.9.0":  {"[1.0, null, 0.0]", ""},
		"1.6.0":  {"[1.0, null, 0.0]", ""},
		"1.5.1":  {"[1.0, null, 0.0]", "TRL 1.5.1 turns a None reward into 0"},
		"0.16.0": {"[1.0, null, 0.0]", "TRL 0.16.0 turns a None reward into 0"},
		"0.15.2": {"[1.0, 0.0, 0.0]", "TRL 0.15.2 does not accept a None reward"},
	} {
		got, errOut := runPython(t, []string{"RESYN_URL=" + srv.URL}, `
import sys, types
sys.modules["trl"] = types.SimpleNamespace(__version__=sys.argv[3])
`+loadShims+`
r = trl_shim.resyn_reward(["<answer>ok</answer>", [{"role": "assistant", "content": "fail"}], "x"], ["{}", "{}", {"resyn": 1}])
r2 = trl_shim.resyn_reward(["fail"], ["{}"])
json.dump({"rewards": r, "semantics": trl_shim.trl_none_semantics()}, sys.stdout)
`, version)
		if string(got["rewards"]) != want.rewards {
			t.Errorf("TRL %s: rewards %s, want %s", version, got["rewards"], want.rewards)
		}
		if want.warn == "" && errOut != "" || want.warn != "" && (!strings.Contains(errOut, want.warn) || strings.Count(errOut, "resyn: TRL") != 1) {
			t.Errorf("TRL %s: stderr %q, want one warning %q", version, errOut, want.warn)
		}
	}
	got, _ := runPython(t, nil, loadShims+`
json.dump({"none": trl_shim.trl_none_semantics(), "dev": trl_shim.trl_none_semantics("1.6.0.dev0"), "rc": trl_shim.trl_none_semantics("1.5.0rc1")}, sys.stdout)
`)
	if string(got["none"]) != `"unknown"` || string(got["dev"]) != `"excluded"` || string(got["rc"]) != `"zero"` {
		t.Errorf("trl_none_semantics: %v", got)
	}
}

// TestShimsShareOneHTTPClient: the two shims are copied alone into other
// projects, so each carries the client; this keeps the copies identical.
func TestShimsShareOneHTTPClient(t *testing.T) {
	client := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i, j := strings.Index(s, "def score_items("), strings.Index(s, "    raise ResynError(\"unreachable\")")
		if i < 0 || j < i {
			t.Fatalf("%s: no HTTP client found", path)
		}
		return s[i:j]
	}
	if client(filepath.Join("verl", "resyn_reward.py")) != client(filepath.Join("trl", "resyn_reward.py")) {
		t.Error("the HTTP clients of the verl and TRL shims differ; keep them identical")
	}
}
