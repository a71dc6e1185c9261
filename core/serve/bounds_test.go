package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"resyn/core/dataset"
	"resyn/core/env"
)

// endlessBody is a request body that never ends: the head, then the item
// again and again. read counts the bytes the server took.
type endlessBody struct {
	head, item string
	read       int
	buf        []byte
}

func (e *endlessBody) Read(p []byte) (int, error) {
	if e.buf == nil {
		e.buf = []byte(e.head)
	}
	for len(e.buf) < len(p) {
		e.buf = append(e.buf, e.item...)
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	e.read += n
	return n, nil
}

func (e *endlessBody) Close() error { return nil }

// Items are counted as the body streams: past --max-items the request is
// refused at once, having read about MaxItems items — not the whole body
// (a 63 MB body of 22 million items used to be decoded first: 4.95 GB).
func TestItemsCountedWhileTheBodyStreams(t *testing.T) {
	f := newFixture(t, false, func(o *Options) { o.MaxItems, o.MaxBodyBytes = 100, 1<<30 })
	for _, c := range []struct {
		name, item string
		code       int
		most       int // items' worth of bytes the server may read
	}{
		{"valid items", `{"env":"add","seed":1,"difficulty":1,"completion":"<answer>2</answer>"},`, 413, 101},
		{"unknown environments", `{"env":"nope","seed":1,"difficulty":1,"completion":""},`, 413, 101},
		{"empty objects", `{},`, 400, 1},
	} {
		body := &endlessBody{head: `{"items":[`, item: c.item}
		req := httptest.NewRequest(http.MethodPost, "/score", body)
		req.ContentLength = -1 // chunked: no length to refuse by
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		limit := c.most*len(c.item) + 64<<10 // and the decoder's read-ahead
		if rec.Code != c.code || body.read > limit {
			t.Errorf("%s: %d %s after reading %d bytes; want %d after at most %d", c.name, rec.Code, rec.Body, body.read, c.code, limit)
		}
	}
	if q := f.srv.queued.Load(); q != 0 || f.srv.inBodies.Load() != 0 {
		t.Fatalf("%d items, %d body bytes still held after the refusals", q, f.srv.inBodies.Load())
	}
}

// The memory of bodies held at once is bounded over all requests: a request
// that would pass MaxBodyTotal gets 503 with Retry-After — by its
// Content-Length before it is read, or as soon as its chunked body passes —
// and the budget comes back when the request ends. An unfinished item is
// charged three times its size (the decoder's buffer), so an endless string
// is refused after a third of what is left.
func TestBodyBytesBoundedAcrossRequests(t *testing.T) {
	f := newFixture(t, true, func(o *Options) { o.MaxBodyBytes, o.MaxBodyTotal = 64<<10, 192<<10 })
	big := func(n int) string {
		return `{"items":[{"env":"add","seed":1,"difficulty":1,"completion":"<answer>` + strings.Repeat("1", n) + `</answer>"}]}`
	}
	held := make(chan error, 3)
	for i := range 3 { // three requests of 60 KiB each in flight, of small items
		var items []Item
		for k := range 550 {
			items = append(items, ByInstance("add", int64(i*1000+k), 1, "thinking hard<answer>1</answer>"))
		}
		go func() { _, err := f.client().Score(context.Background(), items); held <- err }()
		<-f.gate.entered
	}
	first := f.srv.inBodies.Load()
	if first < 170<<10 || first > 190<<10 {
		t.Fatalf("%d body bytes held by the requests in flight", first)
	}
	res, b := f.post(t, big(40<<10))
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "bytes of request bodies") {
		t.Fatalf("a fourth body by Content-Length: %d %s", res.StatusCode, b)
	}
	body := &endlessBody{head: big(40 << 10)[:100], item: "1"}
	req := httptest.NewRequest(http.MethodPost, "/score", body)
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	left := 192<<10 - first
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || int64(body.read) > left/3+4096 {
		t.Fatalf("a fourth, chunked body of an endless string: %d %s after %d bytes (%d of the budget left)", rec.Code, rec.Body, body.read, left)
	}
	if got := f.srv.inBodies.Load(); got != first { // the refused ones gave theirs back
		t.Fatalf("%d body bytes held after the refusals, %d before", got, first)
	}
	close(f.gate.gate)
	for range 3 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	if res, b := f.post(t, big(40<<10)); res.StatusCode != 200 || f.srv.inBodies.Load() != 0 {
		t.Fatalf("after the requests ended: %d %s, %d bytes held", res.StatusCode, b, f.srv.inBodies.Load())
	}
	if _, err := New(Options{Exec: f.srv.opts.Exec, MaxBodyBytes: 10, MaxBodyTotal: 29}); !errors.Is(err, ErrOptions) {
		t.Fatalf("less than three bodies' memory: %v", err)
	}
}

// loud fails every verify with msg, as a hostile verifier that passed
// validation may (one string shared by every result, so that the test
// itself stays small).
type loud struct{ msg string }

func (loud) Register(*env.Module) {}
func (loud) Close() error         { return nil }
func (l loud) Run(_ context.Context, tasks []env.Task) []env.Result {
	out := make([]env.Result, len(tasks))
	for i, t := range tasks {
		out[i].Scores = make([]env.Score, len(t.Answers))
		for k := range t.Answers {
			out[i].Scores[k].Err = &env.Error{Kind: env.FailRuntime, Env: t.Env, Func: "verify", Msg: l.msg}
		}
	}
	return out
}

// Error texts are capped in replies: 300 items whose verifier raises with 4
// MB each used to make a 1.2 GB reply (here 200 of 1 MiB, to keep the test
// small). Replies write < and > as themselves.
func TestErrorTextsAreCappedInReplies(t *testing.T) {
	mods := testModules(t)
	s, err := New(Options{Exec: loud{strings.Repeat("<x>", 1<<20/3)}, Envs: []*env.Module{mods["add"]}})
	if err != nil {
		t.Fatal(err)
	}
	var items []Item
	for i := range 200 {
		items = append(items, ByInstance("add", int64(i), 1, "<answer>1</answer>"))
	}
	items = append(items, ByInstance("add", 1, 1, "no tags"), ByInstance(strings.Repeat("n", 1<<20), 1, 1, "x"))
	body, _ := json.Marshal(Request{Items: items})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/score", bytes.NewReader(body)))
	var resp Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 || len(resp.Rewards) != len(items) {
		t.Fatalf("%d, %d rewards: %v", rec.Code, len(resp.Rewards), err)
	}
	if rec.Body.Len() > len(items)*(dataset.MaxErrorBytes+200) {
		t.Fatalf("a reply of %d bytes for %d items", rec.Body.Len(), len(items))
	}
	for i, rw := range resp.Rewards[:200] {
		if rw.Kind != env.KindEnvError || len(rw.Error) > dataset.MaxErrorBytes || !strings.Contains(rw.Error, "more bytes)") {
			t.Fatalf("item %d: %s, %d bytes of error", i, rw.Kind, len(rw.Error))
		}
	}
	if last := resp.Rewards[201]; last.Code != CodeUnknownEnv || len(last.Error) > dataset.MaxErrorBytes {
		t.Fatalf("unknown environment of a megabyte's name: %s, %d bytes", last.Code, len(last.Error))
	}
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"error":"no <answer>`)) || !bytes.Contains(rec.Body.Bytes(), []byte(`verify: <x><x>`)) {
		t.Fatalf("reply escapes < and >: %.300s", rec.Body.Bytes()[bytes.Index(rec.Body.Bytes(), []byte(`"format"`))-10:])
	}
	// An error answer is capped too (it may quote what the client sent).
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/score", strings.NewReader(`{"items":[{"env":"`+strings.Repeat("e", 1<<20)+`","difficulty":1,"completion":""}]}`)))
	if rec.Code != 400 || rec.Body.Len() > dataset.MaxErrorBytes+100 {
		t.Fatalf("400 of %d bytes", rec.Body.Len())
	}
}

// Items whose client went away are counted as kind "cancelled" in
// /metrics, never as env_error (40 aborted requests used to raise 160,960
// false env errors), and the request as 499.
func TestCancelledItemsAreTheirOwnKind(t *testing.T) {
	f := newFixture(t, true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var items []Item
	for i := range 40 {
		items = append(items, ByInstance("add", int64(i), 1, "<answer>1</answer>"))
	}
	items = append(items, ByInstance("add", 1, 1, "no answer block"))
	body, _ := json.Marshal(Request{Items: items})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.srv.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/score", bytes.NewReader(body)).WithContext(ctx))
	}()
	<-f.gate.entered
	cancel() // the client disconnects
	<-done
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	m := rec.Body.String()
	for _, want := range []string{
		`resyn_serve_scores_total{env="add",kind="cancelled",code="cancelled"} 40`,
		`resyn_serve_scores_total{env="add",kind="format",code=""} 1`,
		`resyn_serve_requests_total{path="/score",code="499"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("no %s in\n%s", want, m)
		}
	}
	if strings.Contains(m, `kind="env_error"`) {
		t.Errorf("cancelled items counted as env_error:\n%s", m)
	}
	if f.srv.queued.Load() != 0 || f.srv.inBodies.Load() != 0 {
		t.Fatalf("the aborted request still holds %d items, %d bytes", f.srv.queued.Load(), f.srv.inBodies.Load())
	}
}
