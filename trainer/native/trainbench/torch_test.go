package trainbench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakePython writes an executable shell script standing in for a python
// interpreter: `-c CODE` succeeds (printing a version) only if withTorch;
// `- ARGS` saves its stdin (the script) and arguments beside it and prints
// reply. It returns the script's path.
func fakePython(t *testing.T, name string, withTorch bool, reply string) string {
	t.Helper()
	dir := t.TempDir()
	status := "1"
	if withTorch {
		status = "0"
	}
	sh := `#!/bin/sh
if [ "$1" = "-c" ]; then
  [ ` + status + ` = 0 ] && echo 9.9.9-fake && exit 0
  echo "ModuleNotFoundError: No module named 'torch'" >&2; exit 1
fi
cat > "` + dir + `/stdin.py"
echo "$@" > "` + dir + `/args"
cat <<'JSON'
` + reply + `
JSON
`
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindTorchTakesTheFirstThatImportsIt(t *testing.T) {
	without := fakePython(t, "python-without", false, "")
	with := fakePython(t, "python-with", true, "")
	tr, err := FindTorch(filepath.Join(t.TempDir(), "absent"), without, with)
	if err != nil || tr.Python != with || tr.Version != "9.9.9-fake" {
		t.Fatalf("FindTorch: %+v, %v; want %s at 9.9.9-fake", tr, err, with)
	}
	_, err = FindTorch(without, filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, ErrNoTorch) {
		t.Fatalf("no torch anywhere: %v, want ErrNoTorch", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "apt-get install python3-torch") {
		t.Fatalf("the missing-torch line %q must be one line saying how to get it", msg)
	}
}

func TestTorchFwdBwdRunsTheScriptOnTheShape(t *testing.T) {
	bm := Models(2)[0]
	reply := `{"torch": "9.9.9-fake", "threads": 2, "params": 870528, "tokens": 2048, "seconds": 0.25, "runs": 5,
	 "tokens_per_s": 8192, "blas": "/usr/lib/libopenblas.so.0"}`
	py := fakePython(t, "python3", true, strings.ReplaceAll(reply, "\n", ""))
	r, err := Torch{Python: py}.FwdBwd(bm, 2, 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if r.TokensPerSec != 8192 || r.Threads != 2 || r.Params != 870528 || r.BLAS != "/usr/lib/libopenblas.so.0" {
		t.Fatalf("parsed %+v", r)
	}
	args, _ := os.ReadFile(filepath.Join(filepath.Dir(py), "args"))
	want := "- --vocab 640 --hidden 128 --inter 384 --layers 4 --heads 4 --kv-heads 2 --batch 16 --seq 128 --threads 2 --seconds 1.5"
	if strings.TrimSpace(string(args)) != want {
		t.Fatalf("arguments %q, want %q", args, want)
	}
	if got, _ := os.ReadFile(filepath.Join(filepath.Dir(py), "stdin.py")); !bytes.Equal(got, torchScript) {
		t.Fatal("the interpreter was not given train_torch.py on stdin")
	}
	for _, bad := range []string{
		`{"torch": "x", "threads": 2, "tokens": 1024, "tokens_per_s": 10}`, // another batch
		`{"torch": "x", "threads": 1, "tokens": 2048, "tokens_per_s": 10}`, // other threads
		`{"torch": "x", "threads": 2, "tokens": 2048, "tokens_per_s": 0}`,  // no rate
		`Traceback (most recent call last):`,
	} {
		if _, err := (Torch{Python: fakePython(t, "python3", true, bad)}).FwdBwd(bm, 2, time.Second); err == nil {
			t.Fatalf("reply %s accepted", bad)
		}
	}
}

// trainRow puts the native and PyTorch rates of one shape side by side.
func TestTrainRowHasTheRatio(t *testing.T) {
	bm := Models(1)[0]
	reply := `{"torch": "9.9.9-fake", "threads": 1, "params": 870528, "tokens": 2048, "seconds": 1, "runs": 3, "tokens_per_s": 100, "blas": ""}`
	torch := &Torch{Python: fakePython(t, "python3", true, reply)}
	row, err := trainRow(bm, 1, torch, Options{Duration: time.Millisecond}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if row.Torch == nil || row.Torch.TokensPerSec != 100 || row.Ratio != row.TokensPerSec/100 || row.Threads != 1 {
		t.Fatalf("row %+v torch %+v", row, row.Torch)
	}
	var b bytes.Buffer
	r := Result{Machine: "m", Threads: 2, PeakShape: 64, PeakGFLOPs: 10, Torch: TorchMissing,
		Train: []TrainRow{row, {Model: "small", Threads: 2, Params: 26_753_536, Tokens: 1024, TokensPerSec: 5}}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{"PyTorch reference: " + TorchMissing, "forward+backward, 1 thread(s)",
		"forward+backward, 2 thread(s)", "0.87M", "26.75M", "native/PyTorch", "100", "-"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text lacks %q:\n%s", want, text)
		}
	}
	if i := slices.IndexFunc(strings.Split(text, "\n"), func(l string) bool { return strings.Contains(l, "tiny-cpu") }); i < 0 ||
		!strings.HasSuffix(strings.TrimSpace(strings.Split(text, "\n")[i]), "x") {
		t.Fatalf("the tiny-cpu row has no ratio:\n%s", text)
	}
}
