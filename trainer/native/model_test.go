package native

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func forward(t testing.TB, m *Model, b Batch) (lp, ent []float32) {
	t.Helper()
	lp, ent = make([]float32, b.B*b.T), make([]float32, b.B*b.T)
	if err := m.Forward(b, lp, ent); err != nil {
		t.Fatal(err)
	}
	return lp, ent
}

func readAll(t testing.TB, m *Model, which Buffer) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, ti := range m.Tensors() {
		buf := make([]float32, ti.Numel)
		if err := m.Read(which, ti.Name, buf); err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = buf
	}
	return out
}

// TestForwardMatchesReference compares log-probabilities and entropies with
// the float64 reference: tolerance 2e-5 absolute (fp32 through 2 layers).
func TestForwardMatchesReference(t *testing.T) {
	for _, tie := range []bool{false, true} {
		m := newTiny(t, tinyConfig(tie), 11)
		b := randomBatch(newRNG(5), 3, 11, m.Config().VocabSize)
		lp, ent := forward(t, m, b)
		rlp, rent := refFrom(t, m).forward(b)
		for i := range lp {
			if math.Abs(float64(lp[i])-rlp[i]) > 2e-5 || math.Abs(float64(ent[i])-rent[i]) > 2e-5 {
				t.Fatalf("tie=%v position %d: logprob %v entropy %v, reference %v %v", tie, i, lp[i], ent[i], rlp[i], rent[i])
			}
			if b.Mask[i] == 0 && (lp[i] != 0 || ent[i] != 0) {
				t.Fatalf("masked position %d has logprob %v entropy %v, want 0", i, lp[i], ent[i])
			}
		}
	}
}

// TestForwardAtTheSamplingDistribution: with a temperature (also at top_p
// 1) and with top-p, Forward's log-probs and entropies are those of the
// sampling distribution — logits / temperature renormalised over the
// nucleus and the target — as the float64 reference computes them, and
// not the model's own (which the check also asserts differ, so that it has
// something to catch).
func TestForwardAtTheSamplingDistribution(t *testing.T) {
	m := newTiny(t, tinyConfig(true), 11)
	b0 := randomBatch(newRNG(5), 3, 11, m.Config().VocabSize)
	own, _ := forward(t, m, b0)
	ref := refFrom(t, m)
	for _, c := range []struct{ temp, topP float32 }{{1.5, 1}, {0.7, 0}, {1.5, 0.6}, {1, 0.5}} {
		b := b0
		b.Temperature, b.TopP = c.temp, c.topP
		lp, ent := forward(t, m, b)
		rlp, rent := ref.forward(b)
		differs := 0
		for i := range lp {
			if math.Abs(float64(lp[i])-rlp[i]) > 2e-5 || math.Abs(float64(ent[i])-rent[i]) > 2e-5 {
				t.Fatalf("temperature %v top_p %v position %d: logprob %v entropy %v, reference %v %v",
					c.temp, c.topP, i, lp[i], ent[i], rlp[i], rent[i])
			}
			if math.Abs(float64(lp[i]-own[i])) > 1e-3 {
				differs++
			}
		}
		if differs == 0 {
			t.Fatalf("temperature %v top_p %v: every log-prob equals the untempered one", c.temp, c.topP)
		}
	}
}

// TestGradientsMatchFiniteDifferences checks every tensor's gradient from
// Backward against central differences (h = 1e-5) of the float64
// reference's loss sum(d * logprob): |g - fd| <= 1e-4 + 1e-3 |fd|. The
// default run samples entries of each tensor; RESYN_LONG checks them all.
//
// The untied model is checked at the model's own distribution, the tied
// one at the sampling distribution of temperature 1.6, top_p 0.8 (the
// tempered log-softmax over the nucleus; the nucleus is a selection).
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	long := os.Getenv("RESYN_LONG") != ""
	for _, tie := range []bool{false, true} {
		cfg := tinyConfig(tie)
		m := newTiny(t, cfg, 21)
		r := newRNG(8)
		b := randomBatch(r, 2, 7, cfg.VocabSize)
		if tie {
			b.Temperature, b.TopP = 1.6, 0.8
		}
		d := make([]float32, b.B*b.T)
		for i := range d {
			d[i] = float32(r.norm())
		}
		forward(t, m, b)
		if err := m.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(d); err != nil {
			t.Fatal(err)
		}
		grads := readAll(t, m, Grads)
		ref := refFrom(t, m)
		const h = 1e-5
		checked, worst := 0, 0.0
		for _, ti := range m.Tensors() {
			w := ref.w[ti.Name]
			idx := make([]int, 0, len(w))
			if long {
				for i := range w {
					idx = append(idx, i)
				}
			} else {
				for range 6 {
					idx = append(idx, r.intn(len(w)))
				}
				// and the largest gradient
				g := grads[ti.Name]
				best := 0
				for i := range g {
					if math.Abs(float64(g[i])) > math.Abs(float64(g[best])) {
						best = i
					}
				}
				idx = append(idx, best)
			}
			for _, i := range idx {
				old := w[i]
				w[i] = old + h
				lp := ref.loss(b, d)
				w[i] = old - h
				lm := ref.loss(b, d)
				w[i] = old
				fd := (lp - lm) / (2 * h)
				g := float64(grads[ti.Name][i])
				err := math.Abs(g - fd)
				if err > 1e-4+1e-3*math.Abs(fd) {
					t.Errorf("tie=%v %s[%d]: gradient %.7g, finite difference %.7g", tie, ti.Name, i, g, fd)
				}
				worst = max(worst, err/(1e-4+1e-3*math.Abs(fd)))
				checked++
			}
		}
		t.Logf("tie=%v: %d gradient entries checked, worst error %.3f of the tolerance", tie, checked, worst)
	}
}

// TestBackwardAccumulates: two backward passes give twice the gradients
// (to 1e-5 of the tensor's largest gradient: the second pass adds onto the
// first in a different order, and the sums cancel).
func TestBackwardAccumulates(t *testing.T) {
	m := newTiny(t, tinyConfig(true), 3)
	b := randomBatch(newRNG(1), 2, 5, m.Config().VocabSize)
	d := make([]float32, 10)
	for i := range d {
		d[i] = 1
	}
	forward(t, m, b)
	m.ZeroGrad()
	m.Backward(d)
	once := readAll(t, m, Grads)
	m.Backward(d)
	twice := readAll(t, m, Grads)
	for name, g := range once {
		scale := 0.0
		for _, v := range g {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range g {
			if math.Abs(float64(twice[name][i])-2*float64(g[i])) > 1e-5*scale {
				t.Fatalf("%s[%d]: %v after two backward passes, %v after one", name, i, twice[name][i], g[i])
			}
		}
	}
}

// TestThreadCountDoesNotChangeResults: forward and gradients are bit for
// bit the same on 1, 2 and 3 threads, with T = 13 a partial block for the
// attention and the matmul tiles.
func TestThreadCountDoesNotChangeResults(t *testing.T) {
	var lps [][]float32
	var grads []map[string][]float32
	for _, th := range []int{1, 2, 3} {
		cfg := tinyConfig(false)
		cfg.Threads = th
		m := newTiny(t, cfg, 4)
		b := randomBatch(newRNG(2), 4, 13, cfg.VocabSize)
		lp, _ := forward(t, m, b)
		d := make([]float32, len(lp))
		for i := range d {
			d[i] = float32(i%3) - 1
		}
		m.ZeroGrad()
		if err := m.Backward(d); err != nil {
			t.Fatal(err)
		}
		lps = append(lps, lp)
		grads = append(grads, readAll(t, m, Grads))
	}
	for k := 1; k < len(lps); k++ {
		if !slices.Equal(lps[0], lps[k]) {
			t.Fatalf("log-probs differ between 1 and %d threads", k+1)
		}
		for name := range grads[0] {
			if !slices.Equal(grads[0][name], grads[k][name]) {
				t.Fatalf("gradient of %s differs between 1 and %d threads", name, k+1)
			}
		}
	}
}

// TestAdamWMatchesHandComputation runs two steps with clipping and weight
// decay and compares every weight with the update written out in float64
// (PyTorch's AdamW and clip_grad_norm_): tolerance 1e-6 relative.
func TestAdamWMatchesHandComputation(t *testing.T) {
	for _, clip := range []float32{0, 0.5, 1e6} {
		m := newTiny(t, tinyConfig(false), 9)
		o := AdamW{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1, MaxGradNorm: clip}
		w := map[string][]float64{}
		mo, vo := map[string][]float64{}, map[string][]float64{}
		for name, v := range readAll(t, m, Weights) {
			w[name] = f64(v)
			mo[name], vo[name] = make([]float64, len(v)), make([]float64, len(v))
		}
		r := newRNG(uint64(clip) + 1)
		for step := 1; step <= 2; step++ {
			g := map[string][]float64{}
			ss := 0.0
			for _, ti := range m.Tensors() {
				gr := make([]float32, ti.Numel)
				for i := range gr {
					gr[i] = float32(r.norm() * 0.05)
					ss += float64(gr[i]) * float64(gr[i])
				}
				if err := m.Write(Grads, ti.Name, gr); err != nil {
					t.Fatal(err)
				}
				g[ti.Name] = f64(gr)
			}
			norm := math.Sqrt(ss)
			got, err := m.Step(o)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(got)-norm) > 1e-6*norm {
				t.Fatalf("grad norm %v, want %v", got, norm)
			}
			scale := 1.0
			if clip > 0 && norm > float64(clip) {
				scale = float64(clip) / (norm + 1e-6)
			}
			b1, b2 := float64(o.Beta1), float64(o.Beta2)
			for _, ti := range m.Tensors() {
				wd := 0.0
				if len(ti.Shape) == 2 {
					wd = float64(o.WeightDecay)
				}
				p, mm, vv := w[ti.Name], mo[ti.Name], vo[ti.Name]
				for i := range p {
					gi := g[ti.Name][i] * scale
					mm[i] = b1*mm[i] + (1-b1)*gi
					vv[i] = b2*vv[i] + (1-b2)*gi*gi
					mh := mm[i] / (1 - math.Pow(b1, float64(step)))
					vh := vv[i] / (1 - math.Pow(b2, float64(step)))
					p[i] -= float64(o.LR) * (wd*p[i] + mh/(math.Sqrt(vh)+float64(o.Eps)))
				}
			}
		}
		if m.StepCount() != 2 {
			t.Fatalf("step count %d, want 2", m.StepCount())
		}
		for name, v := range readAll(t, m, Weights) {
			for i := range v {
				if d := math.Abs(float64(v[i]) - w[name][i]); d > 1e-6*math.Max(1, math.Abs(w[name][i])) {
					t.Fatalf("clip=%v %s[%d] = %v after two steps, hand computation %v", clip, name, i, v[i], w[name][i])
				}
			}
		}
		mv := readAll(t, m, AdamM)
		for name, v := range mv {
			for i := range v {
				if math.Abs(float64(v[i])-mo[name][i]) > 1e-7 {
					t.Fatalf("first moment of %s[%d] = %v, want %v", name, i, v[i], mo[name][i])
				}
			}
		}
	}
}

// TestClippingScalesTheUpdate: with clipping, the first Adam moment is
// (1-beta1) * g * max_norm / norm.
func TestClippingScalesTheUpdate(t *testing.T) {
	m := newTiny(t, tinyConfig(true), 1)
	b := randomBatch(newRNG(4), 2, 6, m.Config().VocabSize)
	lp, _ := forward(t, m, b)
	d := make([]float32, len(lp))
	for i := range d {
		d[i] = -1
	}
	m.ZeroGrad()
	m.Backward(d)
	g := readAll(t, m, Grads)
	norm, err := m.Step(AdamW{LR: 0, Beta1: 0.5, Beta2: 0.9, Eps: 1e-8, MaxGradNorm: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if norm <= 0.01 {
		t.Fatalf("grad norm %v is too small for the test to clip", norm)
	}
	mom := readAll(t, m, AdamM)
	for name, gv := range g {
		for i := range gv {
			want := 0.5 * float64(gv[i]) * 0.01 / (float64(norm) + 1e-6)
			if math.Abs(float64(mom[name][i])-want) > 1e-6*math.Abs(want)+1e-12 {
				t.Fatalf("%s[%d]: moment %v, want %v", name, i, mom[name][i], want)
			}
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestErrors(t *testing.T) {
	if _, err := New(Config{VocabSize: 10, HiddenSize: 10, IntermediateSize: 4, NumLayers: 1, NumHeads: 3, NumKVHeads: 1,
		MaxSeqLen: 8, RopeTheta: 1e4, RMSNormEps: 1e-6}); !errors.Is(err, ErrArgument) || !strings.Contains(err.Error(), "NumHeads") {
		t.Fatalf("bad config: %v", err)
	}
	m := newTiny(t, tinyConfig(true), 1)
	if err := m.Backward(make([]float32, 4)); !errors.Is(err, ErrState) {
		t.Fatalf("backward before forward: %v", err)
	}
	b := Batch{B: 1, T: 3, Tokens: []int32{1, 2, 99}, Targets: []int32{1, 2, 3}}
	err := m.Forward(b, make([]float32, 3), nil)
	if !errors.Is(err, ErrArgument) || !strings.Contains(err.Error(), "tokens[2] = 99") {
		t.Fatalf("token outside the vocabulary: %v", err)
	}
	b.Tokens[2] = 3
	if err := m.Forward(b, make([]float32, 2), nil); !errors.Is(err, ErrArgument) {
		t.Fatalf("short output: %v", err)
	}
	if err := m.Forward(Batch{B: 1, T: 40, Tokens: make([]int32, 40), Targets: make([]int32, 40)}, make([]float32, 40), nil); !errors.Is(err, ErrArgument) || !strings.Contains(err.Error(), "max_seq_len") {
		t.Fatalf("too long: %v", err)
	}
	if err := m.Forward(b, make([]float32, 3), nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Backward(make([]float32, 4)); !errors.Is(err, ErrArgument) {
		t.Fatalf("wrong dlogprobs size: %v", err)
	}
	if err := m.Read(Weights, "model.nope", make([]float32, 1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tensor: %v", err)
	}
	if err := m.Write(Weights, "model.norm.weight", make([]float32, 3)); !errors.Is(err, ErrArgument) {
		t.Fatalf("wrong size: %v", err)
	}
	if _, err := m.Generate(GenParams{Prompts: [][]int32{{}}, MaxNewTokens: 2}); !errors.Is(err, ErrArgument) {
		t.Fatalf("empty prompt: %v", err)
	}
	if _, err := m.Generate(GenParams{Prompts: [][]int32{{1}}, MaxNewTokens: 2, TopP: 1.5}); !errors.Is(err, ErrArgument) {
		t.Fatalf("top_p > 1: %v", err)
	}
	if _, err := m.Step(AdamW{LR: 1, Beta1: 1, Beta2: 0.9, Eps: 1e-8}); !errors.Is(err, ErrArgument) {
		t.Fatalf("beta1 = 1: %v", err)
	}
	m.Close()
	m.Close()
	if err := m.Forward(b, make([]float32, 3), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestAllMasked: a batch with every position masked runs, reads zeros, and
// leaves the gradients at zero.
func TestAllMasked(t *testing.T) {
	m := newTiny(t, tinyConfig(false), 2)
	b := randomBatch(newRNG(3), 2, 4, m.Config().VocabSize)
	b.Mask = make([]float32, 8)
	lp, ent := forward(t, m, b)
	m.ZeroGrad()
	if err := m.Backward([]float32{1, 1, 1, 1, 1, 1, 1, 1}); err != nil {
		t.Fatal(err)
	}
	for i := range lp {
		if lp[i] != 0 || ent[i] != 0 {
			t.Fatalf("masked position %d reads %v, %v", i, lp[i], ent[i])
		}
	}
	for name, g := range readAll(t, m, Grads) {
		for i, v := range g {
			if v != 0 {
				t.Fatalf("%s[%d] = %v after a fully masked backward", name, i, v)
			}
		}
	}
}
