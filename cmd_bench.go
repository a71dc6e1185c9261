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
		Long:  "Each benchmark prints its numbers next to the reference it is measured against, in the same run.",
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
		Long: `Times generate + render + verify (of the reference answer, computed beforehand)
for --n instances of every built-in environment through the sandboxed worker
pool, first with 1 worker process and then with one per core; then, when
python3 is present, the same logic for a handful of environments written in
plain Python (bench/python) in the same run, so the ratio is measured side by
side.

The two worker counts take turns environment by environment, --rounds times,
and each keeps its best time: on a shared machine a burst of load from
elsewhere then slows both alike, and the best of several rounds is what the
machine can do. The load average is printed with the table, and so is the
scaling a pure CPU loop gets from 1 to all cores at the start and at the
end: on a loaded machine that, not the pool, caps the SCALING column.`,
		Example: `  resyn bench envs --n 400
  resyn bench envs --n 200 --rounds 5 --no-python`,
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
