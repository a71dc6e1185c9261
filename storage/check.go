package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
// them; the error is for failing to run the check at all. It runs under the
// store's shared lock, so no process commits while it reads, and reads the
// pages through the very file that bbolt has open.
func (db *DB) Check() ([]string, error) {
	var problems []string
	add := func(s string) bool {
		if len(problems) < maxProblems {
			problems = append(problems, s)
		}
		return len(problems) < maxProblems
	}
	s, err := db.begin(false, false)
	if err != nil {
		return nil, err
	}
	defer s.end()
	err = s.bolt.View(s.wrap(func(tx *Tx) error {
		m, err := preflightMeta(s.f, db.path, s.info.Size())
		if err != nil {
			add(err.Error())
			return nil
		}
		// The walk must read the tree bbolt reads: the same meta (same
		// transaction id and size; readMeta refuses more than bbolt does,
		// so a damaged newer meta could make them differ).
		if m.txid != uint64(tx.tx.ID()) || int64(m.pgid)*int64(m.pageSize) != tx.tx.Size() {
			add(fmt.Sprintf("%s: the meta page bbolt uses (transaction %d, %d bytes) is not the newest valid one (transaction %d, %d bytes): a meta page is damaged",
				db.path, tx.tx.ID(), tx.tx.Size(), m.txid, int64(m.pgid)*int64(m.pageSize)))
			return nil
		}
		if !walkPages(s.f, m, add) {
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
	}))
	return problems, err
}

// checkRecords decodes every record of the store, reporting each failure.
func checkRecords(tx *Tx, add func(string) bool) error {
	report := func(err error) {
		if err != nil {
			add(err.Error())
		}
	}
	v, err := inspectSchema(tx.tx, "store")
	report(err)
	for _, name := range topBuckets {
		if v < 2 && string(name) == string(bucketExper) {
			continue // a schema-1 store opened read-only: migration 2 adds it
		}
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
	_, err = ListDatasets(tx)
	report(err)
	_, err = ListExperiments(tx)
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
// transaction and returns the number of bytes written. Writers of every
// process wait while it copies (the store's shared lock): the longest pause
// a writer sees is the time the copy takes.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.View(func(tx *Tx) error {
		var err error
		n, err = tx.tx.WriteTo(w)
		return err
	})
	return n, err
}

// BackupFile writes a consistent copy of the store to path and proves it
// sound before it is kept: the copy is made in one read transaction into a
// temporary file beside path, synced, then checked on its own bytes (the
// page walk, bbolt's check, every record decoded — after the lock is
// released, so writers wait only for the copy) and renamed into place. A
// damaged store fails with ErrCorrupt and leaves no file at path: a backup
// is never a damaged copy. It replaces an existing file.
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
	if err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := checkCopy(tmp, db.path); err != nil {
		return 0, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}

// checkCopy runs the full check on a copy of the store at src, naming src
// (not the copy) in what it reports.
func checkCopy(copyPath, src string) error {
	c, err := Open(copyPath, Options{ReadOnly: true})
	if err != nil {
		return renamed(err, copyPath, src)
	}
	defer c.Close()
	problems, err := c.Check()
	if err != nil {
		return renamed(fmt.Errorf("checking the copy of %s: %w", src, err), copyPath, src)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s is damaged (%d problem(s); resyn db check lists them): %s: %w",
			src, len(problems), strings.ReplaceAll(problems[0], copyPath, src), ErrCorrupt)
	}
	return nil
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
