package native_test

import (
	"fmt"

	"resyn/trainer/native"
)

// A model from scratch: create, initialise, score a sequence, take one
// training step.
func Example() {
	m, err := native.New(native.Config{VocabSize: 64, HiddenSize: 32, IntermediateSize: 64, NumLayers: 2,
		NumHeads: 4, NumKVHeads: 2, MaxSeqLen: 16, TieWordEmbeddings: true, RopeTheta: 1e4, RMSNormEps: 1e-6})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	m.InitWeights(1, 0.02)
	fmt.Println(len(m.Tensors()), "tensors,", m.NumParams(), "parameters; first:", m.Tensors()[0].Name, m.Tensors()[0].Shape)

	seq := []int32{5, 9, 2, 7, 1}
	b := native.Batch{B: 1, T: 4, Tokens: seq[:4], Targets: seq[1:]}
	lp := make([]float32, 4)
	if err := m.Forward(b, lp, nil); err != nil {
		panic(err)
	}
	// maximise the log-likelihood: loss = -sum(logprob)
	m.ZeroGrad()
	m.Backward([]float32{-1, -1, -1, -1})
	norm, err := m.Step(native.AdamW{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	fmt.Println("step", m.StepCount(), "gradient norm > 0:", norm > 0, err)
	// Output:
	// 26 tensors, 20768 parameters; first: model.embed_tokens.weight [64 32]
	// step 1 gradient norm > 0: true <nil>
}
