package storage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/storage"
)

func openTemp(t *testing.T) (*storage.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "dir", "resyn.db")
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenCreatesFileAndFolder(t *testing.T) {
	db, path := openTemp(t)
	in, err := db.Info()
	if err != nil {
		t.Fatal(err)
	}
	if in.Schema != storage.SchemaVersion || in.Path != path || in.Size == 0 {
		t.Fatalf("info = %+v", in)
	}
	db.Close()
	// No temporary files are left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want just the store", len(entries))
	}
	ro, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	err = ro.Update(func(tx *storage.Tx) error { return storage.PutSetting(tx, "a", "b") })
	if !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("write through read-only store: %v, want ErrReadOnly", err)
	}
}

func TestReadOnlyOpenOfMissingFileCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "resyn.db")
	_, err := storage.Open(path, storage.Options{ReadOnly: true})
	if !errors.Is(err, storage.ErrNoStore) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrNoStore naming the file", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("read-only open created the folder")
	}
}

func TestEnvRevisionsAreNeverOverwritten(t *testing.T) {
	db, _ := openTemp(t)
	put := func(e storage.Env) storage.Env {
		t.Helper()
		if err := db.Update(func(tx *storage.Tx) error { return storage.PutEnv(tx, &e) }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := put(storage.Env{Name: "maze", Source: "v1", Status: storage.StatusCandidate, Change: "added",
		Origin: storage.Origin{Kind: storage.OriginFile, File: "maze.star"}, Report: json.RawMessage(`{"ok":true}`)})
	put(storage.Env{Name: "alpha", Source: "a", Status: storage.StatusCandidate})
	var cur storage.Env
	db.View(func(tx *storage.Tx) error { cur, _ = storage.GetEnv(tx, "maze"); return nil })
	cur.Status, cur.Change = storage.StatusAccepted, "accepted"
	put(cur)
	cur.Source, cur.Change, cur.Tags = "v2", "edited", []string{"graphs"}
	last := put(cur)
	if first.Revision != 1 || last.Revision != 3 || !last.Created.Equal(first.Created) {
		t.Fatalf("revisions %d, %d; created %v vs %v", first.Revision, last.Revision, first.Created, last.Created)
	}
	err := db.View(func(tx *storage.Tx) error {
		hist, err := storage.EnvHistory(tx, "maze")
		if err != nil {
			return err
		}
		var got []string
		for _, e := range hist {
			got = append(got, e.Source+"/"+string(e.Status)+"/"+e.Change)
		}
		if want := "v1/candidate/added v1/accepted/accepted v2/accepted/edited"; strings.Join(got, " ") != want {
			t.Errorf("history = %v, want %s", got, want)
		}
		r1, err := storage.GetEnvRevision(tx, "maze", 1)
		if err != nil || r1.Source != "v1" || string(r1.Report) != `{"ok":true}` {
			t.Errorf("revision 1 = %+v, %v", r1, err)
		}
		if _, err := storage.GetEnvRevision(tx, "maze", 9); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("revision 9: %v, want ErrNotFound", err)
		}
		if _, err := storage.GetEnv(tx, "nope"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("missing env: %v, want ErrNotFound", err)
		}
		all, err := storage.ListEnvs(tx)
		if err != nil || len(all) != 2 || all[0].Name != "alpha" || all[1].Source != "v2" || all[1].Tags[0] != "graphs" {
			t.Errorf("ListEnvs = %+v, %v", all, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *storage.Tx) error { return storage.PutEnv(tx, &storage.Env{}) }); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("nameless env: %v, want ErrInvalid", err)
	}
}

func TestSynthRunsAndDatasets(t *testing.T) {
	db, _ := openTemp(t)
	run := storage.SynthRun{Status: "running", Config: json.RawMessage(`{"n":4}`)}
	err := db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateSynthRun(tx, &run); err != nil {
			return err
		}
		for _, stage := range []string{"generate", "validate", "accepted"} {
			e := storage.SynthLogEntry{Candidate: "c1", Stage: stage, Usage: storage.TokenUsage{Requests: 1, InputTokens: 10}}
			if err := storage.AppendSynthLog(tx, run.ID, &e); err != nil {
				return err
			}
			run.Usage = run.Usage.Add(e.Usage)
		}
		run.Status = "done"
		if err := storage.PutSynthRun(tx, &run); err != nil {
			return err
		}
		return storage.CreateDataset(tx, &storage.Dataset{Name: "d", Format: "jsonl", Envs: []string{"maze"}, Count: 10})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *storage.Tx) error {
		got, err := storage.GetSynthRun(tx, run.ID)
		if err != nil || got.Status != "done" || got.Usage.InputTokens != 30 || string(got.Config) != `{"n":4}` {
			t.Errorf("run = %+v, %v", got, err)
		}
		log, err := storage.ListSynthLog(tx, run.ID, 1)
		if err != nil || len(log) != 2 || log[0].Seq != 2 || log[1].Stage != "accepted" {
			t.Errorf("log after 1 = %+v, %v", log, err)
		}
		runs, _ := storage.ListSynthRuns(tx)
		ds, _ := storage.ListDatasets(tx)
		if len(runs) != 1 || len(ds) != 1 || ds[0].ID != 1 || ds[0].Count != 10 {
			t.Errorf("runs %+v datasets %+v", runs, ds)
		}
		if _, err := storage.GetSynthRun(tx, 99); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("missing run: %v", err)
		}
		return nil
	})
}

func TestTrainRunMetricsRolloutsCheckpoints(t *testing.T) {
	db, _ := openTemp(t)
	run := storage.TrainRun{Name: "r", Status: "running"}
	if err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		t.Fatal(err)
	}
	w := db.NewMetricsWriter(run.ID)
	w.FlushPoints = 5
	for step := int64(0); step < 4; step++ {
		if err := w.Step(step, map[string]float64{"loss": float64(step), "reward": 0.5}); err != nil {
			t.Fatal(err)
		}
	}
	if w.Buffered() != 2 { // a commit at step 2 (6 points ≥ 5), then step 3's two
		t.Errorf("buffered = %d, want 2", w.Buffered())
	}
	w.Add(storage.MetricPoint{Step: 4, Name: "pass", Value: math.NaN(), PerEnv: map[string]float64{"maze": 1}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(storage.MetricPoint{Step: 5, Name: "x"}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("add after close: %v", err)
	}
	err := db.Update(func(tx *storage.Tx) error {
		if err := storage.PutRollouts(tx, run.ID, []storage.Rollout{{Step: 1, Env: "maze", Reward: 1}, {Step: 3, Env: "maze", Outcome: "format"}}); err != nil {
			return err
		}
		return storage.AddCheckpoint(tx, run.ID, &storage.Checkpoint{Step: 3, Path: "/ck/3"})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *storage.Tx) error {
		all, err := storage.ListMetrics(tx, run.ID, 0)
		if err != nil || len(all) != 9 {
			t.Fatalf("metrics = %d points, %v", len(all), err)
		}
		if all[0].Name != "loss" || all[1].Name != "reward" || all[2].Step != 1 {
			t.Errorf("order: %+v", all[:3])
		}
		last := all[8]
		if last.Step != 4 || !math.IsNaN(last.Value) || last.PerEnv["maze"] != 1 {
			t.Errorf("last = %+v", last)
		}
		from3, _ := storage.ListMetrics(tx, run.ID, 3)
		if len(from3) != 3 {
			t.Errorf("from step 3: %d points", len(from3))
		}
		if s, ok, _ := storage.LastMetricStep(tx, run.ID); !ok || s != 4 {
			t.Errorf("last step %d %v", s, ok)
		}
		rs, _ := storage.ListRollouts(tx, run.ID, 2, 3)
		cks, _ := storage.ListCheckpoints(tx, run.ID)
		if len(rs) != 1 || rs[0].Outcome != "format" || len(cks) != 1 || cks[0].Path != "/ck/3" {
			t.Errorf("rollouts %+v checkpoints %+v", rs, cks)
		}
		return nil
	})
	missing := db.NewMetricsWriter(42)
	missing.Add(storage.MetricPoint{Name: "x"})
	if err := missing.Flush(); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("metrics for a missing run: %v, want ErrNotFound", err)
	}
}

func TestSettings(t *testing.T) {
	db, _ := openTemp(t)
	db.Update(func(tx *storage.Tx) error {
		storage.PutSetting(tx, "ui.theme", "dark")
		storage.PutSetting(tx, "gone", "x")
		return storage.PutSetting(tx, "gone", "")
	})
	db.View(func(tx *storage.Tx) error {
		if v, ok := storage.GetSetting(tx, "ui.theme"); !ok || v != "dark" {
			t.Errorf("ui.theme = %q %v", v, ok)
		}
		if all := storage.ListSettings(tx); len(all) != 1 {
			t.Errorf("settings = %v", all)
		}
		return nil
	})
}

func TestBackupWhileWriting(t *testing.T) {
	db, _ := openTemp(t)
	run := storage.TrainRun{}
	db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := db.NewMetricsWriter(run.ID)
		for step := int64(0); ; step++ {
			select {
			case <-stop:
				w.Close()
				return
			default:
			}
			w.Add(storage.MetricPoint{Step: step, Name: "loss", Value: 1})
			w.Flush()
		}
	}()
	out := filepath.Join(t.TempDir(), "backup.db")
	_, err := db.BackupFile(out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b, err := storage.Open(out, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if problems, err := b.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("backup check: %v %v", problems, err)
	}
	if _, err := db.BackupFile(db.Path()); !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("backup onto the store itself: %v", err)
	}
	var buf bytes.Buffer
	if n, err := db.Backup(&buf); err != nil || n != int64(buf.Len()) {
		t.Errorf("Backup: %d bytes, buffer %d, %v", n, buf.Len(), err)
	}
}

func TestCheckHealthyStore(t *testing.T) {
	db, _ := openTemp(t)
	db.Update(func(tx *storage.Tx) error {
		return storage.PutEnv(tx, &storage.Env{Name: "a", Source: "x", Status: storage.StatusCandidate})
	})
	problems, err := db.Check()
	if err != nil || len(problems) != 0 {
		t.Fatalf("problems %v, err %v", problems, err)
	}
	in, _ := db.Info()
	if in.Counts.Envs != 1 || in.Counts.EnvRevisions != 1 {
		t.Errorf("counts = %+v", in.Counts)
	}
}

// TestMetricsWriterCommitsOnItsOwn: a point added and never flushed is
// committed by the writer's timer, so that a viewer in another process sees
// a step however long the trainer takes for the next one.
func TestMetricsWriterCommitsOnItsOwn(t *testing.T) {
	db, path := openTemp(t)
	run := storage.TrainRun{}
	if err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		t.Fatal(err)
	}
	w := db.NewMetricsWriter(run.ID)
	w.FlushInterval = 20 * time.Millisecond
	if err := w.Step(1, map[string]float64{"reward": 0.5}); err != nil {
		t.Fatal(err)
	}
	viewer, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	// The wall clock only as a last resort: the commit comes long before.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var last int64
		var ok bool
		if err := viewer.View(func(tx *storage.Tx) error {
			var err error
			last, ok, err = storage.LastMetricStep(tx, run.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if ok && last == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a point added %v ago is not committed (buffered: %d)", 10*time.Second, w.Buffered())
		}
	}
	if w.Buffered() != 0 {
		t.Errorf("%d points still buffered after the timed commit", w.Buffered())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
