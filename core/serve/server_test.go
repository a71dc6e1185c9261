package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"testing"
	"time"

	"resyn/core/env"
	"resyn/core/export"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

// testModules loads the environments of testdata/ (add, slow).
func testModules(t testing.TB) map[string]*env.Module {
	t.Helper()
	out := map[string]*env.Module{}
	for _, name := range []string{"add", "slow"} {
		src, err := os.ReadFile(filepath.Join("testdata", name+".star"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := env.Load(name+".star", src)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = m
	}
	return out
}

// gated wraps an executor: Run waits for the gate to open (or for its
// context to end, answering "cancelled" as the pool does), so that tests
// can hold requests in flight.
type gated struct {
	env.Executor
	gate    chan struct{}
	entered chan struct{}
}

func (g *gated) Run(ctx context.Context, tasks []env.Task) []env.Result {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
		return g.Executor.Run(ctx, tasks)
	case <-ctx.Done():
		out := make([]env.Result, len(tasks))
		for i, t := range tasks {
			out[i] = env.Result{Err: &env.Error{Kind: env.FailWorker, Env: t.Env, Msg: "cancelled: " + ctx.Err().Error()}}
		}
		return out
	}
}

type fixture struct {
	srv  *Server
	http *httptest.Server
	mods map[string]*env.Module
	gate *gated
}

// newFixture serves testdata's environments in-process; tweak adjusts the
// options; with gate, scoring waits until the test opens it.
func newFixture(t *testing.T, withGate bool, tweak func(*Options)) *fixture {
	t.Helper()
	mods := testModules(t)
	lim := env.DefaultLimits()
	lim.Timeout, lim.Steps = 200*time.Millisecond, 1<<40
	var ex env.Executor = env.NewLocal(lim, 2)
	for _, m := range mods {
		ex.Register(m)
	}
	f := &fixture{mods: mods}
	if withGate {
		f.gate = &gated{Executor: ex, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
		ex = f.gate
	}
	opts := Options{Exec: ex, Envs: []*env.Module{mods["add"], mods["slow"]}}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	f.http = httptest.NewServer(s)
	t.Cleanup(func() {
		if f.gate != nil {
			select {
			case <-f.gate.gate:
			default:
				close(f.gate.gate)
			}
		}
		f.http.Close()
	})
	return f
}

func (f *fixture) post(t *testing.T, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/score", strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func (f *fixture) client() *Client { return &Client{URL: f.http.URL} }

// instance generates add's instance for seed, difficulty and its answer.
func instance(t *testing.T, m *env.Module, seed int64, difficulty int) (export.GroundTruth, string) {
	t.Helper()
	st, err := m.Generate(seed, difficulty, env.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ A, B int }
	json.Unmarshal(st, &v)
	return export.GroundTruth{Env: m.Name, Seed: seed, Difficulty: difficulty, Hash: m.Hash, State: st}, fmt.Sprint(v.A + v.B)
}

func TestScoreByInstanceAndGroundTruth(t *testing.T) {
	f := newFixture(t, false, nil)
	add := f.mods["add"]
	gt, sum := instance(t, add, 3, 4)
	items := []Item{
		ByInstance("add", 3, 4, "so <answer> "+sum+" </answer>"),
		ByInstance("add", 3, 4, "<answer>-1</answer>"),
		ByInstance("add", 3, 4, "no tags"),
		ByGroundTruth(gt.String(), "<answer>"+sum+"</answer>"),
		ByGroundTruth(gt.String(), "<answer>nope</answer>"),
		{GroundTruth: json.RawMessage(gt.String()), Completion: ptr("<answer>" + sum + "</answer>")},                               // the object itself
		ByGroundTruth(export.GroundTruth{Env: "add", Seed: 3, Difficulty: 4, Hash: add.Hash}.String(), "<answer>"+sum+"</answer>"), // no state: rebuilt
	}
	got, err := f.client().Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	want := []env.Reward{
		{Kind: env.KindOK, Score: 1, Answer: sum},
		{Kind: env.KindOK, Score: 0, Answer: "-1"},
		{Kind: env.KindFormat, Score: 0, Error: "no <answer>…</answer> block"},
		{Kind: env.KindOK, Score: 1, Answer: sum},
		{Kind: env.KindOK, Score: 0, Answer: "nope"},
		{Kind: env.KindOK, Score: 1, Answer: sum},
		{Kind: env.KindOK, Score: 1, Answer: sum},
	}
	for i := range want {
		if got[i].Reward != want[i] || got[i].Code != "" {
			t.Errorf("item %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// An empty batch is an empty answer.
	if got, err := f.client().Score(context.Background(), []Item{}); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v %v", got, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, false, func(o *Options) { o.MaxItems = 3; o.MaxBodyBytes = 4096 })
	ok := `{"env":"add","seed":1,"difficulty":1,"completion":"x"}`
	cases := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"not json", `{items:`, 400, "malformed JSON"},
		{"binary", "\x00\xff\xfe\x01garbage", 400, "malformed JSON"},
		{"empty", ``, 400, "empty body"},
		{"array", `[` + ok + `]`, 400, "malformed JSON"},
		{"trailing", `{"items":[]} {"items":[]}`, 400, "data after"},
		{"no items", `{}`, 400, `no "items"`},
		{"null items", `{"items":null}`, 400, `no "items"`},
		{"items twice", `{"items":[],"items":[]}`, 400, `"items" given twice`},
		{"items not array", `{"items":{"env":"add"}}`, 400, `"items" must be an array`},
		{"unknown top field", `{"items":[],"itmes":[]}`, 400, `unknown field "itmes"`},
		{"null item", `{"items":[null]}`, 400, `item 0: no "completion"`},
		{"unclosed", `{"items":[` + ok, 400, "malformed JSON"},
		{"unknown field", `{"items":[{"env":"add","seed":1,"difficulity":1,"completion":"x"}]}`, 400, "difficulity"},
		{"no completion", `{"items":[{"env":"add","seed":1,"difficulty":1}]}`, 400, "item 0: no \"completion\""},
		{"no seed", `{"items":[` + ok + `,{"env":"add","difficulty":1,"completion":"x"}]}`, 400, "item 1: no \"seed\""},
		{"no difficulty", `{"items":[{"env":"add","seed":1,"completion":"x"}]}`, 400, "no \"difficulty\""},
		{"no env", `{"items":[{"seed":1,"difficulty":1,"completion":"x"}]}`, 400, "no \"env\""},
		{"both", `{"items":[{"env":"add","ground_truth":"{}","completion":"x"}]}`, 400, "not both"},
		{"wrong type", `{"items":[{"env":"add","seed":"one","difficulty":1,"completion":"x"}]}`, 400, "malformed JSON"},
		{"too many", `{"items":[` + strings.Repeat(ok+",", 3) + ok + `]}`, 413, "more than the 3 allowed"},
		{"too big", `{"items":[{"env":"add","seed":1,"difficulty":1,"completion":"` + strings.Repeat("a", 5000) + `"}]}`, 413, "more than the 4096"},
	}
	for _, c := range cases {
		res, body := f.post(t, c.body)
		var eb errorBody
		if err := json.Unmarshal(body, &eb); err != nil || eb.Error == "" {
			t.Errorf("%s: error body %q is not {\"error\":…}", c.name, body)
		}
		if res.StatusCode != c.code || !strings.Contains(eb.Error, c.msg) {
			t.Errorf("%s: %d %s, want %d containing %q", c.name, res.StatusCode, body, c.code, c.msg)
		}
	}
	// A body larger than the limit without a Content-Length (chunked) is
	// cut off while reading.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(`{"items":[{"env":"add","seed":1,"difficulty":1,"completion":"`))
		pw.Write(bytes.Repeat([]byte("a"), 8192))
		pw.Write([]byte(`"}]}`))
		pw.Close()
	}()
	res, err := http.Post(f.http.URL+"/score", "application/json", pr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Fatalf("chunked oversized body: %d", res.StatusCode)
	}
	// Wrong methods.
	res, err = http.Get(f.http.URL + "/score")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 || res.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /score: %d %v", res.StatusCode, res.Header)
	}
}

func TestUnknownEnvChangedEnvAndBadGroundTruth(t *testing.T) {
	f := newFixture(t, false, nil)
	add := f.mods["add"]
	gt, sum := instance(t, add, 1, 2)
	changed := gt
	changed.Hash = "0123456789abcdef"
	foreign := gt
	foreign.Env = "maze"
	items := []Item{
		ByInstance("no_such_env", 1, 1, "<answer>1</answer>"),
		ByGroundTruth(changed.String(), "<answer>"+sum+"</answer>"),
		ByGroundTruth(foreign.String(), "<answer>"+sum+"</answer>"),
		ByGroundTruth(`{"resyn":1,"env":"add"}`, "<answer>1</answer>"),
		ByGroundTruth("the answer is 42", "<answer>42</answer>"),
		{Env: "add", Seed: ptr(int64(1)), Difficulty: ptr(2), EnvHash: "0123456789abcdef", Completion: ptr("<answer>" + sum + "</answer>")},
		{Env: "add", Seed: ptr(int64(1)), Difficulty: ptr(2), EnvHash: add.Hash, Completion: ptr("<answer>" + sum + "</answer>")},
	}
	got, err := f.client().Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ kind, code, msg string }{
		{"env_error", CodeUnknownEnv, `"no_such_env" is not served`},
		{"env_error", CodeEnvChanged, "add was exported at version 0123456789abcdef and is now " + add.Hash},
		{"env_error", CodeUnknownEnv, `"maze"`},
		{"env_error", CodeBadGroundTruth, `no "env_hash"`},
		{"env_error", CodeBadGroundTruth, "want a JSON object written by `resyn export`"},
		{"env_error", CodeEnvChanged, "environment changed"},
		{"ok", "", ""},
	}
	for i, w := range want {
		g := got[i]
		if string(g.Kind) != w.kind || g.Code != w.code || !strings.Contains(g.Error, w.msg) || g.Score != 0 && w.kind != "ok" {
			t.Errorf("item %d: %+v, want kind %s code %s error containing %q", i, g, w.kind, w.code, w.msg)
		}
	}
	if got[6].Score != 1 {
		t.Errorf("matching env_hash: %+v", got[6])
	}
}

func TestHostileCompletions(t *testing.T) {
	f := newFixture(t, false, nil)
	_, sum := instance(t, f.mods["add"], 5, 3)
	huge := strings.Repeat("<answer>", 50_000) + strings.Repeat("x", 1<<20) + "<answer>" + sum + "</answer>"
	items := []Item{
		ByInstance("add", 5, 3, huge),
		ByInstance("add", 5, 3, "\x00\xff\xfe binary \x1b[2J <answer>"+sum+"\x00</answer>"),
		ByInstance("add", 5, 3, "<answer><answer>"+sum+"</answer></answer>"),
		ByInstance("add", 5, 3, "<ANSWER>"+sum+"</Answer>"),
		ByInstance("add", 5, 3, "<answer>"+strings.Repeat("9", 100_000)+"</answer>"),
		ByInstance("add", 5, 3, strings.Repeat("</answer>", 100_000)),
		ByInstance("add", 5, 3, "<answer>"+sum),
	}
	got, err := f.client().Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	// Item 4's answer is over the cap: a format failure, never a cut answer.
	kinds := []env.Kind{env.KindOK, env.KindOK, env.KindOK, env.KindOK, env.KindFormat, env.KindFormat, env.KindFormat}
	scores := []float64{1, 0, 0, 1, 0, 0, 0}
	for i, g := range got {
		if g.Kind != kinds[i] || g.Score != scores[i] || len(g.Answer) > env.MaxAnswerBytes {
			t.Errorf("item %d: kind %s score %g answer of %d bytes, want kind %s score %g", i, g.Kind, g.Score, len(g.Answer), kinds[i], scores[i])
		}
	}
	if got[1].Answer != sum+"\x00" {
		t.Errorf("answer with a NUL came back as %q", got[1].Answer)
	}
	// Invalid UTF-8 inside a JSON string (which a Go client cannot send)
	// becomes U+FFFD, and the answer is still valid JSON.
	res, body := f.post(t, "{\"items\":[{\"env\":\"add\",\"seed\":5,\"difficulty\":3,\"completion\":\"\xff\xfe<answer>"+sum+"\xc3</answer>\"}]}")
	var resp Response
	if err := json.Unmarshal(body, &resp); res.StatusCode != 200 || err != nil || resp.Rewards[0].Answer != sum+"\ufffd" {
		t.Errorf("invalid UTF-8: %d %s", res.StatusCode, body)
	}
}

func TestItemTimeoutAndRequestDeadline(t *testing.T) {
	f := newFixture(t, false, nil)
	got, err := f.client().Score(context.Background(), []Item{
		ByInstance("slow", 1, 1, "<answer>1</answer>"),
		ByInstance("add", 1, 1, "<answer>1</answer>"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Kind != env.KindTimeout || got[1].Kind != env.KindOK {
		t.Fatalf("per-item timeout: %+v", got)
	}
	g := newFixture(t, true, func(o *Options) { o.RequestTimeout = 50 * time.Millisecond })
	got, err = g.client().Score(context.Background(), []Item{ByInstance("add", 1, 1, "<answer>1</answer>"), ByInstance("add", 1, 1, "none")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Kind != env.KindTimeout || !strings.Contains(got[0].Error, "request deadline") || got[1].Kind != env.KindFormat {
		t.Fatalf("request deadline: %+v", got)
	}
}

func TestQueueFullAnswers503(t *testing.T) {
	f := newFixture(t, true, func(o *Options) { o.MaxQueued, o.MaxItems, o.RetryAfter = 4, 4, 1500*time.Millisecond })
	items := []Item{ByInstance("add", 1, 1, "<answer>1</answer>"), ByInstance("add", 2, 1, "<answer>1</answer>"), ByInstance("add", 3, 1, "<answer>1</answer>")}
	done := make(chan error, 1)
	go func() { _, err := f.client().Score(context.Background(), items); done <- err }()
	<-f.gate.entered // three items are queued now
	_, err := f.client().Score(context.Background(), items[:2])
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 503 || se.RetryAfter != "2" || !strings.Contains(se.Msg, "queue is full") {
		t.Fatalf("second request: %v", err)
	}
	// Items that are refused at once (unknown environment) take no room.
	if got, err := f.client().Score(context.Background(), []Item{ByInstance("nope", 1, 1, "x"), ByInstance("add", 1, 1, "no tags")}); err != nil || got[0].Code != CodeUnknownEnv {
		t.Fatalf("refused items: %v %v", got, err)
	}
	close(f.gate.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.client().Score(context.Background(), items); err != nil {
		t.Fatalf("after the queue drained: %v", err)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	mods := testModules(t)
	lim := env.DefaultLimits()
	local := env.NewLocal(lim, 1)
	local.Register(mods["add"])
	g := &gated{Executor: local, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	s, err := New(Options{Exec: g, Envs: []*env.Module{mods["add"]}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 30*time.Second) }()
	c := &Client{URL: "http://" + ln.Addr().String()}
	_, sum := instance(t, mods["add"], 9, 2)
	type answer struct {
		r   []Reward
		err error
	}
	inflight := make(chan answer, 1)
	go func() {
		r, err := c.Score(context.Background(), []Item{ByInstance("add", 9, 2, "<answer>"+sum+"</answer>")})
		inflight <- answer{r, err}
	}()
	<-g.entered
	cancel() // what SIGTERM does in `resyn serve`
	// The listener closes: new connections are refused…
	for {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		conn.Close()
		time.Sleep(5 * time.Millisecond)
	}
	// …but Serve waits for the request in flight.
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	if !s.draining.Load() {
		t.Fatal("not draining")
	}
	close(g.gate)
	a := <-inflight
	if a.err != nil || a.r[0].Kind != env.KindOK || a.r[0].Score != 1 {
		t.Fatalf("in-flight request: %+v %v", a.r, a.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	f := newFixture(t, false, func(o *Options) { o.Token = "s3cret-token-of-some-length" })
	body := `{"items":[{"env":"add","seed":1,"difficulty":1,"completion":"x"}]}`
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret-token-of-some-length"}} {
		res, b := f.post(t, body, h...)
		if res.StatusCode != 401 || !strings.Contains(res.Header.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(string(b), "bearer token") {
			t.Errorf("header %v: %d %s", h, res.StatusCode, b)
		}
	}
	if res, b := f.post(t, body, "Authorization", "Bearer s3cret-token-of-some-length"); res.StatusCode != 200 {
		t.Fatalf("right token: %d %s", res.StatusCode, b)
	}
	for path, want := range map[string]int{"/healthz": 200, "/envs": 401, "/metrics": 401} {
		res, err := http.Get(f.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s without token: %d, want %d", path, res.StatusCode, want)
		}
	}
	c := f.client()
	c.Token = "s3cret-token-of-some-length"
	if _, err := c.Score(context.Background(), []Item{ByInstance("add", 1, 1, "x")}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckBind(t *testing.T) {
	for addr, needs := range map[string]bool{
		"127.0.0.1:8700": false, "127.1.2.3:80": false, "[::1]:8700": false, "localhost:8700": false,
		"0.0.0.0:8700": true, ":8700": true, "10.0.0.5:8700": true, "[::]:8700": true, "example.org:8700": true,
	} {
		err := CheckBind(addr, "")
		if needs != errors.Is(err, ErrTokenRequired) {
			t.Errorf("%s: %v", addr, err)
		}
		if err := CheckBind(addr, "tok"); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	if err := CheckBind("no-port", ""); !errors.Is(err, ErrOptions) {
		t.Errorf("bad address: %v", err)
	}
}

func TestEnvsAndHealth(t *testing.T) {
	f := newFixture(t, false, nil)
	res, err := http.Get(f.http.URL + "/envs")
	if err != nil {
		t.Fatal(err)
	}
	var envs struct{ Envs []envInfo }
	json.NewDecoder(res.Body).Decode(&envs)
	res.Body.Close()
	if len(envs.Envs) != 2 || envs.Envs[0].Name != "add" || envs.Envs[0].Hash != f.mods["add"].Hash || envs.Envs[0].DataSource != "resyn/add" || envs.Envs[0].MaxDifficulty != 10 {
		t.Fatalf("/envs: %+v", envs)
	}
	res, err = http.Get(f.http.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"status":"ok"`) {
		t.Fatalf("/healthz: %d %s", res.StatusCode, b)
	}
	f.srv.draining.Store(true)
	res, _ = http.Get(f.http.URL + "/healthz")
	res.Body.Close()
	r2, _ := f.post(t, `{"items":[]}`)
	if res.StatusCode != 503 || r2.StatusCode != 503 || r2.Header.Get("Retry-After") == "" {
		t.Fatalf("draining: /healthz %d, /score %d", res.StatusCode, r2.StatusCode)
	}
}

// promLine is one sample line of the Prometheus text format.
var promLine = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? [-+]?([0-9.eE+-]+|Inf|NaN)$`)

func TestMetricsPrometheusText(t *testing.T) {
	f := newFixture(t, false, nil)
	c := f.client()
	c.Score(context.Background(), []Item{ByInstance("add", 1, 1, "<answer>0</answer>"), ByInstance("add", 1, 1, "x"), ByInstance("zzz", 1, 1, "x")})
	f.post(t, `{bad`)
	http.Get(f.http.URL + "/nowhere")
	res, err := http.Get(f.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	samples := map[string]string{}
	typed := map[string]bool{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# TYPE ") {
			typed[strings.Fields(line)[2]] = true
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		if !promLine.MatchString(line) {
			t.Fatalf("not a Prometheus sample line: %q", line)
		}
		i := strings.LastIndex(line, " ")
		samples[line[:i]] = line[i+1:]
		name := line[:strings.IndexAny(line+"{", "{ ")]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !typed[name] && !typed[base] {
			t.Fatalf("sample %s before its # TYPE", name)
		}
	}
	for series, want := range map[string]int{
		`resyn_serve_scores_total{env="add",kind="ok",code=""}`:                     1,
		`resyn_serve_scores_total{env="add",kind="format",code=""}`:                 1,
		`resyn_serve_scores_total{env="other",kind="env_error",code="unknown_env"}`: 1,
		`resyn_serve_requests_total{path="/score",code="200"}`:                      1,
		`resyn_serve_requests_total{path="/score",code="400"}`:                      1,
		`resyn_serve_requests_total{path="other",code="404"}`:                       1,
		`resyn_serve_score_seconds_count`:                                           1,
		`resyn_serve_score_seconds_bucket{le="+Inf"}`:                               1,
		`resyn_serve_items_total`:                                                   3,
		`resyn_serve_queued_items`:                                                  0,
		`resyn_serve_queue_capacity`:                                                16384,
	} {
		if samples[series] != fmt.Sprint(want) {
			t.Errorf("%s = %q, want %v", series, samples[series], want)
		}
	}
}

// FuzzScoreBody: whatever the body, the server answers 200, 400 or 413
// with JSON, and a 200 has one reward per item.
func FuzzScoreBody(f *testing.F) {
	f.Add([]byte(`{"items":[{"env":"add","seed":1,"difficulty":1,"completion":"<answer>2</answer>"}]}`))
	f.Add([]byte(`{"items":[{"ground_truth":"{\"resyn\":1,\"env\":\"add\",\"env_hash\":\"x\"}","completion":""}]}`))
	f.Add([]byte(`{"items":[{"env":"add","seed":-9223372036854775808,"difficulty":2147483647,"completion":"<answer></answer>"}]}`))
	mods := testModules(f)
	ex := env.NewLocal(env.DefaultLimits(), 1)
	ex.Register(mods["add"])
	s, err := New(Options{Exec: ex, Envs: []*env.Module{mods["add"]}, MaxBodyBytes: 1 << 16, MaxItems: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/score", bytes.NewReader(body)))
		switch rec.Code {
		case 200:
			var req Request
			json.Unmarshal(body, &req)
			var resp Response
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Rewards) != len(req.Items) {
				t.Fatalf("200 with %d rewards for %d items: %v", len(resp.Rewards), len(req.Items), err)
			}
		case 400, 413:
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == "" {
				t.Fatalf("%d without an error body: %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

func ExampleCheckBind() {
	fmt.Println(CheckBind("127.0.0.1:8700", ""))
	fmt.Println(CheckBind("0.0.0.0:8700", "") != nil)
	fmt.Println(CheckBind("0.0.0.0:8700", "a-long-random-token"))
	// Output:
	// <nil>
	// true
	// <nil>
}
