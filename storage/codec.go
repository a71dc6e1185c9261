package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
)

// Record encoding, in one place.
//
// Every record kind but metric points is a JSON object with a "version"
// field: the version of that kind's layout this binary writes. Decoding a
// record whose version is newer than the binary knows fails with ErrTooNew
// (rather than silently dropping fields); older versions are upgraded here,
// at decode time, when a layout changes. Metric points, written fifty
// thousand a second and allowed to be NaN (which JSON cannot hold), use the
// small binary form at the end of this file, which also starts with a version
// byte.

// Current layout version of each record kind.
const (
	envVersion        = 1
	synthRunVersion   = 1
	synthLogVersion   = 1
	datasetVersion    = 1
	trainRunVersion   = 1
	rolloutVersion    = 1
	checkpointVersion = 1
	experimentVersion = 1
	metricVersion     = 1
)

// record is implemented by every JSON record kind: it exposes the record's
// Version field, its kind's name (for messages) and the kind's current version.
type record interface {
	header() (version *int, kind string, current int)
}

func (r *Env) header() (*int, string, int)      { return &r.Version, "environment", envVersion }
func (r *SynthRun) header() (*int, string, int) { return &r.Version, "synthesis run", synthRunVersion }
func (r *SynthLogEntry) header() (*int, string, int) {
	return &r.Version, "synthesis log entry", synthLogVersion
}
func (r *Dataset) header() (*int, string, int)    { return &r.Version, "dataset", datasetVersion }
func (r *TrainRun) header() (*int, string, int)   { return &r.Version, "training run", trainRunVersion }
func (r *Rollout) header() (*int, string, int)    { return &r.Version, "rollout", rolloutVersion }
func (r *Checkpoint) header() (*int, string, int) { return &r.Version, "checkpoint", checkpointVersion }
func (r *Experiment) header() (*int, string, int) { return &r.Version, "experiment", experimentVersion }

// encode stamps r with its kind's current version and marshals it.
func encode(r record) ([]byte, error) {
	v, kind, cur := r.header()
	*v = cur
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", kind, err)
	}
	return b, nil
}

// decode unmarshals one stored record and checks its version.
func decode(b []byte, r record) error {
	v, kind, cur := r.header()
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("decoding %s: %v: %w", kind, err, ErrCorrupt)
	}
	switch {
	case *v > cur:
		return fmt.Errorf("%s record has layout version %d, this resyn knows up to %d: %w", kind, *v, cur, ErrTooNew)
	case *v < 1:
		return fmt.Errorf("decoding %s: no layout version: %w", kind, ErrCorrupt)
	}
	// Upgrades of older layouts go here when a kind's version is raised.
	return nil
}

// Metric values: key be64(step) ++ name; value
//
//	byte    version (1)
//	8 bytes float64 bits, big-endian
//	uvarint number of per-environment values, then for each (sorted by name):
//	        uvarint len(name), name, 8 bytes float64 bits

func metricKey(step int64, name string) []byte {
	k := make([]byte, 8+len(name))
	binary.BigEndian.PutUint64(k, uint64(step))
	copy(k[8:], name)
	return k
}

func appendMetricValue(dst []byte, p *MetricPoint) []byte {
	dst = append(dst, metricVersion)
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.Value))
	dst = binary.AppendUvarint(dst, uint64(len(p.PerEnv)))
	if len(p.PerEnv) > 0 {
		names := make([]string, 0, len(p.PerEnv))
		for n := range p.PerEnv {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			dst = binary.AppendUvarint(dst, uint64(len(n)))
			dst = append(dst, n...)
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(p.PerEnv[n]))
		}
	}
	return dst
}

func decodeMetric(k, v []byte) (MetricPoint, error) {
	bad := func(why string) (MetricPoint, error) {
		return MetricPoint{}, fmt.Errorf("decoding metric point: %s: %w", why, ErrCorrupt)
	}
	if len(k) < 9 {
		return bad("short key")
	}
	if len(v) < 1 {
		return bad("empty value")
	}
	if v[0] > metricVersion {
		return MetricPoint{}, fmt.Errorf("metric point has layout version %d, this resyn knows up to %d: %w", v[0], metricVersion, ErrTooNew)
	}
	if v[0] < 1 || len(v) < 10 {
		return bad("short value")
	}
	p := MetricPoint{
		Step:  int64(binary.BigEndian.Uint64(k)),
		Name:  string(k[8:]),
		Value: math.Float64frombits(binary.BigEndian.Uint64(v[1:9])),
	}
	rest := v[9:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)) {
		return bad("bad per-environment count")
	}
	rest = rest[w:]
	if n > 0 {
		p.PerEnv = make(map[string]float64, n)
	}
	for i := uint64(0); i < n; i++ {
		l, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < l+8 {
			return bad("truncated per-environment value")
		}
		name := string(rest[w : w+int(l)])
		rest = rest[w+int(l):]
		p.PerEnv[name] = math.Float64frombits(binary.BigEndian.Uint64(rest))
		rest = rest[8:]
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return p, nil
}
