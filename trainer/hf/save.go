package hf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"resyn/trainer/safetensors"
)

// DefaultMaxShardBytes is the shard size above which Save splits the
// weights, as transformers' save_pretrained does by default (5 GB).
const DefaultMaxShardBytes = 5_000_000_000

// SaveOptions control Save.
type SaveOptions struct {
	// DType of the stored weights: safetensors.F32 (the default when empty)
	// or safetensors.BF16 (or F16). config.json's torch_dtype follows it.
	DType safetensors.DType
	// MaxShardBytes: weights above this are split into shards with an index
	// file. 0 means DefaultMaxShardBytes.
	MaxShardBytes int64
	// Metadata is added to each file's __metadata__ beside format=pt, which
	// transformers requires.
	Metadata map[string]string
	// AllowOtherTensors skips the check that the tensors are exactly those
	// Qwen2Tensors implies for the config.
	AllowOtherTensors bool
}

var torchDtypes = map[safetensors.DType]string{
	safetensors.F32: "float32", safetensors.BF16: "bfloat16", safetensors.F16: "float16",
}

// Save writes cfg and tensors to dir as a Hugging Face checkpoint (config.json
// in the spellings of transformers 4.x and 5.x both, see Config, and
// generation_config.json when cfg.Generation is set): one
// model.safetensors, or model-0000i-of-0000n.safetensors shards plus
// model.safetensors.index.json when the weights exceed MaxShardBytes. Each
// file is written atomically; weight files of an earlier save that the new
// one does not use are removed afterwards, so the directory never mixes two
// checkpoints for transformers to choose between.
func Save(dir string, cfg Config, tensors []safetensors.Tensor, opt SaveOptions) error {
	if opt.DType == "" {
		opt.DType = safetensors.F32
	}
	td, ok := torchDtypes[opt.DType]
	if !ok {
		return fmt.Errorf("%w: cannot save weights as %s", safetensors.ErrDType, opt.DType)
	}
	if opt.MaxShardBytes <= 0 {
		opt.MaxShardBytes = DefaultMaxShardBytes
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !opt.AllowOtherTensors {
		if err := checkTensors(cfg, tensors); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	md := map[string]string{"format": "pt"}
	for k, v := range opt.Metadata {
		if k != "format" {
			md[k] = v
		}
	}

	// Greedy sharding in the order given.
	var shards [][]safetensors.Tensor
	var cur []safetensors.Tensor
	var curBytes, total int64
	for _, t := range tensors {
		n := int64(len(t.Data)) * opt.DType.Size()
		if len(cur) > 0 && curBytes+n > opt.MaxShardBytes {
			shards, cur, curBytes = append(shards, cur), nil, 0
		}
		cur = append(cur, t)
		curBytes += n
		total += n
	}
	shards = append(shards, cur)

	keep := map[string]bool{ConfigFile: true}
	if len(shards) == 1 {
		if err := safetensors.WriteFile(filepath.Join(dir, SingleFile), shards[0], opt.DType, md); err != nil {
			return err
		}
		keep[SingleFile] = true
	} else {
		idx := Index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
		for i, part := range shards {
			name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
			if err := safetensors.WriteFile(filepath.Join(dir, name), part, opt.DType, md); err != nil {
				return err
			}
			keep[name] = true
			for _, t := range part {
				idx.WeightMap[t.Name] = name
			}
		}
		b, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, IndexFile), append(b, '\n')); err != nil {
			return err
		}
		keep[IndexFile] = true
	}

	cfg.TorchDtype = td
	if len(cfg.Architectures) == 0 {
		cfg.Architectures = []string{"Qwen2ForCausalLM"}
	}
	if cfg.ModelType == "" {
		cfg.ModelType = "qwen2"
	}
	if cfg.HiddenAct == "" {
		cfg.HiddenAct = "silu"
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, ConfigFile), append(b, '\n')); err != nil {
		return err
	}
	if cfg.Generation != nil {
		b, err := json.MarshalIndent(cfg.Generation, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, GenerationConfigFile), append(b, '\n')); err != nil {
			return err
		}
	}
	return removeStale(dir, keep)
}

// checkTensors requires exactly the tensors (and shapes) of Qwen2Tensors.
func checkTensors(cfg Config, tensors []safetensors.Tensor) error {
	want := map[string][]int64{}
	for _, s := range Qwen2Tensors(cfg) {
		want[s.Name] = s.Shape
	}
	var problems []string
	seen := map[string]bool{}
	for _, t := range tensors {
		shape, ok := want[t.Name]
		switch {
		case !ok:
			problems = append(problems, "unexpected tensor "+t.Name)
		case !slices.Equal(shape, t.Shape):
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", t.Name, t.Shape, shape))
		}
		seen[t.Name] = true
	}
	for _, s := range Qwen2Tensors(cfg) {
		if !seen[s.Name] {
			problems = append(problems, "missing "+s.Name)
		}
	}
	if len(problems) > 0 {
		if len(problems) > 8 {
			problems = append(problems[:8], fmt.Sprintf("and %d more", len(problems)-8))
		}
		return fmt.Errorf("%w: %s", ErrTensors, strings.Join(problems, "; "))
	}
	return nil
}

// removeStale deletes weight files of an earlier save that are not in keep.
func removeStale(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		weights := n == IndexFile || (strings.HasPrefix(n, "model") && strings.HasSuffix(n, ".safetensors"))
		if weights && !keep[n] {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
