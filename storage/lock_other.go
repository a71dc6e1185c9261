//go:build !linux

package storage

import (
	"os"
	"time"
)

// Without Linux's open-file-description locks, resyn relies on bbolt's
// file lock alone: transactions of several processes still exclude each
// other, but waits are not fair, and a run left "running" by a killed
// process cannot be told from a live one (it keeps its stored status).
const haveRangeLocks = false

const (
	lockTurnstile = 1 << 50
	lockStore     = 1<<50 + 1
	lockRunBase   = 1 << 51
)

func rangeLock(f *os.File, off int64, exclusive, wait bool, deadline time.Time) error { return nil }

func rangeUnlock(f *os.File, off int64) error { return nil }

// rangeLocked cannot tell: it says the lock is held.
func rangeLocked(f *os.File, off int64) (bool, error) { return true, nil }

func fcntlGetfl(f *os.File) (int, error) { return os.O_RDWR, nil }
