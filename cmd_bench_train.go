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
		Args:  cobra.NoArgs,
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
