//go:build linux

package storage

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The store's own locks are Linux open-file-description ("OFD") locks on
// byte ranges of the store file itself, far past its end. They are advisory
// and independent of the flock that bbolt takes on the same file, so they
// never interfere with it, and they belong to one open file (not to the
// process, as classic POSIX locks do): two transactions of one process
// exclude each other exactly as two processes do, and closing the file
// releases them — also when the process is killed.
//
// Why not bbolt's flock alone: bbolt polls it every 50 ms, and the kernel
// grants a lock to whoever asks first once it is free, so a writer that
// commits in a loop takes it again before a waiting reader is even
// scheduled — on a busy machine the reader (a backup, the workbench) can
// wait for ever. A turnstile in front of the store lock makes the wait fair:
// everyone passes the turnstile to queue for the store lock, and whoever
// holds the turnstile is next — the writer that just finished cannot get
// back in before it.
const (
	lockTurnstile = 1 << 50   // byte offset of the turnstile lock
	lockStore     = 1<<50 + 1 // byte offset of the store lock: shared to read, exclusive to write
	lockRunBase   = 1 << 51   // + kind<<40 + run id: held by the process that runs the run
)

// haveRangeLocks reports whether this platform has the store's own locks;
// without them resyn relies on bbolt's file lock alone.
const haveRangeLocks = true

// rangeLock takes a lock on one byte of f at off, exclusive or shared. With
// wait it blocks until the lock is granted or the deadline passes
// (errLockTimeout); without, it fails at once with errLockBusy.
func rangeLock(f *os.File, off int64, exclusive, wait bool, deadline time.Time) error {
	lk := unix.Flock_t{Type: unix.F_RDLCK, Whence: 0, Start: off, Len: 1}
	if exclusive {
		lk.Type = unix.F_WRLCK
	}
	if !wait {
		err := fcntlRetry(f, unix.F_OFD_SETLK, &lk)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return errLockBusy
		}
		return err
	}
	// Try at once; block in the kernel only when the lock is taken. A
	// blocked F_OFD_SETLKW cannot be cancelled, so it runs on a goroutine
	// of its own: on timeout that goroutine is left to finish and then
	// closes a duplicate of the file, releasing what it was granted.
	if err := rangeLock(f, off, exclusive, false, deadline); !errors.Is(err, errLockBusy) {
		return err
	}
	// The wait runs on a duplicate of f (the same open file description,
	// so the same locks), which the caller may outlive.
	dup, err := dupFile(f)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- fcntlRetry(dup, unix.F_OFD_SETLKW, &lk) }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-done:
		dup.Close() // f still refers to the description: the lock stays
		return err
	case <-timer.C:
		go func() {
			if <-done == nil {
				// Granted after we gave up: release that byte
				// alone (f may still hold the caller's other locks).
				unlk := unix.Flock_t{Type: unix.F_UNLCK, Start: off, Len: 1}
				fcntlRetry(dup, unix.F_OFD_SETLK, &unlk)
			}
			dup.Close()
		}()
		return errLockTimeout
	}
}

// rangeUnlock releases the lock on one byte of f at off.
func rangeUnlock(f *os.File, off int64) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Start: off, Len: 1}
	return fcntlRetry(f, unix.F_OFD_SETLK, &lk)
}

// rangeLocked reports whether another open file holds a lock on the byte at
// off that would conflict with an exclusive lock.
func rangeLocked(f *os.File, off int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: off, Len: 1}
	if err := fcntlRetry(f, unix.F_OFD_GETLK, &lk); err != nil {
		return false, err
	}
	return lk.Type != unix.F_UNLCK, nil
}

func fcntlRetry(f *os.File, cmd int, lk *unix.Flock_t) error {
	for {
		err := unix.FcntlFlock(f.Fd(), cmd, lk)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// dupFile returns a second *os.File for f's open file description (so it
// shares f's locks), to outlive f if needed.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// fcntlGetfl returns the open flags of f (O_RDONLY, O_RDWR, …).
func fcntlGetfl(f *os.File) (int, error) { return unix.FcntlInt(f.Fd(), unix.F_GETFL, 0) }
