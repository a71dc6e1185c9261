package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"resyn/trainer/safetensors"
)

// File names of a checkpoint directory.
const (
	ConfigFile = "config.json"
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Index is model.safetensors.index.json: which shard holds each tensor.
type Index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// TensorRef is one tensor of a checkpoint and the file that holds it.
type TensorRef struct {
	safetensors.TensorInfo
	File string // base name of the safetensors file
}

// Checkpoint is an open checkpoint directory. Weights are read lazily.
type Checkpoint struct {
	Dir    string
	Config Config
	files  map[string]*safetensors.File
	refs   []TensorRef // file order, then offset order
	byName map[string]int
}

// Open reads dir/config.json and the headers of its weights: model.safetensors
// when present (as transformers prefers), otherwise the shards listed in
// model.safetensors.index.json. Every shard is opened and every tensor must
// appear exactly once. The config's sizes are checked against the shapes in
// the headers (checkSizes) before Open returns, so that a config.json that
// disagrees with its weights is refused by the field's name before anything
// of the size it claims is allocated.
func Open(dir string) (*Checkpoint, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Dir: dir, Config: cfg, files: map[string]*safetensors.File{}, byName: map[string]int{}}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	var shards []string
	var index *Index
	if _, err := os.Stat(filepath.Join(dir, SingleFile)); err == nil {
		shards = []string{SingleFile}
	} else if b, err := os.ReadFile(filepath.Join(dir, IndexFile)); err == nil {
		index, shards, err = parseIndex(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, IndexFile), err)
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has neither %s nor %s", ErrLayout, dir, SingleFile, IndexFile)
	} else {
		return nil, err
	}
	for _, name := range shards {
		f, err := safetensors.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		c.files[name] = f
		for _, ti := range f.Tensors() {
			if prev, dup := c.byName[ti.Name]; dup {
				return nil, fmt.Errorf("%w: tensor %q is in both %s and %s", ErrLayout, ti.Name, c.refs[prev].File, name)
			}
			if index != nil {
				if want, listed := index.WeightMap[ti.Name]; !listed {
					return nil, fmt.Errorf("%w: tensor %q is in %s but not in the index", ErrLayout, ti.Name, name)
				} else if want != name {
					return nil, fmt.Errorf("%w: tensor %q is in %s but the index places it in %s", ErrLayout, ti.Name, name, want)
				}
			}
			c.byName[ti.Name] = len(c.refs)
			c.refs = append(c.refs, TensorRef{TensorInfo: ti, File: name})
		}
	}
	if index != nil {
		for name, file := range index.WeightMap {
			if _, found := c.byName[name]; !found {
				return nil, fmt.Errorf("%w: the index places tensor %q in %s, which does not hold it", ErrLayout, name, file)
			}
		}
	}
	if err := c.checkSizes(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	ok = true
	return c, nil
}

// checkSizes compares the config's sizes with the shapes of the tensors
// that reveal them — the embedding (vocab_size, hidden_size), the layer
// indices (num_hidden_layers), layer 0's gate_proj (intermediate_size) and
// k_proj (num_key_value_heads × head width), lm_head (tie_word_embeddings)
// — and names the first field that disagrees. Tensors that are missing are
// left to CheckQwen2, which lists every problem.
func (c *Checkpoint) checkSizes() error {
	cfg := c.Config
	disagree := func(field string, v any, format string, args ...any) error {
		return &FieldError{File: ConfigFile, Field: field, Value: fmt.Sprint(v),
			Why: "disagrees with the weights: " + fmt.Sprintf(format, args...)}
	}
	shape := func(name string) ([]int64, string, bool) {
		r, ok := c.Info(name)
		if !ok || len(r.Shape) == 0 {
			return nil, "", false
		}
		return r.Shape, r.File, true
	}
	if s, file, ok := shape("model.embed_tokens.weight"); ok && len(s) == 2 {
		if s[0] != int64(cfg.VocabSize) {
			return disagree("vocab_size", cfg.VocabSize, "model.embed_tokens.weight in %s has %d rows", file, s[0])
		}
		if s[1] != int64(cfg.HiddenSize) {
			return disagree("hidden_size", cfg.HiddenSize, "model.embed_tokens.weight in %s is %d wide", file, s[1])
		}
	}
	layers := 0
	for _, r := range c.refs {
		rest, found := strings.CutPrefix(r.Name, "model.layers.")
		if !found {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(num); err == nil && i >= 0 && i+1 > layers {
			layers = i + 1
		}
	}
	if layers > 0 && layers != cfg.NumHiddenLayers {
		return disagree("num_hidden_layers", cfg.NumHiddenLayers, "the checkpoint holds layers 0 to %d", layers-1)
	}
	if s, file, ok := shape("model.layers.0.mlp.gate_proj.weight"); ok && s[0] != int64(cfg.IntermediateSize) {
		return disagree("intermediate_size", cfg.IntermediateSize, "model.layers.0.mlp.gate_proj.weight in %s has %d rows", file, s[0])
	}
	if s, file, ok := shape("model.layers.0.self_attn.k_proj.weight"); ok && s[0] != int64(cfg.NumKeyValueHeads*cfg.HeadDim()) {
		return disagree("num_key_value_heads", cfg.NumKeyValueHeads, "model.layers.0.self_attn.k_proj.weight in %s has %d rows, not %d heads × %d",
			file, s[0], cfg.NumKeyValueHeads, cfg.HeadDim())
	}
	if _, _, ok := shape("lm_head.weight"); !ok && !cfg.TieWordEmbeddings && len(c.refs) > 0 {
		return disagree("tie_word_embeddings", false, "the checkpoint has no lm_head.weight (a tied model's head is its embedding)")
	}
	return nil
}

// parseIndex validates an index and returns its shard names in sorted order.
// Shard names must be plain file names: an index cannot reach outside its
// directory.
func parseIndex(b []byte) (*Index, []string, error) {
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("%w: weight_map is missing or empty", ErrLayout)
	}
	var shards []string
	for tensor, file := range idx.WeightMap {
		if file == "" || file != filepath.Base(file) || file == "." || file == ".." || strings.ContainsAny(file, `/\`) {
			return nil, nil, fmt.Errorf("%w: tensor %q maps to %q, which is not a file name in this directory", ErrLayout, tensor, file)
		}
		if !slices.Contains(shards, file) {
			shards = append(shards, file)
		}
	}
	slices.Sort(shards)
	return &idx, shards, nil
}

// Close closes every shard.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files = nil
	return errors.Join(errs...)
}

// Tensors lists every tensor in the checkpoint, shard by shard in offset
// order (the fastest order to read them in).
func (c *Checkpoint) Tensors() []TensorRef { return c.refs }

// Info describes the named tensor.
func (c *Checkpoint) Info(name string) (TensorRef, bool) {
	i, ok := c.byName[name]
	if !ok {
		return TensorRef{}, false
	}
	return c.refs[i], true
}

// Float32 reads the named tensor converted to float32.
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	r, ok := c.Info(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q in checkpoint %s", safetensors.ErrNotFound, name, c.Dir)
	}
	return c.files[r.File].Float32(name)
}

// Float32Into reads the named tensor into dst (exactly its element count).
func (c *Checkpoint) Float32Into(name string, dst []float32) error {
	r, ok := c.Info(name)
	if !ok {
		return fmt.Errorf("%w: %q in checkpoint %s", safetensors.ErrNotFound, name, c.Dir)
	}
	return c.files[r.File].Float32Into(name, dst)
}

// Each calls fn with every tensor converted to float32, in Tensors order,
// one at a time; data is freshly allocated for each call. It stops at the
// first error.
func (c *Checkpoint) Each(fn func(name string, shape []int64, data []float32) error) error {
	for _, r := range c.refs {
		data, err := c.Float32(r.Name)
		if err != nil {
			return err
		}
		if err := fn(r.Name, r.Shape, data); err != nil {
			return err
		}
	}
	return nil
}

// CheckQwen2 reports whether the weights are exactly those Qwen2Tensors
// implies for the config: every expected tensor present with its shape and
// a float dtype, and nothing else (except lm_head.weight in a tied model,
// which transformers ignores, and rotary inv_freq buffers of old exports).
func (c *Checkpoint) CheckQwen2() error {
	want := Qwen2Tensors(c.Config)
	var problems []string
	expected := map[string]bool{}
	for _, s := range want {
		expected[s.Name] = true
		r, ok := c.Info(s.Name)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s %v", s.Name, s.Shape))
		case !slices.Equal(r.Shape, s.Shape):
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", s.Name, r.Shape, s.Shape))
		case !r.DType.Float():
			problems = append(problems, fmt.Sprintf("%s has dtype %s, want F32, BF16 or F16", s.Name, r.DType))
		}
	}
	for _, r := range c.refs {
		if expected[r.Name] || strings.HasSuffix(r.Name, ".rotary_emb.inv_freq") ||
			(r.Name == "lm_head.weight" && c.Config.TieWordEmbeddings) {
			continue
		}
		problems = append(problems, "unexpected tensor "+r.Name)
	}
	if len(problems) > 0 {
		if len(problems) > 8 {
			problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
		}
		return fmt.Errorf("%w: %s: %s", ErrTensors, c.Dir, strings.Join(problems, "; "))
	}
	return nil
}
