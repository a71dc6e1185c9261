package safetensors

import (
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
)

// The tests here check the format against an independent reader and writer
// in the Python standard library (testdata/crosscheck.py), whose struct
// module does its own IEEE half-precision rounding.

func python(t *testing.T) string {
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH; the cross-check needs it")
	}
	return p
}

func TestPythonReadsOurFiles(t *testing.T) {
	py := python(t)
	vals := []float32{1, -2.5, 3.14159, 1e-5, 65504, 6.1e-5, 0, 1.0009765625, 1.00048828125, 7e-8}
	ts := []Tensor{{Name: "w", Shape: []int64{2, 5}, Data: vals}}
	for _, dt := range []DType{F32, F16, BF16} {
		path := filepath.Join(t.TempDir(), "x.safetensors")
		if err := WriteFile(path, ts, dt, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(py, "testdata/crosscheck.py", "read", path).Output()
		if err != nil {
			t.Fatalf("%s: python read: %v", dt, err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		var entry []json.RawMessage
		json.Unmarshal(got["w"], &entry)
		var pyVals []float64
		json.Unmarshal(entry[2], &pyVals)
		for i, v := range vals {
			var want float32
			switch dt {
			case F32:
				want = v
			case F16:
				want = F16ToFloat32(Float32ToF16(v))
			case BF16:
				want = BF16ToFloat32(Float32ToBF16(v))
			}
			if float32(pyVals[i]) != want {
				t.Errorf("%s[%d]: python read %v, we wrote %v", dt, i, pyVals[i], want)
			}
		}
	}
}

func TestWeReadPythonFiles(t *testing.T) {
	py := python(t)
	path := filepath.Join(t.TempDir(), "py.safetensors")
	out, err := exec.Command(py, "testdata/crosscheck.py", "write", path).Output()
	if err != nil {
		t.Fatalf("python write: %v", err)
	}
	var vals []float64
	if err := json.Unmarshal(out, &vals); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{"f32", "f16", "bf16"} {
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var want float32
			switch name {
			case "f32":
				want = float32(v)
			case "f16": // python's struct 'e' rounded; ours must agree bit for bit
				want = F16ToFloat32(Float32ToF16(float32(v)))
			case "bf16": // python truncated; we only check the reading side
				want = math.Float32frombits(math.Float32bits(float32(v)) &^ 0xffff)
			}
			if got[i] != want {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want)
			}
		}
	}
}
