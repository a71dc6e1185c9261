package llm

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// The flags parse to DefaultFlags when none is given (one set of
// defaults for the CLI and the workbench), refuse durations and a reply
// cap that cannot work, and with replay and no file play the demo.
func TestFlags(t *testing.T) {
	var f Flags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	f.Add(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f != DefaultFlags() {
		t.Errorf("parsed defaults %+v, DefaultFlags %+v", f, DefaultFlags())
	}
	if err := fs.Parse([]string{"--request-timeout", "0s"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(); err == nil || !strings.Contains(err.Error(), "--request-timeout 0s") {
		t.Errorf("a zero timeout: %v", err)
	}
	f = DefaultFlags()
	f.RetryBase = -time.Second
	if err := f.Check(); err == nil || !strings.Contains(err.Error(), "--retry-base") {
		t.Errorf("a negative retry base: %v", err)
	}
	f = DefaultFlags()
	f.MaxTokens = 0
	if _, _, err := f.Open(&Meter{}, nil, io.Discard, nil); err == nil || !strings.Contains(err.Error(), "--max-tokens 0") {
		t.Errorf("no reply tokens: %v", err)
	}
	demo := "# a recording with no calls\n"
	f = DefaultFlags()
	f.Provider = "replay"
	p, isDemo, err := f.Open(&Meter{}, nil, io.Discard, []byte(demo))
	if err != nil || !isDemo || p == nil {
		t.Errorf("replay without a file: %v, demo %v, %v", p, isDemo, err)
	}
}
