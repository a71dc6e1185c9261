package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"resyn/trainer/native"
)

func init() { registerBench(newBenchTrainCmd) }

// benchModel is one model size the trainer benchmark runs.
type benchModel struct {
	Name string
	Cfg  native.Config
	B, T int // the training batch
}

func benchModels(threads int) []benchModel {
	mk := func(v, c, i, l, h, kv, maxT int) native.Config {
		return native.Config{VocabSize: v, HiddenSize: c, IntermediateSize: i, NumLayers: l, NumHeads: h,
			NumKVHeads: kv, MaxSeqLen: maxT, TieWordEmbeddings: true, RopeTheta: 1e4, RMSNormEps: 1e-6, Threads: threads}
	}
	return []benchModel{
		// the tiny-cpu preset's shape (trainer/grpo)
		{"tiny-cpu (1.0M)", mk(640, 128, 384, 4, 4, 2, 384), 16, 128},
		// a small model: 8 layers of width 512, 8k vocabulary
		{"small (27M)", mk(8192, 512, 1408, 8, 8, 2, 512), 4, 256},
	}
}

type benchTrainResult struct {
	Machine      string          `json:"machine"`
	Threads      int             `json:"threads"`
	PeakGFLOPs   float64         `json:"matmul_peak_gflops"`
	PeakShape    int             `json:"matmul_n"`
	Train        []benchTrainRow `json:"train"`
	Generate     []benchGenRow   `json:"generate"`
	GenPrompt    int             `json:"gen_prompt_tokens"`
	GenNewTokens int             `json:"gen_new_tokens"`
	LoadAvg      string          `json:"load_average,omitempty"` // /proc/loadavg before and after: others' work skews wall-clock rates
}

type benchTrainRow struct {
	Model        string  `json:"model"`
	Params       int64   `json:"params"`
	Tokens       int     `json:"tokens_per_batch"`
	TokensPerSec float64 `json:"fwd_bwd_tokens_per_s"`
	GFLOPs       float64 `json:"fwd_bwd_gflops"`
	OfPeak       float64 `json:"fraction_of_matmul_peak"`
	StepMS       float64 `json:"adamw_step_ms"`
}

type benchGenRow struct {
	Model        string  `json:"model"`
	Batch        int     `json:"batch"`
	TokensPerSec float64 `json:"tokens_per_s"`
}

func newBenchTrainCmd() *cobra.Command {
	var threads, peakN, genBatch, genNew int
	var seconds float64
	var asJSON bool
	c := &cobra.Command{
		Use:   "train",
		Short: "Trainer speed: forward+backward tokens/s and GFLOP/s vs the matmul peak; generation tokens/s",
		Long: `Measures the native CPU model on this machine, all in one run:

  - the matmul peak: the model's own fp32 kernel (rn_sgemm_nt) on a --peak-n
    square, in GFLOP/s: the ceiling the trainer can reach here;
  - forward+backward tokens/s and GFLOP/s (3x the forward's matmul and
    attention FLOPs) for two model sizes (the tiny-cpu preset's shape and a
    27M-parameter model), with the fraction of the peak, and one AdamW step;
  - generation tokens/s (KV cache, temperature 1) for each size with batch 1
    and with --gen-batch rows, prompt prefill included.

Each measurement repeats for about --seconds after a warm-up and reports the
fastest run; the peak is measured before each model and at the end and the
best kept. Rates are wall-clock: on a machine shared with other work they
are lower bounds (the load average is printed beside them).`,
		Example: `  resyn bench train
  resyn bench train --seconds 5 --gen-batch 32 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res := benchTrainResult{Machine: fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU()),
				Threads: threads, PeakShape: peakN, GenPrompt: 32, GenNewTokens: genNew}
			if res.Threads == 0 {
				res.Threads = runtime.NumCPU()
			}
			load0 := loadAvg()
			d := time.Duration(seconds * float64(time.Second))
			// the peak is measured before each model and at the end, and the
			// best kept, so that load from other work skews it less
			peak := 0.0
			measurePeak := func() error {
				fmt.Fprintf(os.Stderr, "matmul peak: %d x %d x %d…\n", peakN, peakN, peakN)
				p, err := benchPeak(peakN, res.Threads, d)
				peak = max(peak, p)
				return err
			}
			for _, bm := range benchModels(threads) {
				if err := measurePeak(); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s: forward+backward, %d x %d tokens…\n", bm.Name, bm.B, bm.T)
				row, err := benchFwdBwd(bm, d)
				if err != nil {
					return err
				}
				res.Train = append(res.Train, row)
				for _, b := range []int{1, genBatch} {
					fmt.Fprintf(os.Stderr, "%s: generation, batch %d…\n", bm.Name, b)
					tps, err := benchGenerate(bm, b, res.GenPrompt, genNew, d)
					if err != nil {
						return err
					}
					res.Generate = append(res.Generate, benchGenRow{bm.Name, b, tps})
				}
			}
			if err := measurePeak(); err != nil {
				return err
			}
			res.PeakGFLOPs = peak
			for i := range res.Train {
				res.Train[i].OfPeak = res.Train[i].GFLOPs / peak
			}
			if load0 != "" {
				res.LoadAvg = load0 + " before, " + loadAvg() + " after"
			}
			if asJSON {
				return writeJSON(res)
			}
			fmt.Printf("machine %s, %d threads; fp32 matmul peak (rn_sgemm_nt, n=%d): %.1f GFLOP/s\n",
				res.Machine, res.Threads, peakN, peak)
			if res.LoadAvg != "" {
				fmt.Printf("load average (1 min): %s\n", res.LoadAvg)
			}
			fmt.Println()
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "model\tparams\ttokens/batch\tfwd+bwd tokens/s\tGFLOP/s\tof peak\tAdamW step\t")
			for _, r := range res.Train {
				fmt.Fprintf(w, "%s\t%.1fM\t%d\t%.0f\t%.1f\t%.0f%%\t%.1f ms\t\n", r.Model, float64(r.Params)/1e6, r.Tokens,
					r.TokensPerSec, r.GFLOPs, 100*r.OfPeak, r.StepMS)
			}
			w.Flush()
			fmt.Printf("\ngeneration (prompt %d tokens, %d new, temperature 1, KV cache):\n", res.GenPrompt, genNew)
			w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(w, "model\tbatch\ttokens/s\t")
			for _, r := range res.Generate {
				fmt.Fprintf(w, "%s\t%d\t%.0f\t\n", r.Model, r.Batch, r.TokensPerSec)
			}
			return w.Flush()
		},
	}
	f := c.Flags()
	f.IntVar(&threads, "threads", 0, "CPU threads (0: every core)")
	f.IntVar(&peakN, "peak-n", 1024, "size of the square matmul that measures the peak")
	f.IntVar(&genBatch, "gen-batch", 16, "rows of the batched generation")
	f.IntVar(&genNew, "gen-new", 64, "new tokens per row")
	f.Float64Var(&seconds, "seconds", 2, "time per measurement")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON on stdout")
	return c
}

// loadAvg is the 1-minute load average, or "" where /proc/loadavg is missing.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
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

func benchPeak(n, threads int, d time.Duration) (float64, error) {
	a, b, out := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7)*0.1, float32(i%5)*0.1
	}
	s, err := repeat(d, func() error { return native.SgemmNT(out, a, b, n, n, n, threads) })
	return 2 * float64(n) * float64(n) * float64(n) / s / 1e9, err
}

func benchFwdBwd(bm benchModel, d time.Duration) (benchTrainRow, error) {
	m, err := native.New(bm.Cfg)
	if err != nil {
		return benchTrainRow{}, err
	}
	defer m.Close()
	if err := m.InitWeights(1, 0.02); err != nil {
		return benchTrainRow{}, err
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
		return benchTrainRow{}, err
	}
	st, err := repeat(d/4, func() error {
		_, err := m.Step(native.AdamW{LR: 1e-5, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
		return err
	})
	flops := 3 * bm.Cfg.ForwardFLOPs(bm.B, bm.T)
	return benchTrainRow{Model: bm.Name, Params: m.NumParams(), Tokens: n, TokensPerSec: float64(n) / s,
		GFLOPs: flops / s / 1e9, StepMS: st * 1e3}, err
}

func benchGenerate(bm benchModel, batch, prompt, newTok int, d time.Duration) (float64, error) {
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
