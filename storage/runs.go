package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// RunKind names the kinds of run whose liveness the store tracks.
type RunKind uint8

const (
	RunSynth RunKind = 1 // a synthesis run (SynthRun)
	RunTrain RunKind = 2 // a training run (TrainRun)
	// RunExperiment is an experiment over training runs (Experiment).
	RunExperiment RunKind = 3
)

func (k RunKind) String() string {
	switch k {
	case RunSynth:
		return "synthesis run"
	case RunTrain:
		return "training run"
	case RunExperiment:
		return "experiment"
	}
	return fmt.Sprintf("run kind %d", uint8(k))
}

// ParseID reads the number of a run of kind as a person types it: a
// whole number from 1, with nothing around it.
func ParseID(s string, kind RunKind) (uint64, error) {
	var id uint64
	if _, err := fmt.Sscan(s, &id); err != nil || id == 0 || fmt.Sprint(id) != s {
		return 0, fmt.Errorf("%q is not a run number (%ss are numbered from 1)", s, kind)
	}
	return id, nil
}

// RunStatus is where a synthesis or training run stands (SynthRun.Status,
// TrainRun.Status). A run is stored RunRunning while a process runs it and
// ends in one of the others; RunInterrupted is only ever read, never
// stored.
type RunStatus string

const (
	RunRunning    RunStatus = "running"
	RunDone       RunStatus = "done"       // finished: every step, or every candidate with a final verdict
	RunIncomplete RunStatus = "incomplete" // synthesis: some candidates ended in an LLM error; resume retries them
	RunCancelled  RunStatus = "cancelled"  // synthesis: stopped by its user (Ctrl-C); resume continues
	RunStopped    RunStatus = "stopped"    // training: stopped by its user after a checkpoint; resume continues
	RunFailed     RunStatus = "failed"     // could not go on; the run's Error says why
	// RunInterrupted is the status a run is read with when its record says
	// "running" but no process runs it any more: it was killed (kill -9, a
	// crash, a power cut) before it could record how it ended. The run can
	// be resumed.
	RunInterrupted RunStatus = "interrupted"
)

// RunHold is a process's claim to be running a run: while it is held, other
// processes read the run with its stored status; once it is released, or
// the process that held it has ended in any way, a run stored as "running"
// reads as RunInterrupted. The claim is a lock on the store file that the
// kernel drops when the process ends, so a killed process leaves nothing
// stale behind.
type RunHold struct {
	f    *os.File
	once sync.Once
}

// Release gives the claim up (the run should have recorded its end first).
// Safe to call more than once, and on nil.
func (h *RunHold) Release() {
	if h == nil {
		return
	}
	h.once.Do(func() { h.f.Close() })
}

// HoldRun claims run id of kind for this process, inside the transaction
// that creates or resumes it, so that no reader ever sees the new run
// without its claim. If the transaction does not commit, the claim is
// released. Another live process's claim is ErrRunBusy.
func (tx *Tx) HoldRun(kind RunKind, id uint64) (*RunHold, error) {
	if !tx.Writable() {
		return nil, fmt.Errorf("holding %s %d: %w", kind, id, ErrReadOnly)
	}
	path := tx.s.db.path
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("holding %s %d: %w", kind, id, err)
	}
	if st, err := f.Stat(); err != nil || !os.SameFile(st, tx.s.info) {
		f.Close()
		return nil, fmt.Errorf("holding %s %d: %s was replaced during the transaction", kind, id, path)
	}
	switch err := rangeLock(f, runLockOffset(kind, id), true, false, tx.s.deadline()); {
	case errors.Is(err, errLockBusy):
		f.Close()
		return nil, fmt.Errorf("%s %d: %w", kind, id, ErrRunBusy)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("holding %s %d: %w", kind, id, err)
	}
	h := &RunHold{f: f}
	tx.s.holds = append(tx.s.holds, h)
	return h, nil
}

// RunLive reports whether some process holds run id of kind (HoldRun).
// Where the platform cannot tell, it says true.
func (tx *Tx) RunLive(kind RunKind, id uint64) bool {
	held, err := rangeLocked(tx.s.f, runLockOffset(kind, id))
	return err != nil || held
}

// runStatus is the status a run is read with: a stored "running" that no
// process holds is RunInterrupted.
func (tx *Tx) runStatus(kind RunKind, id uint64, stored RunStatus) RunStatus {
	if stored == RunRunning && !tx.RunLive(kind, id) {
		return RunInterrupted
	}
	return stored
}

func runLockOffset(kind RunKind, id uint64) int64 {
	return lockRunBase + int64(kind)<<40 + int64(id&(1<<40-1))
}
