package main

import (
	"context"
	"os"
	"os/signal"
	"time"

	"resyn/core/envbench"
	"resyn/core/envlib"
	"resyn/core/library"
	"resyn/core/serve/servebench"
	"resyn/core/synth/synthload"
	"resyn/trainer/native/trainbench"

	"github.com/spf13/cobra"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "bench",
	}
	c.AddCommand(newBenchEnvsCmd(), newBenchServeCmd(), newBenchSynthCmd(), newBenchTrainCmd())
	return c
}

func newBenchEnvsCmd() *cobra.Command {
	var n, rounds int
	var asJSON, noPython bool
	c := &cobra.Command{
		Use:  "envs",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			mods, err := envlib.Modules()
			if err != nil {
				return err
			}
			o := envbench.LibraryOptions{Envs: mods, N: n, Rounds: rounds, Progress: os.Stderr}
			if !noPython {
				o.Python = "bench/python/bench.py"
			}
			rep, err := envbench.Library(cmd.Context(), o)
			if err != nil {
				return err
			}
			return jsonOr(asJSON, rep, func() error { return rep.WriteText(os.Stdout) })
		},
	}
	c.Flags().IntVar(&n, "n", 400, "instances per environment")
	c.Flags().IntVar(&rounds, "rounds", 5, "timed rounds per environment and worker count (the best is kept)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&noPython, "no-python", false, "skip the plain-Python reference")
	return c
}

func newBenchServeCmd() *cobra.Command {
	var batches, clients, by string
	var duration time.Duration
	var maxRequests, workers, group int
	var asJSON bool
	c := &cobra.Command{
		Use:  "serve",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sizes, conc, err := servebench.ParseFlags(batches, clients, by)
			if err != nil {
				return err
			}
			p, mods, err := library.OpenServePool(cmd.Context(), "", false, "", workers, 0)
			if err != nil {
				return err
			}
			defer p.Close()
			rep, err := servebench.Run(cmd.Context(), servebench.Options{Pool: p, Envs: mods, Sizes: sizes, Clients: conc, By: by,
				Duration: duration, MaxRequests: maxRequests, Group: group, Progress: os.Stderr})
			if err != nil {
				return err
			}
			return jsonOr(asJSON, rep, func() error { return rep.WriteText(os.Stdout) })
		},
	}
	c.Flags().StringVar(&batches, "batches", "1,256", "batch sizes (items per request)")
	c.Flags().StringVar(&clients, "clients", "8,1", "concurrent clients, one for all or one per batch size")
	c.Flags().StringVar(&by, "by", "ground-truth", "how items name their instance: ground-truth or instance")
	c.Flags().DurationVar(&duration, "duration", 5*time.Second, "longest run per batch size")
	c.Flags().IntVar(&maxRequests, "max-requests", 20000, "most requests per batch size")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().IntVar(&group, "group", 8, "completions per instance (a GRPO group)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newBenchSynthCmd() *cobra.Command {
	var o synthload.BenchOptions
	var db, serve string
	var asJSON bool
	c := &cobra.Command{
		Use:  "synth",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Check(); err != nil {
				return err
			}
			if serve != "" {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
				defer stop()
				return synthload.Serve(ctx, serve, o, os.Stderr)
			}
			o.DB, o.Progress = db, os.Stderr
			rep, err := synthload.BenchSelf(cmd.Context(), o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(rep)
			}
			rep.Table(os.Stdout)
			return rep.Redone()
		},
	}
	f := c.Flags()
	f.IntVar(&o.Candidates, "candidates", 1000, "candidates to synthesize")
	f.IntVar(&o.Concurrency, "concurrency", 32, "LLM requests in flight")
	f.IntVar(&o.Parallel, "parallel", 0, "candidates in flight (default 1.5 × --concurrency)")
	f.Float64Var(&o.Scale, "latency-scale", 0.1, "multiplies every latency and wait (1: replies take seconds to a minute)")
	f.StringVar(&o.Part, "corpus", synthload.PartHeldBack, "corpus part the model answers from: heldback or tuning")
	f.IntVar(&o.KillAfter, "kill-after", 0, "kill resyn synth with SIGKILL after this many verdicts and resume it (0: no kill)")
	f.IntVar(&o.Workers, "workers", 0, "sandbox workers of resyn synth (default: one per core)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the simulated model and server")
	f.StringVar(&db, "store", "", "the new store the load test writes, kept afterwards (default: a temporary one, removed after; your --db store is never touched)")
	f.StringVar(&serve, "serve", "", "only run the simulated server on `ADDR` until interrupted")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

func newBenchTrainCmd() *cobra.Command {
	var o trainbench.Options
	var seconds float64
	var asJSON bool
	c := &cobra.Command{
		Use:  "train",
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
			return jsonOr(asJSON, res, func() error { return res.WriteText(os.Stdout) })
		},
	}
	f := c.Flags()
	f.IntVar(&o.Threads, "threads", 0, "CPU threads (0: every core)")
	f.IntVar(&o.PeakN, "peak-n", 1024, "size of the square matmul that measures the peak")
	f.IntVar(&o.GenBatch, "gen-batch", 16, "rows of the batched generation")
	f.IntVar(&o.GenNew, "gen-new", 64, "new tokens per row")
	f.Float64Var(&seconds, "seconds", 2, "time per measurement")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON on stdout")
	f.StringSliceVar(&o.Pythons, "python", nil, "interpreters to try for the PyTorch reference (default python3, /usr/bin/python3)")
	f.BoolVar(&o.NoTorch, "no-torch", false, "skip the PyTorch reference")
	return c
}
