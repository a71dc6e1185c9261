package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LockTimeout is how long Open waits for a store held by another process
// before it gives up with ErrLocked.
const LockTimeout = time.Second

// Options say how to open a store.
type Options struct {
	// ReadOnly opens the file with a shared lock and never writes to it;
	// a missing file is an error (ErrNoStore) rather than created.
	ReadOnly bool
}

// DB is an open store. It is safe for concurrent use; bbolt allows one
// writer and many readers at a time within the process, and the file lock
// keeps other processes out (readers share the lock with other readers).
type DB struct {
	bolt     *bolt.DB
	path     string
	readOnly bool
	// file is what path named when bbolt opened it; Check reads the
	// pages again by path and refuses a file swapped in since.
	file os.FileInfo
}

// Tx is one transaction, handed to the function given to View, Update or
// Batch. It is valid only until that function returns. The record functions
// of this package (PutEnv, ListMetrics, …) take a *Tx and do no transaction
// management of their own, so that several of them can share one commit.
type Tx struct{ tx *bolt.Tx }

// Writable reports whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.tx.Writable() }

// Open opens the store at path, creating it (and its folder) on first use
// unless opts.ReadOnly. A file held by another resyn fails within about
// LockTimeout with ErrLocked. A file that is empty, not a bbolt file, another
// program's bbolt file (ErrNotStore), damaged (ErrCorrupt) or from a newer
// resyn (ErrTooNew) is refused and never modified: Open inspects every
// existing file read-only before it opens it for writing. Pending schema
// migrations run in one transaction before Open returns.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("store path is empty: %w", ErrInvalid)
	}
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if opts.ReadOnly {
			return nil, fmt.Errorf("%s: %w (it is created the first time resyn writes to it)", path, ErrNoStore)
		}
		if err := create(path); err != nil {
			return nil, err
		}
		st, err = os.Stat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: %w", path, ErrNotStore)
	}
	if err := preflight(path, st.Size()); err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		// Look before writing: only a resyn store of a schema this binary
		// knows is ever opened for writing.
		ro, err := openBolt(path, true)
		if err != nil {
			return nil, err
		}
		err = safely(path, func() error {
			return ro.View(func(tx *bolt.Tx) error { _, err := inspect(tx, path); return err })
		})
		ro.Close()
		if err != nil {
			return nil, err
		}
	}
	b, err := openBolt(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path, readOnly: opts.ReadOnly}
	if db.file, err = os.Stat(path); err != nil {
		b.Close()
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if opts.ReadOnly {
		err = safely(path, func() error {
			return b.View(func(tx *bolt.Tx) error { _, err := inspect(tx, path); return err })
		})
	} else {
		err = safely(path, func() error { return migrate(b, path) })
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// openBolt opens the file with bbolt, mapping its errors to ours.
func openBolt(path string, readOnly bool) (*bolt.DB, error) {
	var b *bolt.DB
	err := safely(path, func() error {
		var err error
		b, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout, ReadOnly: readOnly})
		return err
	})
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("%s: %w (waited %v for its lock); close the other resyn, or pass --db to use another file", path, ErrLocked, LockTimeout)
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrVersionMismatch):
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrNotStore)
	case errors.Is(err, bolt.ErrChecksum), errors.Is(err, ErrCorrupt):
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrCorrupt)
	default:
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
}

// create makes a new, fully initialised store at path. It builds the file
// under a temporary name beside it and links it into place, so that no
// reader ever sees a half-made (or empty) store, and two resyns creating the
// same store at once both end up opening the one that won.
func create(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the store's folder: %w", err)
	}
	f, err := os.CreateTemp(dir, ".resyn-new-*.db")
	if err != nil {
		return fmt.Errorf("creating store %s: %w", path, err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	b, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		return fmt.Errorf("creating store %s: %w", path, err)
	}
	err = migrate(b, path)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("creating store %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		// Filesystems without hard links: fall back to a rename.
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("creating store %s: %w", path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// safely runs fn, turning a panic or memory fault inside bbolt (which trusts
// the pages it reads) into ErrCorrupt instead of a crash.
func safely(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: reading the file failed (%v): %w", path, r, ErrCorrupt)
		}
	}()
	return fn()
}

// Path is the store's file.
func (db *DB) Path() string { return db.path }

// ReadOnly reports whether the store was opened read-only.
func (db *DB) ReadOnly() bool { return db.readOnly }

// Close releases the file and its lock.
func (db *DB) Close() error { return db.bolt.Close() }

// View runs fn in a read-only transaction: a consistent snapshot that
// writers do not block.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(db.wrap(fn))
}

// Update runs fn in a read-write transaction and commits (with fsync) if fn
// returns nil; an error or panic rolls everything back. Keep fn short: only
// one write transaction runs at a time, so never do slow work inside it.
func (db *DB) Update(fn func(*Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	return db.bolt.Update(db.wrap(fn))
}

// Batch is Update for bursts of small writes from many goroutines: bbolt
// coalesces concurrent calls into one commit. fn may be called more than
// once, so it must be idempotent.
func (db *DB) Batch(fn func(*Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	return db.bolt.Batch(db.wrap(fn))
}

func (db *DB) wrap(fn func(*Tx) error) func(*bolt.Tx) error {
	return func(btx *bolt.Tx) error {
		return safely(db.path, func() error { return fn(&Tx{tx: btx}) })
	}
}
