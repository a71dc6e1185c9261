package storage

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the store schema this binary writes: the number of
// migrations it knows. A file with a higher schema is refused (ErrTooNew).
const SchemaVersion = 2

// migrations bring a store from schema i to i+1 (migrations[i]). They run in
// order, all in one transaction, when a store is opened for writing; append
// to this table (and raise SchemaVersion) to change the layout, never edit
// an entry that has shipped.
var migrations = []struct {
	name string
	up   func(tx *bolt.Tx) error
}{
	{"create the top-level buckets", func(tx *bolt.Tx) error {
		for _, name := range schema1Buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	}},
	{"add the experiments bucket", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketExper)
		return err
	}},
}

// inspectSchema checks that tx's file is a resyn store this binary can read and
// returns its schema version.
func inspectSchema(tx *bolt.Tx, path string) (uint64, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil || string(m.Get(keyMagic)) != storeMagic {
		return 0, fmt.Errorf("%s is a bbolt database, but not one resyn wrote: %w", path, ErrNotStore)
	}
	v := fromBE64(m.Get(keySchema))
	if v > SchemaVersion {
		return v, fmt.Errorf("%s has schema version %d, this resyn knows up to %d; upgrade resyn: %w", path, v, SchemaVersion, ErrTooNew)
	}
	return v, nil
}

// migrate brings a store (or a brand-new, empty bbolt file) up to
// SchemaVersion in one transaction.
func migrate(b *bolt.DB, path string) error {
	return b.Update(func(tx *bolt.Tx) error {
		var from uint64
		if tx.Bucket(bucketMeta) == nil {
			// Only a file with no buckets at all is new; anything else was
			// written by someone else.
			empty := true
			tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%s is a bbolt database, but not one resyn wrote: %w", path, ErrNotStore)
			}
		} else {
			v, err := inspectSchema(tx, path)
			if err != nil {
				return err
			}
			from = v
		}
		if from == SchemaVersion {
			return nil
		}
		for i := from; i < SchemaVersion; i++ {
			if err := migrations[i].up(tx); err != nil {
				return fmt.Errorf("migrating %s to schema %d (%s): %w", path, i+1, migrations[i].name, err)
			}
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(keyMagic, []byte(storeMagic)); err != nil {
			return err
		}
		return m.Put(keySchema, be64(SchemaVersion))
	})
}
