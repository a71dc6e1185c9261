// Package trainbench measures the native CPU model on this machine: the
// fp32 matmul peak, forward+backward tokens/s for the model sizes the
// trainer uses on 1 thread and on every core, beside PyTorch's on the same
// shapes and threads (train_torch.py, when an interpreter imports torch),
// and generation tokens/s. `resyn bench train` prints it.
//
// Rates are wall-clock (they are what a user waits for) and taken as the
// fastest of repeated runs after a warm-up: on a machine shared with other
// work they are lower bounds. Nothing here asserts a speed; tests check
// that the work measured is the work claimed.
package trainbench

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"resyn/trainer/native"
)

// Model is one model size the benchmark runs.
type Model struct {
	Name string
	Cfg  native.Config
	B, T int // the training batch
}

// Models are the sizes measured: the tiny-cpu preset's shape and a small
// 27M-parameter model, with threads CPU threads (0: every core).
func Models(threads int) []Model {
	mk := func(v, c, i, l, h, kv, maxT int) native.Config {
		return native.Config{VocabSize: v, HiddenSize: c, IntermediateSize: i, NumLayers: l, NumHeads: h,
			NumKVHeads: kv, MaxSeqLen: maxT, TieWordEmbeddings: true, RopeTheta: 1e4, RMSNormEps: 1e-6, Threads: threads}
	}
	return []Model{
		// the tiny-cpu preset's shape (trainer/grpo): 0.87M parameters
		{"tiny-cpu", mk(640, 128, 384, 4, 4, 2, 384), 16, 128},
		// a small model: 8 layers of width 512, 8k vocabulary, 26.8M parameters
		{"small", mk(8192, 512, 1408, 8, 8, 2, 512), 4, 256},
	}
}

// Options say what to measure. Zero fields take the defaults given.
type Options struct {
	Threads int // CPU threads for the peak and generation; 0: every core
	// TrainThreads are the thread counts forward+backward is measured at,
	// native and PyTorch; default 1 and Threads.
	TrainThreads []int
	// Pythons are the interpreters tried for the PyTorch reference
	// (FindTorch); default DefaultPythons. NoTorch skips it.
	Pythons  []string
	NoTorch  bool
	PeakN    int           // the square matmul that measures the peak; default 1024
	GenBatch int           // rows of the batched generation; default 16
	GenNew   int           // new tokens per generated row; default 64
	Duration time.Duration // time per measurement; default 2 s
	Progress io.Writer     // a line before each measurement; may be nil
}

// Result is one run of the benchmark.
type Result struct {
	Machine      string     `json:"machine"`
	Threads      int        `json:"threads"`
	PeakGFLOPs   float64    `json:"matmul_peak_gflops"`
	PeakShape    int        `json:"matmul_n"`
	Train        []TrainRow `json:"train"`
	Generate     []GenRow   `json:"generate"`
	GenPrompt    int        `json:"gen_prompt_tokens"`
	GenNewTokens int        `json:"gen_new_tokens"`
	LoadAvg      string     `json:"load_average,omitempty"` // /proc/loadavg before and after (the caller's): others' work skews wall-clock rates
	Torch        string     `json:"torch"`                  // the PyTorch reference: interpreter, version and BLAS; or why there is none
}

// TrainRow is one model's forward+backward and optimizer step on Threads
// threads, and PyTorch's forward+backward on the same.
type TrainRow struct {
	Model        string    `json:"model"`
	Threads      int       `json:"threads"`
	Params       int64     `json:"params"`
	Tokens       int       `json:"tokens_per_batch"`
	TokensPerSec float64   `json:"fwd_bwd_tokens_per_s"`
	GFLOPs       float64   `json:"fwd_bwd_gflops"`
	OfPeak       float64   `json:"fraction_of_matmul_peak"` // of the peak on Threads threads
	StepMS       float64   `json:"adamw_step_ms"`
	Torch        *TorchRun `json:"torch,omitempty"`
	Ratio        float64   `json:"ratio_to_torch,omitempty"` // native tokens/s over PyTorch's
}

// GenRow is one model's generation rate at one batch size.
type GenRow struct {
	Model        string  `json:"model"`
	Batch        int     `json:"batch"`
	TokensPerSec float64 `json:"tokens_per_s"`
}

func (o Options) withDefaults() Options {
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.PeakN <= 0 {
		o.PeakN = 1024
	}
	if o.GenBatch <= 0 {
		o.GenBatch = 16
	}
	if o.GenNew <= 0 {
		o.GenNew = 64
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if len(o.TrainThreads) == 0 {
		o.TrainThreads = []int{1}
		if o.Threads != 1 {
			o.TrainThreads = append(o.TrainThreads, o.Threads)
		}
	}
	return o
}

// Run measures every model of Models: forward+backward and the AdamW step
// at each of TrainThreads, each beside the PyTorch reference on the same
// shape and threads; the matmul peak at each thread count (before each
// model and at the end, the best kept, so that load from other work skews
// it less); and generation at batch 1 and GenBatch on Threads threads.
func Run(o Options) (Result, error) {
	o = o.withDefaults()
	res := Result{Machine: fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
		Threads: o.Threads, PeakShape: o.PeakN, GenPrompt: 32, GenNewTokens: o.GenNew}
	var torch *Torch
	if o.NoTorch {
		res.Torch = "not run (--no-torch)"
	} else if t, err := FindTorch(o.Pythons...); err != nil {
		res.Torch = err.Error()
		fmt.Fprintln(o.Progress, res.Torch)
	} else {
		torch = &t
		res.Torch = fmt.Sprintf("torch %s (%s)", t.Version, t.Python)
	}
	peaks := map[int]float64{}
	measurePeak := func(threads int) error {
		fmt.Fprintf(o.Progress, "matmul peak: %d x %d x %d, %d threads…\n", o.PeakN, o.PeakN, o.PeakN, threads)
		p, err := Peak(o.PeakN, threads, o.Duration)
		peaks[threads] = max(peaks[threads], p)
		return err
	}
	for _, th := range o.TrainThreads {
		for _, bm := range Models(th) {
			if err := measurePeak(th); err != nil {
				return res, err
			}
			row, err := trainRow(bm, th, torch, o)
			if err != nil {
				return res, err
			}
			res.Train = append(res.Train, row)
		}
	}
	for _, bm := range Models(o.Threads) {
		for _, b := range []int{1, o.GenBatch} {
			fmt.Fprintf(o.Progress, "%s: generation, batch %d, %d threads…\n", bm.Name, b, o.Threads)
			tps, err := Generate(bm, b, res.GenPrompt, o.GenNew, o.Duration)
			if err != nil {
				return res, err
			}
			res.Generate = append(res.Generate, GenRow{bm.Name, b, tps})
		}
	}
	peaks[o.Threads] += 0
	for th := range peaks { // once more at every thread count, at the end
		if err := measurePeak(th); err != nil {
			return res, err
		}
	}
	res.PeakGFLOPs = peaks[o.Threads]
	for i := range res.Train {
		res.Train[i].OfPeak = res.Train[i].GFLOPs / peaks[res.Train[i].Threads]
	}
	if torch != nil {
		for _, r := range res.Train {
			if r.Torch != nil && r.Torch.BLAS != "" {
				res.Torch += ", BLAS " + r.Torch.BLAS
				break
			}
		}
	}
	return res, nil
}

// trainRow measures bm's forward+backward on threads threads, native and,
// with torch, PyTorch's right after it.
func trainRow(bm Model, threads int, torch *Torch, o Options) (TrainRow, error) {
	fmt.Fprintf(o.Progress, "%s: forward+backward, %d x %d tokens, %d threads…\n", bm.Name, bm.B, bm.T, threads)
	row, err := FwdBwd(bm, o.Duration)
	if err != nil || torch == nil {
		return row, err
	}
	fmt.Fprintf(o.Progress, "%s: PyTorch forward+backward, %d threads…\n", bm.Name, threads)
	tr, err := torch.FwdBwd(bm, threads, o.Duration)
	if err != nil {
		return row, err
	}
	row.Torch, row.Ratio = &tr, row.TokensPerSec/tr.TokensPerSec
	return row, nil
}

// WriteText prints r as the tables `resyn bench train` shows: one
// forward+backward table per thread count, then generation.
func (r Result) WriteText(out io.Writer) error {
	fmt.Fprintf(out, "machine %s; fp32 matmul peak (rn_sgemm_nt, n=%d): %.1f GFLOP/s on %d threads\n",
		r.Machine, r.PeakShape, r.PeakGFLOPs, r.Threads)
	if r.LoadAvg != "" {
		fmt.Fprintf(out, "load average (1 min): %s\n", r.LoadAvg)
	}
	fmt.Fprintf(out, "PyTorch reference: %s\n", r.Torch)
	for i := 0; i < len(r.Train); {
		th := r.Train[i].Threads
		fmt.Fprintf(out, "\nforward+backward, %d thread(s):\n", th)
		w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "model\tparams\ttokens/batch\tnative tokens/s\tGFLOP/s\tof peak\tAdamW step\tPyTorch tokens/s\tnative/PyTorch\t")
		for ; i < len(r.Train) && r.Train[i].Threads == th; i++ {
			t := r.Train[i]
			pt, ratio := "-", "-"
			if t.Torch != nil {
				pt, ratio = fmt.Sprintf("%.0f", t.Torch.TokensPerSec), fmt.Sprintf("%.2fx", t.Ratio)
			}
			fmt.Fprintf(w, "%s\t%.2fM\t%d\t%.0f\t%.1f\t%.0f%%\t%.1f ms\t%s\t%s\t\n", t.Model, float64(t.Params)/1e6,
				t.Tokens, t.TokensPerSec, t.GFLOPs, 100*t.OfPeak, t.StepMS, pt, ratio)
		}
		w.Flush()
	}
	fmt.Fprintf(out, "\ngeneration on %d threads (prompt %d tokens, %d new, temperature 1, KV cache):\n", r.Threads,
		r.GenPrompt, r.GenNewTokens)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "model\tbatch\ttokens/s\t")
	for _, g := range r.Generate {
		fmt.Fprintf(w, "%s\t%d\t%.0f\t\n", g.Model, g.Batch, g.TokensPerSec)
	}
	return w.Flush()
}

// repeat runs f once to warm up, then until d has passed (at least three
// times), and returns the fastest call's seconds: on a shared machine the
// best run is the closest to what the hardware does.
func repeat(d time.Duration, f func() error) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	best, n, start := 0.0, 0, time.Now()
	for n < 3 || time.Since(start) < d {
		t := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		if s := time.Since(t).Seconds(); n == 0 || s < best {
			best = s
		}
		n++
	}
	return best, nil
}

// Peak is the model's own fp32 kernel (rn_sgemm_nt) on an n × n × n
// product, in GFLOP/s.
func Peak(n, threads int, d time.Duration) (float64, error) {
	a, b, out := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	s, err := repeat(d, func() error { return native.SgemmNT(out, a, b, n, n, n, threads) })
	return 2 * float64(n) * float64(n) * float64(n) / s / 1e9, err
}

// FwdBwd measures one forward and backward pass over bm's batch (3x the
// forward's matmul and attention FLOPs) and one AdamW step.
func FwdBwd(bm Model, d time.Duration) (TrainRow, error) {
	m, err := native.New(bm.Cfg)
	if err != nil {
		return TrainRow{}, err
	}
	defer m.Close()
	if err := m.InitWeights(1, 0.02); err != nil {
		return TrainRow{}, err
	}
	n := bm.B * bm.T
	b := native.Batch{B: bm.B, T: bm.T, Tokens: make([]int32, n), Targets: make([]int32, n)}
	for i := range n {
		b.Tokens[i] = int32((i * 7919) % bm.Cfg.VocabSize)
		b.Targets[i] = int32((i*104729 + 1) % bm.Cfg.VocabSize)
	}
	lp, dlp := make([]float32, n), make([]float32, n)
	for i := range dlp {
		dlp[i] = -1 / float32(n)
	}
	s, err := repeat(d, func() error {
		if err := m.Forward(b, lp, nil); err != nil {
			return err
		}
		if err := m.ZeroGrad(); err != nil {
			return err
		}
		return m.Backward(dlp)
	})
	if err != nil {
		return TrainRow{}, err
	}
	st, err := repeat(d/4, func() error {
		_, err := m.Step(native.AdamW{LR: 1e-5, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
		return err
	})
	flops := 3 * bm.Cfg.ForwardFLOPs(bm.B, bm.T)
	threads := bm.Cfg.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	return TrainRow{Model: bm.Name, Threads: threads, Params: m.NumParams(), Tokens: n, TokensPerSec: float64(n) / s,
		GFLOPs: flops / s / 1e9, StepMS: st * 1e3}, err
}

// Generate measures batch rows of prompt tokens each generating newTok
// tokens (KV cache, temperature 1, prefill included), in tokens/s; a row
// that stops early is an error (the rate would count work not done).
func Generate(bm Model, batch, prompt, newTok int, d time.Duration) (float64, error) {
	m, err := native.New(bm.Cfg)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	if err := m.InitWeights(1, 0.02); err != nil {
		return 0, err
	}
	p := native.GenParams{MaxNewTokens: newTok, Temperature: 1, Seed: 1}
	for r := range batch {
		row := make([]int32, prompt)
		for i := range row {
			row[i] = int32((r*31 + i*7) % bm.Cfg.VocabSize)
		}
		p.Prompts = append(p.Prompts, row)
	}
	s, err := repeat(d, func() error {
		res, err := m.Generate(p)
		if err == nil {
			for _, t := range res.Tokens {
				if len(t) != newTok {
					return fmt.Errorf("generation stopped after %d tokens, want %d", len(t), newTok)
				}
			}
		}
		return err
	})
	return float64(batch*newTok) / s, err
}
