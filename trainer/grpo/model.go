package grpo

import "resyn/trainer/safetensors"

// Model is what the trainer needs from a policy: the operations of the
// numeric core's C ABI (resyn_native.h), in flat row-major form. The native
// CPU model satisfies it through NativeModel; tests use a small Go model.
// A Model is used from one goroutine at a time.
type Model interface {
	// Forward writes, for each of the B×T positions, the log-probability of
	// the target and (when entropy is not nil) the entropy of the predicted
	// distribution. Positions where the mask is 0 read 0.
	Forward(b Batch, logprobs, entropy []float32) error
	// Backward accumulates (+=) into the gradients the backward pass of the
	// last Forward, given d(loss)/d(logprob) for each position.
	Backward(dlogprobs []float32) error
	// ZeroGrad clears the gradients.
	ZeroGrad() error
	// Step clips the gradients to opt.MaxGradNorm and takes one AdamW step;
	// it returns the gradient norm before clipping.
	Step(opt AdamW) (gradNorm float32, err error)
	// Generate samples one completion per prompt. Each completion ends after
	// a stop token (included) or at MaxNewTokens.
	Generate(req GenRequest) ([][]int32, error)

	// Tensors returns a copy of one buffer (weights or an AdamW moment) of
	// every tensor, by Hugging Face name; SetTensors writes them back.
	Tensors(which Buffer) ([]safetensors.Tensor, error)
	SetTensors(which Buffer, ts []safetensors.Tensor) error
	// OptimizerStep is the AdamW step counter (for bias correction), which a
	// resumed run restores with SetOptimizerStep.
	OptimizerStep() int64
	SetOptimizerStep(t int64)
}

// Batch is B rows of T positions, right-padded: position t of row b
// predicts Targets[b*T+t] from Tokens[b*T .. b*T+t]. Mask (B×T) selects
// the positions that count; nil means all.
type Batch struct {
	B, T    int
	Tokens  []int32
	Targets []int32
	Mask    []float32
	// Temperature and TopP: the log-probs are of the sampling distribution
	// of Generate at these settings (native.Batch); 0 or 1: the model's own.
	Temperature float32
	TopP        float32
}

// GenRequest asks for one sampled completion per prompt.
type GenRequest struct {
	Prompts      [][]int32
	MaxNewTokens int
	Temperature  float32 // 0: greedy
	TopP         float32 // (0, 1]; 1: no nucleus truncation
	StopTokens   []int32
	Seed         uint64 // row i draws from its own stream (Seed, i)
}

// AdamW are the optimiser's settings for one step.
type AdamW struct {
	LR, Beta1, Beta2, Eps float32
	WeightDecay           float32 // decoupled; 2-D tensors only
	MaxGradNorm           float32 // <= 0: no clipping
}

// Buffer names one of a tensor's buffers.
type Buffer int

const (
	Weights Buffer = iota
	AdamM          // AdamW first moment
	AdamV          // AdamW second moment
)
