package storage

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Every bucket of the store, in one place. The layout (schema version 1):
//
//	meta/
//	    "magic"  -> storeMagic            (marks the file as a resyn store)
//	    "schema" -> be64(schema version)
//	envs/
//	    <name>/                           one sub-bucket per environment
//	        be64(revision) -> Env         every revision; the last is current
//	synth/
//	    be64(run id)/
//	        "run" -> SynthRun
//	        log/   be64(seq) -> SynthLogEntry
//	datasets/
//	    be64(id) -> Dataset
//	train/
//	    be64(run id)/
//	        "run" -> TrainRun
//	        metrics/      be64(step) ++ name        -> metric value (binary, see codec.go)
//	        rollouts/     be64(step) ++ be64(seq)   -> Rollout
//	        checkpoints/  be64(step)                -> Checkpoint
//	settings/
//	    key -> value
//	experiments/                          (schema 2)
//	    be64(id) -> Experiment
//
// Keys that are numbers are big-endian so that cursor order is numeric order.
var (
	bucketMeta     = []byte("meta")
	bucketEnvs     = []byte("envs")
	bucketSynth    = []byte("synth")
	bucketDatasets = []byte("datasets")
	bucketTrain    = []byte("train")
	bucketSettings = []byte("settings")
	bucketExper    = []byte("experiments")

	// Sub-buckets and fixed keys.
	subLog         = []byte("log")
	subMetrics     = []byte("metrics")
	subRollouts    = []byte("rollouts")
	subCheckpoints = []byte("checkpoints")
	keyRun         = []byte("run")
	keyMagic       = []byte("magic")
	keySchema      = []byte("schema")
)

// schema1Buckets are the top-level buckets migration 1 creates (a shipped
// migration: never edit it); topBuckets is every top-level bucket of the
// current schema.
var (
	schema1Buckets = [][]byte{bucketMeta, bucketEnvs, bucketSynth, bucketDatasets, bucketTrain, bucketSettings}
	topBuckets     = append(append([][]byte{}, schema1Buckets...), bucketExper)
)

// storeMagic is the value of meta/"magic": what tells a resyn store from any
// other bbolt file.
const storeMagic = "resyn store"

func be64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func fromBE64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// bucket returns a top-level bucket, or nil when it does not exist (a store
// opened read-only before its first migration). Readers treat nil as empty.
func (tx *Tx) bucket(name []byte) *bolt.Bucket { return tx.tx.Bucket(name) }

// writeBucket returns a top-level bucket for writing.
func (tx *Tx) writeBucket(name []byte) (*bolt.Bucket, error) {
	if !tx.tx.Writable() {
		return nil, ErrReadOnly
	}
	b := tx.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %q missing: %w", name, ErrCorrupt)
	}
	return b, nil
}

// child returns a nested bucket or nil.
func child(b *bolt.Bucket, key []byte) *bolt.Bucket {
	if b == nil {
		return nil
	}
	return b.Bucket(key)
}

// wrapWrite turns bbolt's write errors into this package's sentinels.
func wrapWrite(err error) error {
	if err == bolt.ErrTxNotWritable || err == bolt.ErrDatabaseReadOnly {
		return ErrReadOnly
	}
	return err
}
