package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

// Dataset records one generated or exported dataset: what went into it and
// where it was written. The instances themselves live in the file, not in
// the store.
type Dataset struct {
	Version    int             `json:"version"` // record layout version (set by the store)
	ID         uint64          `json:"id"`      // assigned by CreateDataset
	Name       string          `json:"name"`
	Format     string          `json:"format"` // "jsonl", "verl", …
	Path       string          `json:"path"`   // where it was written
	Envs       []string        `json:"envs"`   // environment names (with revisions where known: "name@3")
	Count      int             `json:"count"`  // instances written
	Seed       int64           `json:"seed"`
	Difficulty string          `json:"difficulty,omitempty"` // e.g. "1-10"
	Config     json.RawMessage `json:"config,omitempty"`     // the generator's full settings
	Created    time.Time       `json:"created"`
}

// CreateDataset stores a new dataset record, assigning d.ID (and d.Created
// when zero).
func CreateDataset(tx *Tx, d *Dataset) error {
	b, err := tx.writeBucket(bucketDatasets)
	if err != nil {
		return err
	}
	id, err := b.NextSequence()
	if err != nil {
		return wrapWrite(err)
	}
	d.ID = id
	if d.Created.IsZero() {
		d.Created = time.Now().UTC()
	}
	v, err := encode(d)
	if err != nil {
		return err
	}
	return wrapWrite(b.Put(be64(id), v))
}

// GetDataset returns one dataset record, or ErrNotFound.
func GetDataset(tx *Tx, id uint64) (Dataset, error) {
	var d Dataset
	var v []byte
	if b := tx.bucket(bucketDatasets); b != nil {
		v = b.Get(be64(id))
	}
	if v == nil {
		return d, fmt.Errorf("dataset %d: %w", id, ErrNotFound)
	}
	if err := decode(v, &d); err != nil {
		return d, fmt.Errorf("dataset %d: %w", id, err)
	}
	return d, nil
}

// ListDatasets returns every dataset record, oldest first.
func ListDatasets(tx *Tx) ([]Dataset, error) {
	b := tx.bucket(bucketDatasets)
	if b == nil {
		return nil, nil
	}
	var out []Dataset
	err := b.ForEach(func(k, v []byte) error {
		var d Dataset
		if err := decode(v, &d); err != nil {
			return fmt.Errorf("dataset %d: %w", fromBE64(k), err)
		}
		out = append(out, d)
		return nil
	})
	return out, err
}
