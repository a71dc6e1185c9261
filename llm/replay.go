package llm

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Entry is one line of a replay file: a recorded reply and how to find the
// request it answers. A request is answered by, in order of preference:
//
//  1. the first unused entry whose Fingerprint equals the request's
//     (what Recorder writes, so a recorded run replays exactly);
//  2. the first unused entry with the request's Tag and Subject (so a
//     recording still replays after the prompts changed);
//  3. the first unused entry with the request's Tag and no Subject.
//
// Entries with Repeat are never used up. Blank lines and lines starting with
// '#' are skipped, so a hand-written script can carry comments.
type Entry struct {
	Tag         string `json:"tag,omitempty"`
	Subject     string `json:"subject,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Reply       string `json:"reply"`
	Usage       Usage  `json:"usage"`
	// Error, when set, makes the entry fail instead of replying: one of
	// "rate_limited", "server", "timeout", "network", "bad_reply", "request".
	Error  string `json:"error,omitempty"`
	Repeat bool   `json:"repeat,omitempty"`
}

var replayErrors = map[string]error{
	"rate_limited": ErrRateLimited, "server": ErrServer, "timeout": ErrTimeout,
	"network": ErrNetwork, "bad_reply": ErrBadReply, "request": ErrRequest,
}

// Fingerprint identifies a request by its content (model, system prompt and
// messages), independent of Tag and Subject.
func Fingerprint(req Request) string {
	b, _ := json.Marshal(struct {
		M string    `json:"m"`
		S string    `json:"s"`
		X []Message `json:"x"`
	}{req.Model, req.System, req.Messages})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Replay is a Provider that plays a recorded run. It is safe for concurrent
// use; which entry a request gets depends only on the request and the
// entries used before for the same tag and subject, so concurrent calls for
// different subjects replay deterministically.
type Replay struct {
	label string
	// Pace, when positive, is slept between streamed deltas so that a demo
	// looks like a live model.
	Pace time.Duration

	mu      sync.Mutex
	entries []Entry
	used    []bool
	calls   int
}

// LoadReplay reads a replay file.
func LoadReplay(path string) (*Replay, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReplayFile, err)
	}
	defer f.Close()
	r, err := ParseReplay(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.label = "replay:" + path
	return r, nil
}

// ParseReplay reads replay entries from JSONL.
func ParseReplay(rd io.Reader) (*Replay, error) {
	r := &Replay{label: "replay"}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var e Entry
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrReplayFile, line, err)
		}
		if e.Error != "" && replayErrors[e.Error] == nil {
			return nil, fmt.Errorf("%w: line %d: unknown error kind %q", ErrReplayFile, line, e.Error)
		}
		if e.Tag == "" && e.Fingerprint == "" {
			return nil, fmt.Errorf("%w: line %d: an entry needs a tag or a fingerprint", ErrReplayFile, line)
		}
		r.entries = append(r.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrReplayFile, line+1, err)
	}
	r.used = make([]bool, len(r.entries))
	return r, nil
}

// Name implements Provider.
func (r *Replay) Name() string { return r.label }

// Remaining is the number of entries not used yet (Repeat entries count
// until used once).
func (r *Replay) Remaining() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.used {
		if !u {
			n++
		}
	}
	return n
}

func (r *Replay) take(req Request) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	fp := ""
	for _, e := range r.entries {
		if e.Fingerprint != "" {
			fp = Fingerprint(req)
			break
		}
	}
	match := []func(Entry) bool{
		func(e Entry) bool { return fp != "" && e.Fingerprint == fp },
		func(e Entry) bool { return e.Tag == req.Tag && e.Subject != "" && e.Subject == req.Subject },
		func(e Entry) bool { return e.Tag == req.Tag && e.Subject == "" },
	}
	for _, m := range match {
		for i, e := range r.entries {
			if (!r.used[i] || e.Repeat) && m(e) {
				r.used[i] = true
				return e, true
			}
		}
	}
	return Entry{}, false
}

// Complete implements Provider.
func (r *Replay) Complete(ctx context.Context, req Request) (Completion, error) {
	if err := ctx.Err(); err != nil {
		return Completion{}, err
	}
	start := time.Now()
	e, ok := r.take(req)
	if !ok {
		return Completion{}, fmt.Errorf("%w (tag %q, subject %q)", ErrReplayExhausted, req.Tag, req.Subject)
	}
	if e.Error != "" {
		return Completion{}, &Error{Provider: r.label, Kind: replayErrors[e.Error], Attempts: 1}
	}
	if req.OnDelta != nil {
		for _, piece := range chunks(e.Reply, 48) {
			if r.Pace > 0 {
				if err := sleepCtx(ctx, r.Pace); err != nil {
					return Completion{}, err
				}
			}
			req.OnDelta(Delta{Text: piece})
		}
	}
	return Completion{
		Text: e.Reply, FinishReason: "stop", Model: req.Model, Usage: e.Usage,
		Attempts: 1, Latency: time.Since(start),
	}, nil
}

// chunks splits s into pieces of about n bytes, at spaces where it can.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := strings.LastIndexByte(s[:n], ' ')
		if cut <= 0 {
			cut = n
			for cut < len(s) && !isRuneStart(s[cut]) {
				cut++
			}
		} else {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Recorder wraps a provider and writes every successful call as a replay
// Entry (with its fingerprint, tag and subject) to w, so that a live run can
// be replayed later. Safe for concurrent use.
type Recorder struct {
	P  Provider
	mu sync.Mutex
	w  io.Writer
}

// NewRecorder returns a Recorder writing to w.
func NewRecorder(p Provider, w io.Writer) *Recorder { return &Recorder{P: p, w: w} }

// Name implements Provider.
func (rec *Recorder) Name() string { return rec.P.Name() }

// Complete implements Provider.
func (rec *Recorder) Complete(ctx context.Context, req Request) (Completion, error) {
	c, err := rec.P.Complete(ctx, req)
	if err != nil {
		return c, err
	}
	line, jerr := json.Marshal(Entry{
		Tag: req.Tag, Subject: req.Subject, Fingerprint: Fingerprint(req),
		Reply: c.Text, Usage: c.Usage,
	})
	if jerr == nil {
		rec.mu.Lock()
		_, werr := rec.w.Write(append(line, '\n'))
		rec.mu.Unlock()
		if werr != nil {
			return c, fmt.Errorf("llm: recording a reply: %w", werr)
		}
	}
	return c, nil
}

// RecordToFile wraps p in a Recorder appending to the file at path
// (created when missing), so that a recording grows run by run. The file
// stays open for the process's life; each call is one line.
func RecordToFile(p Provider, path string) (Provider, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return NewRecorder(p, f), nil
}
