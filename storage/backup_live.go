package storage

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BackupLive copies the store file at src to dst while another process may
// hold it open for writing (bbolt's file lock keeps this process from
// opening it at all, even to read). It needs no lock: it copies the bytes,
// then proves the copy consistent, and tries again when it cannot.
//
// Why that is sound: bbolt never overwrites a page that the newest committed
// meta page reaches. A commit writes new pages into free space, fsyncs them,
// then writes the meta. Pages that commit N+1 frees become reusable only in
// commit N+2, which writes its pages before its meta. The copy reads the two
// meta pages first (they are the first pages of the file), so it holds some
// committed meta N; if the live file's newest meta is still N once the copy
// is done, only commit N+1 can have been writing meanwhile, into pages that
// N does not reach. (Allowing N+1 is not enough: N+2 may already be writing
// over N's pages with its meta not yet on disk — a test caught exactly
// that.) The copy is then checked on its own bytes, never the live file's
// (preflight, the page walk, bbolt's check, every record decoded) before it
// is renamed into place; dst is never half a store. A writer that commits again and again
// faster than the file can be copied can starve it: after 30 s of tries it
// gives up and says so.
func BackupLive(src, dst string) (int64, error) {
	if a, err := filepath.Abs(src); err == nil {
		if b, err := filepath.Abs(dst); err == nil && a == b {
			return 0, fmt.Errorf("backup to %s: that is the store itself; name another file", dst)
		}
	}
	deadline := time.Now().Add(backupPatience)
	var last error
	damaged := 0
	for i := 1; ; i++ {
		n, err := backupLiveOnce(src, dst)
		if err == nil {
			return n, nil
		}
		var torn errTorn
		if !errors.As(err, &torn) {
			return 0, err
		}
		if torn.damage != nil {
			// No commit landed during the copy, so the copy is
			// the committed store as of its meta: the damage is the
			// store's. Retried twice all the same, so that a race this
			// reasoning missed cannot condemn a healthy store.
			if damaged++; damaged == 3 {
				return 0, torn.damage
			}
		}
		last = err
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("backup of %s: the store changed too fast to copy consistently in %d tries over %v (%v); try again when it is quieter", src, i, backupPatience, last)
		}
		// Writers commit in bursts; a pause that grows to 100 ms lets one
		// end, and its jitter keeps the copies from falling into step with
		// a writer that commits at a steady pace. On a loaded machine a copy
		// is often descheduled long enough for a commit to land, so it
		// takes many tries (CI's 2-core runner needed more than 20).
		pause := min(time.Duration(i)*5*time.Millisecond, 100*time.Millisecond)
		time.Sleep(pause/2 + rand.N(pause/2+1))
	}
}

// backupPatience is how long BackupLive keeps trying for a copy that no
// commit raced.
const backupPatience = 30 * time.Second

// errTorn marks a copy that raced with the writer, or (damage set) one that
// failed its checks; BackupLive retries it.
type errTorn struct {
	msg    string
	damage error
}

func (e errTorn) Error() string {
	if e.damage != nil {
		return e.damage.Error()
	}
	return e.msg
}

func newestTxid(f io.ReaderAt) (uint64, bool) {
	m0, ok0 := readMeta(f, 0)
	var m1 meta
	ok1 := false
	if ok0 {
		m1, ok1 = readMeta(f, int64(m0.pageSize))
	}
	switch {
	case ok0 && ok1:
		return max(m0.txid, m1.txid), true
	case ok0:
		return m0.txid, true
	}
	return 0, false
}

func backupLiveOnce(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".resyn-backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// Copy sequentially from offset 0 (the metas first) with a large
	// buffer, and compare meta txids right after the copy, before the slow
	// fsync: the window in which commits can land is the copy alone.
	n, err := io.CopyBuffer(tmp, io.NewSectionReader(in, 0, 1<<62), make([]byte, 4<<20))
	if err != nil {
		tmp.Close()
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	live, okLive := newestTxid(in)
	copied, ok := newestTxid(tmp)
	if !ok || !okLive {
		tmp.Close()
		return 0, errTorn{msg: "a meta page was being written during the copy"}
	}
	if live > copied {
		tmp.Close()
		return 0, errTorn{msg: fmt.Sprintf("%d commits landed during the copy", live-copied)}
	}
	// Everything the copy is checked against is read from the copy, never
	// from the live file, whose pages may change between two reads.
	if _, err := preflightMeta(tmp, src, n); err != nil {
		tmp.Close()
		if errors.Is(err, ErrCorrupt) {
			return 0, errTorn{damage: err}
		}
		return 0, err
	}
	err = tmp.Sync()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	db, err := Open(tmpName, Options{ReadOnly: true})
	if err != nil {
		err = renamed(err, tmpName, src)
		if errors.Is(err, ErrCorrupt) {
			return 0, errTorn{damage: err}
		}
		return 0, err
	}
	problems, err := db.Check()
	db.Close()
	if err != nil {
		return 0, errTorn{damage: fmt.Errorf("checking the copy of %s: %v: %w", src, err, ErrCorrupt)}
	}
	if len(problems) > 0 {
		return 0, errTorn{damage: fmt.Errorf("%s is damaged (%d problems; resyn db check lists them): %s: %w",
			src, len(problems), strings.ReplaceAll(problems[0], tmpName, src), ErrCorrupt)}
	}
	if err := os.Chmod(tmpName, 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	return n, nil
}

// renamed rewrites an error about the temporary copy to name the store it
// was copied from, keeping its sentinel.
func renamed(err error, tmp, src string) error {
	return wrapped{msg: strings.ReplaceAll(err.Error(), tmp, src), err: err}
}

type wrapped struct {
	msg string
	err error
}

func (w wrapped) Error() string { return w.msg }
func (w wrapped) Unwrap() error { return w.err }
