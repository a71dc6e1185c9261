package envbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"resyn/core/env"
)

// LibraryOptions say how to measure the library (Library).
type LibraryOptions struct {
	Envs     []*env.Module
	N        int       // instances per environment
	Rounds   int       // timed rounds per environment and worker count; the best is kept
	Python   string    // the plain-Python reference script (bench/python/bench.py); "": none
	Progress io.Writer // a line before each phase; may be nil
}

// LibraryRow is one environment's throughput on one worker and on all.
type LibraryRow struct {
	One Result `json:"one_worker"`
	All Result `json:"all_workers"`
}

// LibraryReport is `resyn bench envs`: every environment on 1 worker and
// on one per core, the plain-Python reference beside them, and what the
// machine's load was meanwhile.
type LibraryReport struct {
	Cores    int                    `json:"cores"`
	Rounds   int                    `json:"rounds"`
	Load     map[string]string      `json:"load_average"`     // the 1-minute load average at the start and the end of the resyn timings
	Capacity map[string]float64     `json:"cpu_loop_scaling"` // a pure CPU loop's scaling from 1 to all cores, start and end
	Rows     map[string]*LibraryRow `json:"rows"`
	Python   map[string]float64     `json:"python"`
	order    []string
}

// Library times o.Envs through pools of 1 worker and of one per core,
// interleaved round by round (Workload.Measure), then runs the Python
// reference, all in one run.
func Library(ctx context.Context, o LibraryOptions) (*LibraryReport, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	cores := runtime.NumCPU()
	rep := &LibraryReport{Cores: cores, Rounds: o.Rounds, Rows: map[string]*LibraryRow{}, Python: map[string]float64{},
		Load: map[string]string{"start": LoadAvg()}, Capacity: map[string]float64{"start": CPUScaling(cores, 10)}}
	var runs []Runner
	for _, workers := range []int{1, cores} {
		p, err := env.NewPool(env.PoolOptions{Workers: workers})
		if err != nil {
			return nil, err
		}
		defer p.Close()
		for _, m := range o.Envs {
			p.Register(m)
		}
		runs = append(runs, Runner{Ex: p, Workers: workers})
	}
	fmt.Fprintf(o.Progress, "preparing %d environments × %d instances (reference answers, untimed)…\n", len(o.Envs), o.N)
	wl, err := Prepare(ctx, runs[len(runs)-1].Ex, o.Envs, o.N)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, "timing on 1 and %d worker(s), interleaved, best of %d rounds…\n", cores, o.Rounds)
	res, err := wl.Measure(ctx, runs, o.Rounds)
	if err != nil {
		return nil, err
	}
	rep.Load["end"], rep.Capacity["end"] = LoadAvg(), CPUScaling(cores, 10) // before the Python reference
	for ri, rs := range res {
		for _, r := range rs {
			if rep.Rows[r.Env] == nil {
				rep.Rows[r.Env] = &LibraryRow{}
				rep.order = append(rep.order, r.Env)
			}
			if ri == 0 {
				rep.Rows[r.Env].One = r
			} else {
				rep.Rows[r.Env].All = r
			}
		}
	}
	if o.Python != "" {
		rep.Python = pythonReference(o.Python, o.N, o.Rounds, o.Progress)
	}
	return rep, nil
}

// WriteText prints the report's table, ALL last.
func (r *LibraryReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "ENVIRONMENT\t1 WORKER/s\t%d WORKERS/s\tSCALING\tPYTHON/s\tRESYN(1)/PYTHON\t\n", r.Cores)
	order := append([]string(nil), r.order...)
	sort.SliceStable(order, func(i, j int) bool { return order[j] == "ALL" })
	for _, name := range order {
		row := r.Rows[name]
		pys, ratio := "", ""
		if v, ok := r.Python[name]; ok && v > 0 {
			pys = fmt.Sprintf("%.0f", v)
			ratio = fmt.Sprintf("%.2f×", row.One.PerSec/v)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f×\t%s\t%s\t\n", name, row.One.PerSec, row.All.PerSec, row.All.PerSec/row.One.PerSec, pys, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Load["start"] != "" {
		fmt.Fprintf(w, "best of %d rounds; 1-minute load average %s at the start, %s at the end of the resyn timings (%d cores)\n", r.Rounds, r.Load["start"], r.Load["end"], r.Cores)
	}
	fmt.Fprintf(w, "the machine's own ceiling: a pure CPU loop scaled %.2f× (start) and %.2f× (end) from 1 to %d threads\n", r.Capacity["start"], r.Capacity["end"], r.Cores)
	return nil
}

// pythonReference runs the plain-Python reference script rounds times and
// keeps each environment's best rate; empty (with a note on progress)
// where python3 or the script is missing or fails.
func pythonReference(script string, n, rounds int, progress io.Writer) map[string]float64 {
	out := map[string]float64{}
	py, err := exec.LookPath("python3")
	if err != nil {
		fmt.Fprintln(progress, "python3 not found: no Python reference")
		return out
	}
	if _, err := os.Stat(script); err != nil {
		fmt.Fprintf(progress, "%s not found (run from the repository root): no Python reference\n", script)
		return out
	}
	fmt.Fprintf(progress, "running the plain-Python reference (best of %d)…\n", rounds)
	for k := 0; k < rounds; k++ {
		b, err := exec.Command(py, script, fmt.Sprint(n)).Output()
		if err != nil {
			fmt.Fprintln(progress, "python reference failed:", err)
			return out
		}
		var one map[string]float64
		if err := json.Unmarshal(b, &one); err != nil {
			fmt.Fprintln(progress, "python reference printed bad JSON:", err)
			return out
		}
		for name, v := range one {
			out[name] = max(out[name], v)
		}
	}
	return out
}

// LoadAvg is the 1-minute load average, or "" where /proc/loadavg is
// missing: printed beside wall-clock rates, which others' work lowers.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
}
