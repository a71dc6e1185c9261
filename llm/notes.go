package llm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// RetryNotes prints the client's retries (Config.OnRetry) as lines on a
// writer, so that a server that does not answer is visible at once instead
// of after minutes of backoff: the first retry of each kind (rate limited,
// server error, unreachable, …) at once, then at most one every 15 seconds
// per kind, with a count of those not shown, so that a storm of 429s does
// not flood the terminal. Safe for concurrent use.
type RetryNotes struct {
	W      io.Writer
	Now    func() time.Time // time.Now when nil; tests set a clock
	mu     sync.Mutex
	last   map[error]time.Time
	hidden map[error]int
}

// Note prints n, or counts it when one of its kind was printed less than
// 15 seconds ago.
func (r *RetryNotes) Note(n RetryNotice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last, r.hidden = map[error]time.Time{}, map[error]int{}
	}
	var kind error
	if n.Err != nil {
		kind = n.Err.Kind
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	if t, ok := r.last[kind]; ok && now.Sub(t) < 15*time.Second {
		r.hidden[kind]++
		return
	}
	r.last[kind] = now
	line := "resyn: " + n.String()
	if h := r.hidden[kind]; h > 0 {
		line += fmt.Sprintf(" [%d similar retries not shown]", h)
		r.hidden[kind] = 0
	}
	fmt.Fprintln(r.W, line)
}

// ResolveProvider is the provider to open for name (lower-cased), or when
// name is empty DefaultProvider's choice: OpenAI when its key or base URL
// is set, Anthropic when its key is, else the replay demo, with a note on
// notes saying so.
func ResolveProvider(name string, notes io.Writer) string {
	if name != "" {
		return strings.ToLower(name)
	}
	p, found := DefaultProvider()
	if !found {
		fmt.Fprintln(notes, "resyn: no --provider and no OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY: playing the recorded demo run (--provider replay)")
	}
	return p
}

// OpenOrDemo opens cfg's provider, or, for "replay" with no ReplayFile,
// plays the recording demo (metered on cfg.Meter); demo reports which.
func OpenOrDemo(cfg Config, demo []byte) (p Provider, isDemo bool, err error) {
	if cfg.Provider == "replay" && cfg.ReplayFile == "" {
		r, err := ParseReplay(bytes.NewReader(demo))
		if err != nil {
			return nil, false, fmt.Errorf("the built-in demo recording: %w", err)
		}
		return Metered(r, cfg.Meter), true, nil
	}
	p, err = Open(cfg)
	return p, false, err
}
