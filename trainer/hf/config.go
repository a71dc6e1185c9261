package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Config is a Qwen2 config.json as transformers 4.x and 5.x write it.
// Fields the trainer does not use are kept in Extra and written back
// unchanged.
//
// The two generations spell some fields differently, and Config reads both:
//
//	transformers 4.x                 transformers 5.x
//	rope_theta: 1e6                  rope_parameters: {rope_type: "default", rope_theta: 1e6}
//	rope_scaling: null | {type: …}   (folded into rope_parameters)
//	torch_dtype: "bfloat16"          dtype: "bfloat16"   (4.56+ already writes dtype)
//	eos_token_id: 151643             eos_token_id: 151643 or [151645, 151643]
//
// MarshalJSON writes both spellings (rope_theta and rope_parameters,
// torch_dtype and dtype), which both generations read back to the same
// model: 4.x ignores rope_parameters and dtype before 4.56, and 5.x takes
// rope_parameters over the legacy rope_theta, which agrees with it.
type Config struct {
	Architectures         []string
	ModelType             string
	VocabSize             int
	HiddenSize            int
	IntermediateSize      int
	NumHiddenLayers       int
	NumAttentionHeads     int
	NumKeyValueHeads      int
	RopeTheta             float64
	RMSNormEps            float64
	TieWordEmbeddings     bool
	MaxPositionEmbeddings int
	TorchDtype            string // torch_dtype or dtype: "float32", "bfloat16", "float16"
	HiddenAct             string
	BOSTokenID            *int
	EOSTokenID            TokenIDs

	// Generation is the directory's generation_config.json when ReadConfig
	// or Open found one (nil otherwise); Save writes it back beside
	// config.json.
	Generation *GenerationConfig

	// Extra holds every other field of the file (use_sliding_window,
	// transformers_version, rope_scaling, layer_types, …) as raw JSON.
	Extra map[string]json.RawMessage

	// ropeExtra keeps the keys of rope_parameters other than rope_type and
	// rope_theta (partial_rotary_factor 1.0, …), written back as read.
	ropeExtra map[string]json.RawMessage
}

// known lists the JSON names Config reads into its fields; every other key
// goes to Extra.
var known = []string{"architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
	"num_hidden_layers", "num_attention_heads", "num_key_value_heads", "rope_theta", "rope_parameters",
	"rms_norm_eps", "tie_word_embeddings", "max_position_embeddings", "torch_dtype", "dtype", "hidden_act",
	"bos_token_id", "eos_token_id"}

// Bounds on the sizes of a config, far above any released Qwen2 (the
// largest has hidden_size 8192, 80 layers, 152k tokens, 131k positions) and
// low enough that the tensor list and the parameter count a config implies
// are cheap to build and cannot overflow. A size past its bound is a
// *FieldError before anything is allocated.
var sizeBounds = []struct {
	name string
	max  int
}{
	{"vocab_size", 1 << 22},
	{"hidden_size", 1 << 16},
	{"intermediate_size", 1 << 18},
	{"num_hidden_layers", 1024},
	{"num_attention_heads", 1024},
	{"num_key_value_heads", 1024},
	{"max_position_embeddings", 1 << 24},
}

// MaxConfigBytes bounds config.json and generation_config.json (real ones
// are a few kilobytes).
const MaxConfigBytes = 4 << 20

// torchDtypeNames are the dtype values a config may name.
var torchDtypeNames = []string{"float32", "bfloat16", "float16", "float64"}

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

// StopTokenIDs are the ids that end a generation: config.json's
// eos_token_id and generation_config.json's (Qwen2.5-Instruct lists
// <|im_end|> and <|endoftext|> there), each once, in that order.
func (c Config) StopTokenIDs() []int {
	ids := slices.Clone(c.EOSTokenID.IDs)
	if c.Generation != nil {
		for _, id := range c.Generation.EOSTokenID.IDs {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// TokenIDs is a token-id field that transformers accepts as one int or as
// a list (eos_token_id); it is written back in the form it was read.
type TokenIDs struct {
	IDs  []int
	List bool // read from (and written as) a JSON list
}

// One is TokenIDs holding the single id.
func One(id int) TokenIDs { return TokenIDs{IDs: []int{id}} }

func (t TokenIDs) json() (json.RawMessage, bool) {
	switch {
	case len(t.IDs) == 0 && !t.List:
		return nil, false
	case len(t.IDs) == 1 && !t.List:
		return json.RawMessage(strconv.Itoa(t.IDs[0])), true
	}
	b, _ := json.Marshal(t.IDs)
	return b, true
}

// fields reads the fields of a JSON object with errors that name them.
type fields struct {
	file string
	all  map[string]json.RawMessage
}

func (f fields) bad(name string, raw json.RawMessage, why string, args ...any) *FieldError {
	v := string(raw)
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	return &FieldError{File: f.file, Field: name, Value: v, Why: fmt.Sprintf(why, args...)}
}

func (f fields) raw(name string) (json.RawMessage, bool) {
	r, ok := f.all[name]
	if !ok || string(bytes.TrimSpace(r)) == "null" {
		return nil, false
	}
	return r, true
}

// int reads an integer; an integral float (32768.0) is accepted as
// transformers would, 1e9 included, and bounded by the caller.
func (f fields) int(name string, dst *int) (bool, error) {
	r, ok := f.raw(name)
	if !ok {
		return false, nil
	}
	v, err := parseInt(r)
	if err != nil {
		return true, f.bad(name, r, "%s", err)
	}
	*dst = v
	return true, nil
}

func parseInt(r json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(r, &n); err != nil {
		return 0, errors.New("is not a number")
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i > math.MaxInt32 || i < math.MinInt32 {
			return 0, errors.New("is outside the 32-bit range")
		}
		return int(i), nil
	}
	x, err := n.Float64()
	if err != nil || x != math.Trunc(x) {
		return 0, errors.New("is not an integer")
	}
	if x > math.MaxInt32 || x < math.MinInt32 {
		return 0, errors.New("is outside the 32-bit range")
	}
	return int(x), nil
}

// decodeField reads a field of JSON type T into dst: false when absent or
// null, a *FieldError saying what it should be when it is not a T.
func decodeField[T any](f fields, name string, dst *T, want string) (bool, error) {
	r, ok := f.raw(name)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(r, dst); err != nil {
		return true, f.bad(name, r, "is not %s", want)
	}
	return true, nil
}

func (f fields) float(name string, dst *float64) (bool, error) {
	return decodeField(f, name, dst, "a number")
}

func (f fields) string(name string, dst *string) (bool, error) {
	return decodeField(f, name, dst, "a string")
}

func (f fields) bool(name string, dst *bool) error {
	_, err := decodeField(f, name, dst, "true or false")
	return err
}

// tokenIDs reads an int or a list of ints.
func (f fields) tokenIDs(name string, dst *TokenIDs) error {
	r, ok := f.raw(name)
	if !ok {
		return nil
	}
	if id, err := parseInt(r); err == nil {
		*dst = One(id)
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(r, &list); err != nil {
		return f.bad(name, r, "is neither a token id nor a list of token ids")
	}
	t := TokenIDs{List: true, IDs: make([]int, 0, len(list))}
	for _, e := range list {
		id, err := parseInt(e)
		if err != nil {
			return f.bad(name, r, "holds %s, which is not a token id", e)
		}
		t.IDs = append(t.IDs, id)
	}
	*dst = t
	return nil
}

// unknown is every field not in known (nil for none), kept as raw JSON.
func (f fields) unknown(known []string) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, v := range f.all {
		if !slices.Contains(known, k) {
			if out == nil {
				out = map[string]json.RawMessage{}
			}
			out[k] = v
		}
	}
	return out
}

// withExtra starts the object MarshalJSON writes: the extra fields that do
// not collide with known ones.
func withExtra(extra map[string]json.RawMessage, known []string) map[string]any {
	all := map[string]any{}
	for k, v := range extra {
		if !slices.Contains(known, k) {
			all[k] = v
		}
	}
	return all
}

func readObject(file string, b []byte) (fields, error) {
	f := fields{file: file}
	if err := json.Unmarshal(b, &f.all); err != nil {
		return f, fmt.Errorf("%w: %s: %v", ErrConfig, file, err)
	}
	if f.all == nil {
		return f, fmt.Errorf("%w: %s is null, not a JSON object", ErrConfig, file)
	}
	return f, nil
}

// UnmarshalJSON reads the known fields in either transformers generation's
// spelling and keeps the rest in Extra. Missing fields take transformers'
// Qwen2Config defaults: num_key_value_heads = num_attention_heads,
// rope_theta 10000, rms_norm_eps 1e-6, tie_word_embeddings false,
// max_position_embeddings 32768. Fields of the wrong type, and two
// spellings of one field that disagree, are a *FieldError.
func (c *Config) UnmarshalJSON(b []byte) error {
	f, err := readObject(ConfigFile, b)
	if err != nil {
		return err
	}
	*c = Config{RopeTheta: 10000, RMSNormEps: 1e-6, MaxPositionEmbeddings: 32768}
	if r, ok := f.raw("architectures"); ok {
		if err := json.Unmarshal(r, &c.Architectures); err != nil {
			return f.bad("architectures", r, "is not a list of names")
		}
	}
	if _, err := f.string("model_type", &c.ModelType); err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		dst  *int
	}{{"vocab_size", &c.VocabSize}, {"hidden_size", &c.HiddenSize}, {"intermediate_size", &c.IntermediateSize},
		{"num_hidden_layers", &c.NumHiddenLayers}, {"num_attention_heads", &c.NumAttentionHeads},
		{"num_key_value_heads", &c.NumKeyValueHeads}, {"max_position_embeddings", &c.MaxPositionEmbeddings}} {
		if _, err := f.int(x.name, x.dst); err != nil {
			return err
		}
	}
	if c.NumKeyValueHeads == 0 {
		if _, present := f.raw("num_key_value_heads"); !present {
			c.NumKeyValueHeads = c.NumAttentionHeads
		}
	}
	if _, err := f.float("rms_norm_eps", &c.RMSNormEps); err != nil {
		return err
	}
	if err := f.bool("tie_word_embeddings", &c.TieWordEmbeddings); err != nil {
		return err
	}
	if _, err := f.string("hidden_act", &c.HiddenAct); err != nil {
		return err
	}
	var bos int
	if ok, err := f.int("bos_token_id", &bos); err != nil {
		return err
	} else if ok {
		c.BOSTokenID = &bos
	}
	if err := f.tokenIDs("eos_token_id", &c.EOSTokenID); err != nil {
		return err
	}
	if err := c.readDtype(f); err != nil {
		return err
	}
	if err := c.readRope(f); err != nil {
		return err
	}
	c.Extra = f.unknown(known)
	return nil
}

// readDtype reads torch_dtype (4.x) and dtype (4.56+, 5.x).
func (c *Config) readDtype(f fields) error {
	var td, d string
	hasTD, err := f.string("torch_dtype", &td)
	if err != nil {
		return err
	}
	hasD, err := f.string("dtype", &d)
	if err != nil {
		return err
	}
	switch {
	case hasTD && hasD && td != d:
		return f.bad("dtype", f.all["dtype"], "disagrees with torch_dtype %q", td)
	case hasD:
		c.TorchDtype = d
	case hasTD:
		c.TorchDtype = td
	}
	return nil
}

// readRope reads rope_theta (4.x) and rope_parameters (5.x). A rope type
// other than the default, a partial rotary factor, rotary parameters per
// layer type, and a legacy rope_scaling or rope_theta that disagrees with
// rope_parameters are refused by name: the trainer implements plain rotary
// embeddings, and any of these would give other logits than transformers.
func (c *Config) readRope(f fields) error {
	legacyTheta := 0.0
	hasLegacy, err := f.float("rope_theta", &legacyTheta)
	if err != nil {
		return err
	}
	if hasLegacy {
		c.RopeTheta = legacyTheta
	}
	scalingType := ""
	if r, ok := f.raw("rope_scaling"); ok {
		t, err := ropeType(f, "rope_scaling", r)
		if err != nil {
			return err
		}
		scalingType = t
	}
	r, ok := f.raw("rope_parameters")
	if !ok {
		return nil
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(r, &params); err != nil || params == nil {
		return f.bad("rope_parameters", r, "is not a JSON object")
	}
	for k, v := range params {
		if k == "rope_type" || k == "type" || k == "rope_theta" || k == "partial_rotary_factor" {
			continue
		}
		if len(bytes.TrimSpace(v)) > 0 && bytes.TrimSpace(v)[0] == '{' {
			return f.bad("rope_parameters", r, "holds one entry per layer type (%q, …); resyn's Qwen2 uses one rotary embedding in every layer", k)
		}
	}
	t, err := ropeType(f, "rope_parameters", r)
	if err != nil {
		return err
	}
	if scalingType != "" && t != scalingType {
		return f.bad("rope_scaling", f.all["rope_scaling"], "disagrees with rope_parameters.rope_type %q", t)
	}
	if pr, ok := params["partial_rotary_factor"]; ok && string(pr) != "null" {
		var p float64
		if json.Unmarshal(pr, &p) != nil || p != 1 {
			return f.bad("rope_parameters.partial_rotary_factor", pr, "is not implemented (only 1: every dimension of a head rotates)")
		}
	}
	if tr, ok := params["rope_theta"]; ok && string(tr) != "null" {
		var theta float64
		if err := json.Unmarshal(tr, &theta); err != nil {
			return f.bad("rope_parameters.rope_theta", tr, "is not a number")
		}
		if hasLegacy && math.Abs(theta-legacyTheta) > 1e-9*math.Max(math.Abs(theta), 1) {
			return f.bad("rope_parameters.rope_theta", tr, "disagrees with rope_theta %v", legacyTheta)
		}
		c.RopeTheta = theta
	}
	for k, v := range params {
		if k != "rope_type" && k != "type" && k != "rope_theta" {
			if c.ropeExtra == nil {
				c.ropeExtra = map[string]json.RawMessage{}
			}
			c.ropeExtra[k] = v
		}
	}
	return nil
}

// ropeType reads the rope_type (or the older type) of a rope_parameters or
// rope_scaling object and refuses every type but "default".
func ropeType(f fields, name string, r json.RawMessage) (string, error) {
	var p struct {
		RopeType *string `json:"rope_type"`
		Type     *string `json:"type"`
	}
	if err := json.Unmarshal(r, &p); err != nil {
		return "", f.bad(name, r, "is not a JSON object with a rope_type")
	}
	t, key := "default", name+".rope_type"
	switch {
	case p.RopeType != nil:
		t = *p.RopeType
	case p.Type != nil:
		t, key = *p.Type, name+".type"
	}
	if t != "default" {
		return "", f.bad(key, json.RawMessage(strconv.Quote(t)),
			"is not implemented: resyn's rotary embedding is the default one (no linear, dynamic, yarn, longrope or llama3 scaling)")
	}
	return t, nil
}

// MarshalJSON writes the known fields in the spellings of both transformers
// generations, and Extra; keys sorted.
func (c Config) MarshalJSON() ([]byte, error) {
	all := withExtra(c.Extra, known)
	if len(c.Architectures) > 0 {
		all["architectures"] = c.Architectures
	}
	all["model_type"] = c.ModelType
	all["vocab_size"] = c.VocabSize
	all["hidden_size"] = c.HiddenSize
	all["intermediate_size"] = c.IntermediateSize
	all["num_hidden_layers"] = c.NumHiddenLayers
	all["num_attention_heads"] = c.NumAttentionHeads
	all["num_key_value_heads"] = c.NumKeyValueHeads
	all["rope_theta"] = c.RopeTheta
	rope := map[string]any{"rope_type": "default", "rope_theta": c.RopeTheta}
	for k, v := range c.ropeExtra {
		rope[k] = v
	}
	all["rope_parameters"] = rope
	all["rms_norm_eps"] = c.RMSNormEps
	all["tie_word_embeddings"] = c.TieWordEmbeddings
	all["max_position_embeddings"] = c.MaxPositionEmbeddings
	if c.TorchDtype != "" {
		all["torch_dtype"] = c.TorchDtype
		all["dtype"] = c.TorchDtype
	}
	if c.HiddenAct != "" {
		all["hidden_act"] = c.HiddenAct
	}
	if c.BOSTokenID != nil {
		all["bos_token_id"] = *c.BOSTokenID
	}
	if eos, ok := c.EOSTokenID.json(); ok {
		all["eos_token_id"] = eos
	}
	return json.Marshal(all) // maps marshal with sorted keys
}

// Validate checks that the sizes describe a buildable Qwen2 model within
// sizeBounds, that the token ids are in the vocabulary, and that the
// fields kept in Extra ask for nothing the trainer does not implement
// (head_dim other than hidden_size / num_attention_heads, layer_types other
// than full attention, rope_scaling). Every failure is a *FieldError.
func (c Config) Validate() error {
	bad := func(field string, v any, why string, args ...any) error {
		return &FieldError{File: ConfigFile, Field: field, Value: fmt.Sprint(v), Why: fmt.Sprintf(why, args...)}
	}
	if c.ModelType != "" && c.ModelType != "qwen2" {
		return bad("model_type", strconv.Quote(c.ModelType), "is not qwen2")
	}
	vals := map[string]int{"vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
		"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads,
		"num_key_value_heads": c.NumKeyValueHeads, "max_position_embeddings": c.MaxPositionEmbeddings}
	for _, b := range sizeBounds {
		switch v := vals[b.name]; {
		case v <= 0:
			return bad(b.name, v, "is not a positive integer")
		case v > b.max:
			return bad(b.name, v, "is above the bound %d", b.max)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return bad("hidden_size", c.HiddenSize, "is not a multiple of num_attention_heads %d", c.NumAttentionHeads)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return bad("num_attention_heads", c.NumAttentionHeads, "is not a multiple of num_key_value_heads %d", c.NumKeyValueHeads)
	}
	if c.HeadDim()%2 != 0 {
		return bad("hidden_size", c.HiddenSize, "gives an odd head dimension %d (hidden_size / num_attention_heads); rotary embeddings need it even", c.HeadDim())
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return bad("rope_theta", c.RopeTheta, "is not a positive finite number")
	}
	if !(c.RMSNormEps > 0 && c.RMSNormEps < 1) {
		return bad("rms_norm_eps", c.RMSNormEps, "is not in (0, 1)")
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		return bad("hidden_act", strconv.Quote(c.HiddenAct), "is not supported (only silu)")
	}
	if c.TorchDtype != "" && !slices.Contains(torchDtypeNames, c.TorchDtype) {
		return bad("dtype", strconv.Quote(c.TorchDtype), "is not one of %v", torchDtypeNames)
	}
	if c.BOSTokenID != nil && (*c.BOSTokenID < 0 || *c.BOSTokenID >= c.VocabSize) {
		return bad("bos_token_id", *c.BOSTokenID, "is outside the vocabulary [0, %d)", c.VocabSize)
	}
	for _, id := range c.EOSTokenID.IDs {
		if id < 0 || id >= c.VocabSize {
			return bad("eos_token_id", id, "is outside the vocabulary [0, %d)", c.VocabSize)
		}
	}
	if err := c.validateExtra(); err != nil {
		return err
	}
	if c.Generation != nil {
		if err := c.Generation.validate(c.VocabSize); err != nil {
			return err
		}
	}
	return nil
}

// validateExtra checks the fields of Extra that would change the model.
func (c Config) validateExtra() error {
	f := fields{file: ConfigFile, all: c.Extra}
	if r, ok := f.raw("rope_scaling"); ok {
		if _, err := ropeType(f, "rope_scaling", r); err != nil {
			return err
		}
	}
	var hd int
	if ok, err := f.int("head_dim", &hd); err != nil {
		return err
	} else if ok && hd != c.HeadDim() {
		return f.bad("head_dim", f.all["head_dim"], "disagrees with hidden_size / num_attention_heads = %d (resyn's Qwen2 derives the head width)", c.HeadDim())
	}
	if r, ok := f.raw("layer_types"); ok {
		var types []string
		if err := json.Unmarshal(r, &types); err != nil {
			return f.bad("layer_types", r, "is not a list of strings")
		}
		if len(types) != c.NumHiddenLayers {
			return f.bad("layer_types", r, "lists %d layers, but num_hidden_layers is %d", len(types), c.NumHiddenLayers)
		}
		for i, t := range types {
			if t != "full_attention" {
				return f.bad("layer_types", r, "makes layer %d %q; only full_attention is implemented", i, t)
			}
		}
	}
	return nil
}

// ReadConfig reads and validates dir/config.json, and dir/
// generation_config.json when there is one. When the directory holds
// weights, the config's sizes are also checked against the tensors' shapes
// in their headers (see Open), so that a config that disagrees with its
// files is refused, naming the field, before any caller allocates a model
// of that size.
func ReadConfig(dir string) (Config, error) {
	c, err := readConfig(dir)
	if err != nil {
		return Config{}, err
	}
	_, errSingle := os.Stat(filepath.Join(dir, SingleFile))
	_, errIndex := os.Stat(filepath.Join(dir, IndexFile))
	if errSingle == nil || errIndex == nil {
		ck, err := Open(dir)
		if err != nil {
			return Config{}, err
		}
		ck.Close()
	}
	return c, nil
}

// readConfig is ReadConfig without the check against the weights.
func readConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := readBounded(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return Config{}, fmt.Errorf("%s: %w", dir, err) // it names config.json
		}
		if errors.Is(err, ErrConfig) {
			return Config{}, fmt.Errorf("%s: %w", path, err)
		}
		return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	gpath := filepath.Join(dir, GenerationConfigFile)
	if gb, err := readBounded(gpath); err == nil {
		var g GenerationConfig
		if err := json.Unmarshal(gb, &g); err != nil {
			if errors.Is(err, ErrConfig) {
				return Config{}, fmt.Errorf("%s: %w", dir, err) // it names generation_config.json
			}
			return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, gpath, err)
		}
		c.Generation = &g
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

// readBounded reads a JSON file of at most MaxConfigBytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxConfigBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes; a config is a few kilobytes", path, MaxConfigBytes)
	}
	return b, nil
}
