package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// File is an open safetensors file. Only the header is read at Open; tensor
// data is read with ReadAt when asked for, so a file far larger than memory
// can be inspected and loaded one tensor at a time. A File is safe for
// concurrent reads.
type File struct {
	f         *os.File
	path      string
	header    *Header
	byName    map[string]int
	dataStart int64
}

// Open reads and validates the header of the file at path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	h, start, err := readHeader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sf := &File{f: f, path: path, header: h, dataStart: start, byName: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		sf.byName[t.Name] = i
	}
	return sf, nil
}

// ReadHeader validates the header of a safetensors stream of size bytes
// readable through r, returning it and the offset of the data section.
func ReadHeader(r io.ReaderAt, size int64) (*Header, int64, error) {
	return readHeader(r, size)
}

func readHeader(r io.ReaderAt, size int64) (*Header, int64, error) {
	if size < 8 {
		return nil, 0, fmt.Errorf("%w: file is %d bytes, too short for the 8-byte header length", ErrHeader, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, 0, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, 0, fmt.Errorf("%w: header length %d is above the %d-byte limit", ErrHeader, n, MaxHeaderSize)
	}
	if n < 2 {
		return nil, 0, fmt.Errorf("%w: header length %d is too short for a JSON object", ErrHeader, n)
	}
	if int64(n) > size-8 {
		return nil, 0, fmt.Errorf("%w: header length %d runs past the end of the %d-byte file", ErrHeader, n, size)
	}
	buf := make([]byte, n) // bounded by MaxHeaderSize and the file size
	if _, err := r.ReadAt(buf, 8); err != nil {
		return nil, 0, fmt.Errorf("reading header: %w", err)
	}
	start := 8 + int64(n)
	h, err := ParseHeader(buf, size-start)
	if err != nil {
		return nil, 0, err
	}
	return h, start, nil
}

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }

// Path is the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Tensors lists the tensors in data-offset order. The slice is shared; do
// not modify it.
func (f *File) Tensors() []TensorInfo { return f.header.Tensors }

// Metadata is the header's "__metadata__" (nil when absent).
func (f *File) Metadata() map[string]string { return f.header.Metadata }

// Info describes the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.header.Tensors[i], true
}

// Raw returns the tensor's bytes as stored (little-endian).
func (f *File) Raw(name string) ([]byte, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q in %s", ErrNotFound, name, f.path)
	}
	buf := make([]byte, t.End-t.Begin) // validated against the file size
	if _, err := f.f.ReadAt(buf, f.dataStart+t.Begin); err != nil {
		return nil, fmt.Errorf("reading tensor %q from %s: %w", name, f.path, err)
	}
	return buf, nil
}

// Float32 reads the named F32, BF16 or F16 tensor, converted to float32.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q in %s", ErrNotFound, name, f.path)
	}
	if !t.DType.Float() {
		return nil, fmt.Errorf("%w: tensor %q is %s; only F32, BF16 and F16 convert to float32", ErrDType, name, t.DType)
	}
	dst := make([]float32, t.NumElements())
	return dst, f.readInto(t, dst)
}

// Float32Into reads the named tensor into dst, which must hold exactly its
// number of elements.
func (f *File) Float32Into(name string, dst []float32) error {
	t, ok := f.Info(name)
	if !ok {
		return fmt.Errorf("%w: %q in %s", ErrNotFound, name, f.path)
	}
	if !t.DType.Float() {
		return fmt.Errorf("%w: tensor %q is %s; only F32, BF16 and F16 convert to float32", ErrDType, name, t.DType)
	}
	if int64(len(dst)) != t.NumElements() {
		return fmt.Errorf("%w: tensor %q has %d elements (shape %v), destination holds %d",
			ErrShape, name, t.NumElements(), t.Shape, len(dst))
	}
	return f.readInto(t, dst)
}

// readInto converts in chunks so that no second full-size buffer is needed.
func (f *File) readInto(t TensorInfo, dst []float32) error {
	const chunk = 1 << 20 // bytes
	es := t.DType.Size()
	buf := make([]byte, min(chunk, t.End-t.Begin))
	pos := t.Begin
	out := dst
	for pos < t.End {
		n := min(int64(len(buf)), t.End-pos)
		b := buf[:n]
		if _, err := f.f.ReadAt(b, f.dataStart+pos); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading tensor %q from %s: %w", t.Name, f.path, err)
		}
		k := int(n / es)
		decode(t.DType, b, out[:k])
		out = out[k:]
		pos += n
	}
	return nil
}

// decode converts little-endian elements of dtype dt in src to float32.
func decode(dt DType, src []byte, dst []float32) {
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	}
}

// encode converts float32 to little-endian elements of dtype dt.
func encode(dt DType, src []float32, dst []byte) {
	switch dt {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToBF16(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], Float32ToF16(v))
		}
	}
}
