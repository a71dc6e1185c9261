package synth

import (
	"encoding/json"
	"testing"

	"resyn/storage"
)

func TestRunProvider(t *testing.T) {
	for _, c := range []struct {
		cfg             Config
		provider, model string
	}{
		{Config{Provider: "openai:gpt-4o"}, "openai", "gpt-4o"},
		{Config{Provider: "openai:gpt-4o", Model: "gpt-4.1"}, "openai", "gpt-4.1"},
		{Config{Provider: "anthropic:claude-sonnet-4-5"}, "anthropic", "claude-sonnet-4-5"},
		{Config{Provider: "replay"}, "replay", ""},
		{Config{Provider: "replay:runs/demo.jsonl"}, "", ""}, // the file is the user's to name again
		{Config{Provider: "vllm:qwen"}, "", ""},
		{Config{}, "", ""},
	} {
		raw, _ := json.Marshal(c.cfg)
		p, m := RunProvider(storage.SynthRun{Config: raw})
		if p != c.provider || m != c.model {
			t.Errorf("%+v: got %q %q, want %q %q", c.cfg, p, m, c.provider, c.model)
		}
	}
	if p, m := RunProvider(storage.SynthRun{Config: []byte("{not json")}); p != "" || m != "" {
		t.Errorf("unreadable config: got %q %q", p, m)
	}
}
