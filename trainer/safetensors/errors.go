package safetensors

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them
// (checked with errors.Is) and names the tensor or field that was wrong.
var (
	// ErrHeader: the header is malformed or hostile (bad length, bad JSON,
	// unknown dtype, inconsistent shape or offsets, duplicate names).
	ErrHeader = errors.New("safetensors: invalid header")
	// ErrNotFound: no tensor of that name in the file.
	ErrNotFound = errors.New("safetensors: tensor not found")
	// ErrDType: the tensor's dtype cannot be converted to or from float32.
	ErrDType = errors.New("safetensors: unsupported dtype")
	// ErrShape: the data given does not match the shape (writing), or a
	// destination buffer has the wrong length (reading).
	ErrShape = errors.New("safetensors: shape mismatch")
)
