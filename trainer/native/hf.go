package native

import (
	"fmt"

	"resyn/trainer/hf"
	"resyn/trainer/safetensors"
)

// Options choose where and how a model loaded from a checkpoint runs.
type Options struct {
	Threads   int    // CPU threads; 0: every core
	Backend   string // "" or "cpu", or "cuda"
	MaxSeqLen int    // 0: min(max_position_embeddings, DefaultMaxSeqLen)
}

// LoadHF opens a Hugging Face Qwen2 checkpoint directory (config.json and
// model.safetensors or its shards, fp32/bf16/fp16), checks its tensors
// against the config, and returns a model holding its weights, with the
// checkpoint's config (kept for SaveHF, so unknown fields survive).
func LoadHF(dir string, o Options) (*Model, hf.Config, error) {
	ck, err := hf.Open(dir)
	if err != nil {
		return nil, hf.Config{}, err
	}
	defer ck.Close()
	if err := ck.CheckQwen2(); err != nil {
		return nil, hf.Config{}, err
	}
	if err := Supported(ck.Config); err != nil {
		return nil, hf.Config{}, fmt.Errorf("%s: %w", dir, err)
	}
	cfg := ConfigFromHF(ck.Config)
	cfg.Threads, cfg.Backend = o.Threads, o.Backend
	if o.MaxSeqLen > 0 {
		cfg.MaxSeqLen = o.MaxSeqLen
	}
	m, err := New(cfg)
	if err != nil {
		return nil, hf.Config{}, err
	}
	if err := m.LoadWeights(ck); err != nil {
		m.Close()
		return nil, hf.Config{}, err
	}
	return m, ck.Config, nil
}

// Supported reports config.json features the native model does not
// implement and would otherwise silently ignore: use_sliding_window = true.
// (Rope scaling of any type but the default, in rope_scaling or
// rope_parameters, is refused by hf.Config.Validate already.)
func Supported(c hf.Config) error {
	if raw, ok := c.Extra["use_sliding_window"]; ok && string(raw) == "true" {
		return fmt.Errorf("%w: use_sliding_window = true is not supported (full causal attention only)", ErrArgument)
	}
	return nil
}

// LoadWeights copies every tensor of the model from an open checkpoint,
// converting bf16/fp16 to fp32. Tensors the model does not have (a tied
// model's lm_head.weight, rotary inv_freq buffers) are ignored.
func (m *Model) LoadWeights(ck *hf.Checkpoint) error {
	var buf []float32
	for _, t := range m.Tensors() {
		r, ok := ck.Info(t.Name)
		if !ok {
			return fmt.Errorf("%w: %s: checkpoint %s has no %s", hf.ErrTensors, t.Name, ck.Dir, t.Name)
		}
		if r.NumElements() != t.Numel {
			return fmt.Errorf("%w: %s has shape %v in %s, the model wants %v", hf.ErrTensors, t.Name, r.Shape, ck.Dir, t.Shape)
		}
		if int64(cap(buf)) < t.Numel {
			buf = make([]float32, t.Numel)
		}
		buf = buf[:t.Numel]
		if err := ck.Float32Into(t.Name, buf); err != nil {
			return err
		}
		if err := m.Write(Weights, t.Name, buf); err != nil {
			return err
		}
	}
	return nil
}

// Weights copies every weight out of the model as safetensors tensors, in
// Tensors order.
func (m *Model) Weights() ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(m.tensors))
	for _, t := range m.Tensors() {
		data := make([]float32, t.Numel)
		if err := m.Read(Weights, t.Name, data); err != nil {
			return nil, err
		}
		out = append(out, safetensors.Tensor{Name: t.Name, Shape: append([]int64(nil), t.Shape...), Data: data})
	}
	return out, nil
}

// SaveHF writes the model's weights and cfg to dir as a Hugging Face
// checkpoint (see hf.Save for dtypes and sharding). cfg is usually the one
// LoadHF returned, or m.Config().HF() for a model made from scratch; hf.Save
// checks that it matches the weights.
func (m *Model) SaveHF(dir string, cfg hf.Config, opt hf.SaveOptions) error {
	ts, err := m.Weights()
	if err != nil {
		return err
	}
	return hf.Save(dir, cfg, ts, opt)
}

// InitHF writes a randomly initialised model of config h to dir as a
// Hugging Face checkpoint: Normal(0, std) matrices, ones for norms, zeros
// for biases, deterministic for seed (recorded in the file's metadata). It
// returns the model's parameter count.
func InitHF(dir string, h hf.Config, seed uint64, std float32, opt hf.SaveOptions) (int64, error) {
	if err := h.Validate(); err != nil {
		return 0, err
	}
	m, err := New(ConfigFromHF(h))
	if err != nil {
		return 0, err
	}
	defer m.Close()
	if err := m.InitWeights(seed, std); err != nil {
		return 0, err
	}
	if opt.Metadata == nil {
		opt.Metadata = map[string]string{}
	}
	opt.Metadata["resyn_init_seed"] = fmt.Sprint(seed)
	return m.NumParams(), m.SaveHF(dir, h, opt)
}

// RandomLogitsCheck computes a logits check of m (LogitsCheck) on nSeq
// pseudo-random token sequences, the first seqLen tokens long and each next
// one half as long (at least 2), and nIDs vocabulary ids (the first and
// last, then random ones): deterministic for seed, so that
// scripts/gpu/hf_logits.py compares transformers on exactly these.
func (m *Model) RandomLogitsCheck(nSeq, seqLen, nIDs int, seed uint64, atol float64) (hf.LogitsCheck, error) {
	if nSeq < 1 || nIDs < 0 {
		return hf.LogitsCheck{}, fmt.Errorf("a logits check of %d sequences and %d ids: want at least 1 sequence and 0 ids", nSeq, nIDs)
	}
	V := m.cfg.VocabSize
	r := seed*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	next := func(n int) int32 { // xorshift64*
		r ^= r >> 12
		r ^= r << 25
		r ^= r >> 27
		return int32((r * 0x2545F4914F6CDD1D >> 11) % uint64(n))
	}
	seqs := make([][]int32, nSeq)
	for i := range seqs {
		n := seqLen
		if i > 0 && nSeq > 1 { // vary the lengths: len, len/2, len/4, …
			n = max(2, seqLen>>i)
		}
		seqs[i] = make([]int32, n)
		for j := range seqs[i] {
			seqs[i][j] = next(V)
		}
	}
	ids := []int32{0, int32(V - 1)}
	for len(ids) < nIDs {
		ids = append(ids, next(V))
	}
	ids = ids[:min(nIDs, len(ids))]
	return m.LogitsCheck(seqs, ids, atol)
}
