package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ResolvePath is where the store is: flag (--db) when set, else
// $RESYN_DB, else $XDG_DATA_HOME/resyn/resyn.db (XDG_DATA_HOME defaulting
// to ~/.local/share).
func ResolvePath(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv("RESYN_DB"); p != "" {
		return p
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "resyn", "resyn.db")
}

// OptionsFromEnv are the options every resyn command opens the store with:
// RESYN_LOCK_WAIT (a Go duration, e.g. 2m) bounds how long a transaction
// waits for another process's transaction to end.
func OptionsFromEnv(readOnly bool) (Options, error) {
	o := Options{ReadOnly: readOnly}
	if v := os.Getenv("RESYN_LOCK_WAIT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("RESYN_LOCK_WAIT=%q: want a positive duration such as 30s or 2m", v)
		}
		o.LockWait = d
	}
	return o, nil
}

// HumanBytes writes a size in binary units: "512 B", "1.5 KiB", "3.2 GiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Rows are the info as `resyn db info` prints it: a label and a value a
// row, sizes in binary units.
func (in Info) Rows() [][2]string {
	c := in.Counts
	return [][2]string{
		{"path", in.Path}, {"size", HumanBytes(in.Size)}, {"schema", fmt.Sprint(in.Schema)},
		{"environments", fmt.Sprintf("%d (%d revisions)", c.Envs, c.EnvRevisions)},
		{"synthesis runs", fmt.Sprintf("%d (%d log entries)", c.SynthRuns, c.SynthLogEntries)},
		{"datasets", fmt.Sprint(c.Datasets)},
		{"training runs", fmt.Sprintf("%d (%d metric points, %d rollouts, %d checkpoints)", c.TrainRuns, c.MetricPoints, c.Rollouts, c.Checkpoints)},
		{"settings", fmt.Sprint(c.Settings)},
	}
}

// OpenAt opens the store at path with OptionsFromEnv.
func OpenAt(path string, readOnly bool) (*DB, error) {
	o, err := OptionsFromEnv(readOnly)
	if err != nil {
		return nil, err
	}
	return Open(path, o)
}

// OpenExisting is OpenAt, except that a read-only open where no store
// exists yet returns (nil, nil), so that read-only commands work on a
// fresh machine (from the built-ins alone).
func OpenExisting(path string, readOnly bool) (*DB, error) {
	db, err := OpenAt(path, readOnly)
	if readOnly && errors.Is(err, ErrNoStore) {
		return nil, nil
	}
	return db, err
}
