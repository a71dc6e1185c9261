package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// LockTimeout is how long a transaction waits for bbolt's own file lock.
// resyn's own locks (lock_linux.go) order every resyn's transactions before
// bbolt is asked, so bbolt's lock is only ever contended by an older resyn
// that keeps the file open, or by another program: ErrLocked after this.
const LockTimeout = time.Second

// DefaultLockWait is how long a transaction waits for the transactions of
// other processes (and of other goroutines) to end before it gives up with
// ErrLocked. Transactions are short — resyn never holds one across slow
// work — so this is only reached when another process hangs inside one.
const DefaultLockWait = 30 * time.Second

// Options say how to open a store.
type Options struct {
	// ReadOnly never writes to the file; a missing file is an error
	// (ErrNoStore) rather than created.
	ReadOnly bool
	// LockWait bounds the wait for other transactions (0: DefaultLockWait).
	LockWait time.Duration
}

// DB is a store, shared with any number of other processes.
//
// No process holds the store between transactions: each View, Update or
// Batch takes the store's lock (shared to read, exclusive to write), opens
// the file with bbolt, runs, commits, and closes it again. So a long
// training run, a synthesis run, the workbench and any number of commands
// use one file at once; their transactions interleave, and each sees every
// commit that came before it. Waits are fair (see lock_linux.go): a reader
// waits for at most the transactions already queued, however busy a writer
// is. A DB is safe for concurrent use; its goroutines' transactions exclude
// each other exactly as other processes' do.
//
// A DB follows the file at its path: a store put there by rename (a
// restored backup) is inspected before its first use, as Open inspects one.
type DB struct {
	path     string
	readOnly bool
	lockWait time.Duration

	mu     sync.Mutex
	seen   *inspected // the file last inspected at path
	closed bool
	batch  *batch
}

// inspected is what is known of one file (one inode) at the store's path.
type inspected struct {
	file    os.FileInfo
	version uint64 // schema version
	walked  bool   // pages walked and sound (writers need this)
	// pin holds the file open (no lock) while it is remembered: a file
	// that replaced it could otherwise be given its freed inode number and
	// pass for it (os.SameFile), skipping the inspection — a damaged store
	// renamed over the path was once written to that way. The locks are
	// per open file (OFD on Linux, flock elsewhere), so closing the pin
	// releases none of a session's.
	pin *os.File
}

// Tx is one transaction, handed to the function given to View, Update or
// Batch. It is valid only until that function returns. The record functions
// of this package (PutEnv, ListMetrics, …) take a *Tx and do no transaction
// management of their own, so that several of them can share one commit.
type Tx struct {
	tx *bolt.Tx
	s  *session
}

// Writable reports whether the transaction may write.
func (tx *Tx) Writable() bool { return tx.tx.Writable() }

// Open opens the store at path, creating it (and its folder) on first use
// unless opts.ReadOnly. A file that is empty, not a bbolt file, another
// program's bbolt file (ErrNotStore), damaged (ErrCorrupt) or from a newer
// resyn (ErrTooNew) is refused and never modified: Open inspects every
// existing file read-only before it opens it for writing, and a store
// opened for writing has its pages walked first (a writer never adds to a
// damaged file). Pending schema migrations run in one transaction before
// Open returns. Open holds nothing once it returns.
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
	db := &DB{path: path, readOnly: opts.ReadOnly, lockWait: opts.LockWait}
	if db.lockWait <= 0 {
		db.lockWait = DefaultLockWait
	}
	// A read session inspects the file (and, for a writer, walks its
	// pages) with other readers alongside; only a migration needs the
	// exclusive lock.
	s, err := db.begin(false, !opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	s.end()
	if !opts.ReadOnly && db.seen.version < SchemaVersion {
		s, err := db.begin(true, true)
		if err != nil {
			return nil, err
		}
		s.end()
	}
	return db, nil
}

// session is one transaction's hold on the store: the file, open for its
// locks, and bbolt's handle on it.
type session struct {
	db   *DB
	f    *os.File
	info os.FileInfo
	bolt *bolt.DB
	// holds are the runs claimed in this session's transaction (HoldRun),
	// released if it does not commit.
	holds []*RunHold
}

// deadline is how long a lock taken during the session may wait.
func (s *session) deadline() time.Time { return time.Now().Add(s.db.lockWait) }

// begin takes the store's lock (exclusive when write) and opens the file
// with bbolt. A file not seen before at the path is inspected first; walk
// asks for its pages to be walked as well (Open of a writer, and every
// write session). The caller must end the session.
func (db *DB) begin(write, walk bool) (*session, error) {
	db.mu.Lock()
	closed := db.closed
	db.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%s: %w", db.path, ErrClosed)
	}
	deadline := time.Now().Add(db.lockWait)
	for try := 0; ; try++ {
		s, retry, err := db.tryBegin(write, walk, deadline)
		if err == nil {
			return s, nil
		}
		if !retry || try == 8 {
			return nil, err
		}
	}
}

// tryBegin is one attempt of begin; retry says the file at the path was
// replaced between two of its steps.
func (db *DB) tryBegin(write, walk bool, deadline time.Time) (_ *session, retry bool, err error) {
	f, err := openForLocks(db.path, write)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if err := lockStoreFile(f, write, deadline); err != nil {
		if errors.Is(err, errLockTimeout) {
			return nil, false, fmt.Errorf("%s: %w (waited %v for another resyn's transaction to end); is a resyn process hung? pass --db to use another file", db.path, ErrLocked, db.lockWait)
		}
		return nil, false, fmt.Errorf("locking store %s: %w", db.path, err)
	}
	info, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("opening store: %w", err)
	}
	if same, err := db.atPath(info); err != nil || !same {
		return nil, true, err
	}
	if err := preflightFile(f, db.path, info.Size()); err != nil {
		return nil, false, err
	}
	b, err := openBolt(db.path, !write)
	if err != nil {
		return nil, false, err
	}
	s := &session{db: db, f: f, info: info, bolt: b}
	if same, err := db.atPath(info); err != nil || !same {
		b.Close()
		return nil, true, err
	}
	if err := db.inspect(s, write, walk); err != nil {
		b.Close()
		return nil, false, err
	}
	return s, false, nil
}

// atPath reports whether info is still the file at the store's path.
func (db *DB) atPath(info os.FileInfo) (bool, error) {
	st, err := os.Stat(db.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("%s: the store file was removed: %w", db.path, ErrNoStore)
	}
	if err != nil {
		return false, fmt.Errorf("opening store: %w", err)
	}
	return os.SameFile(st, info), nil
}

// inspect checks a file the DB has not seen before (or not as thoroughly as
// this session needs): a resyn store of a schema this binary knows, its
// pages sound when walk, migrated when write and its schema is older.
func (db *DB) inspect(s *session, write, walk bool) error {
	db.mu.Lock()
	seen := db.seen
	db.mu.Unlock()
	if seen != nil && os.SameFile(seen.file, s.info) && (seen.walked || !walk) && (!write || seen.version == SchemaVersion) {
		return nil
	}
	in := &inspected{file: s.info}
	if seen != nil && os.SameFile(seen.file, s.info) {
		in.walked = seen.walked
	}
	err := safely(db.path, func() error {
		return s.bolt.View(func(tx *bolt.Tx) error {
			if isEmptyBolt(tx) && write {
				return nil // a brand-new file: migrate makes it a store
			}
			v, err := inspectSchema(tx, db.path)
			in.version = v
			return err
		})
	})
	if err != nil {
		return err
	}
	if walk && !in.walked {
		m, err := preflightMeta(s.f, db.path, s.info.Size())
		if err != nil {
			return err
		}
		var first string
		n := 0
		if !walkPages(s.f, m, func(p string) bool {
			if n++; first == "" {
				first = p
			}
			return n < maxProblems
		}) {
			return fmt.Errorf("%s: its pages are damaged (%s; %d problem(s)) — resyn writes nothing to it; run resyn db check, and restore a backup: %w", db.path, first, n, ErrCorrupt)
		}
		in.walked = true
	}
	if write && in.version < SchemaVersion {
		if err := safely(db.path, func() error { return migrate(s.bolt, db.path) }); err != nil {
			return err
		}
		in.version = SchemaVersion
	}
	if f, err := os.Open(db.path); err == nil {
		if st, err := f.Stat(); err == nil && os.SameFile(st, s.info) {
			in.pin = f
		} else {
			f.Close()
		}
	}
	db.mu.Lock()
	old := db.seen
	db.seen = in
	db.mu.Unlock()
	if old != nil && old.pin != nil {
		old.pin.Close()
	}
	return nil
}

// isEmptyBolt reports whether a bbolt file has no buckets at all.
func isEmptyBolt(tx *bolt.Tx) bool {
	empty := true
	tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	return empty
}

// end closes bbolt's handle and releases the store's lock.
func (s *session) end() {
	s.bolt.Close()
	s.f.Close() // releases every lock taken through it
}

// openForLocks opens the store file to take resyn's locks on it: for
// writing when write (an exclusive lock needs it), else for writing where
// the user may and for reading where not (a store on a read-only mount, or
// another user's).
func openForLocks(path string, write bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil && !write && (errors.Is(err, fs.ErrPermission) || isReadOnlyFS(err)) {
		f, err = os.Open(path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: the store file was removed: %w", path, ErrNoStore)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	return f, nil
}

// queued, when set (by tests only), is called as a transaction has passed
// the turnstile and waits for the store lock, with the file's path.
var queued func(path string)

var (
	errLockBusy    = errors.New("lock is held")
	errLockTimeout = errors.New("timed out waiting for a lock")
)

// lockStoreFile passes the turnstile and takes the store lock: exclusive to
// write, shared to read. Whoever holds the turnstile waits only for the
// store lock's present holders, and nobody else can queue for the store
// lock before it, so no waiter starves. A file open only for reading takes
// the turnstile shared (it cannot take it otherwise): such readers still
// queue in front of any writer that comes after them.
func lockStoreFile(f *os.File, write bool, deadline time.Time) error {
	if !haveRangeLocks {
		return nil
	}
	turnExclusive := isWritable(f)
	if err := rangeLock(f, lockTurnstile, turnExclusive, true, deadline); err != nil {
		return err
	}
	if queued != nil {
		queued(f.Name())
	}
	err := rangeLock(f, lockStore, write, true, deadline)
	if uerr := rangeUnlock(f, lockTurnstile); err == nil {
		err = uerr
	}
	return err
}

// isWritable reports whether f was opened for writing.
func isWritable(f *os.File) bool {
	fl, err := fcntlGetfl(f)
	return err == nil && fl&(os.O_WRONLY|os.O_RDWR) != 0
}

// isReadOnlyFS reports whether err says the file system is mounted
// read-only.
func isReadOnlyFS(err error) bool { return errors.Is(err, syscall.EROFS) }

// preflightFile is preflight on the locked file.
func preflightFile(f *os.File, path string, size int64) error {
	_, err := preflightMeta(f, path, size)
	return err
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
		return nil, fmt.Errorf("%s: %w (a program that is not this resyn — an older one? — keeps the file open; waited %v for its lock); close it, or pass --db to use another file", path, ErrLocked, LockTimeout)
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

// Close ends the use of the store: later transactions fail with ErrClosed.
// It holds nothing to release (every transaction released what it took),
// but waits for a pending Batch.
func (db *DB) Close() error {
	db.mu.Lock()
	b := db.batch
	db.mu.Unlock()
	if b != nil {
		b.wait()
	}
	db.mu.Lock()
	db.closed = true
	if db.seen != nil && db.seen.pin != nil {
		db.seen.pin.Close()
		db.seen.pin = nil
	}
	db.mu.Unlock()
	return nil
}

// View runs fn in a read-only transaction: a consistent snapshot. Writers
// of every process wait while it runs, so keep it short.
func (db *DB) View(fn func(*Tx) error) error {
	s, err := db.begin(false, false)
	if err != nil {
		return err
	}
	defer s.end()
	return s.bolt.View(s.wrap(fn))
}

// Update runs fn in a read-write transaction and commits (with fsync) if fn
// returns nil; an error or panic rolls everything back. Keep fn short: only
// one write transaction runs at a time in all processes together, so never
// do slow work inside it.
func (db *DB) Update(fn func(*Tx) error) error {
	if db.readOnly {
		return fmt.Errorf("%s: %w", db.path, ErrReadOnly)
	}
	s, err := db.begin(true, true)
	if err != nil {
		return err
	}
	defer s.end()
	err = s.bolt.Update(s.wrap(fn))
	if err != nil {
		for _, h := range s.holds {
			h.Release()
		}
	}
	return err
}

func (s *session) wrap(fn func(*Tx) error) func(*bolt.Tx) error {
	return func(btx *bolt.Tx) error {
		return safely(s.db.path, func() error { return fn(&Tx{tx: btx, s: s}) })
	}
}
