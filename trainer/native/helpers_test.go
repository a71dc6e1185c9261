package native

import (
	"math"
	"testing"
)

// tinyConfig is a model small enough for finite differences: GQA with two
// query heads per key/value head, an untied head unless tie is set.
func tinyConfig(tie bool) Config {
	return Config{VocabSize: 37, HiddenSize: 16, IntermediateSize: 24, NumLayers: 2, NumHeads: 4, NumKVHeads: 2,
		MaxSeqLen: 32, TieWordEmbeddings: tie, RopeTheta: 10000, RMSNormEps: 1e-6, Threads: 2}
}

func newTiny(t testing.TB, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.InitWeights(seed, 0.3); err != nil {
		t.Fatal(err)
	}
	// non-trivial norms and biases, so their gradients are exercised
	r := newRNG(seed + 99)
	for _, ti := range m.Tensors() {
		if len(ti.Shape) != 1 {
			continue
		}
		w := make([]float32, ti.Numel)
		if err := m.Read(Weights, ti.Name, w); err != nil {
			t.Fatal(err)
		}
		for i := range w {
			w[i] += float32(0.2 * r.norm())
		}
		if err := m.Write(Weights, ti.Name, w); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// rng is a small deterministic generator for test data.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{seed*0x9E3779B97F4A7C15 + 1} }

func (r *rng) next() uint64 {
	r.s ^= r.s << 13
	r.s ^= r.s >> 7
	r.s ^= r.s << 17
	return r.s
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }
func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) norm() float64 {
	return math.Sqrt(-2*math.Log(r.float()+1e-300)) * math.Cos(2*math.Pi*r.float())
}
func (r *rng) tokens(n, v int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(r.intn(v))
	}
	return out
}

// randomBatch is B rows of T random tokens whose targets are the next
// tokens, with the last few positions of row 0 masked out.
func randomBatch(r *rng, B, T, V int) Batch {
	b := Batch{B: B, T: T, Tokens: r.tokens(B*T, V), Targets: r.tokens(B*T, V), Mask: make([]float32, B*T)}
	for i := range b.Mask {
		b.Mask[i] = 1
	}
	for t := T - 2; t < T && t >= 0; t++ {
		b.Mask[t] = 0
	}
	return b
}
