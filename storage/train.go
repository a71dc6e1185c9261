package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TrainRun is one training run. Its record is updated in place as the run
// goes (status, end time); its metrics, sample rollouts and checkpoints are
// kept beside it (PutMetrics/MetricsWriter, PutRollouts, AddCheckpoint).
type TrainRun struct {
	Version  int             `json:"version"` // record layout version (set by the store)
	ID       uint64          `json:"id"`      // assigned by CreateTrainRun
	Name     string          `json:"name,omitempty"`
	Status   RunStatus       `json:"status"` // RunRunning, RunDone, RunFailed, RunStopped ("cancelled" in older records: resumable too); read as RunInterrupted when stored "running" but no process holds the run (HoldRun)
	Config   json.RawMessage `json:"config,omitempty"`
	Error    string          `json:"error,omitempty"`
	Created  time.Time       `json:"created"`
	Finished time.Time       `json:"finished,omitzero"`

	// Envs is the lineage of the run's verifiers: the version hash of every
	// environment it trained on, from the step it was first used at. A
	// resume with a changed environment appends the new version with the
	// step it took over from. Added within layout version 1: older records
	// lack it.
	Envs []EnvVersion `json:"envs,omitempty"`
}

// EnvVersion is one environment version a training run used.
type EnvVersion struct {
	Name          string `json:"name"`
	Hash          string `json:"hash"` // core/env.SourceHash of its module
	MinDifficulty int    `json:"min_difficulty"`
	MaxDifficulty int    `json:"max_difficulty"`
	FromStep      int64  `json:"from_step"` // the global step from which this version was used
}

// Rollout is one sampled completion kept for inspection.
type Rollout struct {
	Version    int     `json:"version"` // record layout version (set by the store)
	Step       int64   `json:"step"`
	Env        string  `json:"env"`
	Seed       int64   `json:"seed"`
	Difficulty int     `json:"difficulty"`
	Prompt     string  `json:"prompt"`
	Completion string  `json:"completion"`
	Outcome    string  `json:"outcome"` // "ok", "format", "env_error", "timeout"
	Reward     float64 `json:"reward"`  // finite

	// EnvHash is the version of the environment that made and scored it
	// (lineage: `resyn rescore --run` compares with the current one).
	// Added within layout version 1: older rollouts lack it.
	EnvHash string `json:"env_hash,omitempty"`
}

// Checkpoint is one saved model of a training run.
type Checkpoint struct {
	Version int       `json:"version"` // record layout version (set by the store)
	Step    int64     `json:"step"`
	Path    string    `json:"path"` // folder of the safetensors and tokenizer
	Note    string    `json:"note,omitempty"`
	Time    time.Time `json:"time"`
}

// CreateTrainRun stores a new run, assigning r.ID (and r.Created when zero).
func CreateTrainRun(tx *Tx, r *TrainRun) error {
	id, rb, err := newRunBucket(tx, bucketTrain, subMetrics, subRollouts, subCheckpoints)
	if err != nil {
		return err
	}
	r.ID = id
	if r.Created.IsZero() {
		r.Created = time.Now().UTC()
	}
	return putRun(rb, r)
}

// PutTrainRun replaces the record of an existing run.
func PutTrainRun(tx *Tx, r *TrainRun) error {
	rb, err := trainRunBucket(tx, r.ID, true)
	if err != nil {
		return err
	}
	return putRun(rb, r)
}

// GetTrainRun returns one run, or ErrNotFound.
func GetTrainRun(tx *Tx, id uint64) (TrainRun, error) {
	var r TrainRun
	rb, err := trainRunBucket(tx, id, false)
	if err != nil {
		return r, err
	}
	if err := decode(rb.Get(keyRun), &r); err != nil {
		return r, fmt.Errorf("training run %d: %w", id, err)
	}
	r.Status = tx.runStatus(RunTrain, id, r.Status)
	return r, nil
}

// ListTrainRuns returns every run, oldest first.
func ListTrainRuns(tx *Tx) ([]TrainRun, error) {
	var out []TrainRun
	err := forEachRun(tx.bucket(bucketTrain), func(id uint64, v []byte) error {
		var r TrainRun
		if err := decode(v, &r); err != nil {
			return fmt.Errorf("training run %d: %w", id, err)
		}
		r.Status = tx.runStatus(RunTrain, id, r.Status)
		out = append(out, r)
		return nil
	})
	return out, err
}

// PutRollouts stores sample rollouts of a run (each keeps its own Step).
func PutRollouts(tx *Tx, runID uint64, rs []Rollout) error {
	rb, err := trainRunBucket(tx, runID, true)
	if err != nil {
		return err
	}
	b := rb.Bucket(subRollouts)
	for i := range rs {
		seq, err := b.NextSequence()
		if err != nil {
			return wrapWrite(err)
		}
		v, err := encode(&rs[i])
		if err != nil {
			return err
		}
		if err := b.Put(rolloutKey(rs[i].Step, seq), v); err != nil {
			return wrapWrite(err)
		}
	}
	return nil
}

// ListRollouts returns the rollouts of a run stored for steps from..to
// inclusive, in step order.
func ListRollouts(tx *Tx, runID uint64, from, to int64) ([]Rollout, error) {
	rb, err := trainRunBucket(tx, runID, false)
	if err != nil {
		return nil, err
	}
	var out []Rollout
	c := rb.Bucket(subRollouts).Cursor()
	for k, v := c.Seek(be64(uint64(max(from, 0)))); k != nil && int64(fromBE64(k)) <= to; k, v = c.Next() {
		var r Rollout
		if err := decode(v, &r); err != nil {
			return out, fmt.Errorf("training run %d rollout at step %d: %w", runID, fromBE64(k), err)
		}
		out = append(out, r)
	}
	return out, nil
}

func rolloutKey(step int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(step))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// AddCheckpoint records a saved checkpoint (setting c.Time when zero); a
// second checkpoint at the same step replaces the first.
func AddCheckpoint(tx *Tx, runID uint64, c *Checkpoint) error {
	rb, err := trainRunBucket(tx, runID, true)
	if err != nil {
		return err
	}
	if c.Step < 0 {
		return fmt.Errorf("checkpoint at step %d: %w", c.Step, ErrInvalid)
	}
	if c.Time.IsZero() {
		c.Time = time.Now().UTC()
	}
	v, err := encode(c)
	if err != nil {
		return err
	}
	return wrapWrite(rb.Bucket(subCheckpoints).Put(be64(uint64(c.Step)), v))
}

// ListCheckpoints returns a run's checkpoints in step order.
func ListCheckpoints(tx *Tx, runID uint64) ([]Checkpoint, error) {
	rb, err := trainRunBucket(tx, runID, false)
	if err != nil {
		return nil, err
	}
	var out []Checkpoint
	err = rb.Bucket(subCheckpoints).ForEach(func(k, v []byte) error {
		var c Checkpoint
		if err := decode(v, &c); err != nil {
			return fmt.Errorf("training run %d checkpoint at step %d: %w", runID, fromBE64(k), err)
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

func trainRunBucket(tx *Tx, id uint64, write bool) (*bolt.Bucket, error) {
	if write && !tx.Writable() {
		return nil, ErrReadOnly
	}
	rb := child(tx.bucket(bucketTrain), be64(id))
	if rb == nil || rb.Get(keyRun) == nil ||
		rb.Bucket(subMetrics) == nil || rb.Bucket(subRollouts) == nil || rb.Bucket(subCheckpoints) == nil {
		return nil, fmt.Errorf("training run %d: %w", id, ErrNotFound)
	}
	return rb, nil
}
