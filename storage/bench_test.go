package storage_test

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"resyn/storage"
)

// BenchmarkMetricsWriter measures sustained metric points per second through
// a MetricsWriter with its default batching (fsync on every commit), the
// way a trainer logs: a step of 64 named metrics at a time, a quarter of them
// broken down by 8 environments.
func BenchmarkMetricsWriter(b *testing.B) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "bench.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := storage.TrainRun{}
	if err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		b.Fatal(err)
	}
	const perStep = 64
	names := make([]string, perStep)
	for i := range names {
		names[i] = fmt.Sprintf("metric/%02d", i)
	}
	perEnv := map[string]float64{}
	for e := 0; e < 8; e++ {
		perEnv[fmt.Sprintf("env_%d", e)] = float64(e) / 8
	}
	w := db.NewMetricsWriter(run.ID)
	step := make([]storage.MetricPoint, perStep)
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n += perStep {
		for i := range step {
			step[i] = storage.MetricPoint{Step: int64(n / perStep), Name: names[i], Value: float64(n + i)}
			if i%4 == 0 {
				step[i].PerEnv = perEnv
			}
		}
		if err := w.Add(step...); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "points/s")
}

// BenchmarkListMetrics measures reading every point of a run (what the TUI
// does when it opens a run's curves).
func BenchmarkListMetrics(b *testing.B) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "bench.db"), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	run := storage.TrainRun{}
	db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) })
	w := db.NewMetricsWriter(run.ID)
	const points = 100_000
	for i := 0; i < points; i++ {
		w.Add(storage.MetricPoint{Step: int64(i / 50), Name: fmt.Sprintf("m%02d", i%50), Value: float64(i)})
	}
	w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.View(func(tx *storage.Tx) error {
			pts, err := storage.ListMetrics(tx, run.ID, 0)
			if len(pts) != points {
				b.Fatalf("%d points, %v", len(pts), err)
			}
			return err
		})
	}
	b.ReportMetric(float64(points*b.N)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkTransaction measures what a transaction costs now that no
// process holds the store between transactions (each one takes the store's
// lock, opens the file with bbolt and closes it again), beside bbolt on a
// handle kept open — the old design, which locked every other process out.
// A small store (a few records) and a read or a one-key commit.
func BenchmarkTransaction(b *testing.B) {
	read := func(tx *storage.Tx) error { _, err := storage.ListEnvs(tx); return err }
	b.Run("view/resyn", func(b *testing.B) {
		db, _ := benchStore(b, 0)
		for i := 0; i < b.N; i++ {
			if err := db.View(read); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("view/bbolt-open-handle", func(b *testing.B) {
		_, path := benchStore(b, 0)
		bb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		defer bb.Close()
		for i := 0; i < b.N; i++ {
			bb.View(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("envs")).ForEach(func(k, v []byte) error { return nil })
			})
		}
	})
	b.Run("update/resyn", func(b *testing.B) {
		db, _ := benchStore(b, 0)
		for i := 0; i < b.N; i++ {
			if err := db.Update(func(tx *storage.Tx) error { return storage.PutSetting(tx, "k", fmt.Sprint(i)) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update/bbolt-open-handle", func(b *testing.B) {
		_, path := benchStore(b, 0)
		bb, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer bb.Close()
		for i := 0; i < b.N; i++ {
			bb.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("settings")).Put([]byte("k"), []byte(fmt.Sprint(i))) })
		}
	})
}

// BenchmarkBackupPause measures what a backup costs a writer that commits
// without pause (a metrics step of 64 points a commit): the longest a
// commit waited while backups ran one after another, for a store of about
// 64 MiB, beside the time one copy takes.
func BenchmarkBackupPause(b *testing.B) {
	db, _ := benchStore(b, 64<<20)
	run := storage.TrainRun{}
	if err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var worst, total time.Duration
	commits := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		pts := make([]storage.MetricPoint, 64)
		for step := int64(0); ; step++ {
			select {
			case <-stop:
				return
			default:
			}
			for i := range pts {
				pts[i] = storage.MetricPoint{Step: step, Name: fmt.Sprintf("m%02d", i), Value: 1}
			}
			start := time.Now()
			if err := db.Update(func(tx *storage.Tx) error { return storage.PutMetrics(tx, run.ID, pts) }); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(start)
			worst, total = max(worst, d), total+d
			commits++
		}
	}()
	var size int64
	var copyTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n, err := db.Backup(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)
		size = n
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(size)/(1<<20), "MiB")
	b.ReportMetric(float64(copyTime.Milliseconds())/float64(b.N), "ms/copy")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-longest-commit")
	if commits > 0 {
		b.ReportMetric(float64(total.Microseconds())/1000/float64(commits), "ms/commit")
	}
}

// benchStore makes a store with about size bytes of metric points in it.
func benchStore(b *testing.B, size int) (*storage.DB, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *storage.Tx) error {
		return storage.PutEnv(tx, &storage.Env{Name: "a", Source: "x", Status: storage.StatusCandidate})
	}); err != nil {
		b.Fatal(err)
	}
	if size > 0 {
		run := storage.TrainRun{}
		db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) })
		w := db.NewMetricsWriter(run.ID)
		for i := 0; i < size/80; i++ {
			w.Add(storage.MetricPoint{Step: int64(i / 100), Name: fmt.Sprintf("m%02d", i%100), Value: float64(i)})
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return db, path
}

// BenchmarkOpen measures Open of a store of about 64 MiB: for writing it
// walks every page first (a writer never adds to a damaged file), for
// reading it does not.
func BenchmarkOpen(b *testing.B) {
	_, path := benchStore(b, 64<<20)
	for _, ro := range []bool{false, true} {
		name := "write"
		if ro {
			name = "read-only"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				db, err := storage.Open(path, storage.Options{ReadOnly: ro})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}
