package storage

import (
	"encoding/json"
	"fmt"
	"time"
)

// Experiment is one experiment over several training runs (`resyn
// experiment diversity`): its design, and its report as it grows — the
// process running it rewrites the record after each run, so a crash loses
// at most the run in progress and `--resume` goes on from the rest. Its
// training runs are ordinary TrainRuns; the report names them.
type Experiment struct {
	Version  int             `json:"version"` // record layout version (set by the store)
	ID       uint64          `json:"id"`      // assigned by CreateExperiment
	Kind     string          `json:"kind"`    // "diversity"
	Name     string          `json:"name,omitempty"`
	Status   RunStatus       `json:"status"` // RunRunning, RunDone, RunStopped, RunFailed; read as RunInterrupted when no process holds it
	Design   json.RawMessage `json:"design"`
	Report   json.RawMessage `json:"report,omitempty"`
	Error    string          `json:"error,omitempty"`
	Created  time.Time       `json:"created"`
	Finished time.Time       `json:"finished,omitzero"`
}

// CreateExperiment stores a new experiment, assigning e.ID (and e.Created
// when zero).
func CreateExperiment(tx *Tx, e *Experiment) error {
	b, err := tx.writeBucket(bucketExper)
	if err != nil {
		return err
	}
	id, err := b.NextSequence()
	if err != nil {
		return wrapWrite(err)
	}
	e.ID = id
	if e.Created.IsZero() {
		e.Created = time.Now().UTC()
	}
	return PutExperiment(tx, e)
}

// PutExperiment replaces the record of an experiment.
func PutExperiment(tx *Tx, e *Experiment) error {
	b, err := tx.writeBucket(bucketExper)
	if err != nil {
		return err
	}
	v, err := encode(e)
	if err != nil {
		return err
	}
	return wrapWrite(b.Put(be64(e.ID), v))
}

// GetExperiment returns one experiment, or ErrNotFound.
func GetExperiment(tx *Tx, id uint64) (Experiment, error) {
	var e Experiment
	b := tx.bucket(bucketExper)
	var v []byte
	if b != nil {
		v = b.Get(be64(id))
	}
	if v == nil {
		return e, fmt.Errorf("experiment %d: %w", id, ErrNotFound)
	}
	if err := decode(v, &e); err != nil {
		return e, fmt.Errorf("experiment %d: %w", id, err)
	}
	e.Status = tx.runStatus(RunExperiment, id, e.Status)
	return e, nil
}

// ListExperiments returns every experiment, oldest first.
func ListExperiments(tx *Tx) ([]Experiment, error) {
	var out []Experiment
	b := tx.bucket(bucketExper)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var e Experiment
		if err := decode(v, &e); err != nil {
			return fmt.Errorf("experiment %d: %w", fromBE64(k), err)
		}
		e.Status = tx.runStatus(RunExperiment, e.ID, e.Status)
		out = append(out, e)
		return nil
	})
	return out, err
}
