package trainbench

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// torchScript is the PyTorch reference (train_torch.py): the same model
// and the same measured work as FwdBwd, in plain fp32 torch. It is run as
// `python - ARGS` with the script on stdin, so it needs no file on disk.
//
//go:embed train_torch.py
var torchScript []byte

// TorchMissing is what the benchmark prints when no interpreter it tries
// imports torch. It installs nothing itself.
const TorchMissing = "no PyTorch reference: neither python3 nor /usr/bin/python3 imports torch " +
	"(Debian bookworm: apt-get install python3-torch libopenblas0-openmp — torch 1.13.1 calls whatever " +
	"libblas.so.3 is installed: OpenBLAS's OpenMP build shares torch's threads, the reference BLAS is ~10x slower)"

// Torch is an interpreter that imports torch.
type Torch struct {
	Python  string // the interpreter's path
	Version string // torch.__version__
}

// DefaultPythons are the interpreters FindTorch tries: the first python3 on
// PATH (often a pyenv or venv one without torch), then Debian's own, for
// which python3-torch installs.
var DefaultPythons = []string{"python3", "/usr/bin/python3"}

// ErrNoTorch is returned by FindTorch when no candidate imports torch.
var ErrNoTorch = errors.New(TorchMissing)

// FindTorch returns the first of pythons (DefaultPythons if none) that is
// found and runs `-c "import torch"`.
func FindTorch(pythons ...string) (Torch, error) {
	if len(pythons) == 0 {
		pythons = DefaultPythons
	}
	for _, p := range pythons {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import torch; print(torch.__version__)").Output()
		if err == nil {
			return Torch{Python: path, Version: strings.TrimSpace(string(out))}, nil
		}
	}
	return Torch{}, ErrNoTorch
}

// TorchRun is one measurement of the PyTorch reference, as the script
// prints it.
type TorchRun struct {
	Torch        string  `json:"torch"`
	Threads      int     `json:"threads"`
	Params       int64   `json:"params"`
	Tokens       int     `json:"tokens"`
	Seconds      float64 `json:"seconds"`
	Runs         int     `json:"runs"`
	TokensPerSec float64 `json:"tokens_per_s"`
	BLAS         string  `json:"blas"` // the BLAS libraries torch loaded, resolved
}

// torchArgs are the script's arguments for bm on threads threads.
func torchArgs(bm Model, threads int, d time.Duration) []string {
	c := bm.Cfg
	args := []string{"-"}
	for _, kv := range []struct {
		k string
		v int
	}{{"vocab", c.VocabSize}, {"hidden", c.HiddenSize}, {"inter", c.IntermediateSize}, {"layers", c.NumLayers},
		{"heads", c.NumHeads}, {"kv-heads", c.NumKVHeads}, {"batch", bm.B}, {"seq", bm.T}, {"threads", threads}} {
		args = append(args, "--"+kv.k, strconv.Itoa(kv.v))
	}
	return append(args, "--seconds", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
}

// FwdBwd runs the PyTorch reference for bm on threads threads, each
// measurement lasting about d, and checks that it did bm's work.
func (t Torch) FwdBwd(bm Model, threads int, d time.Duration) (TorchRun, error) {
	cmd := exec.Command(t.Python, torchArgs(bm, threads, d)...)
	cmd.Stdin = bytes.NewReader(torchScript)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return TorchRun{}, fmt.Errorf("PyTorch reference (%s): %w: %s", t.Python, err, lastLine(stderr.String()))
	}
	var r TorchRun
	if err := json.Unmarshal(out, &r); err != nil {
		return TorchRun{}, fmt.Errorf("PyTorch reference printed %q: %w", lastLine(string(out)), err)
	}
	if r.Tokens != bm.B*bm.T || r.TokensPerSec <= 0 || r.Threads != threads {
		return TorchRun{}, fmt.Errorf("PyTorch reference ran %d tokens on %d threads at %v tokens/s, want %d tokens on %d",
			r.Tokens, r.Threads, r.TokensPerSec, bm.B*bm.T, threads)
	}
	return r, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
