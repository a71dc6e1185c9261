package storage

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MetricPoint is one value of one named metric at one training step, with
// optional per-environment values (reward by environment, pass rate by
// environment…). Value may be NaN or ±Inf.
type MetricPoint struct {
	Step   int64
	Name   string
	Value  float64
	PerEnv map[string]float64 // nil when the metric is not broken down
}

// PutMetrics stores points of a training run in the caller's transaction. A
// point for a step and name already stored replaces it. Trainers normally
// use a MetricsWriter instead, which batches points into few commits.
func PutMetrics(tx *Tx, runID uint64, points []MetricPoint) error {
	rb, err := trainRunBucket(tx, runID, true)
	if err != nil {
		return err
	}
	b := rb.Bucket(subMetrics)
	var val []byte
	for i := range points {
		p := &points[i]
		if p.Step < 0 || p.Name == "" {
			return fmt.Errorf("metric point %q at step %d: %w", p.Name, p.Step, ErrInvalid)
		}
		val = appendMetricValue(val[:0], p)
		// bbolt keeps references to the value until commit: copy it.
		if err := b.Put(metricKey(p.Step, p.Name), bytes.Clone(val)); err != nil {
			return wrapWrite(err)
		}
	}
	return nil
}

// ListMetrics returns the metric points of a run with Step >= fromStep, in
// step order and, within a step, by name. A viewer follows a running run by
// passing the last step it has plus one (that step may still be growing, so
// re-read it: pass the last step itself).
func ListMetrics(tx *Tx, runID uint64, fromStep int64) ([]MetricPoint, error) {
	rb, err := trainRunBucket(tx, runID, false)
	if err != nil {
		return nil, err
	}
	var out []MetricPoint
	c := rb.Bucket(subMetrics).Cursor()
	for k, v := c.Seek(be64(uint64(max(fromStep, 0)))); k != nil; k, v = c.Next() {
		p, err := decodeMetric(k, v)
		if err != nil {
			return out, fmt.Errorf("training run %d: %w", runID, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// LastMetricStep returns the highest step with a stored metric point of a
// run, and false when it has none.
func LastMetricStep(tx *Tx, runID uint64) (int64, bool, error) {
	rb, err := trainRunBucket(tx, runID, false)
	if err != nil {
		return 0, false, err
	}
	k, _ := rb.Bucket(subMetrics).Cursor().Last()
	if k == nil {
		return 0, false, nil
	}
	return int64(fromBE64(k)), true, nil
}

// MetricsWriter batches the metric points of one training run into few
// commits, so that a trainer can log every step without paying an fsync per
// point. Points are committed when FlushPoints are buffered, at the latest
// FlushInterval after they were added (on a timer: a viewer in another
// process sees a step within FlushInterval, however long the next step
// takes), and on Flush and Close. A point is durable once the Flush (or the
// Add/Step that triggered a commit) has returned without error; an error of
// a timed commit is returned by the next Add, Step, Flush or Close. Safe for
// concurrent use.
type MetricsWriter struct {
	// FlushPoints and FlushInterval may be changed before the first Add.
	FlushPoints   int
	FlushInterval time.Duration

	db        *DB
	run       uint64
	mu        sync.Mutex
	buf       []MetricPoint
	lastFlush time.Time
	closed    bool
	timer     *time.Timer // pending timed commit, nil when none
	timedErr  error       // the error of the last timed commit
}

// NewMetricsWriter returns a writer for the metrics of training run runID
// (which must exist: CreateTrainRun).
func (db *DB) NewMetricsWriter(runID uint64) *MetricsWriter {
	return &MetricsWriter{
		FlushPoints:   16384,
		FlushInterval: time.Second,
		db:            db,
		run:           runID,
		lastFlush:     time.Now(),
	}
}

// Add buffers points, committing when the buffer is full or FlushInterval
// has passed since the last commit.
func (w *MetricsWriter) Add(points ...MetricPoint) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("metrics writer of run %d: %w", w.run, ErrClosed)
	}
	if err := w.timedErr; err != nil {
		w.timedErr = nil
		return err
	}
	w.buf = append(w.buf, points...)
	if len(w.buf) >= w.FlushPoints || time.Since(w.lastFlush) >= w.FlushInterval {
		return w.flushLocked()
	}
	if w.timer == nil && len(w.buf) > 0 {
		w.timer = time.AfterFunc(w.FlushInterval-time.Since(w.lastFlush), w.timed)
	}
	return nil
}

// timed is the timer's commit of what is buffered.
func (w *MetricsWriter) timed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.closed {
		return
	}
	if err := w.flushLocked(); err != nil {
		w.timedErr = err
	}
}

// Step buffers the scalar metrics of one step (name → value), in the order
// of their names.
func (w *MetricsWriter) Step(step int64, values map[string]float64) error {
	points := make([]MetricPoint, 0, len(values))
	for name, v := range values {
		points = append(points, MetricPoint{Step: step, Name: name, Value: v})
	}
	slices.SortFunc(points, func(a, b MetricPoint) int { return cmpString(a.Name, b.Name) })
	return w.Add(points...)
}

// Flush commits every buffered point.
func (w *MetricsWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Close flushes and stops the writer; later calls fail with ErrClosed.
func (w *MetricsWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushLocked()
	if err == nil {
		err, w.timedErr = w.timedErr, nil
	}
	w.closed = true
	return err
}

// Buffered is how many points wait for a commit.
func (w *MetricsWriter) Buffered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf)
}

func (w *MetricsWriter) flushLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.buf) == 0 {
		w.lastFlush = time.Now()
		return nil
	}
	// Sorted keys make bbolt's inserts sequential page appends.
	slices.SortStableFunc(w.buf, func(a, b MetricPoint) int {
		if a.Step != b.Step {
			if a.Step < b.Step {
				return -1
			}
			return 1
		}
		return cmpString(a.Name, b.Name)
	})
	err := w.db.Update(func(tx *Tx) error { return PutMetrics(tx, w.run, w.buf) })
	if err != nil {
		return fmt.Errorf("writing %d metric points of run %d: %w", len(w.buf), w.run, err)
	}
	w.buf = w.buf[:0]
	w.lastFlush = time.Now()
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
