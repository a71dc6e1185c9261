package native

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
)

// refModel is a float64 Qwen2 written straight from the Hugging Face
// modelling code, independent of the C core: the reference its forward is
// compared with and whose finite differences its gradients are checked
// against.
type refModel struct {
	cfg Config
	w   map[string][]float64
}

func refFrom(t testing.TB, m *Model) *refModel {
	t.Helper()
	r := &refModel{cfg: m.Config(), w: map[string][]float64{}}
	for _, ti := range m.Tensors() {
		buf := make([]float32, ti.Numel)
		if err := m.Read(Weights, ti.Name, buf); err != nil {
			t.Fatal(err)
		}
		w := make([]float64, len(buf))
		for i, v := range buf {
			w[i] = float64(v)
		}
		r.w[ti.Name] = w
	}
	if r.cfg.TieWordEmbeddings {
		r.w["lm_head.weight"] = r.w["model.embed_tokens.weight"]
	}
	return r
}

// linear: out (n, outF) = x (n, inF) @ W^T + b
func linear(x []float64, n, inF int, W, b []float64, outF int) []float64 {
	out := make([]float64, n*outF)
	for i := range n {
		for o := range outF {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for k := range inF {
				s += x[i*inF+k] * W[o*inF+k]
			}
			out[i*outF+o] = s
		}
	}
	return out
}

func rmsnorm(x []float64, n, c int, w []float64, eps float64) []float64 {
	out := make([]float64, n*c)
	for i := range n {
		ss := 0.0
		for k := range c {
			ss += x[i*c+k] * x[i*c+k]
		}
		r := 1 / math.Sqrt(ss/float64(c)+eps)
		for k := range c {
			out[i*c+k] = w[k] * x[i*c+k] * r
		}
	}
	return out
}

// rope applies rotate-half rotary embeddings to heads of width hd in x (T, nh*hd).
func rope(x []float64, T, nh, hd int, theta float64) {
	half := hd / 2
	for t := range T {
		for h := range nh {
			v := x[t*nh*hd+h*hd:]
			for d := range half {
				ang := float64(t) / math.Pow(theta, float64(2*d)/float64(hd))
				c, s := math.Cos(ang), math.Sin(ang)
				a, b := v[d], v[d+half]
				v[d], v[d+half] = a*c-b*s, b*c+a*s
			}
		}
	}
}

// logits returns the raw logits (T, V) of one row of tokens.
func (r *refModel) logits(tokens []int32) []float64 {
	c := r.cfg
	C, H, KVH, I, V := c.HiddenSize, c.NumHeads, c.NumKVHeads, c.IntermediateSize, c.VocabSize
	hd := C / H
	eps, T := float64(c.RMSNormEps), len(tokens)
	x := make([]float64, T*C)
	for t := range T {
		copy(x[t*C:(t+1)*C], r.w["model.embed_tokens.weight"][int(tokens[t])*C:])
	}
	for l := range c.NumLayers {
		p := func(s string) []float64 { return r.w[fmt.Sprintf("model.layers.%d.%s", l, s)] }
		h := rmsnorm(x, T, C, p("input_layernorm.weight"), eps)
		q := linear(h, T, C, p("self_attn.q_proj.weight"), p("self_attn.q_proj.bias"), H*hd)
		k := linear(h, T, C, p("self_attn.k_proj.weight"), p("self_attn.k_proj.bias"), KVH*hd)
		v := linear(h, T, C, p("self_attn.v_proj.weight"), p("self_attn.v_proj.bias"), KVH*hd)
		rope(q, T, H, hd, float64(c.RopeTheta))
		rope(k, T, KVH, hd, float64(c.RopeTheta))
		att := make([]float64, T*H*hd)
		for hh := range H {
			kh := hh / (H / KVH) // query head hh reads key/value head kh (repeat_kv)
			for t := range T {
				s := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					d := 0.0
					for e := range hd {
						d += q[t*H*hd+hh*hd+e] * k[j*KVH*hd+kh*hd+e]
					}
					s[j] = d / math.Sqrt(float64(hd))
					mx = math.Max(mx, s[j])
				}
				sum := 0.0
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := range s {
					for e := range hd {
						att[t*H*hd+hh*hd+e] += s[j] / sum * v[j*KVH*hd+kh*hd+e]
					}
				}
			}
		}
		o := linear(att, T, H*hd, p("self_attn.o_proj.weight"), nil, C)
		for i := range x {
			x[i] += o[i]
		}
		h = rmsnorm(x, T, C, p("post_attention_layernorm.weight"), eps)
		g := linear(h, T, C, p("mlp.gate_proj.weight"), nil, I)
		u := linear(h, T, C, p("mlp.up_proj.weight"), nil, I)
		for i := range g {
			g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
		}
		d := linear(g, T, I, p("mlp.down_proj.weight"), nil, C)
		for i := range x {
			x[i] += d[i]
		}
	}
	h := rmsnorm(x, T, C, r.w["model.norm.weight"], eps)
	return linear(h, T, C, r.w["lm_head.weight"], nil, V)
}

// forward returns the log-probabilities and entropies (B*T) of a batch,
// of the sampling distribution at b.Temperature and b.TopP (Batch):
// logits / temperature over the top-p nucleus (by a full sort) and the
// target.
func (r *refModel) forward(b Batch) (lp, ent []float64) {
	V, T := r.cfg.VocabSize, b.T
	temp := float64(b.Temperature)
	if temp <= 0 {
		temp = 1
	}
	lp, ent = make([]float64, b.B*T), make([]float64, b.B*T)
	for row := range b.B {
		logits := r.logits(b.Tokens[row*T : (row+1)*T])
		for t := range T {
			n := row*T + t
			if b.Mask != nil && b.Mask[n] == 0 {
				continue
			}
			z := slices.Clone(logits[t*V : (t+1)*V])
			for v := range z {
				z[v] /= temp
			}
			in := refNucleus(z, float64(b.TopP))
			in[b.Targets[n]] = true
			mx := math.Inf(-1)
			for v, x := range z {
				if in[v] {
					mx = math.Max(mx, x)
				}
			}
			sum, wsum := 0.0, 0.0
			for v, x := range z {
				if in[v] {
					e := math.Exp(x - mx)
					sum += e
					wsum += e * x
				}
			}
			lse := mx + math.Log(sum)
			lp[n] = z[b.Targets[n]] - lse
			ent[n] = lse - wsum/sum
		}
	}
	return lp, ent
}

// refNucleus marks the smallest set of most probable tokens of the
// (tempered) logits z holding topP of the mass, ties by lower id; topP 0
// or 1: every token.
func refNucleus(z []float64, topP float64) []bool {
	in := make([]bool, len(z))
	if topP <= 0 || topP >= 1 {
		for v := range in {
			in[v] = true
		}
		return in
	}
	mx := slices.Max(z)
	p := make([]float64, len(z))
	sum := 0.0
	for v, x := range z {
		p[v] = math.Exp(x - mx)
		sum += p[v]
	}
	ids := make([]int, len(z))
	for v := range ids {
		ids[v] = v
	}
	sort.SliceStable(ids, func(a, b int) bool { return p[ids[a]] > p[ids[b]] })
	kept := 0.0
	for k, v := range ids {
		if k > 0 && kept >= topP {
			break
		}
		in[v] = true
		kept += p[v] / sum
	}
	return in
}

// loss is sum(d * logprob), the scalar whose gradient Backward(d) computes.
func (r *refModel) loss(b Batch, d []float32) float64 {
	lp, _ := r.forward(b)
	s := 0.0
	for i := range lp {
		s += float64(d[i]) * lp[i]
	}
	return s
}
