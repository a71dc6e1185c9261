package native

/*
#include <stdlib.h>
#include "rn_api.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sync"
	"unsafe"

	"resyn/trainer/hf"
)

// Config mirrors rn_config: the sizes of a Qwen2 model, plus where and how
// it runs.
type Config struct {
	VocabSize         int
	HiddenSize        int // C
	IntermediateSize  int // the MLP width
	NumLayers         int
	NumHeads          int // query heads; head_dim = HiddenSize / NumHeads
	NumKVHeads        int // key/value heads; divides NumHeads
	MaxSeqLen         int // longest row Forward or Generate will see
	TieWordEmbeddings bool
	RopeTheta         float32
	RMSNormEps        float32

	// Threads is the number of CPU threads (0: every core).
	Threads int
	// Backend is "" or "cpu" (the C reference) or "cuda" (see OpenBackend).
	Backend string
}

// DefaultMaxSeqLen caps MaxSeqLen in ConfigFromHF: a checkpoint's
// max_position_embeddings (32768 for Qwen2.5) is more than RL rollouts need.
const DefaultMaxSeqLen = 4096

// ConfigFromHF is the Config of a Hugging Face Qwen2 config, with MaxSeqLen
// the smaller of max_position_embeddings and DefaultMaxSeqLen.
func ConfigFromHF(c hf.Config) Config {
	maxT := c.MaxPositionEmbeddings
	if maxT <= 0 || maxT > DefaultMaxSeqLen {
		maxT = DefaultMaxSeqLen
	}
	return Config{
		VocabSize: c.VocabSize, HiddenSize: c.HiddenSize, IntermediateSize: c.IntermediateSize,
		NumLayers: c.NumHiddenLayers, NumHeads: c.NumAttentionHeads, NumKVHeads: c.NumKeyValueHeads,
		MaxSeqLen: maxT, TieWordEmbeddings: c.TieWordEmbeddings,
		RopeTheta: float32(c.RopeTheta), RMSNormEps: float32(c.RMSNormEps),
	}
}

// HF is the Hugging Face config of a model of this Config (transformers'
// defaults for everything else; max_position_embeddings = MaxSeqLen).
func (c Config) HF() hf.Config {
	h := hf.NewConfig(c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKVHeads)
	h.RopeTheta = float64(c.RopeTheta)
	h.RMSNormEps = float64(c.RMSNormEps)
	h.TieWordEmbeddings = c.TieWordEmbeddings
	h.MaxPositionEmbeddings = c.MaxSeqLen
	return h
}

// Validate checks the sizes in Go, so that errors can name the field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: config: %s", ErrArgument, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"VocabSize", c.VocabSize}, {"HiddenSize", c.HiddenSize}, {"IntermediateSize", c.IntermediateSize},
		{"NumLayers", c.NumLayers}, {"NumHeads", c.NumHeads}, {"NumKVHeads", c.NumKVHeads}, {"MaxSeqLen", c.MaxSeqLen}} {
		if f.v <= 0 || f.v > math.MaxInt32 {
			return bad("%s = %d, want a positive 32-bit integer", f.name, f.v)
		}
	}
	switch {
	case c.HiddenSize%c.NumHeads != 0:
		return bad("HiddenSize %d is not a multiple of NumHeads %d", c.HiddenSize, c.NumHeads)
	case c.NumHeads%c.NumKVHeads != 0:
		return bad("NumHeads %d is not a multiple of NumKVHeads %d", c.NumHeads, c.NumKVHeads)
	case (c.HiddenSize/c.NumHeads)%2 != 0:
		return bad("head dimension %d is odd; rotary embeddings need it even", c.HiddenSize/c.NumHeads)
	case !(c.RopeTheta > 0):
		return bad("RopeTheta = %v, want > 0", c.RopeTheta)
	case !(c.RMSNormEps > 0):
		return bad("RMSNormEps = %v, want > 0", c.RMSNormEps)
	case c.Threads < 0:
		return bad("Threads = %d, want >= 0", c.Threads)
	}
	return nil
}

func (c Config) c() C.rn_config {
	tie := 0
	if c.TieWordEmbeddings {
		tie = 1
	}
	return C.rn_config{
		vocab_size: C.int(c.VocabSize), hidden_size: C.int(c.HiddenSize), intermediate_size: C.int(c.IntermediateSize),
		n_layers: C.int(c.NumLayers), n_heads: C.int(c.NumHeads), n_kv_heads: C.int(c.NumKVHeads),
		max_seq_len: C.int(c.MaxSeqLen), tie_word_embeddings: C.int(tie), n_threads: C.int(c.Threads),
		rope_theta: C.float(c.RopeTheta), rms_norm_eps: C.float(c.RMSNormEps),
	}
}

// Buffer selects which of a tensor's buffers Read and Write address.
type Buffer int

const (
	Weights Buffer = C.RN_WEIGHTS
	Grads   Buffer = C.RN_GRADS  // allocated by the first Backward or ZeroGrad; zeros before
	AdamM   Buffer = C.RN_ADAM_M // first moment; allocated by the first Step
	AdamV   Buffer = C.RN_ADAM_V // second moment
)

func (b Buffer) String() string {
	switch b {
	case Weights:
		return "weights"
	case Grads:
		return "grads"
	case AdamM:
		return "adam_m"
	case AdamV:
		return "adam_v"
	}
	return fmt.Sprintf("buffer(%d)", int(b))
}

// TensorInfo describes one weight by its Hugging Face name and shape.
type TensorInfo struct {
	Name  string
	Shape []int64 // one or two dimensions, row-major
	Numel int64
}

// Batch is B rows of T positions (right-padded). Position t of row b
// predicts Targets[b*T+t] from Tokens[b*T .. b*T+t]. Where Mask is 0 the
// output head is skipped and the log-probability reads 0; a nil Mask is all
// ones.
type Batch struct {
	B, T    int
	Tokens  []int32   // (B, T)
	Targets []int32   // (B, T)
	Mask    []float32 // (B, T) or nil
	// Temperature and TopP name the distribution Forward's log-probs and
	// entropies are of: the sampler's at those settings (logits /
	// Temperature, renormalised over Generate's top-p nucleus; a target
	// outside the nucleus is counted in with it). 0 or 1: the model's own.
	// The CUDA backend refuses anything but the model's own.
	Temperature float32
	TopP        float32
}

// AdamW are the optimizer's settings for one Step.
type AdamW struct {
	LR, Beta1, Beta2, Eps float32
	WeightDecay           float32 // decoupled; applied to 2-D tensors only
	MaxGradNorm           float32 // <= 0: no clipping
}

// GenParams control Generate.
type GenParams struct {
	Prompts      [][]int32 // one row per prompt, each non-empty
	MaxNewTokens int       // per row
	Temperature  float32   // 0: greedy (argmax, lowest id on ties)
	TopP         float32   // (0, 1]; 0 is taken as 1 (no truncation)
	StopTokens   []int32   // a row ends after emitting one of these (included)
	Seed         uint64    // row b draws from its own stream (Seed, b)
	NoCache      bool      // recompute every prefix: a reference for tests
}

// GenResult holds each row's new tokens and their log-probabilities under
// the model's own distribution (temperature 1, no truncation).
type GenResult struct {
	Tokens   [][]int32
	Logprobs [][]float32
}

// Model is a Qwen2 model in a backend. It is not safe for concurrent use;
// the methods lock, so misuse serialises rather than corrupts. Close frees it.
type Model struct {
	mu      sync.Mutex
	b       *Backend
	m       *C.rn_model
	cfg     Config
	tensors []TensorInfo
	byName  map[string]int
	nParams int64
	lastN   int // B*T of the last successful Forward, 0 when none
}

// New creates a model with zeroed weights on cfg.Backend; fill them with
// InitWeights, Write or LoadHF.
func New(cfg Config) (*Model, error) {
	b, err := OpenBackend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	return NewOn(b, cfg)
}

// NewOn creates a model on the given backend (cfg.Backend is ignored).
func NewOn(b *Backend, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc := cfg.c()
	var cm *C.rn_model
	if rc := C.rn_call_create(b.api, &cc, &cm); rc != C.RN_OK {
		msg := "the backend refused the config"
		if rc == C.RN_ERR_NOMEM {
			msg = fmt.Sprintf("cannot allocate a model of %d parameters", hf.NumParams(cfg.HF()))
		}
		return nil, fmt.Errorf("%w: %s backend: %s", sentinel(int(rc)), b.name, msg)
	}
	cfg.Backend = b.name
	m := &Model{b: b, m: cm, cfg: cfg, byName: map[string]int{}}
	n := int(C.rn_call_num_tensors(b.api, cm))
	for i := range n {
		var ti C.rn_tensor_info
		if rc := C.rn_call_tensor_info_at(b.api, cm, C.int(i), &ti); rc != C.RN_OK {
			m.Close()
			return nil, fmt.Errorf("%w: tensor %d of %d has no info", ErrState, i, n)
		}
		shape := []int64{int64(ti.shape[0])}
		if ti.ndim == 2 {
			shape = append(shape, int64(ti.shape[1]))
		}
		info := TensorInfo{Name: C.GoString(ti.name), Shape: shape, Numel: int64(ti.numel)}
		m.byName[info.Name] = i
		m.tensors = append(m.tensors, info)
		m.nParams += info.Numel
	}
	return m, nil
}

func sentinel(rc int) error {
	switch rc {
	case C.RN_ERR_ARG:
		return ErrArgument
	case C.RN_ERR_NOMEM:
		return ErrNoMemory
	case C.RN_ERR_STATE:
		return ErrState
	case C.RN_ERR_NOTFOUND:
		return ErrNotFound
	}
	return fmt.Errorf("native: unknown status %d", rc)
}

// check turns a C status into an error carrying rn_model_error's sentence.
// It must be called with m.mu held.
func (m *Model) check(rc C.int, op string) error {
	if rc == C.RN_OK {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", sentinel(int(rc)), op, C.GoString(C.rn_call_error(m.b.api, m.m)))
}

func (m *Model) lock(op string) error {
	m.mu.Lock()
	if m.m == nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrClosed, op)
	}
	return nil
}

// Close frees the model; later calls fail with ErrClosed. It is idempotent.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m != nil {
		C.rn_call_free(m.b.api, m.m)
		m.m = nil
	}
	return nil
}

// Config is the config the model was created with (Backend filled in).
func (m *Model) Config() Config { return m.cfg }

// Backend is the backend the model lives in.
func (m *Model) Backend() *Backend { return m.b }

// NumParams is the number of weights.
func (m *Model) NumParams() int64 { return m.nParams }

// Tensors lists the weights in the backend's order (Hugging Face names).
func (m *Model) Tensors() []TensorInfo { return m.tensors }

func (m *Model) index(name string, n int) (int, error) {
	i, ok := m.byName[name]
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if int64(n) != m.tensors[i].Numel {
		return 0, fmt.Errorf("%w: tensor %s %v has %d elements, the buffer %d", ErrArgument, name,
			m.tensors[i].Shape, m.tensors[i].Numel, n)
	}
	return i, nil
}

// Read copies one buffer of the named tensor into dst (exactly its Numel).
// A buffer not allocated yet (Grads before any Backward) reads as zeros.
func (m *Model) Read(which Buffer, name string, dst []float32) error {
	if err := m.lock("read " + name); err != nil {
		return err
	}
	defer m.mu.Unlock()
	i, err := m.index(name, len(dst))
	if err != nil {
		return err
	}
	return m.check(C.rn_call_tensor_read(m.b.api, m.m, C.int(which), C.int(i), (*C.float)(unsafe.Pointer(&dst[0]))),
		"read "+which.String()+" of "+name)
}

// Write copies src (exactly the tensor's Numel) into one buffer of the
// named tensor, allocating the buffer if needed.
func (m *Model) Write(which Buffer, name string, src []float32) error {
	if err := m.lock("write " + name); err != nil {
		return err
	}
	defer m.mu.Unlock()
	i, err := m.index(name, len(src))
	if err != nil {
		return err
	}
	return m.check(C.rn_call_tensor_write(m.b.api, m.m, C.int(which), C.int(i), (*C.float)(unsafe.Pointer(&src[0]))),
		"write "+which.String()+" of "+name)
}

// InitWeights fills matrices with Normal(0, std) draws, norms with ones and
// biases with zeros; the same seed gives the same weights.
func (m *Model) InitWeights(seed uint64, std float32) error {
	if err := m.lock("init weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if !(std >= 0) {
		return fmt.Errorf("%w: init weights: std = %v, want >= 0", ErrArgument, std)
	}
	return m.check(C.rn_call_init_weights(m.b.api, m.m, C.uint64_t(seed), C.float(std)), "init weights")
}

func i32p(s []int32) *C.int32_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int32_t)(unsafe.Pointer(&s[0]))
}

func f32p(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

// Forward computes logprobs (B*T) of the batch's targets and, when entropy
// is not nil, the entropy (B*T) of each predicted distribution. It keeps
// the activations for one Backward.
func (m *Model) Forward(b Batch, logprobs, entropy []float32) error {
	if err := m.lock("forward"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if b.B <= 0 || b.T <= 0 || b.B > math.MaxInt32/b.T {
		return fmt.Errorf("%w: forward: batch of B = %d rows by T = %d", ErrArgument, b.B, b.T)
	}
	n := b.B * b.T
	switch {
	case len(b.Tokens) != n || len(b.Targets) != n:
		return fmt.Errorf("%w: forward: B*T = %d but %d tokens and %d targets", ErrArgument, n, len(b.Tokens), len(b.Targets))
	case b.Mask != nil && len(b.Mask) != n:
		return fmt.Errorf("%w: forward: B*T = %d but the mask has %d entries", ErrArgument, n, len(b.Mask))
	case len(logprobs) != n:
		return fmt.Errorf("%w: forward: B*T = %d but logprobs has room for %d", ErrArgument, n, len(logprobs))
	case entropy != nil && len(entropy) != n:
		return fmt.Errorf("%w: forward: B*T = %d but entropy has room for %d", ErrArgument, n, len(entropy))
	}
	m.lastN = 0
	err := m.check(C.rn_call_forward(m.b.api, m.m, C.int(b.B), C.int(b.T), i32p(b.Tokens), i32p(b.Targets),
		f32p(b.Mask), C.float(b.Temperature), C.float(b.TopP), f32p(logprobs), f32p(entropy)), "forward")
	if err == nil {
		m.lastN = n
	}
	return err
}

// Backward accumulates (+=) into the gradients from d(loss)/d(logprob)
// (B*T) for the last Forward.
func (m *Model) Backward(dlogprobs []float32) error {
	if err := m.lock("backward"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.lastN == 0 {
		return fmt.Errorf("%w: backward needs a successful forward first", ErrState)
	}
	if len(dlogprobs) != m.lastN {
		return fmt.Errorf("%w: backward: the last forward had B*T = %d positions but dlogprobs has %d",
			ErrArgument, m.lastN, len(dlogprobs))
	}
	return m.check(C.rn_call_backward(m.b.api, m.m, f32p(dlogprobs)), "backward")
}

// ZeroGrad sets every gradient to zero (allocating them if needed).
func (m *Model) ZeroGrad() error {
	if err := m.lock("zero grad"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return m.check(C.rn_call_zero_grad(m.b.api, m.m), "zero grad")
}

// Step clips the gradients to MaxGradNorm and takes one AdamW step; it
// returns the gradient norm before clipping.
func (m *Model) Step(o AdamW) (float32, error) {
	if err := m.lock("step"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var norm C.float
	err := m.check(C.rn_call_step(m.b.api, m.m, C.float(o.LR), C.float(o.Beta1), C.float(o.Beta2), C.float(o.Eps),
		C.float(o.WeightDecay), C.float(o.MaxGradNorm), &norm), "step")
	return float32(norm), err
}

// StepCount is the number of AdamW steps taken (it sets the bias correction).
func (m *Model) StepCount() int64 {
	if m.lock("step count") != nil {
		return 0
	}
	defer m.mu.Unlock()
	return int64(C.rn_call_get_step(m.b.api, m.m))
}

// SetStepCount restores the step count when resuming from a checkpoint.
func (m *Model) SetStepCount(t int64) {
	if m.lock("set step count") != nil {
		return
	}
	defer m.mu.Unlock()
	C.rn_call_set_step(m.b.api, m.m, C.int64_t(t))
}

// Generate samples continuations of the prompts, all rows in one batch.
func (m *Model) Generate(p GenParams) (GenResult, error) {
	if err := m.lock("generate"); err != nil {
		return GenResult{}, err
	}
	defer m.mu.Unlock()
	B := len(p.Prompts)
	if B == 0 {
		return GenResult{}, fmt.Errorf("%w: generate: no prompts", ErrArgument)
	}
	if p.MaxNewTokens < 0 || p.MaxNewTokens > m.cfg.MaxSeqLen {
		return GenResult{}, fmt.Errorf("%w: generate: MaxNewTokens = %d, want 0..%d", ErrArgument, p.MaxNewTokens, m.cfg.MaxSeqLen)
	}
	top := p.TopP
	if top == 0 {
		top = 1
	}
	lens := make([]int32, B)
	var flat []int32
	for i, pr := range p.Prompts {
		if len(pr) == 0 {
			return GenResult{}, fmt.Errorf("%w: generate: prompt %d is empty", ErrArgument, i)
		}
		if len(pr) > m.cfg.MaxSeqLen {
			return GenResult{}, fmt.Errorf("%w: generate: prompt %d has %d tokens, more than MaxSeqLen %d", ErrArgument, i, len(pr), m.cfg.MaxSeqLen)
		}
		lens[i] = int32(len(pr))
		flat = append(flat, pr...)
	}
	res := GenResult{Tokens: make([][]int32, B), Logprobs: make([][]float32, B)}
	if p.MaxNewTokens == 0 {
		for i := range B {
			res.Tokens[i], res.Logprobs[i] = []int32{}, []float32{}
		}
		return res, nil
	}
	outTok := make([]int32, B*p.MaxNewTokens)
	outLP := make([]float32, B*p.MaxNewTokens)
	outLen := make([]int32, B)
	noCache := 0
	if p.NoCache {
		noCache = 1
	}
	rc := C.rn_call_generate(m.b.api, m.m, C.int(B), i32p(flat), i32p(lens), C.int(p.MaxNewTokens), C.float(p.Temperature),
		C.float(top), i32p(p.StopTokens), C.int(len(p.StopTokens)), C.uint64_t(p.Seed), C.int(noCache),
		i32p(outTok), i32p(outLen), f32p(outLP))
	if err := m.check(rc, "generate"); err != nil {
		return GenResult{}, err
	}
	for i := range B {
		k, at := int(outLen[i]), i*p.MaxNewTokens
		res.Tokens[i] = outTok[at : at+k : at+k]
		res.Logprobs[i] = outLP[at : at+k : at+k]
	}
	return res, nil
}

// SgemmNT computes out (M, N) = a (M, K) @ b (N, K)^T with the CPU
// backend's matmul kernel on threads threads (0: one): the machine's
// reachable fp32 peak, for benchmarks.
func SgemmNT(out, a, b []float32, M, N, K, threads int) error {
	if M <= 0 || N <= 0 || K <= 0 || len(out) != M*N || len(a) != M*K || len(b) != N*K {
		return fmt.Errorf("%w: sgemm: M, N, K = %d, %d, %d with buffers of %d, %d, %d", ErrArgument, M, N, K, len(out), len(a), len(b))
	}
	C.rn_call_sgemm_nt(cpuBackend.api, f32p(out), f32p(a), f32p(b), C.int(M), C.int(N), C.int(K), C.int(threads))
	return nil
}
