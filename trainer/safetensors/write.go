package safetensors

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Tensor is a named float32 tensor to be written. Data is row-major and
// must hold exactly the product of Shape elements.
type Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

// HeaderFor builds the header bytes (padded with spaces to a multiple of 8,
// as the reference writer does) for tensors stored as dtype, in the order
// given. It also returns the data section's size.
func HeaderFor(tensors []Tensor, dtype DType, metadata map[string]string) ([]byte, int64, error) {
	if !dtype.Float() {
		return nil, 0, fmt.Errorf("%w: cannot write %s; use F32, BF16 or F16", ErrDType, dtype)
	}
	var sb strings.Builder
	sb.WriteByte('{')
	if len(metadata) > 0 {
		b, err := json.Marshal(metadata)
		if err != nil {
			return nil, 0, err
		}
		sb.WriteString(`"__metadata__":`)
		sb.Write(b)
	}
	seen := map[string]bool{}
	var off int64
	for i, t := range tensors {
		if t.Name == "" || t.Name == "__metadata__" {
			return nil, 0, fmt.Errorf("%w: tensor %d has the reserved or empty name %q", ErrShape, i, t.Name)
		}
		if seen[t.Name] {
			return nil, 0, fmt.Errorf("%w: duplicate tensor name %q", ErrShape, t.Name)
		}
		seen[t.Name] = true
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return nil, 0, fmt.Errorf("%w: tensor %q has a negative dimension in shape %v", ErrShape, t.Name, t.Shape)
			}
			n *= d
		}
		if n != int64(len(t.Data)) {
			return nil, 0, fmt.Errorf("%w: tensor %q has shape %v (%d elements) but %d values",
				ErrShape, t.Name, t.Shape, n, len(t.Data))
		}
		if sb.Len() > 1 {
			sb.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name)
		sb.Write(name)
		sb.WriteString(`:{"dtype":"`)
		sb.WriteString(string(dtype))
		sb.WriteString(`","shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(d, 10))
		}
		end := off + n*dtype.Size()
		fmt.Fprintf(&sb, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	sb.WriteByte('}')
	for sb.Len()%8 != 0 {
		sb.WriteByte(' ')
	}
	return []byte(sb.String()), off, nil
}

// Write writes tensors to w in safetensors form with elements of dtype (F32,
// BF16 or F16; bf16 and f16 round to nearest even).
func Write(w io.Writer, tensors []Tensor, dtype DType, metadata map[string]string) error {
	header, _, err := HeaderFor(tensors, dtype, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	for i := range 8 {
		lenBuf[i] = byte(uint64(len(header)) >> (8 * i))
	}
	bw.Write(lenBuf[:])
	bw.Write(header)
	const chunk = 1 << 16 // elements
	buf := make([]byte, chunk*dtype.Size())
	for _, t := range tensors {
		for s := 0; s < len(t.Data); s += chunk {
			part := t.Data[s:min(s+chunk, len(t.Data))]
			b := buf[:int64(len(part))*dtype.Size()]
			encode(dtype, part, b)
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// WriteFile writes tensors to path atomically: to a temporary file in the
// same directory, synced, then renamed over path.
func WriteFile(path string, tensors []Tensor, dtype DType, metadata map[string]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := Write(tmp, tensors, dtype, metadata); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
