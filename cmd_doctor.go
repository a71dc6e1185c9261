package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"resyn/trainer/native"
)

func init() { register(newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "What this machine offers: cores, memory, GPUs, trainer backends, the store",
		Long: `Prints what resyn found on this machine: CPU cores and memory (the sandbox
and the CPU trainer use them), NVIDIA GPUs (from nvidia-smi), whether the CUDA
backend library is present (RESYN_CUDA_LIB, or libresyn_cuda.so beside the
binary; built with 'make cuda'), python3 (for the benchmark reference and the
verl/TRL shims) and the store path.`,
		Example: "  resyn doctor",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Printf("resyn doctor\n\n")
			fmt.Printf("  cpu        %d cores (%s/%s)\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
			if mem := memTotal(); mem != "" {
				fmt.Printf("  memory     %s\n", mem)
			}
			for i, b := range native.Backends() {
				label := "backends"
				if i > 0 {
					label = ""
				}
				fmt.Printf("  %-10s %s\n", label, backendLine(b))
			}
			if out, err := exec.Command("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader").Output(); err == nil {
				for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					fmt.Printf("  gpu        %s\n", l)
				}
			} else {
				fmt.Printf("  gpu        none found (no nvidia-smi)\n")
			}
			if p, err := exec.LookPath("python3"); err == nil {
				fmt.Printf("  python3    %s\n", p)
			} else {
				fmt.Printf("  python3    not found (the Python benchmark reference and shims need it)\n")
			}
			path := dbPath()
			if st, err := os.Stat(path); err == nil {
				fmt.Printf("  store      %s (%.1f MiB)\n", path, float64(st.Size())/(1<<20))
			} else {
				fmt.Printf("  store      %s (not created yet)\n", path)
			}
			return nil
		},
	}
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return ""
}

// backendLine describes one trainer backend for the report.
func backendLine(b native.BackendInfo) string {
	switch {
	case b.Name == native.BackendCPU:
		return "cpu: available (C reference, built in)"
	case b.Available:
		return fmt.Sprintf("%s: available (%s)", b.Name, b.Path)
	}
	why := b.Err
	if why == "" {
		why = "not available"
	}
	return fmt.Sprintf("%s: unavailable: %s", b.Name, why)
}
