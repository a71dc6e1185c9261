package native

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayersAgainstFiniteDifferences builds testdata/layercheck.c with the
// C sources and runs it: each layer's backward against central finite
// differences (norm-wise relative error under 1e-3), and the matmul kernels
// against a naive double loop on awkward sizes (1e-5).
func TestLayersAgainstFiniteDifferences(t *testing.T) {
	lib, err := sharedCPULib() // the layers are exported from it
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "layercheck")
	args := []string{"-O1", "-std=gnu11", "-Wno-psabi", "-fopenmp", "-o", bin, "testdata/layercheck.c", lib,
		"-Wl,-rpath," + filepath.Dir(lib), "-lm"}
	if b, err := exec.Command(cc(), args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc(), strings.Join(args, " "), err, b)
	}
	out, err := exec.Command(bin).CombinedOutput()
	t.Logf("\n%s", out)
	if err != nil {
		t.Fatalf("layer checks failed: %v", err)
	}
}
