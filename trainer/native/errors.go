package native

import "errors"

// Sentinel errors; every error from this package wraps one of them.
var (
	// ErrArgument: a config, batch, tensor or parameter was out of range.
	ErrArgument = errors.New("native: invalid argument")
	// ErrNoMemory: an allocation in the C core failed.
	ErrNoMemory = errors.New("native: out of memory")
	// ErrState: a call out of order, such as Backward before any Forward.
	ErrState = errors.New("native: call out of order")
	// ErrNotFound: no tensor of the given name.
	ErrNotFound = errors.New("native: no such tensor")
	// ErrClosed: the model was already closed.
	ErrClosed = errors.New("native: model is closed")
)

// ErrBackend: a backend could not be loaded (no library at the path, a
// dlopen failure, or a library missing one of the rn_* symbols).
var ErrBackend = errors.New("native: backend unavailable")
