package llm

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
)

// Flags are the command-line flags every LLM-using command shares
// (--provider, --model, --base-url, … of resyn synth, eval and envs
// validate --judge), and what opening a provider from them takes.
type Flags struct {
	Provider, Model, BaseURL, APIKey, Replay string
	Concurrency, MaxTokens                   int
	Timeout, RetryBase                       time.Duration
}

// DefaultFlags are the flags' defaults: 8 requests in flight, replies of at
// most 8192 tokens, a request abandoned after 10 minutes, retries from 1 s.
func DefaultFlags() Flags {
	return Flags{Concurrency: 8, MaxTokens: 8192, Timeout: 10 * time.Minute, RetryBase: time.Second}
}

// Add defines the flags on fs, with DefaultFlags' values as defaults.
func (f *Flags) Add(fs *pflag.FlagSet) {
	d := DefaultFlags()
	fs.StringVar(&f.Provider, "provider", "", "openai (any OpenAI-compatible server), anthropic or replay (default: from the API key variables, else replay)")
	fs.StringVar(&f.Model, "model", "", "model name")
	fs.StringVar(&f.BaseURL, "base-url", "", "API base URL (default $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, else the vendor's)")
	fs.StringVar(&f.APIKey, "api-key", "", "API key (default $OPENAI_API_KEY / $ANTHROPIC_API_KEY)")
	fs.StringVar(&f.Replay, "replay", "", "with --provider replay: the recorded run to play (default: the built-in demo recording)")
	fs.IntVar(&f.Concurrency, "concurrency", d.Concurrency, "LLM requests in flight at once")
	fs.IntVar(&f.MaxTokens, "max-tokens", d.MaxTokens, "most tokens one reply may take (max_tokens); a server whose context is shorter than the prompt plus this (vLLM --max-model-len) refuses the call with a 400 that says which value fits")
	fs.DurationVar(&f.Timeout, "request-timeout", d.Timeout, "longest one LLM request may take before it is abandoned and retried (a hung server)")
	fs.DurationVar(&f.RetryBase, "retry-base", d.RetryBase, "first pause before retrying a failed LLM request, doubling each time up to 60 times it (a Retry-After asking for longer wins)")
}

// Check refuses durations that cannot work.
func (f *Flags) Check() error {
	switch {
	case f.Timeout <= 0:
		return fmt.Errorf("--request-timeout %v: must be positive (how long one LLM request may take)", f.Timeout)
	case f.RetryBase <= 0:
		return fmt.Errorf("--retry-base %v: must be positive (the first pause before a retry)", f.RetryBase)
	}
	return nil
}

// Open opens the provider the flags name (ResolveProvider, with its note
// on notes), counting usage in meter and reporting retries to onRetry;
// with replay and no --replay file it plays demo, and isDemo says so.
func (f Flags) Open(meter *Meter, onRetry func(RetryNotice), notes io.Writer, demo []byte) (p Provider, isDemo bool, err error) {
	if f.MaxTokens < 1 {
		return nil, false, fmt.Errorf("--max-tokens %d: want at least 1 (the most tokens one reply may take)", f.MaxTokens)
	}
	return OpenOrDemo(Config{
		Provider: ResolveProvider(f.Provider, notes), Model: f.Model, BaseURL: f.BaseURL, APIKey: f.APIKey, ReplayFile: f.Replay,
		MaxConcurrency: f.Concurrency, MaxTokens: f.MaxTokens, Meter: meter, OnRetry: onRetry, Timeout: f.Timeout,
		BackoffBase: f.RetryBase, BackoffMax: 60 * f.RetryBase,
	}, demo)
}
