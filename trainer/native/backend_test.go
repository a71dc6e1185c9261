package native

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// buildCPUSharedLib compiles C sources (by default the CPU reference,
// cpu_*.c) into a shared library, as the CUDA backend would be built: the
// same rn_* symbols, loaded at run time.
func buildCPUSharedLib(t *testing.T, sources ...string) string {
	t.Helper()
	if len(sources) == 0 {
		sources, _ = filepath.Glob("cpu_*.c")
	}
	out := filepath.Join(t.TempDir(), "libresyn_cuda.so")
	if err := buildSharedLib(out, sources); err != nil {
		t.Fatal(err)
	}
	return out
}

func cc() string {
	if c := os.Getenv("CC"); c != "" {
		return c
	}
	return "gcc"
}

func buildSharedLib(out string, sources []string) error {
	args := append([]string{"-shared", "-fPIC", "-O3", "-std=gnu11", "-Wno-psabi", "-fopenmp", "-Wl,-Bsymbolic", "-o", out}, sources...)
	args = append(args, "-lm")
	if b, err := exec.Command(cc(), args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", cc(), strings.Join(args, " "), err, b)
	}
	return nil
}

// sharedCPULib is the CPU reference as a shared library, built once per
// test binary (the C compile is most of this package's test time).
var (
	sharedLibDir string
	sharedCPULib = sync.OnceValues(buildSharedCPULib)
)

func buildSharedCPULib() (string, error) {
	dir, err := os.MkdirTemp("", "resyn-native-test-")
	if err != nil {
		return "", err
	}
	sharedLibDir = dir
	srcs, _ := filepath.Glob("cpu_*.c")
	out := filepath.Join(dir, "libresyn_cuda.so")
	return out, buildSharedLib(out, srcs)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedLibDir != "" {
		os.RemoveAll(sharedLibDir)
	}
	os.Exit(code)
}

func TestLoadedBackendMatchesStatic(t *testing.T) {
	lib, err := sharedCPULib()
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenLibrary(BackendCUDA, lib)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != BackendCUDA || b.Path() != lib {
		t.Fatalf("backend %s at %s, want cuda at %s", b.Name(), b.Path(), lib)
	}
	t.Setenv(CUDALibEnv, lib)
	if b2, err := OpenBackend(BackendCUDA); err != nil || b2 != b {
		t.Fatalf("OpenBackend(cuda) with %s=%s: %v, %v", CUDALibEnv, lib, b2, err)
	}
	infos := Backends()
	if len(infos) != 2 || !infos[0].Available || !infos[1].Available || infos[1].Path != lib {
		t.Fatalf("Backends() = %+v", infos)
	}

	cfg := tinyConfig(false)
	ref := newTiny(t, cfg, 7)
	cfg.Backend = BackendCUDA
	dyn := newTiny(t, cfg, 7)
	if dyn.Backend() != b || ref.Backend() != CPU() {
		t.Fatal("models are not on the backends asked for")
	}

	r := newRNG(3)
	batch := randomBatch(r, 2, 9, cfg.VocabSize)
	n := batch.B * batch.T
	outs := [2][]float32{}
	for k, m := range []*Model{ref, dyn} {
		lp, ent := make([]float32, n), make([]float32, n)
		if err := m.Forward(batch, lp, ent); err != nil {
			t.Fatal(err)
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(i%5) - 2
		}
		if err := m.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(d); err != nil {
			t.Fatal(err)
		}
		norm, err := m.Step(AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, MaxGradNorm: 1})
		if err != nil {
			t.Fatal(err)
		}
		gen, err := m.Generate(GenParams{Prompts: [][]int32{{1, 2, 3}, {4}}, MaxNewTokens: 6, Temperature: 0.8, TopP: 0.9, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		o := append(lp, ent...)
		o = append(o, norm)
		for _, ti := range m.Tensors() {
			w := make([]float32, ti.Numel)
			if err := m.Read(Weights, ti.Name, w); err != nil {
				t.Fatal(err)
			}
			o = append(o, w...)
		}
		for i := range gen.Tokens {
			for j, tok := range gen.Tokens[i] {
				o = append(o, float32(tok), gen.Logprobs[i][j])
			}
		}
		outs[k] = o
	}
	if !slices.Equal(outs[0], outs[1]) {
		worst := 0.0
		for i := range outs[0] {
			if d := float64(outs[0][i] - outs[1][i]); d > worst || -d > worst {
				worst = max(d, -d)
			}
		}
		t.Fatalf("the loaded library disagrees with the static CPU path (largest difference %g)", worst)
	}
}

func TestOpenLibraryErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.so")
		t.Setenv(CUDALibEnv, path)
		_, err := OpenBackend(BackendCUDA)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want ErrBackend naming %s", err, path)
		}
		infos := Backends()
		if infos[1].Available || infos[1].Err == "" {
			t.Fatalf("cuda reported available: %+v", infos[1])
		}
	})
	t.Run("not a library", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.so")
		os.WriteFile(path, []byte("not an ELF file"), 0o644)
		_, err := OpenLibrary(BackendCUDA, path)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing symbol", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "partial.c")
		// everything up to rn_forward, but no rn_backward
		os.WriteFile(src, []byte(`
int rn_model_create(void){return 0;} void rn_model_free(void){} const char *rn_model_error(void){return "";}
int rn_num_tensors(void){return 0;} int rn_tensor_info_at(void){return 0;} int rn_tensor_index(void){return 0;}
int rn_tensor_read(void){return 0;} int rn_tensor_write(void){return 0;} int rn_init_weights(void){return 0;}
int rn_forward(void){return 0;}
`), 0o644)
		lib := buildCPUSharedLib(t, src)
		_, err := OpenLibrary(BackendCUDA, lib)
		if !errors.Is(err, ErrBackend) || !strings.Contains(err.Error(), lib) || !strings.Contains(err.Error(), "rn_backward") {
			t.Fatalf("err = %v, want ErrBackend naming %s and rn_backward", err, lib)
		}
	})
	t.Run("unknown name", func(t *testing.T) {
		if _, err := OpenBackend("tpu"); !errors.Is(err, ErrBackend) {
			t.Fatalf("err = %v", err)
		}
	})
}
