package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Config is a Qwen2 config.json. Fields the trainer does not use are kept in
// Extra and written back unchanged.
type Config struct {
	Architectures         []string `json:"architectures,omitempty"`
	ModelType             string   `json:"model_type"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      int      `json:"num_key_value_heads"`
	RopeTheta             float64  `json:"rope_theta"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	TieWordEmbeddings     bool     `json:"tie_word_embeddings"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	TorchDtype            string   `json:"torch_dtype,omitempty"`
	HiddenAct             string   `json:"hidden_act,omitempty"`
	BOSTokenID            *int     `json:"bos_token_id,omitempty"`
	EOSTokenID            *int     `json:"eos_token_id,omitempty"`

	// Extra holds every other field of the file (use_sliding_window,
	// transformers_version, rope_scaling, …) as raw JSON.
	Extra map[string]json.RawMessage `json:"-"`
}

// known lists the JSON names of Config's fields.
var known = []string{"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
	"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "rope_theta", "rms_norm_eps",
	"tie_word_embeddings", "max_position_embeddings", "torch_dtype", "hidden_act", "bos_token_id", "eos_token_id"}

// NewConfig returns a Qwen2 config with transformers' defaults for the
// fields a caller does not usually choose (silu, rope_theta 10000, eps 1e-6,
// tied embeddings, no sliding window).
func NewConfig(vocab, hidden, intermediate, layers, heads, kvHeads int) Config {
	return Config{
		Architectures: []string{"Qwen2ForCausalLM"}, ModelType: "qwen2",
		VocabSize: vocab, HiddenSize: hidden, IntermediateSize: intermediate,
		NumHiddenLayers: layers, NumAttentionHeads: heads, NumKeyValueHeads: kvHeads,
		RopeTheta: 10000, RMSNormEps: 1e-6, TieWordEmbeddings: true,
		MaxPositionEmbeddings: 32768, TorchDtype: "float32", HiddenAct: "silu",
	}
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.HiddenSize / c.NumAttentionHeads }

// UnmarshalJSON reads the known fields and keeps the rest in Extra. Missing
// fields take transformers' Qwen2Config defaults: num_key_value_heads =
// num_attention_heads, rope_theta 10000, rms_norm_eps 1e-6,
// tie_word_embeddings false.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k := range all {
		if slices.Contains(known, k) {
			delete(all, k)
		}
	}
	*c = Config(p)
	if len(all) > 0 {
		c.Extra = all
	}
	if c.NumKeyValueHeads == 0 {
		c.NumKeyValueHeads = c.NumAttentionHeads
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.RMSNormEps == 0 {
		c.RMSNormEps = 1e-6
	}
	return nil
}

// MarshalJSON writes the known fields and Extra, keys sorted.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	b, err := json.Marshal(plain(c))
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, v := range c.Extra {
		if !slices.Contains(known, k) {
			all[k] = v
		}
	}
	return json.Marshal(all) // maps marshal with sorted keys
}

// Validate checks that the sizes describe a buildable Qwen2 model.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.ModelType != "" && c.ModelType != "qwen2" {
		return bad("model_type %q is not qwen2", c.ModelType)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.NumKeyValueHeads}} {
		if f.v <= 0 {
			return bad("%s = %d, want a positive integer", f.name, f.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return bad("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return bad("num_attention_heads %d is not a multiple of num_key_value_heads %d", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HeadDim()%2 != 0 {
		return bad("head dimension %d is odd; rotary embeddings need it even", c.HeadDim())
	}
	if c.RopeTheta <= 0 {
		return bad("rope_theta = %v, want > 0", c.RopeTheta)
	}
	if c.RMSNormEps <= 0 {
		return bad("rms_norm_eps = %v, want > 0", c.RMSNormEps)
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return bad("hidden_act %q is not supported (only silu)", c.HiddenAct)
	}
	return nil
}

// ReadConfig reads and validates dir/config.json.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
