package native

import (
	"strings"
	"testing"
)

// TestMachineLines: MemTotal read from a /proc/meminfo text, each backend's
// line, and the machine report's cpu and backend lines.
func TestMachineLines(t *testing.T) {
	if got := memTotalOf("MemFree:  100 kB\nMemTotal:       16303448 kB\n"); got != "15.5 GiB" {
		t.Errorf("memTotalOf = %q", got)
	}
	if got := memTotalOf("nothing here\n"); got != "" {
		t.Errorf("memTotalOf without MemTotal = %q", got)
	}
	for _, c := range []struct {
		b    BackendInfo
		want string
	}{
		{BackendInfo{Name: BackendCPU, Available: true}, "cpu: available (C reference, built in)"},
		{BackendInfo{Name: BackendCUDA, Available: true, Path: "/x/libresyn_cuda.so"}, "cuda: available (/x/libresyn_cuda.so)"},
		{BackendInfo{Name: BackendCUDA, Err: "no driver"}, "cuda: unavailable: no driver"},
		{BackendInfo{Name: BackendCUDA}, "cuda: unavailable: not available"},
	} {
		if got := BackendLine(c.b); got != c.want {
			t.Errorf("BackendLine(%+v) = %q, want %q", c.b, got, c.want)
		}
	}
	var b strings.Builder
	WriteMachine(&b)
	if !strings.HasPrefix(b.String(), "  cpu        ") || !strings.Contains(b.String(), "  backends   cpu: available") || !strings.Contains(b.String(), "  gpu        ") {
		t.Errorf("machine report:\n%s", b.String())
	}
}
