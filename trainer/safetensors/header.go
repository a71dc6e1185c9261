package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header (the same 100 MB limit the reference
// implementation uses); a length field beyond it is rejected before any
// allocation.
const MaxHeaderSize = 100 << 20

// MaxRank bounds the number of dimensions of one tensor.
const MaxRank = 16

// DType names a tensor element type as written in the header.
type DType string

// The dtypes this package knows. F32, BF16 and F16 convert to and from
// float32; the others are validated and can be read as raw bytes.
const (
	F64    DType = "F64"
	F32    DType = "F32"
	F16    DType = "F16"
	BF16   DType = "BF16"
	I64    DType = "I64"
	I32    DType = "I32"
	I16    DType = "I16"
	I8     DType = "I8"
	U64    DType = "U64"
	U32    DType = "U32"
	U16    DType = "U16"
	U8     DType = "U8"
	Bool   DType = "BOOL"
	F8E4M3 DType = "F8_E4M3"
	F8E5M2 DType = "F8_E5M2"
)

var dtypeSizes = map[DType]int64{
	F64: 8, F32: 4, F16: 2, BF16: 2,
	I64: 8, I32: 4, I16: 2, I8: 1,
	U64: 8, U32: 4, U16: 2, U8: 1,
	Bool: 1, F8E4M3: 1, F8E5M2: 1,
}

// Size is the element size in bytes, or 0 for an unknown dtype.
func (d DType) Size() int64 { return dtypeSizes[d] }

// Float reports whether tensors of this dtype convert to and from float32.
func (d DType) Float() bool { return d == F32 || d == BF16 || d == F16 }

// TensorInfo describes one tensor of a file. Begin and End are byte offsets
// into the data section (End exclusive).
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	Begin int64
	End   int64
}

// NumElements is the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d // cannot overflow: checked by ParseHeader
	}
	return n
}

// Header is a validated safetensors header.
type Header struct {
	// Tensors in data-offset order.
	Tensors []TensorInfo
	// Metadata is the "__metadata__" object (nil when absent).
	Metadata map[string]string
}

// rawTensor is one header entry before validation; numbers stay as text so
// that negative, fractional and huge values get a precise error.
type rawTensor struct {
	DType       *string            `json:"dtype"`
	Shape       *[]json.RawMessage `json:"shape"`
	DataOffsets *[]json.RawMessage `json:"data_offsets"`
}

// ParseHeader validates the JSON header of a file whose data section is
// dataSize bytes long, and returns its tensors in offset order.
//
// Rejected, each with an error naming the tensor and field: text that is not
// UTF-8 or not one JSON object; duplicate names; an empty name; a missing or
// unknown dtype; a shape that is missing, negative, fractional, of rank above
// MaxRank, or whose byte size overflows int64; offsets that are not two
// non-negative integers with begin ≤ end, whose span differs from the shape's
// byte size, that overlap another tensor, leave a gap, or run past dataSize;
// a "__metadata__" that is not an object of strings. Trailing whitespace (the
// padding writers add for alignment) is allowed.
func ParseHeader(header []byte, dataSize int64) (*Header, error) {
	if len(header) > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header is %d bytes, above the %d-byte limit", ErrHeader, len(header), MaxHeaderSize)
	}
	if dataSize < 0 {
		return nil, fmt.Errorf("%w: negative data size %d", ErrHeader, dataSize)
	}
	if !utf8.Valid(header) {
		return nil, fmt.Errorf("%w: header is not valid UTF-8", ErrHeader)
	}
	trimmed := bytes.TrimRight(header, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: header does not start with a JSON object", ErrHeader)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, fmt.Errorf("%w: header JSON: %v", ErrHeader, jsonErr(err))
	}
	h := &Header{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: header JSON: %v", ErrHeader, jsonErr(err))
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%w: header JSON: object key is %v, not a string", ErrHeader, tok)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: duplicate entry %q", ErrHeader, name)
		}
		seen[name] = true
		if name == "__metadata__" {
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return nil, fmt.Errorf("%w: __metadata__ must be an object of string values: %v", ErrHeader, jsonErr(err))
			}
			h.Metadata = md
			continue
		}
		var raw rawTensor
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: tensor %q: %v", ErrHeader, name, jsonErr(err))
		}
		ti, err := checkTensor(name, raw)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, ti)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("%w: header JSON: %v", ErrHeader, jsonErr(err))
	}
	if dec.More() || dec.InputOffset() != int64(len(trimmed)) {
		return nil, fmt.Errorf("%w: trailing data after the header's JSON object", ErrHeader)
	}
	if err := checkLayout(h.Tensors, dataSize); err != nil {
		return nil, err
	}
	return h, nil
}

func checkTensor(name string, raw rawTensor) (TensorInfo, error) {
	bad := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: %s", ErrHeader, name, fmt.Sprintf(format, args...))
	}
	if name == "" {
		return bad("empty tensor name")
	}
	if raw.DType == nil {
		return bad("missing dtype")
	}
	dt := DType(*raw.DType)
	if dt.Size() == 0 {
		return bad("unknown dtype %q", *raw.DType)
	}
	if raw.Shape == nil {
		return bad("missing shape")
	}
	if len(*raw.Shape) > MaxRank {
		return bad("rank %d is above the limit of %d", len(*raw.Shape), MaxRank)
	}
	ti := TensorInfo{Name: name, DType: dt, Shape: make([]int64, len(*raw.Shape))}
	nbytes := uint64(dt.Size())
	for i, num := range *raw.Shape {
		d, ok := parseCount(num)
		if !ok {
			return bad("shape[%d] = %s is not a non-negative integer", i, num)
		}
		ti.Shape[i] = d
		hi, lo := bits.Mul64(nbytes, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return bad("shape %s overflows: its byte size does not fit in 63 bits", shapeText(*raw.Shape))
		}
		nbytes = lo
	}
	if raw.DataOffsets == nil {
		return bad("missing data_offsets")
	}
	if len(*raw.DataOffsets) != 2 {
		return bad("data_offsets has %d entries, want 2", len(*raw.DataOffsets))
	}
	var off [2]int64
	for i, num := range *raw.DataOffsets {
		v, ok := parseCount(num)
		if !ok {
			return bad("data_offsets[%d] = %s is not a non-negative integer below 2^63", i, num)
		}
		off[i] = v
	}
	ti.Begin, ti.End = off[0], off[1]
	if ti.Begin > ti.End {
		return bad("data_offsets [%d, %d] end before they begin", ti.Begin, ti.End)
	}
	if uint64(ti.End-ti.Begin) != nbytes {
		return bad("data_offsets [%d, %d] span %d bytes, but dtype %s and shape %v need %d",
			ti.Begin, ti.End, ti.End-ti.Begin, dt, ti.Shape, nbytes)
	}
	return ti, nil
}

// checkLayout requires the tensors to tile [0, dataSize) exactly, as the
// reference implementation does.
func checkLayout(ts []TensorInfo, dataSize int64) error {
	slices.SortStableFunc(ts, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			if a.Begin < b.Begin {
				return -1
			}
			return 1
		}
		if a.End < b.End {
			return -1
		} else if a.End > b.End {
			return 1
		}
		return 0
	})
	var pos int64
	prev := ""
	for _, t := range ts {
		switch {
		case t.Begin < pos:
			return fmt.Errorf("%w: tensor %q at bytes [%d, %d) overlaps tensor %q, which ends at %d",
				ErrHeader, t.Name, t.Begin, t.End, prev, pos)
		case t.Begin > pos:
			return fmt.Errorf("%w: gap in the data section: bytes [%d, %d) before tensor %q belong to no tensor",
				ErrHeader, pos, t.Begin, t.Name)
		}
		if t.End > dataSize {
			return fmt.Errorf("%w: tensor %q at bytes [%d, %d) runs past the data section (%d bytes)",
				ErrHeader, t.Name, t.Begin, t.End, dataSize)
		}
		pos, prev = t.End, t.Name
	}
	if pos != dataSize {
		return fmt.Errorf("%w: data section is %d bytes but the tensors cover only %d", ErrHeader, dataSize, pos)
	}
	return nil
}

// parseCount accepts a bare JSON integer literal in [0, 2^63).
func parseCount(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || len(raw) > 19 {
		return 0, false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	return v, err == nil
}

func shapeText(shape []json.RawMessage) string {
	parts := make([]string, len(shape))
	for i, p := range shape {
		parts[i] = string(p)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// jsonErr names a truncated document plainly instead of as a bare EOF.
func jsonErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("JSON ends early (truncated or unbalanced)")
	}
	return err
}

// ParseFloatDType reads the name of a float dtype a checkpoint may be
// saved in: F32, BF16 or F16 in any case, and the fp32/fp16/float32…
// spellings of transformers' torch_dtype.
func ParseFloatDType(s string) (DType, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "F32", "FP32", "FLOAT32":
		return F32, nil
	case "BF16", "BFLOAT16":
		return BF16, nil
	case "F16", "FP16", "FLOAT16":
		return F16, nil
	}
	return "", fmt.Errorf("%q: want F32, BF16 or F16", s)
}
