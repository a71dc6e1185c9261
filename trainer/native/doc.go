// Package native is the numeric core of resyn's trainer: a Qwen2-architecture
// decoder in C, run on the CPU through cgo, behind one flat C ABI
// (resyn_native.h) that a CUDA twin implements the same way.
//
// What it is for: everything the RL loop needs from a model, and nothing
// else. Forward a batch of token rows to the log-probabilities (and
// entropies) of given targets; backward from the gradients of those
// log-probabilities; AdamW with weight decay and gradient-norm clipping;
// batched generation with a KV cache, temperature, top-p, stop tokens and a
// length cap, reproducible for a seed. Weights are read and written by their
// Hugging Face Qwen2 names and shapes, so that trainer/safetensors and
// trainer/hf can load and save checkpoints without knowing the layout.
//
// What it is not for: tokenization, file formats, the RL algorithm, or
// bookkeeping — those are Go packages above this one. There is no general
// tensor library here; the model is the unit.
//
// How the parts fit:
//
//	resyn_native.h    the C ABI: rn_model_create/free, tensors by name,
//	                  rn_forward/backward/zero_grad/step, rn_generate
//	cpu_matmul.c      the fp32 matmul kernels, a@b^T, a@b and a^T@b, split
//	                  across cores with OpenMP; cpu_matmul_kern.h holds
//	                  their block functions, compiled at 16 lanes (AVX-512)
//	                  and 8 (AVX2+FMA, baseline)
//	cpu_attention.c   blocked causal attention, forward and backward, in
//	                  query tiles through the matmul kernel
//	cpu_layers.c      <layer>_forward/<layer>_backward pairs: embedding,
//	                  RMSNorm, rotary, one-query attention (decoding, and
//	                  the reference for the blocked one), SwiGLU, chunked
//	                  output head
//	cpu_model.c       the model: arenas, forward, backward, AdamW
//	cpu_generate.c    ragged decoding against a KV cache, sampling
//	rn_api.h,         the backend table: a struct with one function pointer
//	loader.c          per rn_* entry point; rn_cpu_api points at the C above,
//	                  rn_api_open fills one from a shared library (dlopen)
//	backend.go        Backend, OpenBackend("cpu"|"cuda"), Backends()
//	machine.go        WriteMachine: cores, memory, backends and GPUs, for
//	                  `resyn doctor`
//	native.go         the Go surface: Model (with Close), Forward, Backward,
//	                  ZeroGrad, Step, Generate, Read/Write of tensors
//	hf.go             LoadHF / SaveHF: weights to and from Hugging Face
//	                  checkpoints through trainer/hf and trainer/safetensors
//	check.go          LogitsCheck: resyn's log-probs and raw logits for
//	                  scripts/gpu/hf_logits.py to compare with transformers
//	flops.go          Config.ForwardFLOPs, for throughput and MFU figures
//
// Backends: every Model calls through an rn_api table. The CPU table is
// linked in; OpenBackend("cuda") (or Config.Backend = "cuda") loads
// libresyn_cuda.so from $RESYN_CUDA_LIB or beside the executable with
// dlopen(RTLD_NOW|RTLD_LOCAL) and looks up every rn_* symbol, failing with
// ErrBackend naming the path and the missing symbol. Such a library must
// export exactly the entry points of resyn_native.h and should be linked
// with -Wl,-Bsymbolic (or hidden visibility for everything else) so that its
// own calls never bind to another copy of the same names.
//
// The output head and its log-softmax run in chunks of positions, forward
// and backward, so full-vocabulary logits for a whole batch never exist.
// See docs/trainer-native.md for the design and its numbers.
package native
