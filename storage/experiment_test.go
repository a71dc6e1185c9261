package storage

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A store of schema 1 (before experiments) gains the experiments bucket
// when opened for writing; an experiment's record round-trips, and one
// stored "running" that no process holds reads as interrupted.
func TestExperimentsMigrateAndRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		if err := migrations[0].up(tx); err != nil {
			return err
		}
		m := tx.Bucket(bucketMeta)
		if err := m.Put(keyMagic, []byte(storeMagic)); err != nil {
			return err
		}
		return m.Put(keySchema, be64(1))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := Experiment{Kind: "diversity", Name: "d", Status: RunRunning, Design: json.RawMessage(`{"ks":[1,2]}`)}
	var held *RunHold
	if err := db.Update(func(tx *Tx) error {
		if err := CreateExperiment(tx, &e); err != nil {
			return err
		}
		held, err = tx.HoldRun(RunExperiment, e.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	read := func() Experiment {
		var got Experiment
		if err := db.View(func(tx *Tx) error {
			all, err := ListExperiments(tx)
			if err != nil || len(all) != 1 {
				t.Fatalf("list: %v, %v", all, err)
			}
			got, err = GetExperiment(tx, e.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := read(); got.ID != 1 || got.Status != RunRunning || string(got.Design) != `{"ks":[1,2]}` || got.Version != experimentVersion {
		t.Errorf("read back %+v", got)
	}
	held.Release()
	if got := read(); got.Status != RunInterrupted {
		t.Errorf("no process holds it: status %q, want interrupted", got.Status)
	}
	db.View(func(tx *Tx) error {
		if _, err := GetExperiment(tx, 9); !errors.Is(err, ErrNotFound) {
			t.Errorf("a missing experiment: %v", err)
		}
		return nil
	})
}
