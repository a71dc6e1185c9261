package llm

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Config says which provider to open and how it behaves. Zero fields take
// the defaults listed; Open fills APIKey and BaseURL from the usual
// environment variables when they are empty.
type Config struct {
	Provider   string // "openai" (any OpenAI-compatible server), "anthropic" or "replay"
	Model      string // the default model of every request
	BaseURL    string // OPENAI_BASE_URL / ANTHROPIC_BASE_URL; default the vendor's API
	APIKey     string // OPENAI_API_KEY / ANTHROPIC_API_KEY
	ReplayFile string // for "replay": the JSONL file to play

	MaxConcurrency int           // requests in flight at once; default 8
	MaxRetries     int           // retries after the first attempt; default 6; negative: none
	Timeout        time.Duration // longest attempt; default 10 minutes
	IdleTimeout    time.Duration // longest silence of a streamed reply; default 2 minutes
	BackoffBase    time.Duration // first backoff; default 1 s, doubling
	BackoffMax     time.Duration // longest backoff; default 60 s
	MaxRetryAfter  time.Duration // longest Retry-After honoured; default 5 minutes
	MaxTokens      int           // default max_tokens of a request; default 8192

	// UnreachableRetries is how many quick retries (a quarter second, then
	// half a second) a refused connection or an unknown host gets before
	// the call fails with ErrUnreachable; default 2; negative: none.
	UnreachableRetries int

	// OnRetry, when set, is told about every failed attempt that will be
	// retried, before the pause: so that a user sees at once that the
	// server does not answer instead of minutes of silence. It may be
	// called from several goroutines at once.
	OnRetry func(RetryNotice)

	Meter      *Meter       // where usage is added; may be nil
	HTTPClient *http.Client // default http.DefaultClient's transport

	// baseFrom names where Open found BaseURL when it was not given
	// ("OPENAI_BASE_URL"); it goes into ErrUnreachable's advice.
	baseFrom string
}

func (c Config) withDefaults() Config {
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = 8
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = 6
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Timeout, 10*time.Minute)
	def(&c.IdleTimeout, 2*time.Minute)
	def(&c.BackoffBase, time.Second)
	def(&c.BackoffMax, time.Minute)
	def(&c.MaxRetryAfter, 5*time.Minute)
	if c.MaxTokens <= 0 {
		c.MaxTokens = 8192
	}
	switch {
	case c.UnreachableRetries == 0:
		c.UnreachableRetries = 2
	case c.UnreachableRetries < 0:
		c.UnreachableRetries = 0
	}
	return c
}

// Providers lists the names Open accepts.
var Providers = []string{"openai", "anthropic", "replay"}

// DefaultProvider is the provider to open when none is named: "openai"
// when OPENAI_API_KEY or OPENAI_BASE_URL is set, else "anthropic" when
// ANTHROPIC_API_KEY is; else "replay" (the recorded demo) with found
// false, so that a command can say why it plays the demo.
func DefaultProvider() (name string, found bool) {
	switch {
	case os.Getenv("OPENAI_API_KEY") != "" || os.Getenv("OPENAI_BASE_URL") != "":
		return "openai", true
	case os.Getenv("ANTHROPIC_API_KEY") != "":
		return "anthropic", true
	}
	return "replay", false
}

// ParseName splits a provider's Name ("openai:gpt-4o",
// "replay:runs.jsonl", "replay") into the provider ("openai", "replay")
// and what follows it: the model, or the file a replay plays. provider is
// "" for a name Open does not know.
func ParseName(name string) (provider, rest string) {
	p, rest, _ := strings.Cut(name, ":")
	for _, known := range Providers {
		if p == known {
			return p, rest
		}
	}
	return "", rest
}

// Open builds the provider cfg names.
func Open(cfg Config) (Provider, error) {
	switch strings.ToLower(cfg.Provider) {
	case "openai", "":
		if cfg.APIKey == "" {
			cfg.APIKey = os.Getenv("OPENAI_API_KEY")
		}
		if cfg.BaseURL == "" {
			if cfg.BaseURL = os.Getenv("OPENAI_BASE_URL"); cfg.BaseURL != "" {
				cfg.baseFrom = "OPENAI_BASE_URL"
			}
		}
		return NewOpenAI(cfg)
	case "anthropic":
		if cfg.APIKey == "" {
			cfg.APIKey = os.Getenv("ANTHROPIC_API_KEY")
		}
		if cfg.BaseURL == "" {
			if cfg.BaseURL = os.Getenv("ANTHROPIC_BASE_URL"); cfg.BaseURL != "" {
				cfg.baseFrom = "ANTHROPIC_BASE_URL"
			}
		}
		return NewAnthropic(cfg)
	case "replay":
		if cfg.ReplayFile == "" {
			return nil, fmt.Errorf("%w: the replay provider needs a file (--replay FILE)", ErrReplayFile)
		}
		r, err := LoadReplay(cfg.ReplayFile)
		if err != nil {
			return nil, err
		}
		if cfg.Meter != nil {
			return Metered(r, cfg.Meter), nil
		}
		return r, nil
	default:
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, cfg.Provider, strings.Join(Providers, ", "))
	}
}
