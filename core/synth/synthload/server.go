package synthload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Faults are how the simulated server misbehaves, per request.
type Faults struct {
	RateLimited float64 // answered 429 with a Retry-After of 1–10 s (scaled)
	StormEvery  int     // every StormEvery requests a storm begins: the next StormLen are all 429
	StormLen    int
	ServerError float64 // answered 503 without Retry-After
	Hang        float64 // never answered: the connection stays open until the client gives up
	Cut         float64 // the reply stops part-way: a stream without its end, a body cut off
}

// DefaultFaults are the faults of the measured load test.
func DefaultFaults() Faults {
	return Faults{RateLimited: 0.04, StormEvery: 250, StormLen: 20, ServerError: 0.01, Hang: 0.005, Cut: 0.01}
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Model  *Model
	Faults Faults
	// Scale multiplies every latency and Retry-After: 1 is a real server's
	// seconds to a minute a reply; 0.1 runs ten times faster.
	Scale float64
	Seed  uint64
}

// Call is one request the server got, as its log keeps it.
type Call struct {
	Time    time.Time     `json:"time"`
	Stage   string        `json:"stage"`
	Subject string        `json:"subject"`
	Round   int           `json:"round,omitempty"`
	Outcome string        `json:"outcome"`           // ok, rate_limited, server_error, hang, cut
	Latency time.Duration `json:"latency,omitempty"` // what the reply took (ok and cut)
	Prompt  int           `json:"prompt_tokens,omitempty"`
	Reply   int           `json:"completion_tokens,omitempty"`
	Ideas   int           `json:"ideas,omitempty"` // proposals in an ideation reply
}

// Stats sum up a server's log.
type Stats struct {
	Requests     int            `json:"requests"`
	OK           int            `json:"ok"`
	RateLimited  int            `json:"rate_limited"`
	ServerErrors int            `json:"server_errors"`
	Hangs        int            `json:"hangs"`
	Cuts         int            `json:"cuts"`
	ByStage      map[string]int `json:"ok_by_stage"`
	Latency      time.Duration  `json:"latency_ns"` // sum over the ok replies
	Prompt       int64          `json:"prompt_tokens"`
	Reply        int64          `json:"completion_tokens"`
	Ideas        int            `json:"ideas_proposed"`
}

// Server is an OpenAI-compatible chat-completions server playing Model
// with a latency distribution and Faults. Safe for concurrent use.
type Server struct {
	o   ServerOptions
	srv *http.Server
	ln  net.Listener

	mu    sync.Mutex
	rng   *rand.Rand
	n     int // requests so far
	storm int // requests of the current storm left
	log   []Call
	quit  chan struct{}
}

// NewServer makes a server; Start starts it.
func NewServer(o ServerOptions) *Server {
	if o.Scale <= 0 {
		o.Scale = 1
	}
	s := &Server{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x10ad)), quit: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Start listens on addr ("127.0.0.1:0" for a free port) and returns the
// base URL to give a client (…/v1).
func (s *Server) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.ln = ln
	go func() { _ = s.srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/v1", nil
}

// Close stops the server; hung requests end.
func (s *Server) Close() error {
	close(s.quit)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	return err
}

// Log is a copy of every request so far.
func (s *Server) Log() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.log...)
}

// Stats sums up the log.
func (s *Server) Stats() Stats {
	st := Stats{ByStage: map[string]int{}}
	for _, c := range s.Log() {
		st.Requests++
		switch c.Outcome {
		case "ok":
			st.OK++
			st.ByStage[c.Stage]++
			st.Latency += c.Latency
			st.Prompt += int64(c.Prompt)
			st.Reply += int64(c.Reply)
			st.Ideas += c.Ideas
		case "rate_limited":
			st.RateLimited++
		case "server_error":
			st.ServerErrors++
		case "hang":
			st.Hangs++
		case "cut":
			st.Cuts++
		}
	}
	return st
}

// maxBody bounds a request body.
const maxBody = 8 << 20

type chatRequest struct {
	Messages []Message `json:"messages"`
	Stream   bool      `json:"stream"`
	Model    string    `json:"model"`
}

// decide draws what happens to one request, and the latency of a reply of
// n tokens: time to the first token, then hidden reasoning and the reply
// at a decode rate, from 1.5 s to a minute, scaled.
func (s *Server) decide(n int) (outcome string, latency, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	f := s.o.Faults
	if f.StormEvery > 0 && s.n%f.StormEvery == 0 {
		s.storm = f.StormLen
	}
	sec := func(x float64) time.Duration { return time.Duration(x * s.o.Scale * float64(time.Second)) }
	if s.storm > 0 {
		s.storm--
		return "rate_limited", 0, sec(2 + 3*s.rng.Float64())
	}
	ttft := 0.5 + 2.5*s.rng.Float64()
	rate := 30 + 50*s.rng.Float64()
	hidden := 200 + 1300*s.rng.Float64()
	lat := math.Min(60, math.Max(1.5, ttft+(float64(n)+hidden)/rate))
	switch p := s.rng.Float64(); {
	case p < f.RateLimited:
		return "rate_limited", 0, sec(1 + 9*s.rng.Float64())
	case p < f.RateLimited+f.ServerError:
		return "server_error", sec(0.2), 0
	case p < f.RateLimited+f.ServerError+f.Hang:
		return "hang", 0, 0
	case p < f.RateLimited+f.ServerError+f.Hang+f.Cut:
		return "cut", sec(lat * (0.2 + 0.6*s.rng.Float64())), 0
	}
	return "ok", sec(lat), 0
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.log = append(s.log, c)
	s.mu.Unlock()
}

func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.quit:
	}
	return false
}

func tokens(text string) int { return (len(text) + 3) / 4 }

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req chatRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || len(req.Messages) == 0 {
		http.Error(w, `{"error":{"message":"bad request: want {\"messages\": [...]}","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	stage, subject, round := Classify(req.Messages)
	if stage == StageRepair {
		round = s.o.Model.RepairRound(subject, req.Messages)
	}
	text := s.o.Model.Reply(req.Messages)
	promptTokens := 0
	for _, m := range req.Messages {
		promptTokens += tokens(m.Content)
	}
	call := Call{Time: start, Stage: stage, Subject: subject, Round: round, Prompt: promptTokens, Reply: tokens(text)}
	if stage == StageIdeate {
		call.Ideas = ideaCount(text)
	}
	outcome, latency, retryAfter := s.decide(call.Reply)
	call.Outcome, call.Latency = outcome, latency
	s.record(call)
	switch outcome {
	case "rate_limited":
		w.Header().Set("Retry-After", strconv.FormatFloat(retryAfter.Seconds(), 'f', 3, 64))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"message":"rate limit reached for requests","type":"rate_limit_exceeded"}}`)
		return
	case "server_error":
		s.wait(r.Context(), latency)
		http.Error(w, `{"error":{"message":"the server is overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
		return
	case "hang":
		s.wait(r.Context(), 24*time.Hour)
		return
	}
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, call.Prompt, call.Reply, call.Prompt+call.Reply)
	content, _ := json.Marshal(text)
	if !req.Stream {
		body := fmt.Sprintf(`{"id":"sim","object":"chat.completion","created":%d,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":%s}`,
			start.Unix(), req.Model, content, usage)
		if !s.wait(r.Context(), latency) {
			return
		}
		if outcome == "cut" {
			cutConnection(w, body[:len(body)/2])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
		return
	}
	// Streamed: the reply in pieces spread over the latency.
	w.Header().Set("Content-Type", "text/event-stream")
	fl, _ := w.(http.Flusher)
	pieces := split(text, 8)
	send := len(pieces)
	if outcome == "cut" {
		send = len(pieces) / 2
	}
	for i := 0; i < send; i++ {
		if !s.wait(r.Context(), latency/time.Duration(len(pieces)+1)) {
			return
		}
		b, _ := json.Marshal(pieces[i])
		fmt.Fprintf(w, "data: {\"id\":\"sim\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", req.Model, b)
		if fl != nil {
			fl.Flush()
		}
	}
	if outcome == "cut" {
		return // the stream ends without its finish_reason
	}
	fmt.Fprintf(w, "data: {\"id\":\"sim\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", req.Model)
	fmt.Fprintf(w, "data: {\"id\":\"sim\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":%s}\n\n", req.Model, usage)
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// cutConnection writes a head and half a body, then drops the connection:
// a proxy or server restart cutting a reply off.
func cutConnection(w http.ResponseWriter, partial string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", 2*len(partial), partial)
	buf.Flush()
	conn.Close()
}

// split cuts s into about n pieces at character boundaries.
func split(s string, n int) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	step := len(s)/n + 1
	for len(s) > step {
		cut := step
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return append(out, s)
}

// ideaCount is how many proposals an ideation reply holds.
func ideaCount(text string) int {
	i := strings.IndexByte(text, '[')
	if i < 0 {
		return 0
	}
	var ideas []json.RawMessage
	if json.NewDecoder(strings.NewReader(text[i:])).Decode(&ideas) != nil {
		return 0
	}
	return len(ideas)
}
