package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
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
			ctx := cmd.Context()
			loadStart := loadAvg() // cmd_bench_train.go
			cores := runtime.NumCPU()
			capStart := envbench.CPUScaling(cores, 10)
			mods, err := envlib.Modules()
			if err != nil {
				return err
			}
			type row struct {
				One envbench.Result `json:"one_worker"`
				All envbench.Result `json:"all_workers"`
			}
			rows := map[string]*row{}
			var order []string
			var runs []envbench.Runner
			for _, workers := range []int{1, cores} {
				p, err := env.NewPool(env.PoolOptions{Workers: workers})
				if err != nil {
					return err
				}
				defer p.Close()
				for _, m := range mods {
					p.Register(m)
				}
				runs = append(runs, envbench.Runner{Ex: p, Workers: workers})
			}
			fmt.Fprintf(os.Stderr, "preparing %d environments × %d instances (reference answers, untimed)…\n", len(mods), n)
			wl, err := envbench.Prepare(ctx, runs[len(runs)-1].Ex, mods, n)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "timing on 1 and %d worker(s), interleaved, best of %d rounds…\n", cores, rounds)
			res, err := wl.Measure(ctx, runs, rounds)
			if err != nil {
				return err
			}
			loadEnd, capEnd := loadAvg(), envbench.CPUScaling(cores, 10) // before the Python reference
			for ri, rs := range res {
				for _, r := range rs {
					if rows[r.Env] == nil {
						rows[r.Env] = &row{}
						order = append(order, r.Env)
					}
					if ri == 0 {
						rows[r.Env].One = r
					} else {
						rows[r.Env].All = r
					}
				}
			}
			py := map[string]float64{}
			if !noPython {
				py = pythonBench(n, rounds)
			}
			load := map[string]string{"start": loadStart, "end": loadEnd}
			capacity := map[string]float64{"start": capStart, "end": capEnd}
			if asJSON {
				out := map[string]any{"cores": cores, "rounds": rounds, "load_average": load, "cpu_loop_scaling": capacity, "rows": rows, "python": py}
				return writeJSON(out)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "ENVIRONMENT\t1 WORKER/s\t%d WORKERS/s\tSCALING\tPYTHON/s\tRESYN(1)/PYTHON\t\n", cores)
			sort.SliceStable(order, func(i, j int) bool { return order[j] == "ALL" })
			for _, name := range order {
				r := rows[name]
				pys, ratio := "", ""
				if v, ok := py[name]; ok && v > 0 {
					pys = fmt.Sprintf("%.0f", v)
					ratio = fmt.Sprintf("%.2f×", r.One.PerSec/v)
				}
				fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f×\t%s\t%s\t\n", name, r.One.PerSec, r.All.PerSec, r.All.PerSec/r.One.PerSec, pys, ratio)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if load["start"] != "" {
				fmt.Printf("best of %d rounds; 1-minute load average %s at the start, %s at the end of the resyn timings (%d cores)\n", rounds, load["start"], load["end"], cores)
			}
			fmt.Printf("the machine's own ceiling: a pure CPU loop scaled %.2f× (start) and %.2f× (end) from 1 to %d threads\n", capacity["start"], capacity["end"], cores)
			return nil
		},
	}
	c.Flags().IntVar(&n, "n", 400, "instances per environment")
	c.Flags().IntVar(&rounds, "rounds", 5, "timed rounds per environment and worker count (the best is kept)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&noPython, "no-python", false, "skip the plain-Python reference")
	return c
}

// pythonBench runs bench/python/bench.py rounds times if python3 and the
// script are here, and keeps the best rate per environment. The script prints
// one JSON object: environment name -> instances/s.
func pythonBench(n, rounds int) map[string]float64 {
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
	fmt.Fprintf(os.Stderr, "running the plain-Python reference (best of %d)…\n", rounds)
	for k := 0; k < rounds; k++ {
		b, err := exec.Command(py, script, fmt.Sprint(n)).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "python reference failed:", err)
			return out
		}
		var one map[string]float64
		if err := json.Unmarshal(b, &one); err != nil {
			fmt.Fprintln(os.Stderr, "python reference printed bad JSON:", err)
			return out
		}
		for name, v := range one {
			out[name] = max(out[name], v)
		}
	}
	return out
}

// loadAvg is the 1-minute load average, or "" where /proc/loadavg is missing:
// printed beside wall-clock rates, which others' work lowers.
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
