package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Counts is how many records of each kind a store holds.
type Counts struct {
	Envs            int `json:"envs"`
	EnvRevisions    int `json:"env_revisions"`
	SynthRuns       int `json:"synth_runs"`
	SynthLogEntries int `json:"synth_log_entries"`
	Datasets        int `json:"datasets"`
	TrainRuns       int `json:"train_runs"`
	MetricPoints    int `json:"metric_points"`
	Rollouts        int `json:"rollouts"`
	Checkpoints     int `json:"checkpoints"`
	Settings        int `json:"settings"`
}

// Info describes a store file.
type Info struct {
	Path   string `json:"path"`
	Size   int64  `json:"size_bytes"` // as of this snapshot
	Schema uint64 `json:"schema"`
	Counts Counts `json:"counts"`
}

// Info reads the store's path, size, schema version and record counts in
// one snapshot.
func (db *DB) Info() (Info, error) {
	in := Info{Path: db.path}
	err := db.View(func(tx *Tx) error {
		in.Size = tx.tx.Size()
		if m := tx.bucket(bucketMeta); m != nil {
			in.Schema = fromBE64(m.Get(keySchema))
		}
		c := &in.Counts
		if b := tx.bucket(bucketEnvs); b != nil {
			b.ForEachBucket(func(k []byte) error {
				c.Envs++
				c.EnvRevisions += b.Bucket(k).Stats().KeyN
				return nil
			})
		}
		if b := tx.bucket(bucketSynth); b != nil {
			b.ForEachBucket(func(k []byte) error {
				c.SynthRuns++
				c.SynthLogEntries += keys(child(b.Bucket(k), subLog))
				return nil
			})
		}
		c.Datasets = keys(tx.bucket(bucketDatasets))
		if b := tx.bucket(bucketTrain); b != nil {
			b.ForEachBucket(func(k []byte) error {
				rb := b.Bucket(k)
				c.TrainRuns++
				c.MetricPoints += keys(child(rb, subMetrics))
				c.Rollouts += keys(child(rb, subRollouts))
				c.Checkpoints += keys(child(rb, subCheckpoints))
				return nil
			})
		}
		c.Settings = keys(tx.bucket(bucketSettings))
		return nil
	})
	return in, err
}

// keys counts the keys of a bucket without nested buckets (0 for nil).
func keys(b *bolt.Bucket) int {
	if b == nil {
		return 0
	}
	return b.Stats().KeyN
}

// maxProblems caps what Check reports; a badly damaged file has thousands.
const maxProblems = 100

// Check proves the store's pages sound (walkPages: every reference within
// the file, every page reached once), then runs bbolt's consistency check
// (every page reachable or free, keys in order) and decodes every record.
// It returns the problems found (nil for a healthy store), at most 100 of
// them; the error is for failing to run the check at all. A store opened
// for writing is checked inside a write transaction that is rolled back, so
// that no commit of this process changes the file under the walk.
func (db *DB) Check() ([]string, error) {
	var problems []string
	add := func(s string) bool {
		if len(problems) < maxProblems {
			problems = append(problems, s)
		}
		return len(problems) < maxProblems
	}
	check := func(tx *Tx) error {
		f, err := os.Open(db.path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !os.SameFile(st, db.file) {
			return fmt.Errorf("%s was replaced by another file since this resyn opened it; check the new one with a new resyn", db.path)
		}
		m, err := preflightMeta(f, db.path, st.Size())
		if err != nil {
			add(err.Error())
			return nil
		}
		// The walk must read the tree bbolt reads: the same meta (same
		// transaction id and size; readMeta refuses more than bbolt does,
		// so a damaged newer meta could make them differ).
		if (m.txid != uint64(tx.tx.ID()) && !(tx.Writable() && m.txid+1 == uint64(tx.tx.ID()))) ||
			int64(m.pgid)*int64(m.pageSize) != tx.tx.Size() {
			add(fmt.Sprintf("%s: the meta page bbolt uses (transaction %d, %d bytes) is not the newest valid one (transaction %d, %d bytes): a meta page is damaged",
				db.path, tx.tx.ID(), tx.tx.Size(), m.txid, int64(m.pgid)*int64(m.pageSize)))
			return nil
		}
		if !walkPages(f, m, add) {
			return nil
		}
		// The walk proved every page reference sound; what follows reads
		// through bbolt's memory map. Touch every key and value here first,
		// where a fault is recovered as ErrCorrupt, rather than on bbolt's
		// check goroutine, where it would kill the process.
		if err := safely(db.path, func() error { return touchAll(tx.tx) }); err != nil {
			add(err.Error())
			return nil
		}
		for err := range tx.tx.Check(bolt.WithKVStringer(lengthStringer{})) {
			add("bbolt: " + err.Error())
		}
		if len(problems) > 0 {
			// Pages are inconsistent: walking records could fault.
			return nil
		}
		return checkRecords(tx, add)
	}
	var err error
	if db.readOnly {
		// Nothing writes while we hold the shared lock.
		err = db.View(check)
	} else {
		err = db.Update(func(tx *Tx) error {
			if err := check(tx); err != nil {
				return err
			}
			return errRollback
		})
		if errors.Is(err, errRollback) {
			err = nil
		}
	}
	return problems, err
}

// errRollback ends a write transaction that was only opened to keep other
// writers out.
var errRollback = errors.New("rolled back")

// checkRecords decodes every record of the store, reporting each failure.
func checkRecords(tx *Tx, add func(string) bool) error {
	report := func(err error) {
		if err != nil {
			add(err.Error())
		}
	}
	if _, err := inspect(tx.tx, "store"); err != nil {
		report(err)
	}
	for _, name := range topBuckets {
		if tx.bucket(name) == nil {
			add(fmt.Sprintf("bucket %q is missing", name))
		}
	}
	if b := tx.bucket(bucketEnvs); b != nil {
		b.ForEachBucket(func(k []byte) error {
			_, err := EnvHistory(tx, string(k))
			report(err)
			return nil
		})
	}
	if b := tx.bucket(bucketSynth); b != nil {
		b.ForEachBucket(func(k []byte) error {
			id := fromBE64(k)
			_, err := GetSynthRun(tx, id)
			report(err)
			if err == nil {
				_, err = ListSynthLog(tx, id, 0)
				report(err)
			}
			return nil
		})
	}
	_, err := ListDatasets(tx)
	report(err)
	if b := tx.bucket(bucketTrain); b != nil {
		b.ForEachBucket(func(k []byte) error {
			id := fromBE64(k)
			if _, err := GetTrainRun(tx, id); err != nil {
				report(err)
				return nil
			}
			_, err := ListMetrics(tx, id, 0)
			report(err)
			_, err = ListRollouts(tx, id, 0, 1<<62)
			report(err)
			_, err = ListCheckpoints(tx, id)
			report(err)
			return nil
		})
	}
	return nil
}

// Backup writes a consistent copy of the whole store to w from one read
// transaction: writers carry on meanwhile and the copy is the state as of
// its start. It returns the number of bytes written.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.View(func(tx *Tx) error {
		var err error
		n, err = tx.tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy of the store to path, through a
// temporary file beside it that is synced and renamed into place, so that
// path is never a half-written store. It replaces an existing file.
func (db *DB) BackupFile(path string) (int64, error) {
	if a, err := filepath.Abs(path); err == nil {
		if b, err := filepath.Abs(db.path); err == nil && a == b {
			return 0, fmt.Errorf("backup to %s: that is the store itself: %w", path, ErrInvalid)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".resyn-backup-*.db")
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	n, err := db.Backup(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}

// touchAll reads every byte of every key and value of every bucket, so that
// a damaged page faults (recoverably) here rather than inside bbolt's check.
func touchAll(tx *bolt.Tx) error {
	var sink byte
	touch := func(b []byte) {
		for _, c := range b {
			sink ^= c
		}
	}
	var visit func(b *bolt.Bucket) error
	visit = func(b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			touch(k)
			touch(v)
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return visit(sub)
				}
			}
			return nil
		})
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		touch(name)
		return visit(b)
	})
	_ = sink
	return err
}

// lengthStringer names keys and values by their length only. bbolt's default
// hex-dumps them into its messages, and on a damaged page a key's length
// field can point far past the end of the file: dumping it faults on a
// goroutine of bbolt's own, where the fault cannot be recovered.
type lengthStringer struct{}

func (lengthStringer) KeyToString(k []byte) string { return fmt.Sprintf("<key of %d bytes>", len(k)) }
func (lengthStringer) ValueToString(v []byte) string {
	return fmt.Sprintf("<value of %d bytes>", len(v))
}
