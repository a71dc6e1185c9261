package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

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
	req, status, err := s.decode(w, r)
	if err != nil {
		writeError(w, status, err.Error(), -1)
		return
	}
	items := req.Items
	if len(items) > s.opts.MaxItems {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d items in one request, more than the %d allowed; split the batch", len(items), s.opts.MaxItems), -1)
		return
	}
	out := make([]Reward, len(items))
	names := make([]string, len(items)) // for the metrics
	var todo []env.ScoreItem
	var slots []int
	for i, it := range items {
		si, rw, err := s.resolve(it)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("item %d: %v", i, err), i)
			return
		}
		if rw != nil {
			out[i], names[i] = *rw, it.Env
			continue
		}
		names[i] = si.Env
		todo = append(todo, si)
		slots = append(slots, i)
	}
	n := int64(len(todo))
	if q := s.queued.Add(n); q > int64(s.opts.MaxQueued) {
		s.queued.Add(-n)
		s.unavailable(w, fmt.Sprintf("the scoring queue is full (%d items queued, %d allowed)", q-n, s.opts.MaxQueued))
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	rewards := env.ScoreCompletions(ctx, s.opts.Exec, todo)
	deadline := errors.Is(ctx.Err(), context.DeadlineExceeded)
	cancel()
	s.queued.Add(-n)
	for k, rw := range rewards {
		if deadline && rw.Kind == env.KindEnvError && strings.Contains(rw.Error, "cancelled") {
			rw.Kind, rw.Error = env.KindTimeout, fmt.Sprintf("the request deadline (%v) passed before this item was scored", s.opts.RequestTimeout)
		}
		out[slots[k]] = Reward{Reward: rw}
	}
	for i, rw := range out {
		s.metrics.score(names[i], rw.Kind, rw.Code)
	}
	s.metrics.observe(time.Since(start), len(items))
	writeJSON(w, http.StatusOK, Response{Rewards: out})
}

func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	secs := int(math.Ceil(s.opts.RetryAfter.Seconds()))
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	writeError(w, http.StatusServiceUnavailable, msg+fmt.Sprintf("; retry after %ds", secs), -1)
}

// decode reads the body with its size limit and rejects unknown fields and
// trailing data, so that a typo ("difficulity") is an error, not a default.
func (s *Server) decode(w http.ResponseWriter, r *http.Request) (Request, int, error) {
	var req Request
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("request body is more than the %d bytes allowed", s.opts.MaxBodyBytes)
		}
		if errors.Is(err, io.EOF) {
			return req, http.StatusBadRequest, fmt.Errorf(`empty body: want {"items":[{"env":…,"seed":…,"difficulty":…,"completion":…}]}`)
		}
		return req, http.StatusBadRequest, fmt.Errorf(`malformed JSON: %v; want {"items":[…]}`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, http.StatusBadRequest, fmt.Errorf("malformed JSON: data after the request object")
	}
	if req.Items == nil {
		return req, http.StatusBadRequest, fmt.Errorf(`no "items" array`)
	}
	return req, 0, nil
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
