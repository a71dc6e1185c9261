package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"resyn/core/dataset"
	"resyn/core/env"
	"resyn/core/export"
)

// Request is the body of POST /score.
type Request struct {
	Items []Item `json:"items"`
}

// Item is one completion to score. Name its instance either by Env, Seed
// and Difficulty (EnvHash optional: when given, a different environment
// version is refused as for a ground truth) or by GroundTruth alone — the
// reward_model.ground_truth string of an exported row, or that object
// itself. Completion is required; it may be empty (a format failure).
type Item struct {
	Env         string          `json:"env,omitempty"`
	Seed        *int64          `json:"seed,omitempty"`
	Difficulty  *int            `json:"difficulty,omitempty"`
	EnvHash     string          `json:"env_hash,omitempty"`
	GroundTruth json.RawMessage `json:"ground_truth,omitempty"`
	Completion  *string         `json:"completion"`
}

// ByInstance is an Item naming its instance by (env, seed, difficulty).
func ByInstance(envName string, seed int64, difficulty int, completion string) Item {
	return Item{Env: envName, Seed: &seed, Difficulty: &difficulty, Completion: &completion}
}

// ByGroundTruth is an Item naming its instance by an exported ground truth.
func ByGroundTruth(groundTruth string, completion string) Item {
	gt, _ := json.Marshal(groundTruth)
	return Item{GroundTruth: gt, Completion: &completion}
}

// Codes say why an item was not scored although the request was sound;
// such an item has kind env_error (drop it from training) and Error says
// more.
const (
	// CodeUnknownEnv: no environment of that name is served.
	CodeUnknownEnv = "unknown_env"
	// CodeEnvChanged: the ground truth (or env_hash) names another version
	// of the environment than the one served (export.ErrEnvChanged).
	CodeEnvChanged = "env_changed"
	// CodeBadGroundTruth: the ground truth is not one `resyn export` wrote.
	CodeBadGroundTruth = "bad_ground_truth"
)

// Reward is the record returned for one item: THE reward record of
// env.Reward (kind ok|format|env_error|timeout, score, answer, error), and
// a Code when the item could not be matched to an instance.
type Reward struct {
	env.Reward
	Code string `json:"code,omitempty"`
}

// Response is the body of a 200 answer to POST /score: one Reward per
// item, in the order of the items.
type Response struct {
	Rewards []Reward `json:"rewards"`
}

// CodeCancelled marks an item whose scoring was abandoned because its
// client went away; /metrics counts such items as kind "cancelled", never
// as env_error (no environment failed).
const CodeCancelled = "cancelled"

// statusClientGone is what /metrics records for a request whose client
// closed the connection before its answer (nginx's 499); nothing is sent.
const statusClientGone = 499

func (s *Server) handleScore(w http.ResponseWriter, r *http.Request) {
	if !allow(w, r, http.MethodPost) {
		return
	}
	if s.draining.Load() {
		s.unavailable(w, "the server is shutting down")
		return
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is %d bytes, more than the %d allowed", r.ContentLength, s.opts.MaxBodyBytes), -1)
		return
	}
	adm := &admission{s: s}
	defer adm.release()
	if r.ContentLength > 0 && !adm.take(r.ContentLength) {
		s.unavailable(w, s.bodiesFull())
		return
	}
	body := &budgetReader{r: http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes), adm: adm, upfront: r.ContentLength > 0}
	req, rf := s.decode(body, adm)
	if rf != nil {
		if rf.status == http.StatusServiceUnavailable {
			s.unavailable(w, rf.msg)
			return
		}
		writeError(w, rf.status, rf.msg, rf.item)
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	rewards := env.ScoreCompletions(ctx, s.opts.Exec, req.todo)
	deadline := errors.Is(ctx.Err(), context.DeadlineExceeded)
	gone := r.Context().Err() != nil
	cancel()
	for k, rw := range rewards {
		out := Reward{Reward: dataset.CapReward(rw)}
		if rw.Kind == env.KindEnvError && isCancelled(rw.Error) && (deadline || gone) {
			if gone {
				out.Code = CodeCancelled
			} else {
				out.Kind, out.Error = env.KindTimeout, fmt.Sprintf("the request deadline (%v) passed before this item was scored", s.opts.RequestTimeout)
			}
		}
		req.out[req.slots[k]] = out
	}
	rewards, req.todo = nil, nil // the verifiers' texts, uncapped, go now
	for i, rw := range req.out {
		kind := string(rw.Kind)
		if rw.Code == CodeCancelled {
			kind = CodeCancelled
		}
		s.metrics.score(req.names[i], kind, rw.Code)
	}
	if gone {
		w.WriteHeader(statusClientGone) // nobody reads it; /metrics records it
		return
	}
	s.metrics.observe(time.Since(start), len(req.out))
	writeRewards(w, req.out)
}

// isCancelled says whether an env_error's text is the executor's
// "cancelled" (the pool's, for a context that ended).
func isCancelled(msg string) bool {
	return strings.HasSuffix(msg, "cancelled") || strings.Contains(msg, "cancelled: ")
}

func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	secs := int(math.Ceil(s.opts.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	writeError(w, http.StatusServiceUnavailable, msg+fmt.Sprintf("; retry after %ds", secs), -1)
}

func (s *Server) bodiesFull() string {
	return fmt.Sprintf("the server holds %d bytes of request bodies, and at most %d are allowed at once", s.inBodies.Load(), s.opts.MaxBodyTotal)
}

// admission is what one request holds of the server's two budgets: bytes of
// request bodies (Options.MaxBodyTotal) and items in flight
// (Options.MaxQueued). It takes them as the body streams in, so that a
// request is refused the moment it would pass either, and gives them back
// when its answer is written.
type admission struct {
	s     *Server
	bytes int64
	items int64
}

// take adds n bytes to what the request holds, unless the server's budget
// would pass; n < 0 gives bytes back.
func (a *admission) take(n int64) bool {
	if n > 0 && a.s.inBodies.Add(n) > a.s.opts.MaxBodyTotal {
		a.s.inBodies.Add(-n)
		return false
	}
	if n < 0 {
		a.s.inBodies.Add(n)
	}
	a.bytes += n
	return true
}

func (a *admission) reserveItem() bool {
	if a.s.queued.Add(1) > int64(a.s.opts.MaxQueued) {
		a.s.queued.Add(-1)
		return false
	}
	a.items++
	return true
}

func (a *admission) release() {
	a.s.inBodies.Add(-a.bytes)
	a.s.queued.Add(-a.items)
	a.bytes, a.items = 0, 0
}

// errBodiesFull ends the read of a body when the server holds as many body
// bytes as it may.
var errBodiesFull = errors.New("request bodies full")

// budgetReader charges the body to the admission as it is read, for what
// it costs in memory: each byte once (it ends up in a decoded item, or is
// dropped), and the bytes past the decoder's last finished value twice more
// while that value is unfinished. The JSON decoder holds an unfinished value
// whole in a buffer that grows by doubling, so that a single item of L bytes
// takes up to 3L while it is read (the old buffer and the new one); an
// endless string costs its reader its share of the budget at that rate,
// not three times more than it was charged. After each value, decode calls
// settle with the decoder's offset, which gives the extra back.
type budgetReader struct {
	r       io.Reader
	adm     *admission
	upfront bool  // the Content-Length was taken before reading
	read    int64 // bytes read
	settled int64 // the decoder's offset after its last finished value
	extra   int64 // charged for the unfinished value
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n == 0 {
		return n, err
	}
	b.read += int64(n)
	more := 2*(b.read-b.settled) - b.extra
	if !b.upfront {
		more += int64(n)
	}
	if !b.adm.take(more) {
		b.read -= int64(n)
		return 0, errBodiesFull
	}
	b.extra = 2 * (b.read - b.settled)
	return n, err
}

// settle says the decoder has finished every value before offset.
func (b *budgetReader) settle(offset int64) {
	b.settled = offset
	extra := 2 * max(0, b.read-offset)
	b.adm.take(extra - b.extra)
	b.extra = extra
}

// refusal is a request refused before scoring: its HTTP status, the message,
// and the item at fault (-1: none).
type refusal struct {
	status int
	msg    string
	item   int
}

// scoreRequest is a decoded request: a reward slot per item (filled at once
// for an item this server cannot score), and what to score for the others.
type scoreRequest struct {
	out   []Reward
	names []string // served environment of each item, for the metrics ("" for another)
	todo  []env.ScoreItem
	slots []int // todo[k] answers out[slots[k]]
}

// decode reads {"items":[…]} as it streams: each item is decoded, checked
// and admitted on its own, so that the items past --max-items are refused
// before they are read, no item is held twice, and a malformed item ends the
// read at once. Unknown fields are refused (a typo such as "difficulity"
// must not become a default), and so is data after the object.
func (s *Server) decode(body *budgetReader, adm *admission) (*scoreRequest, *refusal) {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	token := func() (json.Token, error) {
		tok, err := dec.Token()
		if err == nil {
			body.settle(dec.InputOffset())
		}
		return tok, err
	}
	bad := func(err error, item int) *refusal {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return &refusal{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is more than the %d bytes allowed", s.opts.MaxBodyBytes), -1}
		case errors.Is(err, errBodiesFull):
			return &refusal{http.StatusServiceUnavailable, s.bodiesFull(), -1}
		case item >= 0:
			return &refusal{http.StatusBadRequest, fmt.Sprintf("item %d: malformed JSON: %v", item, err), item}
		}
		return &refusal{http.StatusBadRequest, fmt.Sprintf(`malformed JSON: %v; want {"items":[…]}`, err), -1}
	}
	want := func(d json.Delim, item int) *refusal {
		tok, err := token()
		if err != nil {
			return bad(err, item)
		}
		if tok != d {
			return &refusal{http.StatusBadRequest, fmt.Sprintf(`malformed JSON: %v where %v belongs; want {"items":[…]}`, tokenText(tok), d), item}
		}
		return nil
	}
	tok, err := token()
	if errors.Is(err, io.EOF) {
		return nil, &refusal{http.StatusBadRequest, `empty body: want {"items":[{"env":…,"seed":…,"difficulty":…,"completion":…}]}`, -1}
	}
	if err != nil {
		return nil, bad(err, -1)
	}
	if tok != json.Delim('{') {
		return nil, &refusal{http.StatusBadRequest, fmt.Sprintf(`malformed JSON: the body is %v, not an object; want {"items":[…]}`, tokenText(tok)), -1}
	}
	var req *scoreRequest
	for dec.More() {
		tok, err := token()
		if err != nil {
			return nil, bad(err, -1)
		}
		if key, _ := tok.(string); key != "items" {
			return nil, &refusal{http.StatusBadRequest, fmt.Sprintf(`malformed JSON: json: unknown field %q; want {"items":[…]}`, key), -1}
		}
		if req != nil {
			return nil, &refusal{http.StatusBadRequest, `malformed JSON: "items" given twice`, -1}
		}
		req = &scoreRequest{}
		tok, err = token()
		if err != nil {
			return nil, bad(err, -1)
		}
		if tok == nil {
			return nil, &refusal{http.StatusBadRequest, `no "items" array ("items" is null)`, -1}
		}
		if tok != json.Delim('[') {
			return nil, &refusal{http.StatusBadRequest, fmt.Sprintf(`"items" must be an array, not %v`, tokenText(tok)), -1}
		}
		for i := 0; dec.More(); i++ {
			if i == s.opts.MaxItems {
				return nil, &refusal{http.StatusRequestEntityTooLarge, fmt.Sprintf("items: more than the %d allowed in one request (refused at item %d, before reading it); split the batch", s.opts.MaxItems, i), -1}
			}
			var it Item
			if err := dec.Decode(&it); err != nil {
				return nil, bad(err, i)
			}
			body.settle(dec.InputOffset())
			if rf := s.add(req, i, it, adm); rf != nil {
				return nil, rf
			}
		}
		if rf := want(json.Delim(']'), -1); rf != nil {
			return nil, rf
		}
	}
	if rf := want(json.Delim('}'), -1); rf != nil {
		return nil, rf
	}
	if _, err := token(); !errors.Is(err, io.EOF) {
		if rf := bad(err, -1); err != nil && rf.status != http.StatusBadRequest {
			return nil, rf // the trailing data passed a limit
		}
		return nil, &refusal{http.StatusBadRequest, "malformed JSON: data after the request object", -1}
	}
	if req == nil {
		return nil, &refusal{http.StatusBadRequest, `no "items" array`, -1}
	}
	return req, nil
}

// add resolves item i into req, taking a place in the queue for an item
// that needs scoring (one refused at once costs a short reward only).
func (s *Server) add(req *scoreRequest, i int, it Item, adm *admission) *refusal {
	si, rw, err := s.resolve(it)
	if err != nil {
		return &refusal{http.StatusBadRequest, fmt.Sprintf("item %d: %v", i, err), i}
	}
	name := si.Env
	if rw != nil {
		name = it.Env
	}
	if _, served := s.envs[name]; !served {
		name = "" // a client's name for nothing served is not kept
	}
	req.names = append(req.names, name)
	if rw != nil {
		rw.Error = dataset.CapText(rw.Error, dataset.MaxErrorBytes)
		req.out = append(req.out, *rw)
		return nil
	}
	if !adm.reserveItem() {
		return &refusal{http.StatusServiceUnavailable, fmt.Sprintf("the scoring queue is full (%d items queued, %d allowed)", s.queued.Load(), s.opts.MaxQueued), -1}
	}
	req.out = append(req.out, Reward{})
	req.todo = append(req.todo, si)
	req.slots = append(req.slots, i)
	return nil
}

// tokenText names a JSON token in an error message.
func tokenText(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// writeRewards writes a 200 answer a reward at a time, so that a reply of
// 4096 rewards is never one buffer of its own.
func writeRewards(w http.ResponseWriter, out []Reward) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	bw.WriteString(`{"rewards":[`)
	for i := range out {
		if i > 0 {
			bw.WriteByte(',')
		}
		buf.Reset()
		if err := enc.Encode(out[i]); err != nil {
			return
		}
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	bw.WriteString("]}\n")
	bw.Flush()
}

// resolve turns an item into what to score, or into a reward at once when
// it names an instance this server cannot score (unknown environment,
// changed version, bad ground truth). An error means the item itself is
// malformed: the whole request is refused.
func (s *Server) resolve(it Item) (env.ScoreItem, *Reward, error) {
	if it.Completion == nil {
		return env.ScoreItem{}, nil, fmt.Errorf(`no "completion"`)
	}
	refuse := func(code string, err error) (env.ScoreItem, *Reward, error) {
		return env.ScoreItem{}, &Reward{Reward: env.Reward{Kind: env.KindEnvError, Error: err.Error()}, Code: code}, nil
	}
	if gtGiven := len(it.GroundTruth) > 0 && string(it.GroundTruth) != "null"; gtGiven {
		if it.Env != "" || it.Seed != nil || it.Difficulty != nil || it.EnvHash != "" {
			return env.ScoreItem{}, nil, fmt.Errorf(`give either "ground_truth" or "env", "seed" and "difficulty", not both`)
		}
		gt, err := export.ParseGroundTruth(it.GroundTruth)
		if err != nil {
			return refuse(CodeBadGroundTruth, err)
		}
		m, ok := s.envs[gt.Env]
		if !ok {
			return refuse(CodeUnknownEnv, fmt.Errorf("%w: %q is not served here (GET /envs lists what is)", env.ErrUnknownEnv, gt.Env))
		}
		if err := gt.Check(m); err != nil {
			return refuse(CodeEnvChanged, err)
		}
		return gt.ScoreItem(*it.Completion), nil, nil
	}
	switch {
	case it.Env == "":
		return env.ScoreItem{}, nil, fmt.Errorf(`no "env" (or "ground_truth")`)
	case it.Seed == nil:
		return env.ScoreItem{}, nil, fmt.Errorf(`no "seed" for %q`, it.Env)
	case it.Difficulty == nil:
		return env.ScoreItem{}, nil, fmt.Errorf(`no "difficulty" for %q`, it.Env)
	}
	m, ok := s.envs[it.Env]
	if !ok {
		return refuse(CodeUnknownEnv, fmt.Errorf("%w: %q is not served here (GET /envs lists what is)", env.ErrUnknownEnv, it.Env))
	}
	if it.EnvHash != "" && it.EnvHash != m.Hash {
		return refuse(CodeEnvChanged, fmt.Errorf("%w: %s was asked for at version %s and is now %s", export.ErrEnvChanged, it.Env, it.EnvHash, m.Hash))
	}
	return env.ScoreItem{Env: it.Env, Seed: *it.Seed, Difficulty: *it.Difficulty, Completion: *it.Completion}, nil, nil
}
