package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Status is where an environment stands in curation.
type Status string

const (
	StatusCandidate Status = "candidate" // stored, not yet judged by a person
	StatusAccepted  Status = "accepted"  // in the library: used for training and export
	StatusRejected  Status = "rejected"  // kept for the record, never used
)

// Where an environment came from (Origin.Kind).
const (
	OriginBuiltin   = "builtin"   // a copy of one of resyn's built-ins
	OriginFile      = "file"      // added from a file (Origin.File)
	OriginSynthesis = "synthesis" // written by a synthesis run (Origin.SynthRun)
)

// Origin says where an environment came from.
type Origin struct {
	Kind     string `json:"kind"`
	File     string `json:"file,omitempty"`
	SynthRun uint64 `json:"synth_run,omitempty"`
	// TrainRun and Parent, for a new version written to close the loop
	// (`resyn synth --from-run`): the training run whose pass rates asked for
	// it, and the environment version it hardens or replaces ("name@hash").
	TrainRun uint64 `json:"train_run,omitempty"`
	Parent   string `json:"parent,omitempty"`
}

// Note is one dated remark a person made about an environment.
type Note struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// Env is one revision of a stored environment. The store keeps every
// revision: PutEnv appends, it never overwrites, so the history of an
// environment — its source edits, status changes, tags and notes — is the
// list of its revisions, and the current state is the last one.
type Env struct {
	Version  int    `json:"version"`  // record layout version (set by the store)
	Name     string `json:"name"`     // the environment's NAME; the key
	Revision uint64 `json:"revision"` // 1, 2, …; assigned by PutEnv
	Change   string `json:"change"`   // what this revision changed, for the history ("added", "accepted", …)

	Source string   `json:"source"` // the Starlark module
	Origin Origin   `json:"origin"`
	Status Status   `json:"status"`
	Tags   []string `json:"tags,omitempty"`
	Notes  []Note   `json:"notes,omitempty"`

	// Report is the last validation report and Calibration the difficulty
	// calibration, both as their producers (core/validate, core/synth)
	// encode them; the store does not look inside.
	Report      json.RawMessage `json:"report,omitempty"`
	Calibration json.RawMessage `json:"calibration,omitempty"`
	// Provenance is how a synthesized environment came to be (the prompts,
	// replies, repair rounds, reports, tokens and timings, as core/synth
	// encodes them); empty for other origins. Added within layout version 1:
	// older records simply lack it.
	Provenance json.RawMessage `json:"provenance,omitempty"`

	Created time.Time `json:"created"` // when revision 1 was stored
	Time    time.Time `json:"time"`    // when this revision was stored
}

// PutEnv stores e as the next revision of environment e.Name, setting
// e.Revision, e.Created and e.Time. Callers change an environment by reading
// it with GetEnv, changing the copy, setting Change, and putting it back.
func PutEnv(tx *Tx, e *Env) error {
	if e.Name == "" || len(e.Name) > bolt.MaxKeySize {
		return fmt.Errorf("environment name %q: %w", e.Name, ErrInvalid)
	}
	envs, err := tx.writeBucket(bucketEnvs)
	if err != nil {
		return err
	}
	revs, err := envs.CreateBucketIfNotExists([]byte(e.Name))
	if err != nil {
		return wrapWrite(err)
	}
	now := time.Now().UTC()
	e.Revision = 1
	e.Created = now
	if k, v := revs.Cursor().Last(); k != nil {
		var prev Env
		if err := decode(v, &prev); err != nil {
			return fmt.Errorf("environment %s: %w", e.Name, err)
		}
		e.Revision = fromBE64(k) + 1
		e.Created = prev.Created
	}
	e.Time = now
	b, err := encode(e)
	if err != nil {
		return err
	}
	return wrapWrite(revs.Put(be64(e.Revision), b))
}

// GetEnv returns the current (last) revision of an environment, or
// ErrNotFound.
func GetEnv(tx *Tx, name string) (Env, error) {
	revs := child(tx.bucket(bucketEnvs), []byte(name))
	var e Env
	if revs == nil {
		return e, fmt.Errorf("environment %q: %w", name, ErrNotFound)
	}
	_, v := revs.Cursor().Last()
	if v == nil {
		return e, fmt.Errorf("environment %q: %w", name, ErrNotFound)
	}
	if err := decode(v, &e); err != nil {
		return e, fmt.Errorf("environment %s: %w", name, err)
	}
	return e, nil
}

// GetEnvRevision returns one revision of an environment, or ErrNotFound.
func GetEnvRevision(tx *Tx, name string, revision uint64) (Env, error) {
	revs := child(tx.bucket(bucketEnvs), []byte(name))
	var e Env
	var v []byte
	if revs != nil {
		v = revs.Get(be64(revision))
	}
	if v == nil {
		return e, fmt.Errorf("environment %q revision %d: %w", name, revision, ErrNotFound)
	}
	if err := decode(v, &e); err != nil {
		return e, fmt.Errorf("environment %s revision %d: %w", name, revision, err)
	}
	return e, nil
}

// EnvHistory returns every revision of an environment, oldest first, or
// ErrNotFound.
func EnvHistory(tx *Tx, name string) ([]Env, error) {
	revs := child(tx.bucket(bucketEnvs), []byte(name))
	if revs == nil {
		return nil, fmt.Errorf("environment %q: %w", name, ErrNotFound)
	}
	var out []Env
	err := revs.ForEach(func(k, v []byte) error {
		var e Env
		if err := decode(v, &e); err != nil {
			return fmt.Errorf("environment %s revision %d: %w", name, fromBE64(k), err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// ListEnvs returns the current revision of every stored environment, sorted
// by name.
func ListEnvs(tx *Tx) ([]Env, error) {
	envs := tx.bucket(bucketEnvs)
	if envs == nil {
		return nil, nil
	}
	var out []Env
	err := envs.ForEachBucket(func(name []byte) error {
		_, v := envs.Bucket(name).Cursor().Last()
		if v == nil {
			return nil
		}
		var e Env
		if err := decode(v, &e); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
