package storage_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

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
