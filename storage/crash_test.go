package storage_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"resyn/storage"
)

// The crash and lock tests re-execute this test binary as a helper process;
// helperEnv says which helper (and the store path follows in helperPath).
const (
	helperEnv  = "RESYN_STORAGE_HELPER"
	helperPath = "RESYN_STORAGE_HELPER_DB"
	helperTag  = "RESYN_STORAGE_HELPER_TAG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "writer":
		writerMain(os.Getenv(helperPath), os.Getenv(helperTag))
	case "holder":
		holderMain(os.Getenv(helperPath), os.Getenv(helperTag))
	case "trainer":
		trainerMain(os.Getenv(helperPath))
	case "synth":
		synthMain(os.Getenv(helperPath))
	case "reader":
		readerMain(os.Getenv(helperPath))
	case "hog":
		hogMain()
	}
	os.Exit(0)
}

// metricsPerStep is how many points the writer commits per step.
const metricsPerStep = 100

// writerMain streams environment edits and metric steps into the store and
// prints one acknowledgement line after each committed write:
//
//	run ID
//	env NAME REVISION
//	metrics RUN STEP
func writerMain(path, tag string) {
	// RESYN_STORAGE_HELPER_PAUSE paces the writer (a Go duration between
	// steps); the crash test leaves it unset and writes flat out.
	pause, _ := time.ParseDuration(os.Getenv("RESYN_STORAGE_HELPER_PAUSE"))
	fail := func(err error) { fmt.Fprintln(os.Stderr, "writer:", err); os.Exit(2) }
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		fail(err)
	}
	run := storage.TrainRun{Name: tag}
	if err := db.Update(func(tx *storage.Tx) error { return storage.CreateTrainRun(tx, &run) }); err != nil {
		fail(err)
	}
	out := bufio.NewWriter(os.Stdout)
	ack := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...); out.Flush() }
	ack("run %d", run.ID)
	w := db.NewMetricsWriter(run.ID)
	name := "crash_" + tag
	for step := int64(0); ; step++ {
		var e storage.Env
		err := db.Update(func(tx *storage.Tx) error {
			cur, err := storage.GetEnv(tx, name)
			if errors.Is(err, storage.ErrNotFound) {
				cur = storage.Env{Name: name, Status: storage.StatusCandidate}
			} else if err != nil {
				return err
			}
			e = cur
			e.Source = fmt.Sprintf("# edit %d\n%s", cur.Revision+1, strings.Repeat("x = 1\n", int(step%50)))
			return storage.PutEnv(tx, &e)
		})
		if err != nil {
			fail(err)
		}
		ack("env %s %d", name, e.Revision)
		pts := make([]storage.MetricPoint, metricsPerStep)
		for i := range pts {
			pts[i] = storage.MetricPoint{Step: step, Name: fmt.Sprintf("m%03d", i), Value: float64(step*1000 + int64(i)),
				PerEnv: map[string]float64{name: float64(i)}}
		}
		if err := w.Add(pts...); err != nil {
			fail(err)
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		ack("metrics %d %d", run.ID, step)
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// holderMain opens the store and hangs inside a transaction — a View when
// tag is "view", an Update when "update" — until stdin closes; with tag
// "open" it only opens the store and waits (holding nothing).
func holderMain(path, tag string) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(2)
	}
	hold := func(*storage.Tx) error {
		fmt.Println("holding")
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
	switch tag {
	case "view":
		err = db.View(hold)
	case "update":
		err = db.Update(hold)
	default:
		err = hold(nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(2)
	}
	db.Close()
}

func helper(t *testing.T, kind, path, tag string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, helperPath+"="+path, helperTag+"="+tag)
	cmd.Stderr = os.Stderr
	return cmd
}

type acks struct {
	envs    map[string]uint64         // name → highest acknowledged revision
	metrics map[uint64]map[int64]bool // run → acknowledged steps
}

func TestCrashSafety(t *testing.T) {
	rounds := 5
	if os.Getenv("RESYN_LONG") != "" {
		rounds = 50
	}
	path := filepath.Join(t.TempDir(), "resyn.db")
	got := acks{envs: map[string]uint64{}, metrics: map[uint64]map[int64]bool{}}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	total := 0
	for round := 0; round < rounds; round++ {
		// Two writer tags alternate so that later rounds edit environments
		// that earlier rounds created (a history that keeps growing).
		cmd := helper(t, "writer", path, fmt.Sprint(round%2))
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			r := bufio.NewReader(stdout)
			for {
				line, err := r.ReadString('\n')
				if err != nil { // a line cut short by the kill is no acknowledgement
					close(lines)
					return
				}
				lines <- strings.TrimSpace(line)
			}
		}()
		// Wait for the writer to be writing, then kill it at a random moment.
		<-lines
		killAt := time.After(time.Duration(rng.Intn(150)) * time.Millisecond)
		killed := false
		for line := range lines {
			record(t, &got, line)
			total++
			if !killed {
				select {
				case <-killAt:
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				default:
				}
			}
		}
		if !killed {
			t.Fatalf("round %d: the writer stopped before it was killed", round)
		}
		cmd.Wait()
		verify(t, path, got)
	}
	t.Logf("%d rounds, %d acknowledged writes verified", rounds, total)
}

func record(t *testing.T, a *acks, line string) {
	var name string
	var id, rev uint64
	var step int64
	switch {
	case strings.HasPrefix(line, "env "):
		fmt.Sscanf(line, "env %s %d", &name, &rev)
		a.envs[name] = max(a.envs[name], rev)
	case strings.HasPrefix(line, "metrics "):
		fmt.Sscanf(line, "metrics %d %d", &id, &step)
		if a.metrics[id] == nil {
			a.metrics[id] = map[int64]bool{}
		}
		a.metrics[id][step] = true
	case strings.HasPrefix(line, "run "):
	default:
		t.Fatalf("writer said %q", line)
	}
}

// verify opens the store as the next resyn would, runs the consistency
// check, and looks for every acknowledged write.
func verify(t *testing.T, path string, a acks) {
	t.Helper()
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatalf("reopening after kill: %v", err)
	}
	defer db.Close()
	problems, err := db.Check()
	if err != nil || len(problems) > 0 {
		t.Fatalf("check after kill: %v %v", problems, err)
	}
	err = db.View(func(tx *storage.Tx) error {
		for name, rev := range a.envs {
			hist, err := storage.EnvHistory(tx, name)
			if err != nil {
				return err
			}
			if uint64(len(hist)) < rev {
				return fmt.Errorf("%s: %d revisions stored, %d acknowledged", name, len(hist), rev)
			}
			for i, e := range hist {
				if !strings.HasPrefix(e.Source, fmt.Sprintf("# edit %d\n", i+1)) {
					return fmt.Errorf("%s revision %d holds %q", name, i+1, e.Source)
				}
			}
		}
		for run, steps := range a.metrics {
			pts, err := storage.ListMetrics(tx, run, 0)
			if err != nil {
				return err
			}
			per := map[int64]int{}
			for _, p := range pts {
				if p.Value != float64(p.Step*1000)+float64(p.PerEnv["crash_0"]+p.PerEnv["crash_1"]) {
					return fmt.Errorf("run %d step %d %s = %v", run, p.Step, p.Name, p.Value)
				}
				per[p.Step]++
			}
			for s := range steps {
				if per[s] != metricsPerStep {
					return fmt.Errorf("run %d step %d: %d points stored, %d acknowledged", run, s, per[s], metricsPerStep)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAnOpenStoreHoldsNothing: a process that has the store open, but is in
// no transaction, keeps nobody out; one hung inside a transaction makes the
// others' conflicting transactions fail with ErrLocked naming the file after
// their lock wait — never a hang — while compatible ones go on.
func TestAnOpenStoreHoldsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	for _, tc := range []struct {
		hold                 string
		readOK, writeBlocked bool
	}{
		{"open", true, false},
		{"view", true, true},
		{"update", false, true},
	} {
		cmd := helper(t, "holder", path, tc.hold)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "holding\n" {
			t.Fatalf("%s: holder said %q, %v", tc.hold, line, err)
		}
		db, err := storage.Open(path, storage.Options{LockWait: 300 * time.Millisecond})
		if tc.hold == "update" {
			// Open itself reads: it waits for the writer, and says so.
			if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: open = %v, want ErrLocked naming the file", tc.hold, err)
			}
		} else if err != nil {
			t.Fatalf("%s: open: %v", tc.hold, err)
		}
		if db != nil {
			err := db.View(func(tx *storage.Tx) error { _, err := storage.ListEnvs(tx); return err })
			if tc.readOK != (err == nil) {
				t.Errorf("%s: read = %v, want ok=%v", tc.hold, err, tc.readOK)
			}
			err = db.Update(func(tx *storage.Tx) error { return storage.PutSetting(tx, "k", "v") })
			if tc.writeBlocked {
				if !errors.Is(err, storage.ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another resyn") {
					t.Errorf("%s: write = %v, want ErrLocked naming the file", tc.hold, err)
				}
			} else if err != nil {
				t.Errorf("%s: write: %v", tc.hold, err)
			}
			db.Close()
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: holder: %v", tc.hold, err)
		}
	}
}
