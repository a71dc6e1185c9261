package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/envbench"
	"resyn/trainer/native/trainbench"
)

func init() { registerBench(newBenchTrainCmd) }

func newBenchTrainCmd() *cobra.Command {
	var o trainbench.Options
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
			o.Duration = time.Duration(seconds * float64(time.Second))
			o.Progress = os.Stderr
			load0 := envbench.LoadAvg()
			res, err := trainbench.Run(o)
			if err != nil {
				return err
			}
			if load0 != "" {
				res.LoadAvg = load0 + " before, " + envbench.LoadAvg() + " after"
			}
			if asJSON {
				return writeJSON(res)
			}
			return res.WriteText(os.Stdout)
		},
	}
	f := c.Flags()
	f.IntVar(&o.Threads, "threads", 0, "CPU threads (0: every core)")
	f.IntVar(&o.PeakN, "peak-n", 1024, "size of the square matmul that measures the peak")
	f.IntVar(&o.GenBatch, "gen-batch", 16, "rows of the batched generation")
	f.IntVar(&o.GenNew, "gen-new", 64, "new tokens per row")
	f.Float64Var(&seconds, "seconds", 2, "time per measurement")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON on stdout")
	return c
}
