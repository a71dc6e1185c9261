package grpo

import (
	"fmt"
	"math"
	"math/rand/v2"

	"resyn/trainer/hf"
	"resyn/trainer/safetensors"
)

// bigram is a small exact Model for tests: the logits of the next token are
// the row of a V×V table picked by the current token. It keeps that table
// as model.embed_tokens.weight of a one-layer Qwen2 config with hidden size
// V, so that checkpoints go through trainer/hf unchanged; the other tensors
// are carried along unused.
type bigram struct {
	cfg     hf.Config
	names   []string
	shapes  [][]int64
	w, g    [][]float32 // per tensor
	m, v    [][]float32
	t       int64
	V, H    int // vocabulary; row stride of the table
	lastB   Batch
	forward int
}

func newBigram(V int, seed uint64) *bigram {
	H := V + V%2 // rotary embeddings need an even head dimension
	cfg := hf.NewConfig(V, H, 2, 1, 1, 1)
	b := &bigram{cfg: cfg, V: V, H: H}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, s := range hf.Qwen2Tensors(cfg) {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		b.names = append(b.names, s.Name)
		b.shapes = append(b.shapes, s.Shape)
		w := make([]float32, n)
		if s.Name == "model.embed_tokens.weight" {
			for i := range w {
				w[i] = float32(rng.NormFloat64() * 0.01)
			}
		}
		b.w = append(b.w, w)
		b.g = append(b.g, make([]float32, n))
		b.m = append(b.m, make([]float32, n))
		b.v = append(b.v, make([]float32, n))
	}
	return b
}

func (b *bigram) table() []float32 { return b.w[0] }

// favour adds to every row's logit of token id, so that samples end early
// and at varied lengths.
func (b *bigram) favour(id int, by float32) *bigram {
	for r := range b.V {
		b.table()[r*b.H+id] += by
	}
	return b
}

func (b *bigram) logSoftmax(tok int32, dst []float64) { b.logSoftmaxAt(tok, 1, dst) }

// logSoftmaxAt is the log-softmax of the row's logits / temperature (0: 1);
// the bigram has no top-p.
func (b *bigram) logSoftmaxAt(tok int32, temperature float32, dst []float64) {
	row := b.table()[int(tok)*b.H : int(tok)*b.H+b.V]
	tau := float64(temperature)
	if tau <= 0 {
		tau = 1
	}
	mx := math.Inf(-1)
	for _, x := range row {
		mx = math.Max(mx, float64(x)/tau)
	}
	var s float64
	for _, x := range row {
		s += math.Exp(float64(x)/tau - mx)
	}
	lse := mx + math.Log(s)
	for j, x := range row {
		dst[j] = float64(x)/tau - lse
	}
}

func (b *bigram) Forward(bt Batch, logprobs, entropy []float32) error {
	ls := make([]float64, b.V)
	for i := range bt.B * bt.T {
		logprobs[i] = 0
		if entropy != nil {
			entropy[i] = 0
		}
		if bt.Mask != nil && bt.Mask[i] == 0 {
			continue
		}
		b.logSoftmaxAt(bt.Tokens[i], bt.Temperature, ls)
		logprobs[i] = float32(ls[bt.Targets[i]])
		if entropy != nil {
			var h float64
			for _, l := range ls {
				h -= math.Exp(l) * l
			}
			entropy[i] = float32(h)
		}
	}
	b.lastB = bt
	b.forward++
	return nil
}

func (b *bigram) Backward(d []float32) error {
	if b.lastB.B == 0 {
		return fmt.Errorf("backward before forward")
	}
	ls := make([]float64, b.V)
	g := b.g[0]
	for i := range b.lastB.B * b.lastB.T {
		if d[i] == 0 {
			continue
		}
		tok := int(b.lastB.Tokens[i])
		b.logSoftmaxAt(b.lastB.Tokens[i], b.lastB.Temperature, ls)
		inv := 1.0
		if t := b.lastB.Temperature; t > 0 {
			inv = 1 / float64(t)
		}
		for j := range b.V {
			ind := 0.0
			if j == int(b.lastB.Targets[i]) {
				ind = 1
			}
			g[tok*b.H+j] += float32(float64(d[i]) * (ind - math.Exp(ls[j])) * inv)
		}
	}
	return nil
}

func (b *bigram) ZeroGrad() error {
	for _, g := range b.g {
		clear(g)
	}
	return nil
}

func (b *bigram) Step(o AdamW) (float32, error) {
	var ss float64
	for _, g := range b.g {
		for _, x := range g {
			ss += float64(x) * float64(x)
		}
	}
	norm := math.Sqrt(ss)
	scale := 1.0
	if o.MaxGradNorm > 0 && norm > float64(o.MaxGradNorm) {
		scale = float64(o.MaxGradNorm) / norm
	}
	b.t++
	bc1 := 1 - math.Pow(float64(o.Beta1), float64(b.t))
	bc2 := 1 - math.Pow(float64(o.Beta2), float64(b.t))
	for k := range b.w {
		for i := range b.w[k] {
			g := float64(b.g[k][i]) * scale
			m := float64(o.Beta1)*float64(b.m[k][i]) + (1-float64(o.Beta1))*g
			v := float64(o.Beta2)*float64(b.v[k][i]) + (1-float64(o.Beta2))*g*g
			b.m[k][i], b.v[k][i] = float32(m), float32(v)
			b.w[k][i] -= float32(float64(o.LR) * (m/bc1/(math.Sqrt(v/bc2)+float64(o.Eps)) + float64(o.WeightDecay)*float64(b.w[k][i])))
		}
	}
	return float32(norm), nil
}

func (b *bigram) Generate(r GenRequest) ([][]int32, error) {
	out := make([][]int32, len(r.Prompts))
	ls := make([]float64, b.V)
	for i, p := range r.Prompts {
		rng := rand.New(rand.NewPCG(r.Seed, uint64(i)))
		last := p[len(p)-1]
		for range r.MaxNewTokens {
			b.logSoftmax(last, ls)
			var next int
			if r.Temperature == 0 {
				for j := range ls {
					if ls[j] > ls[next] {
						next = j
					}
				}
			} else {
				var z float64
				for j := range ls {
					z += math.Exp(ls[j] / float64(r.Temperature))
				}
				u := rng.Float64() * z
				var c float64
				next = b.V - 1
				for j := range ls {
					c += math.Exp(ls[j] / float64(r.Temperature))
					if c > u {
						next = j
						break
					}
				}
			}
			out[i] = append(out[i], int32(next))
			last = int32(next)
			stop := false
			for _, s := range r.StopTokens {
				stop = stop || s == int32(next)
			}
			if stop {
				break
			}
		}
	}
	return out, nil
}

func (b *bigram) buf(which Buffer) [][]float32 {
	switch which {
	case AdamM:
		return b.m
	case AdamV:
		return b.v
	}
	return b.w
}

func (b *bigram) Tensors(which Buffer) ([]safetensors.Tensor, error) {
	var out []safetensors.Tensor
	for k, d := range b.buf(which) {
		out = append(out, safetensors.Tensor{Name: b.names[k], Shape: b.shapes[k], Data: append([]float32(nil), d...)})
	}
	return out, nil
}

func (b *bigram) SetTensors(which Buffer, ts []safetensors.Tensor) error {
	dst := b.buf(which)
	for _, x := range ts {
		k := -1
		for i, n := range b.names {
			if n == x.Name {
				k = i
			}
		}
		if k < 0 || len(x.Data) != len(dst[k]) {
			return fmt.Errorf("tensor %q does not fit", x.Name)
		}
		copy(dst[k], x.Data)
	}
	return nil
}

func (b *bigram) OptimizerStep() int64     { return b.t }
func (b *bigram) SetOptimizerStep(t int64) { b.t = t }
