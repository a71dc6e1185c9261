package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"resyn/core/env"
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
	var n int
	var asJSON, noPython bool
	c := &cobra.Command{
		Use:   "envs",
		Short: "Verified instances/s per environment, on 1 worker and on all cores, vs plain Python",
		Long: `Times generate + render + verify (of the reference answer, computed beforehand)
for --n instances of every built-in environment through the sandboxed worker
pool, first with 1 worker process and then with one per core; then, when
python3 is present, the same logic for a handful of environments written in
plain Python (bench/python) in the same run, so the ratio is measured side by
side.`,
		Example: `  resyn bench envs --n 400`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			mods, err := envlib.Modules()
			if err != nil {
				return err
			}
			type row struct{ one, all envbench.Result }
			rows := map[string]*row{}
			var order []string
			cores := runtime.NumCPU()
			for _, workers := range []int{1, cores} {
				p, err := env.NewPool(env.PoolOptions{Workers: workers})
				if err != nil {
					return err
				}
				for _, m := range mods {
					p.Register(m)
				}
				fmt.Fprintf(os.Stderr, "benchmarking %d environments × %d instances on %d worker(s)…\n", len(mods), n, workers)
				wl, err := envbench.Prepare(ctx, p, mods, n)
				if err != nil {
					p.Close()
					return err
				}
				res, err := wl.Run(ctx, p, workers)
				p.Close()
				if err != nil {
					return err
				}
				for _, r := range res {
					if rows[r.Env] == nil {
						rows[r.Env] = &row{}
						order = append(order, r.Env)
					}
					if workers == 1 {
						rows[r.Env].one = r
					} else {
						rows[r.Env].all = r
					}
				}
			}
			py := map[string]float64{}
			if !noPython {
				py = pythonBench(n)
			}
			if asJSON {
				out := map[string]any{"cores": cores, "rows": rows, "python": py}
				return json.NewEncoder(os.Stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "ENVIRONMENT\t1 WORKER/s\t%d WORKERS/s\tSCALING\tPYTHON/s\tRESYN(1)/PYTHON\t\n", cores)
			sort.SliceStable(order, func(i, j int) bool { return order[j] == "ALL" })
			for _, name := range order {
				r := rows[name]
				pys, ratio := "", ""
				if v, ok := py[name]; ok && v > 0 {
					pys = fmt.Sprintf("%.0f", v)
					ratio = fmt.Sprintf("%.2f×", r.one.PerSec/v)
				}
				fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f×\t%s\t%s\t\n", name, r.one.PerSec, r.all.PerSec, r.all.PerSec/r.one.PerSec, pys, ratio)
			}
			return tw.Flush()
		},
	}
	c.Flags().IntVar(&n, "n", 400, "instances per environment")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&noPython, "no-python", false, "skip the plain-Python reference")
	return c
}

// pythonBench runs bench/python/bench.py if python3 and the script are here.
// It prints one JSON object: environment name -> instances/s.
func pythonBench(n int) map[string]float64 {
	out := map[string]float64{}
	py, err := exec.LookPath("python3")
	if err != nil {
		fmt.Fprintln(os.Stderr, "python3 not found: no Python reference")
		return out
	}
	script := "bench/python/bench.py"
	if _, err := os.Stat(script); err != nil {
		fmt.Fprintln(os.Stderr, "bench/python/bench.py not found (run from the repository root): no Python reference")
		return out
	}
	fmt.Fprintln(os.Stderr, "running the plain-Python reference…")
	b, err := exec.Command(py, script, fmt.Sprint(n)).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "python reference failed:", err)
		return out
	}
	if err := json.Unmarshal(b, &out); err != nil {
		fmt.Fprintln(os.Stderr, "python reference printed bad JSON:", err)
	}
	return out
}
