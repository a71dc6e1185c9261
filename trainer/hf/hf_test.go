package hf

import (
	"encoding/json"
	"errors"
	"fmt"
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
	var a, z map[string]any
	json.Unmarshal(b, &a)
	json.Unmarshal(out, &z)
	if fmt.Sprint(a) != fmt.Sprint(z) {
		t.Errorf("config did not round-trip:\n%v\n%v", a, z)
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	var c Config
	if err := json.Unmarshal([]byte(`{"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":16,
		"num_hidden_layers":1,"num_attention_heads":2}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 2 || c.RopeTheta != 10000 || c.RMSNormEps != 1e-6 || c.TieWordEmbeddings {
		t.Errorf("defaults: %+v", c)
	}
	bad := map[string]func(*Config){
		"num_attention_heads 3": func(c *Config) { c.NumAttentionHeads = 3 },
		"num_key_value_heads 3": func(c *Config) { c.NumAttentionHeads, c.NumKeyValueHeads = 4, 3 },
		"odd":                   func(c *Config) { c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads = 6, 2, 2 },
		"vocab_size = 0":        func(c *Config) { c.VocabSize = 0 },
		"model_type":            func(c *Config) { c.ModelType = "llama" },
		"hidden_act":            func(c *Config) { c.HiddenAct = "gelu" },
	}
	for want, mutate := range bad {
		d := NewConfig(10, 8, 16, 1, 2, 2)
		mutate(&d)
		if err := d.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
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
	// A checkpoint whose config disagrees with its weights opens but fails CheckQwen2.
	dir := t.TempDir()
	if err := Save(dir, cfg, ts, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg2 := cfg
	cfg2.IntermediateSize = 32
	b, _ := json.Marshal(cfg2)
	os.WriteFile(filepath.Join(dir, ConfigFile), b, 0o644)
	ck, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if err := ck.CheckQwen2(); !errors.Is(err, ErrTensors) || !strings.Contains(err.Error(), "mlp.gate_proj.weight has shape [24 16], want [32 16]") {
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
