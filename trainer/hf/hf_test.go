package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"resyn/trainer/safetensors"
)

func TestConfigReadsQwen25AndKeepsExtras(t *testing.T) {
	var c Config
	b, err := os.ReadFile("testdata/qwen2.5-0.5b-config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HiddenSize != 896 || c.NumKeyValueHeads != 2 || c.RopeTheta != 1e6 || !c.TieWordEmbeddings || c.HeadDim() != 64 {
		t.Errorf("config = %+v", c)
	}
	if got := NumParams(c); got != 494_032_768 { // Qwen2.5-0.5B: 0.49B parameters
		t.Errorf("NumParams = %d", got)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// Every field comes back as it was, and the 5.x spellings are added.
	var a, z map[string]any
	json.Unmarshal(b, &a)
	json.Unmarshal(out, &z)
	for k, v := range a {
		if fmt.Sprint(z[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v after the round trip, want %v", k, z[k], v)
		}
	}
	if fmt.Sprint(z["rope_parameters"]) != "map[rope_theta:1e+06 rope_type:default]" || z["dtype"] != "bfloat16" {
		t.Errorf("rope_parameters = %v, dtype = %v", z["rope_parameters"], z["dtype"])
	}
	if len(z) != len(a)+2 {
		t.Errorf("%d keys written for %d read (+ rope_parameters, dtype)", len(z), len(a))
	}
}

// TestConfigBothGenerations reads the same model as transformers 4.x and
// 5.x save it: testdata/qwen2.5-0.5b-config.json is Qwen2.5-0.5B's file
// (4.43), testdata/qwen2.5-0.5b-instruct-config-v5.json the Instruct
// model's as 5.x writes it (rope_parameters, dtype, layer_types; written
// by hand from transformers 5's Qwen2Config, which is not installed here).
// Both must give the same model, and what resyn writes must read back the
// same in either spelling.
func TestConfigBothGenerations(t *testing.T) {
	read := func(path string) Config {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return c
	}
	v4, v5 := read("testdata/qwen2.5-0.5b-config.json"), read("testdata/qwen2.5-0.5b-instruct-config-v5.json")
	if v5.RopeTheta != 1e6 || v5.TorchDtype != "bfloat16" || v5.RopeTheta != v4.RopeTheta || v5.TorchDtype != v4.TorchDtype {
		t.Errorf("v5 config: rope_theta %v dtype %q; v4: %v %q", v5.RopeTheta, v5.TorchDtype, v4.RopeTheta, v4.TorchDtype)
	}
	if NumParams(v4) != NumParams(v5) || v4.HeadDim() != v5.HeadDim() {
		t.Errorf("the two generations describe different models: %d vs %d parameters", NumParams(v4), NumParams(v5))
	}
	// What Save writes is read back the same by the reader of either
	// generation: the 4.x keys alone and the 5.x keys alone.
	out, _ := json.Marshal(v5)
	var all map[string]json.RawMessage
	json.Unmarshal(out, &all)
	only := func(drop ...string) Config {
		m := maps.Clone(all)
		for _, k := range drop {
			delete(m, k)
		}
		b, _ := json.Marshal(m)
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, c := range map[string]Config{"4.x keys": only("rope_parameters", "dtype"), "5.x keys": only("rope_theta", "torch_dtype")} {
		if c.RopeTheta != 1e6 || c.TorchDtype != "bfloat16" {
			t.Errorf("%s: rope_theta %v dtype %q", name, c.RopeTheta, c.TorchDtype)
		}
	}
	// eos_token_id as a list is read, kept a list, and joins the stop ids.
	var l Config
	if err := json.Unmarshal([]byte(strings.Replace(string(out), `"eos_token_id":151645`, `"eos_token_id":[151645,151643]`, 1)), &l); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.StopTokenIDs(), []int{151645, 151643}) || !l.EOSTokenID.List {
		t.Errorf("eos_token_id list: %+v", l.EOSTokenID)
	}
	b, _ := json.Marshal(l)
	if !strings.Contains(string(b), `"eos_token_id":[151645,151643]`) {
		t.Errorf("eos_token_id list written as %s", b)
	}
}

func TestGenerationConfigRoundTrip(t *testing.T) {
	cfg := NewConfig(151936, 16, 24, 1, 4, 2)
	cfg.EOSTokenID = One(151645)
	ts := tinyTensors(cfg, rand.New(rand.NewPCG(3, 3)))
	dir := t.TempDir()
	gen, _ := os.ReadFile("testdata/qwen2.5-0.5b-instruct-generation_config.json")
	if err := Save(dir, cfg, ts, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, GenerationConfigFile), gen, 0o644)
	c, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation == nil || !slices.Equal(c.StopTokenIDs(), []int{151645, 151643}) {
		t.Fatalf("generation config %+v, stop ids %v", c.Generation, c.StopTokenIDs())
	}
	out := t.TempDir()
	if err := Save(out, c, ts, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	var a, z map[string]any
	json.Unmarshal(gen, &a)
	b, _ := os.ReadFile(filepath.Join(out, GenerationConfigFile))
	json.Unmarshal(b, &z)
	if fmt.Sprint(a) != fmt.Sprint(z) {
		t.Errorf("generation_config.json did not round-trip:\n%v\n%v", a, z)
	}
	os.WriteFile(filepath.Join(out, GenerationConfigFile), []byte(`{"eos_token_id": [151645, 999999]}`), 0o644)
	if _, err := ReadConfig(out); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "generation_config.json: eos_token_id = 999999 is outside the vocabulary") {
		t.Errorf("bad generation eos: %v", err)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":16,
		"num_hidden_layers":1,"num_attention_heads":2}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 2 || c.RopeTheta != 10000 || c.RMSNormEps != 1e-6 || c.TieWordEmbeddings || c.MaxPositionEmbeddings != 32768 {
		t.Errorf("defaults: %+v", c)
	}
	bad := map[string]func(*Config){
		"hidden_size = 8 is not a multiple of num_attention_heads 3":         func(c *Config) { c.NumAttentionHeads = 3 },
		"num_attention_heads = 4 is not a multiple of num_key_value_heads 3": func(c *Config) { c.NumAttentionHeads, c.NumKeyValueHeads = 4, 3 },
		"odd":                     func(c *Config) { c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads = 6, 2, 2 },
		"vocab_size = 0":          func(c *Config) { c.VocabSize = 0 },
		"model_type":              func(c *Config) { c.ModelType = "llama" },
		"hidden_act":              func(c *Config) { c.HiddenAct = "gelu" },
		"eos_token_id = 10":       func(c *Config) { c.EOSTokenID = One(10) },
		"dtype = \"int8\"":        func(c *Config) { c.TorchDtype = "int8" },
		"max_position_embeddings": func(c *Config) { c.MaxPositionEmbeddings = 0 },
	}
	for want, mutate := range bad {
		d := NewConfig(10, 8, 16, 1, 2, 2)
		mutate(&d)
		err := d.Validate()
		var fe *FieldError
		if !errors.Is(err, ErrConfig) || !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// TestConfigRefusesByName: sizes past their bounds, rope types and layer
// layouts resyn does not implement, and fields that disagree are each a
// *FieldError naming the field, from the JSON alone (nothing allocated).
func TestConfigRefusesByName(t *testing.T) {
	base := `"model_type":"qwen2","vocab_size":64,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2`
	cases := map[string]string{
		`"num_hidden_layers":1000000000`:                                   "num_hidden_layers = 1000000000 is above the bound 1024",
		`"num_hidden_layers":1e9`:                                          "num_hidden_layers = 1000000000 is above the bound 1024",
		`"num_hidden_layers":1e30`:                                         "num_hidden_layers = 1e30 is outside the 32-bit range",
		`"hidden_size":2.5`:                                                "hidden_size = 2.5 is not an integer",
		`"vocab_size":"big"`:                                               `vocab_size = "big" is not a number`,
		`"max_position_embeddings":0`:                                      "max_position_embeddings = 0 is not a positive integer",
		`"max_position_embeddings":-1`:                                     "max_position_embeddings = -1 is not a positive integer",
		`"intermediate_size":99999999`:                                     "intermediate_size = 99999999 is above the bound",
		`"rope_parameters":{"rope_type":"yarn","factor":4}`:                `rope_parameters.rope_type = "yarn" is not implemented`,
		`"rope_scaling":{"type":"linear","factor":2}`:                      `rope_scaling.type = "linear" is not implemented`,
		`"rope_scaling":{"rope_type":"llama3","factor":8}`:                 `rope_scaling.rope_type = "llama3" is not implemented`,
		`"rope_theta":10000,"rope_parameters":{"rope_theta":1e6}`:          "rope_parameters.rope_theta = 1e6 disagrees with rope_theta 10000",
		`"torch_dtype":"float32","dtype":"bfloat16"`:                       `dtype = "bfloat16" disagrees with torch_dtype "float32"`,
		`"rope_parameters":{"rope_theta":1e6,"partial_rotary_factor":0.5}`: "rope_parameters.partial_rotary_factor = 0.5 is not implemented",
		`"rope_parameters":{"full_attention":{"rope_theta":1e6},"sliding_attention":{"rope_theta":1e4}}`: "rope_parameters = ",
		`"head_dim":8`:                                         "head_dim = 8 disagrees with hidden_size / num_attention_heads = 4",
		`"layer_types":["full_attention"]`:                     "layer_types = [\"full_attention\"] lists 1 layers, but num_hidden_layers is 2",
		`"layer_types":["full_attention","sliding_attention"]`: `makes layer 1 "sliding_attention"`,
		`"eos_token_id":[1,"x"]`:                               "eos_token_id = [1,\"x\"] holds \"x\", which is not a token id",
		`"eos_token_id":[1,64]`:                                "eos_token_id = 64 is outside the vocabulary [0, 64)",
		`"rms_norm_eps":0`:                                     "rms_norm_eps = 0 is not in (0, 1)",
	}
	for field, want := range cases {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ConfigFile), []byte("{"+base+","+field+"}"), 0o644)
		_, err := ReadConfig(dir)
		var fe *FieldError
		if !errors.Is(err, ErrConfig) || !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant …%s…", field, err, want)
		}
	}
	// The default rope type is fine in either spelling, as is a null rope_scaling.
	for _, ok := range []string{`"rope_scaling":null`, `"rope_scaling":{"type":"default"}`, `"rope_parameters":{"rope_type":"default","rope_theta":5e5}`,
		`"rope_theta":5e5,"rope_parameters":{"rope_theta":500000.0,"rope_type":"default"}`, `"eos_token_id":[1,2]`, `"head_dim":4`} {
		var c Config
		if err := json.Unmarshal([]byte("{"+base+","+ok+"}"), &c); err != nil {
			t.Errorf("%s: %v", ok, err)
		} else if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestConfigCheckedAgainstWeights: a config whose sizes are in bounds but
// disagree with the weight files is refused by ReadConfig and Open,
// naming the field, before a model of that size could be allocated.
func TestConfigCheckedAgainstWeights(t *testing.T) {
	cfg := NewConfig(32, 16, 24, 2, 4, 2)
	cfg.TieWordEmbeddings = false
	ts := tinyTensors(cfg, rand.New(rand.NewPCG(5, 5)))
	cases := map[string]func(*Config){
		"num_hidden_layers = 1000 disagrees with the weights: the checkpoint holds layers 0 to 1":                     func(c *Config) { c.NumHiddenLayers = 1000 },
		"vocab_size = 4194304 disagrees with the weights: model.embed_tokens.weight in model.safetensors has 32 rows": func(c *Config) { c.VocabSize = 1 << 22 },
		"hidden_size = 32 disagrees":         func(c *Config) { c.HiddenSize = 32 },
		"intermediate_size = 4096 disagrees": func(c *Config) { c.IntermediateSize = 4096 },
		"num_key_value_heads = 4 disagrees":  func(c *Config) { c.NumKeyValueHeads = 4 },
	}
	for want, mutate := range cases {
		dir := t.TempDir()
		if err := Save(dir, cfg, ts, SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		c := cfg
		mutate(&c)
		b, _ := json.Marshal(c)
		os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
		_, err := ReadConfig(dir)
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadConfig: %s:\n got %v", want, err)
		}
		if ck, err := Open(dir); !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open: %s:\n got %v", want, err)
			if ck != nil {
				ck.Close()
			}
		}
	}
	// An untied config over weights without lm_head.weight.
	tied := NewConfig(32, 16, 24, 2, 4, 2)
	dir := t.TempDir()
	if err := Save(dir, tied, tinyTensors(tied, rand.New(rand.NewPCG(5, 6))), SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	tied.TieWordEmbeddings = false
	b, _ := json.Marshal(tied)
	os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
	if _, err := ReadConfig(dir); err == nil || !strings.Contains(err.Error(), "tie_word_embeddings = false disagrees with the weights") {
		t.Errorf("untied without lm_head: %v", err)
	}
	// A huge config.json is refused by its size.
	os.WriteFile(filepath.Join(dir, ConfigFile), bytes.Repeat([]byte(" "), MaxConfigBytes+1), 0o644)
	if _, err := ReadConfig(dir); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge config.json: %v", err)
	}
}

func tinyTensors(c Config, r *rand.Rand) []safetensors.Tensor {
	var ts []safetensors.Tensor
	for _, s := range Qwen2Tensors(c) {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32(r.NormFloat64())
		}
		ts = append(ts, safetensors.Tensor{Name: s.Name, Shape: s.Shape, Data: data})
	}
	return ts
}

func TestSaveOpenRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tied := range []bool{true, false} {
		for _, dt := range []safetensors.DType{safetensors.F32, safetensors.BF16} {
			for _, shard := range []int64{0, 2000} {
				name := fmt.Sprintf("tied=%v/%s/shard=%d", tied, dt, shard)
				cfg := NewConfig(32, 16, 24, 2, 4, 2)
				cfg.TieWordEmbeddings = tied
				cfg.Extra = map[string]json.RawMessage{"use_sliding_window": json.RawMessage("false")}
				ts := tinyTensors(cfg, r)
				dir := t.TempDir()
				if err := Save(dir, cfg, ts, SaveOptions{DType: dt, MaxShardBytes: shard}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				_, single := os.Stat(filepath.Join(dir, SingleFile))
				_, index := os.Stat(filepath.Join(dir, IndexFile))
				if (shard == 0) != (single == nil) || (shard == 0) == (index == nil) {
					t.Fatalf("%s: single=%v index=%v", name, single, index)
				}
				ck, err := Open(dir)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := ck.CheckQwen2(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				wantDtype := map[safetensors.DType]string{safetensors.F32: "float32", safetensors.BF16: "bfloat16"}[dt]
				if ck.Config.TorchDtype != wantDtype || string(ck.Config.Extra["use_sliding_window"]) != "false" {
					t.Errorf("%s: config %+v", name, ck.Config)
				}
				n := 0
				err = ck.Each(func(name string, shape []int64, data []float32) error {
					i := slices.IndexFunc(ts, func(x safetensors.Tensor) bool { return x.Name == name })
					for j, v := range ts[i].Data {
						w := v
						if dt == safetensors.BF16 {
							w = safetensors.BF16ToFloat32(safetensors.Float32ToBF16(v))
						}
						if data[j] != w {
							return fmt.Errorf("%s[%d] = %v, want %v", name, j, data[j], w)
						}
					}
					n++
					return nil
				})
				if err != nil || n != len(ts) {
					t.Fatalf("%s: Each: %v (%d of %d)", name, err, n, len(ts))
				}
				ck.Close()
			}
		}
	}
}

func TestSaveReplacesEarlierLayout(t *testing.T) {
	cfg := NewConfig(32, 16, 24, 2, 4, 2)
	ts := tinyTensors(cfg, rand.New(rand.NewPCG(1, 1)))
	dir := t.TempDir()
	if err := Save(dir, cfg, ts, SaveOptions{MaxShardBytes: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, cfg, ts, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{ConfigFile, SingleFile}) {
		t.Errorf("directory after re-save = %v", names)
	}
}

func TestSaveRejectsWrongTensors(t *testing.T) {
	cfg := NewConfig(32, 16, 24, 1, 4, 2)
	ts := tinyTensors(cfg, rand.New(rand.NewPCG(1, 1)))
	ts[1].Shape = []int64{8}
	ts[1].Data = ts[1].Data[:8]
	err := Save(t.TempDir(), cfg, ts[:len(ts)-1], SaveOptions{})
	if !errors.Is(err, ErrTensors) || !strings.Contains(err.Error(), "model.layers.0.input_layernorm.weight has shape [8], want [16]") ||
		!strings.Contains(err.Error(), "missing model.norm.weight") {
		t.Errorf("err = %v", err)
	}
}

func TestOpenRejectsBadLayouts(t *testing.T) {
	cfg := NewConfig(32, 16, 24, 1, 4, 2)
	ts := tinyTensors(cfg, rand.New(rand.NewPCG(1, 1)))
	sharded := func(t *testing.T) string {
		dir := t.TempDir()
		if err := Save(dir, cfg, ts, SaveOptions{MaxShardBytes: 1500}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	editIndex := func(dir string, edit func(*Index)) {
		b, _ := os.ReadFile(filepath.Join(dir, IndexFile))
		var idx Index
		json.Unmarshal(b, &idx)
		edit(&idx)
		b, _ = json.Marshal(idx)
		os.WriteFile(filepath.Join(dir, IndexFile), b, 0o644)
	}
	cases := map[string]func(dir string){
		"not a file name in this directory": func(dir string) {
			editIndex(dir, func(i *Index) { i.WeightMap["model.norm.weight"] = "../../etc/passwd" })
		},
		"does not hold it": func(dir string) {
			editIndex(dir, func(i *Index) { i.WeightMap["ghost.weight"] = i.WeightMap["model.norm.weight"] })
		},
		"not in the index": func(dir string) {
			editIndex(dir, func(i *Index) { delete(i.WeightMap, "model.layers.0.self_attn.q_proj.bias") })
		},
		"weight_map is missing": func(dir string) { editIndex(dir, func(i *Index) { i.WeightMap = nil }) },
		"neither":               func(dir string) { os.Remove(filepath.Join(dir, IndexFile)) },
	}
	for want, breakIt := range cases {
		dir := sharded(t)
		breakIt(dir)
		ck, err := Open(dir)
		if err == nil {
			ck.Close()
		}
		if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
	// A checkpoint whose config disagrees with its weights in a size no
	// tensor reveals at once opens, but fails CheckQwen2.
	dir := t.TempDir()
	if err := Save(dir, cfg, ts, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	ts2 := slices.Clone(ts)
	for i := range ts2 {
		if strings.HasSuffix(ts2[i].Name, "layers.0.mlp.down_proj.weight") {
			ts2[i].Shape = []int64{16, 12}
			ts2[i].Data = ts2[i].Data[:16*12]
		}
	}
	if err := Save(dir, cfg, ts2, SaveOptions{AllowOtherTensors: true}); err != nil {
		t.Fatal(err)
	}
	ck, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if err := ck.CheckQwen2(); !errors.Is(err, ErrTensors) || !strings.Contains(err.Error(), "mlp.down_proj.weight has shape [16 12], want [16 24]") {
		t.Errorf("CheckQwen2: %v", err)
	}
}

func TestLogitsCheckRoundTrip(t *testing.T) {
	lc := LogitsCheck{Atol: 1e-3, Sequences: []LogitsSequence{{
		InputIDs: []int{1, 2, 3}, TargetLogprobs: []float64{-1.5, -0.25},
		LogitIDs: []int{0, 7}, Logits: [][]float64{{0.1, 0.2}, {0.3, 0.4}, {0.5, 0.6}},
	}}}
	path := filepath.Join(t.TempDir(), "logits_check.json")
	if err := WriteLogitsCheck(path, lc); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLogitsCheck(path)
	if err != nil || got.Format != LogitsCheckFormat || got.Sequences[0].Logits[2][1] != 0.6 {
		t.Fatalf("got %+v, %v", got, err)
	}
	lc.Sequences[0].TargetLogprobs = lc.Sequences[0].TargetLogprobs[:1]
	if err := WriteLogitsCheck(path, lc); !errors.Is(err, ErrConfig) {
		t.Errorf("short target_logprobs: %v", err)
	}
}

// FuzzConfig: any config.json bytes either fail with an error or give a
// config that validates, stays within the bounds, and reads back the same
// after MarshalJSON (in both spellings).
func FuzzConfig(f *testing.F) {
	for _, p := range []string{"testdata/qwen2.5-0.5b-config.json", "testdata/qwen2.5-0.5b-instruct-config-v5.json"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"vocab_size":64,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":1e3,"num_attention_heads":4,"rope_parameters":{"rope_theta":1e6}}`))
	f.Add([]byte(`{"eos_token_id":[1,2],"rope_scaling":{"type":"yarn"},"dtype":"bfloat16","torch_dtype":"float16"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate error %v does not match ErrConfig", err)
			}
			return
		}
		if c.NumHiddenLayers > 1024 || c.HiddenSize > 1<<16 || c.VocabSize > 1<<22 {
			t.Fatalf("a validated config past the bounds: %+v", c)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-reading %s: %v", out, err)
		}
		if err := back.Validate(); err != nil || back.RopeTheta != c.RopeTheta || NumParams(back) != NumParams(c) || back.TorchDtype != c.TorchDtype {
			t.Fatalf("round trip changed the config: %v\n%+v\n%+v", err, c, back)
		}
	})
}
