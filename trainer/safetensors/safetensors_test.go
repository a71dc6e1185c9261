package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func randTensors(r *rand.Rand) []Tensor {
	shapes := [][]int64{{3, 4}, {5}, {}, {2, 0, 3}, {2, 3, 4}, {1}}
	var ts []Tensor
	for i, s := range shapes {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		data := make([]float32, n)
		for j := range data {
			data[j] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
		}
		ts = append(ts, Tensor{Name: "model.layers." + string(rune('a'+i)) + ".weight", Shape: s, Data: data})
	}
	return ts
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ts := randTensors(r)
	for _, dt := range []DType{F32, BF16, F16} {
		path := filepath.Join(t.TempDir(), "m.safetensors")
		md := map[string]string{"format": "pt"}
		if err := WriteFile(path, ts, dt, md); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata()["format"] != "pt" {
			t.Errorf("%s: metadata %v", dt, f.Metadata())
		}
		if len(f.Tensors()) != len(ts) {
			t.Fatalf("%s: %d tensors, want %d", dt, len(f.Tensors()), len(ts))
		}
		for _, want := range ts {
			info, ok := f.Info(want.Name)
			if !ok || info.DType != dt || !slices.Equal(info.Shape, want.Shape) {
				t.Fatalf("%s: info %+v for %q", dt, info, want.Name)
			}
			got, err := f.Float32(want.Name)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range want.Data {
				var w float32
				switch dt {
				case F32:
					w = v
				case BF16:
					w = BF16ToFloat32(Float32ToBF16(v))
				case F16:
					w = F16ToFloat32(Float32ToF16(v))
				}
				if got[i] != w {
					t.Fatalf("%s %q[%d] = %v, want %v", dt, want.Name, i, got[i], w)
				}
			}
			dst := make([]float32, len(want.Data))
			if err := f.Float32Into(want.Name, dst); err != nil || !slices.Equal(dst, got) {
				t.Fatalf("Float32Into %q: %v", want.Name, err)
			}
		}
		if _, err := f.Float32("nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing tensor: %v", err)
		}
		if err := f.Float32Into(ts[0].Name, make([]float32, 1)); !errors.Is(err, ErrShape) {
			t.Errorf("short destination: %v", err)
		}
		f.Close()
	}
}

func TestLargeTensorCrossesChunks(t *testing.T) {
	data := make([]float32, 700_001) // > one 1 MiB read chunk in F32
	for i := range data {
		data[i] = float32(i)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := WriteFile(path, []Tensor{{Name: "w", Shape: []int64{700_001}, Data: data}}, F32, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Float32("w")
	if err != nil || !slices.Equal(got, data) {
		t.Fatalf("large tensor differs: %v", err)
	}
}

func TestWriteRejectsBadTensors(t *testing.T) {
	var buf bytes.Buffer
	cases := map[string][]Tensor{
		"shape mismatch": {{Name: "a", Shape: []int64{2, 2}, Data: make([]float32, 3)}},
		"duplicate":      {{Name: "a", Shape: []int64{1}, Data: []float32{1}}, {Name: "a", Shape: []int64{1}, Data: []float32{1}}},
		"reserved name":  {{Name: "__metadata__", Shape: []int64{1}, Data: []float32{1}}},
	}
	for name, ts := range cases {
		if err := Write(&buf, ts, F32, nil); !errors.Is(err, ErrShape) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if err := Write(&buf, nil, I32, nil); !errors.Is(err, ErrDType) {
		t.Errorf("int dtype: %v", err)
	}
}

func TestHeaderIsAlignedAndParses(t *testing.T) {
	ts := randTensors(rand.New(rand.NewPCG(3, 4)))
	h, size, err := HeaderFor(ts, BF16, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h)%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", len(h))
	}
	if _, err := ParseHeader(h, size); err != nil {
		t.Fatal(err)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	cases := []struct {
		name, header string
		data         int64
		want         string
	}{
		{"not json", `{"a":`, 0, "JSON ends early"},
		{"array", `[1]`, 0, "does not start with a JSON object"},
		{"trailing", `{} {}`, 0, "trailing data"},
		{"bad utf8", "{\"\xff\":1}", 0, "UTF-8"},
		{"duplicate", `{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, 4, `duplicate entry "a"`},
		{"empty name", `{"":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, 4, "empty tensor name"},
		{"unknown dtype", `{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, 4, `unknown dtype "F33"`},
		{"missing dtype", `{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4, "missing dtype"},
		{"missing shape", `{"a":{"dtype":"F32","data_offsets":[0,4]}}`, 4, "missing shape"},
		{"missing offsets", `{"a":{"dtype":"F32","shape":[1]}}`, 4, "missing data_offsets"},
		{"negative dim", `{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4, "shape[0] = -1"},
		{"float dim", `{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4, "shape[0] = 1.5"},
		{"string dim", `{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, 4, `shape[0] = "1"`},
		{"overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0, "overflows"},
		{"overflow via dtype", `{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, 0, "overflows"},
		{"huge dim", `{"a":{"dtype":"U8","shape":[99999999999999999999],"data_offsets":[0,0]}}`, 0, "shape[0]"},
		{"three offsets", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, 4, "has 3 entries"},
		{"reversed offsets", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, 4, "end before they begin"},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4, "need 8"},
		{"past end", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4, "runs past the data section"},
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, "overlaps"},
		{"gap", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, "gap in the data section"},
		{"uncovered tail", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 8, "cover only 4"},
		{"bad metadata", `{"__metadata__":{"a":1}}`, 0, "__metadata__"},
		{"rank", `{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}`, 1, "rank 17"},
		{"tensor not object", `{"a":3}`, 0, `tensor "a"`},
	}
	for _, c := range cases {
		_, err := ParseHeader([]byte(c.header), c.data)
		if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrHeader mentioning %q", c.name, err, c.want)
		}
	}
}

func TestParseHeaderAccepts(t *testing.T) {
	h, err := ParseHeader([]byte(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},`+
		`"z":{"dtype":"I8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}  `+"\n"), 8)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, ti := range h.Tensors {
		names = append(names, ti.Name)
	}
	if !slices.Equal(names, []string{"z", "a", "b"}) {
		t.Errorf("offset order = %v", names)
	}
	if h.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", h.Metadata)
	}
}

func TestOpenRejectsBadLengths(t *testing.T) {
	dir := t.TempDir()
	write := func(b []byte) string {
		p := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	le := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	cases := map[string][]byte{
		"short file":  {1, 2, 3},
		"huge length": le(1 << 62),
		"past eof":    append(le(100), []byte("{}")...),
		"tiny":        append(le(1), '{'),
	}
	for name, b := range cases {
		_, err := Open(write(b))
		if !errors.Is(err, ErrHeader) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if f, err := Open(write(append(le(2), "{}"...))); err != nil {
		t.Errorf("empty file with {} header: %v", err)
	} else {
		f.Close()
	}
}

func FuzzParseHeader(f *testing.F) {
	h, size, _ := HeaderFor(randTensors(rand.New(rand.NewPCG(5, 6))), F16, map[string]string{"format": "pt"})
	f.Add(h, size)
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`), int64(8))
	f.Add([]byte(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`), int64(0))
	f.Add([]byte(`{}`), int64(0))
	f.Fuzz(func(t *testing.T, header []byte, dataSize int64) {
		hd, err := ParseHeader(header, dataSize)
		if err != nil {
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("error does not wrap ErrHeader: %v", err)
			}
			return
		}
		// Accepted headers tile [0, dataSize) exactly with consistent sizes.
		var pos int64
		for _, ti := range hd.Tensors {
			if ti.Begin != pos || ti.End-ti.Begin != ti.NumElements()*ti.DType.Size() {
				t.Fatalf("accepted inconsistent tensor %+v at %d", ti, pos)
			}
			pos = ti.End
		}
		if pos != dataSize {
			t.Fatalf("accepted header covering %d of %d bytes", pos, dataSize)
		}
	})
}
