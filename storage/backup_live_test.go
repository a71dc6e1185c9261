package storage_test

import (
	"bufio"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"resyn/storage"
)

// BackupLive copies a store that another process keeps writing to
// (environment edits and metric batches, each acknowledged after its commit,
// a step every 2 ms — far busier than a trainer's metric batches): every copy
// opens, passes the full check, and holds every write acknowledged before the
// copy began.
func TestBackupLiveWhileAnotherProcessWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resyn.db")
	cmd := helper(t, "writer", path, "live")
	cmd.Env = append(cmd.Env, "RESYN_STORAGE_HELPER_PAUSE=2ms")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	var mu sync.Mutex
	var runID uint64
	lastStep := int64(-1)
	first := make(chan struct{})
	go func() {
		r := bufio.NewScanner(stdout)
		once := sync.Once{}
		for r.Scan() {
			var id uint64
			var step int64
			if n, _ := fmt.Sscanf(r.Text(), "metrics %d %d", &id, &step); n == 2 {
				mu.Lock()
				runID, lastStep = id, step
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		}
	}()
	<-first
	// The writer holds the lock: an ordinary open is refused.
	if db, err := storage.Open(path, storage.Options{ReadOnly: true}); err == nil {
		db.Close()
		t.Fatal("opened a store another process holds")
	} else if !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("open: %v", err)
	}
	for i := 0; i < 5; i++ {
		mu.Lock()
		id, acked := runID, lastStep
		mu.Unlock()
		out := filepath.Join(dir, fmt.Sprintf("backup%d.db", i))
		if _, err := storage.BackupLive(path, out); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		b, err := storage.Open(out, storage.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("backup %d does not open: %v", i, err)
		}
		problems, err := b.Check()
		if err != nil || len(problems) > 0 {
			t.Fatalf("backup %d: %v %v", i, problems, err)
		}
		var last int64 = -1
		b.View(func(tx *storage.Tx) error {
			ms, err := storage.ListMetrics(tx, id, 0)
			for _, m := range ms {
				last = max(last, m.Step)
			}
			return err
		})
		b.Close()
		if last < acked {
			t.Fatalf("backup %d holds metrics up to step %d; step %d was acknowledged before it began", i, last, acked)
		}
		t.Logf("backup %d: steps up to %d (acknowledged before: %d)", i, last, acked)
	}
	if _, err := storage.BackupLive(path, path); err == nil || !strings.Contains(err.Error(), "the store itself") {
		t.Errorf("backup onto the store itself: %v", err)
	}
}
