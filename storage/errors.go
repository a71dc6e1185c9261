package storage

import "errors"

// Sentinel errors. Every error this package returns that callers may want to
// act on wraps one of these (check with errors.Is); the wrapping message names
// the file or record concerned.
var (
	// ErrLocked: a transaction waited Options.LockWait (30 s by default)
	// for another process's transaction to end — one that hangs inside a
	// transaction — or a program that is not this resyn (an older one)
	// keeps the file open with bbolt's lock. Never a hang.
	ErrLocked = errors.New("another resyn holds the store")

	// ErrNotStore: the file is not a resyn store at all — empty, not a bbolt
	// file, or a bbolt file written by some other program. The file is left
	// untouched.
	ErrNotStore = errors.New("not a resyn store")

	// ErrCorrupt: the file is a bbolt file but damaged (truncated, bad
	// checksums, unreadable pages), or a record in it cannot be decoded.
	// The file is left untouched; `resyn db check` says more.
	ErrCorrupt = errors.New("store is damaged")

	// ErrTooNew: the file (or one record in it) was written by a newer resyn
	// whose schema this binary does not know. Upgrade resyn to open it.
	ErrTooNew = errors.New("store was written by a newer resyn")

	// ErrNoStore: a read-only open found no file at the path (read-only
	// opens never create one).
	ErrNoStore = errors.New("no store file")

	// ErrReadOnly: a write was attempted through a store opened read-only.
	ErrReadOnly = errors.New("store is open read-only")

	// ErrNotFound: the requested record does not exist.
	ErrNotFound = errors.New("not found")

	// ErrInvalid: a record given to a Put/Create function is missing what
	// it needs (an empty name, a zero id).
	ErrInvalid = errors.New("invalid record")

	// ErrClosed: the store or metrics writer has been closed.
	ErrClosed = errors.New("closed")
)

// ErrRunBusy: another live process is running this synthesis or training
// run (it holds the run: RunHold); it cannot be resumed or taken over.
var ErrRunBusy = errors.New("the run is in progress in another resyn process")
