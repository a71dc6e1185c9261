package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// commit N+2. The copy reads the two meta pages first (they are the first
// pages of the file), so it holds some committed meta N; if the live file's
// newest meta is still at most N+1 once the copy is done, no page reachable
// from N changed under it. The copy is then opened and fully checked
// (bbolt's page check and every record decoded) before it is renamed into
// place; dst is never half a store. A writer that commits again and again
// faster than the file can be copied can starve it: after 20 tries (about a
// second of pauses) it gives up and says so.
func BackupLive(src, dst string) (int64, error) {
	if a, err := filepath.Abs(src); err == nil {
		if b, err := filepath.Abs(dst); err == nil && a == b {
			return 0, fmt.Errorf("backup to %s: that is the store itself; name another file", dst)
		}
	}
	const attempts = 20
	var last error
	for i := 0; i < attempts; i++ {
		n, err := backupLiveOnce(src, dst)
		if err == nil {
			return n, nil
		}
		if !isTorn(err) {
			return 0, err
		}
		last = err
		// Writers commit in bursts; a short, growing pause lets one end.
		time.Sleep(time.Duration(i+1) * 5 * time.Millisecond)
	}
	return 0, fmt.Errorf("backup of %s: the store changed too fast to copy consistently in %d tries (%v); try again when it is quieter", src, attempts, last)
}

// errTorn marks a copy that raced with the writer; BackupLive retries it.
type errTorn struct{ msg string }

func (e errTorn) Error() string { return e.msg }

func isTorn(err error) bool { _, ok := err.(errTorn); return ok }

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
	st, err := in.Stat()
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	if err := preflight(src, st.Size()); err != nil {
		return 0, err
	}
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
		return 0, errTorn{"a meta page was being written during the copy"}
	}
	if live > copied+1 {
		tmp.Close()
		return 0, errTorn{fmt.Sprintf("%d commits landed during the copy", live-copied)}
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
		return 0, errTorn{"the copy does not open: " + err.Error()}
	}
	problems, err := db.Check()
	db.Close()
	if err != nil || len(problems) > 0 {
		return 0, errTorn{fmt.Sprintf("the copy fails its check: %v %v", err, problems)}
	}
	if err := os.Chmod(tmpName, 0o600); err != nil {
		return 0, err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return 0, fmt.Errorf("backup to %s: %w", dst, err)
	}
	return n, nil
}
