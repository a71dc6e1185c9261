package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TokenUsage counts what an LLM was asked for and gave.
type TokenUsage struct {
	Requests     int64 `json:"requests"`
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
}

// Add returns the sum of two usages.
func (u TokenUsage) Add(o TokenUsage) TokenUsage {
	return TokenUsage{u.Requests + o.Requests, u.InputTokens + o.InputTokens, u.OutputTokens + o.OutputTokens}
}

// SynthRun is one run of the synthesis pipeline. Unlike environments, a run
// record is updated in place as the run goes (status, usage); what happened
// to each candidate is in its log (AppendSynthLog).
type SynthRun struct {
	Version  int             `json:"version"` // record layout version (set by the store)
	ID       uint64          `json:"id"`      // assigned by CreateSynthRun
	Status   RunStatus       `json:"status"`  // "running", "done", "failed", "cancelled"; read as RunInterrupted when stored "running" but no process holds the run (HoldRun)
	Config   json.RawMessage `json:"config,omitempty"`
	Usage    TokenUsage      `json:"usage"`
	Error    string          `json:"error,omitempty"`
	Created  time.Time       `json:"created"`
	Finished time.Time       `json:"finished,omitzero"`
}

// SynthLogEntry is one event of one candidate in a synthesis run.
type SynthLogEntry struct {
	Version   int             `json:"version"`   // record layout version (set by the store)
	Seq       uint64          `json:"seq"`       // assigned by AppendSynthLog
	Time      time.Time       `json:"time"`      // set by AppendSynthLog when zero
	Candidate string          `json:"candidate"` // the candidate's name or index
	Stage     string          `json:"stage"`     // e.g. "generate", "validate", "repair", "calibrate", "accepted"
	Message   string          `json:"message,omitempty"`
	Usage     TokenUsage      `json:"usage"`
	Detail    json.RawMessage `json:"detail,omitempty"` // the stage's own record (a report, the source…)
}

// CreateSynthRun stores a new run, assigning r.ID (and r.Created when zero).
func CreateSynthRun(tx *Tx, r *SynthRun) error {
	id, rb, err := newRunBucket(tx, bucketSynth, subLog)
	if err != nil {
		return err
	}
	r.ID = id
	if r.Created.IsZero() {
		r.Created = time.Now().UTC()
	}
	return putRun(rb, r)
}

// PutSynthRun replaces the record of an existing run (status, usage…).
func PutSynthRun(tx *Tx, r *SynthRun) error {
	rb, err := synthRunBucket(tx, r.ID, true)
	if err != nil {
		return err
	}
	return putRun(rb, r)
}

// GetSynthRun returns one run, or ErrNotFound.
func GetSynthRun(tx *Tx, id uint64) (SynthRun, error) {
	var r SynthRun
	rb, err := synthRunBucket(tx, id, false)
	if err != nil {
		return r, err
	}
	if err := decode(rb.Get(keyRun), &r); err != nil {
		return r, fmt.Errorf("synthesis run %d: %w", id, err)
	}
	r.Status = tx.runStatus(RunSynth, id, r.Status)
	return r, nil
}

// ListSynthRuns returns every run, oldest first.
func ListSynthRuns(tx *Tx) ([]SynthRun, error) {
	var out []SynthRun
	err := forEachRun(tx.bucket(bucketSynth), func(id uint64, v []byte) error {
		var r SynthRun
		if err := decode(v, &r); err != nil {
			return fmt.Errorf("synthesis run %d: %w", id, err)
		}
		r.Status = tx.runStatus(RunSynth, id, r.Status)
		out = append(out, r)
		return nil
	})
	return out, err
}

// AppendSynthLog adds an entry to a run's log, assigning e.Seq (and e.Time
// when zero).
func AppendSynthLog(tx *Tx, runID uint64, e *SynthLogEntry) error {
	rb, err := synthRunBucket(tx, runID, true)
	if err != nil {
		return err
	}
	lb := rb.Bucket(subLog)
	seq, err := lb.NextSequence()
	if err != nil {
		return wrapWrite(err)
	}
	e.Seq = seq
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := encode(e)
	if err != nil {
		return err
	}
	return wrapWrite(lb.Put(be64(seq), b))
}

// ListSynthLog returns a run's log entries with Seq > after, in order (0 for
// all; pass the last Seq seen to follow a running run).
func ListSynthLog(tx *Tx, runID uint64, after uint64) ([]SynthLogEntry, error) {
	rb, err := synthRunBucket(tx, runID, false)
	if err != nil {
		return nil, err
	}
	var out []SynthLogEntry
	c := rb.Bucket(subLog).Cursor()
	for k, v := c.Seek(be64(after + 1)); k != nil; k, v = c.Next() {
		var e SynthLogEntry
		if err := decode(v, &e); err != nil {
			return out, fmt.Errorf("synthesis run %d log entry %d: %w", runID, fromBE64(k), err)
		}
		out = append(out, e)
	}
	return out, nil
}

func synthRunBucket(tx *Tx, id uint64, write bool) (*bolt.Bucket, error) {
	if write && !tx.Writable() {
		return nil, ErrReadOnly
	}
	rb := child(tx.bucket(bucketSynth), be64(id))
	if rb == nil || rb.Get(keyRun) == nil || rb.Bucket(subLog) == nil {
		return nil, fmt.Errorf("synthesis run %d: %w", id, ErrNotFound)
	}
	return rb, nil
}

// newRunBucket makes the bucket of a new run under top (synth/ or train/),
// numbered by top's sequence, with the given sub-buckets.
func newRunBucket(tx *Tx, top []byte, subs ...[]byte) (uint64, *bolt.Bucket, error) {
	tb, err := tx.writeBucket(top)
	if err != nil {
		return 0, nil, err
	}
	id, err := tb.NextSequence()
	if err != nil {
		return 0, nil, wrapWrite(err)
	}
	rb, err := tb.CreateBucket(be64(id))
	if err != nil {
		return 0, nil, wrapWrite(err)
	}
	for _, sub := range subs {
		if _, err := rb.CreateBucket(sub); err != nil {
			return 0, nil, wrapWrite(err)
		}
	}
	return id, rb, nil
}

// putRun encodes a run record (SynthRun or TrainRun) under its bucket's "run" key.
func putRun(rb *bolt.Bucket, r record) error {
	b, err := encode(r)
	if err != nil {
		return err
	}
	return wrapWrite(rb.Put(keyRun, b))
}

// forEachRun calls fn with the id and "run" record of every run bucket
// under top (synth/ or train/), in id order.
func forEachRun(top *bolt.Bucket, fn func(id uint64, v []byte) error) error {
	if top == nil {
		return nil
	}
	return top.ForEachBucket(func(k []byte) error {
		v := top.Bucket(k).Get(keyRun)
		if v == nil {
			return fmt.Errorf("run %d has no record: %w", fromBE64(k), ErrCorrupt)
		}
		return fn(fromBE64(k), v)
	})
}
