package grpo

import (
	"resyn/trainer/native"
	"resyn/trainer/safetensors"
)

// Native adapts a model of the numeric core (trainer/native) to Model.
func Native(m *native.Model) Model { return nativeModel{m} }

type nativeModel struct{ m *native.Model }

func (n nativeModel) Forward(b Batch, logprobs, entropy []float32) error {
	return n.m.Forward(native.Batch{B: b.B, T: b.T, Tokens: b.Tokens, Targets: b.Targets, Mask: b.Mask,
		Temperature: b.Temperature, TopP: b.TopP}, logprobs, entropy)
}

func (n nativeModel) Backward(d []float32) error { return n.m.Backward(d) }
func (n nativeModel) ZeroGrad() error            { return n.m.ZeroGrad() }

func (n nativeModel) Step(o AdamW) (float32, error) {
	return n.m.Step(native.AdamW{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps,
		WeightDecay: o.WeightDecay, MaxGradNorm: o.MaxGradNorm})
}

func (n nativeModel) Generate(r GenRequest) ([][]int32, error) {
	res, err := n.m.Generate(native.GenParams{Prompts: r.Prompts, MaxNewTokens: r.MaxNewTokens,
		Temperature: r.Temperature, TopP: r.TopP, StopTokens: r.StopTokens, Seed: r.Seed})
	return res.Tokens, err
}

func nativeBuffer(b Buffer) native.Buffer {
	switch b {
	case AdamM:
		return native.AdamM
	case AdamV:
		return native.AdamV
	}
	return native.Weights
}

func (n nativeModel) Tensors(which Buffer) ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(n.m.Tensors()))
	for _, t := range n.m.Tensors() {
		data := make([]float32, t.Numel)
		if err := n.m.Read(nativeBuffer(which), t.Name, data); err != nil {
			return nil, err
		}
		out = append(out, safetensors.Tensor{Name: t.Name, Shape: append([]int64(nil), t.Shape...), Data: data})
	}
	return out, nil
}

func (n nativeModel) SetTensors(which Buffer, ts []safetensors.Tensor) error {
	for _, t := range ts {
		if err := n.m.Write(nativeBuffer(which), t.Name, t.Data); err != nil {
			return err
		}
	}
	return nil
}

func (n nativeModel) OptimizerStep() int64     { return n.m.StepCount() }
func (n nativeModel) SetOptimizerStep(t int64) { n.m.SetStepCount(t) }
