package main

import (
	"os"

	"github.com/spf13/cobra"

	"resyn/core/envbench"
	"resyn/core/envlib"
)

var benchSubcommands []func() *cobra.Command

// registerBench adds a subcommand under `resyn bench`.
func registerBench(f func() *cobra.Command) { benchSubcommands = append(benchSubcommands, f) }

func init() {
	register(newBenchCmd)
	registerBench(newBenchEnvsCmd)
}

func newBenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks of this machine: environments, reward server, trainer",
	}
	for _, f := range benchSubcommands {
		c.AddCommand(f())
	}
	return c
}

func newBenchEnvsCmd() *cobra.Command {
	var n, rounds int
	var asJSON, noPython bool
	c := &cobra.Command{
		Use:   "envs",
		Short: "Verified instances/s per environment, on 1 worker and on all cores, vs plain Python",
		Args:  cobra.NoArgs,
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
			if asJSON {
				return writeJSON(rep)
			}
			return rep.WriteText(os.Stdout)
		},
	}
	c.Flags().IntVar(&n, "n", 400, "instances per environment")
	c.Flags().IntVar(&rounds, "rounds", 5, "timed rounds per environment and worker count (the best is kept)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&noPython, "no-python", false, "skip the plain-Python reference")
	return c
}
