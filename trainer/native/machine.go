package native

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// WriteMachine prints what this machine offers the trainer, as `resyn
// doctor` shows it: CPU cores, memory (from /proc/meminfo, when there is
// one), each backend (BackendLine) and the NVIDIA GPUs nvidia-smi lists.
func WriteMachine(w io.Writer) {
	fmt.Fprintf(w, "  cpu        %d cores (%s/%s)\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if mem := MemTotal(); mem != "" {
		fmt.Fprintf(w, "  memory     %s\n", mem)
	}
	for i, b := range Backends() {
		label := "backends"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "  %-10s %s\n", label, BackendLine(b))
	}
	if out, err := exec.Command("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader").Output(); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fmt.Fprintf(w, "  gpu        %s\n", l)
		}
	} else {
		fmt.Fprintf(w, "  gpu        none found (no nvidia-smi)\n")
	}
}

// MemTotal is the machine's memory from /proc/meminfo ("15.5 GiB"), "" where
// that cannot be read.
func MemTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	return memTotalOf(string(b))
}

// memTotalOf reads MemTotal from the text of /proc/meminfo.
func memTotalOf(meminfo string) string {
	for _, l := range strings.Split(meminfo, "\n") {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return ""
}

// BackendLine describes one trainer backend in one line: available (and
// where from) or why not.
func BackendLine(b BackendInfo) string {
	switch {
	case b.Name == BackendCPU:
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
