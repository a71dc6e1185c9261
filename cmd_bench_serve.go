package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/serve/servebench"
)

func init() { registerBench(newBenchServeCmd) }

func newBenchServeCmd() *cobra.Command {
	var batches, clients, by string
	var duration time.Duration
	var maxRequests, workers, group int
	var asJSON bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Reward server load test on loopback: scores/s and p50/p99 latency",
		Long: `Starts the reward server in this process on 127.0.0.1 (an ephemeral port) over
the worker pool, and POSTs /score from concurrent keep-alive clients for each
batch size: at most --duration and at most --max-requests requests per batch
size, after a short warm-up that starts the workers. Reports scores/s over the
whole run and the p50/p99 latency of one request.

The items are what a GRPO trainer sends: every built-in environment, groups of
--group completions per instance (cycling through the reference answer, a
corrupted one, and one without an <answer> block), named by the ground truth of an exported row
(--by ground-truth, what verl sends) or by (env, seed, difficulty) (--by
instance). Request bodies are encoded beforehand; responses are decoded and
checked. The target for batches of 256 on 2 cores is ≥ 5,000 scores/s with
p99 < 100 ms.`,
		Example: `  resyn bench serve
  resyn bench serve --batches 1,64,256 --clients 8,4,2 --duration 10s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sizes, err := servebench.ParseCounts(batches)
			if err != nil {
				return fmt.Errorf("--batches: %w", err)
			}
			conc, err := servebench.ParseCounts(clients)
			if err != nil || (len(conc) != 1 && len(conc) != len(sizes)) {
				return fmt.Errorf("--clients: want one number or one per batch size")
			}
			if by != "ground-truth" && by != "instance" {
				return fmt.Errorf("--by %q: want ground-truth or instance", by)
			}
			p, mods, err := servePool(cmd.Context(), workers, 0, false, "")
			if err != nil {
				return err
			}
			defer p.Close()
			rep, err := servebench.Run(cmd.Context(), servebench.Options{Pool: p, Envs: mods, Sizes: sizes, Clients: conc, By: by,
				Duration: duration, MaxRequests: maxRequests, Group: group, Progress: os.Stderr})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(rep)
			}
			return rep.WriteText(os.Stdout)
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
