package hf

import "fmt"

// TensorSpec is one weight a Qwen2 model of a given config has.
type TensorSpec struct {
	Name  string
	Shape []int64 // row-major, as PyTorch stores nn.Linear: (out, in)
}

// Qwen2Tensors lists the weights of a Qwen2ForCausalLM with config c, in
// the order transformers creates them: the embedding, each layer's
// input_layernorm, q/k/v projections (weight and bias), o_proj,
// post_attention_layernorm, gate/up/down projections, the final norm, and
// lm_head.weight when the output head is not tied to the embedding.
func Qwen2Tensors(c Config) []TensorSpec {
	h, inter, v := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	q := int64(c.NumAttentionHeads * c.HeadDim())
	kv := int64(c.NumKeyValueHeads * c.HeadDim())
	specs := []TensorSpec{{"model.embed_tokens.weight", []int64{v, h}}}
	for i := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", i)
		specs = append(specs,
			TensorSpec{p + "input_layernorm.weight", []int64{h}},
			TensorSpec{p + "self_attn.q_proj.weight", []int64{q, h}},
			TensorSpec{p + "self_attn.q_proj.bias", []int64{q}},
			TensorSpec{p + "self_attn.k_proj.weight", []int64{kv, h}},
			TensorSpec{p + "self_attn.k_proj.bias", []int64{kv}},
			TensorSpec{p + "self_attn.v_proj.weight", []int64{kv, h}},
			TensorSpec{p + "self_attn.v_proj.bias", []int64{kv}},
			TensorSpec{p + "self_attn.o_proj.weight", []int64{h, q}},
			TensorSpec{p + "post_attention_layernorm.weight", []int64{h}},
			TensorSpec{p + "mlp.gate_proj.weight", []int64{inter, h}},
			TensorSpec{p + "mlp.up_proj.weight", []int64{inter, h}},
			TensorSpec{p + "mlp.down_proj.weight", []int64{h, inter}},
		)
	}
	specs = append(specs, TensorSpec{"model.norm.weight", []int64{h}})
	if !c.TieWordEmbeddings {
		specs = append(specs, TensorSpec{"lm_head.weight", []int64{v, h}})
	}
	return specs
}

// NumParams is the number of parameters of a Qwen2 model with config c.
func NumParams(c Config) int64 {
	var n int64
	for _, s := range Qwen2Tensors(c) {
		k := int64(1)
		for _, d := range s.Shape {
			k *= d
		}
		n += k
	}
	return n
}
