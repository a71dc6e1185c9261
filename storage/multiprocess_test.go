package storage_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"resyn/storage"
)

// The helpers below play the processes that share a store in daily use: a
// trainer logging metrics and rollouts, a synthesizer appending to its log,
// storing candidates and saving its token usage from several goroutines at
// once, and readers (the workbench, `resyn synth runs`, …) looking at all of
// it. Each prints one acknowledgement line per committed write.

func ackWriter() func(format string, args ...any) {
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	return func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		mu.Unlock()
	}
}

func helperFail(who string, err error) {
	fmt.Fprintln(os.Stderr, who+":", err)
	os.Exit(2)
}

// trainerMain creates a training run it holds, then logs a step of metrics
// after another (flat out) and a rollout every fifth step:
//
//	trainrun ID
//	metrics RUN STEP
//	rollout RUN STEP
func trainerMain(path string) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		helperFail("trainer", err)
	}
	ack := ackWriter()
	run := storage.TrainRun{Name: "mp", Status: "running"}
	if err := db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		_, err := tx.HoldRun(storage.RunTrain, run.ID)
		return err
	}); err != nil {
		helperFail("trainer", err)
	}
	ack("trainrun %d", run.ID)
	w := db.NewMetricsWriter(run.ID)
	for step := int64(0); ; step++ {
		pts := make([]storage.MetricPoint, metricsPerStep)
		for i := range pts {
			pts[i] = storage.MetricPoint{Step: step, Name: fmt.Sprintf("m%03d", i), Value: float64(step*1000 + int64(i))}
		}
		if err := w.Add(pts...); err != nil {
			helperFail("trainer", err)
		}
		if err := w.Flush(); err != nil {
			helperFail("trainer", err)
		}
		ack("metrics %d %d", run.ID, step)
		if step%5 == 0 {
			r := storage.Rollout{Step: step, Env: "mp", Prompt: "p", Completion: fmt.Sprint(step), Outcome: "ok", Reward: 1}
			if err := db.Batch(func(tx *storage.Tx) error { return storage.PutRollouts(tx, run.ID, []storage.Rollout{r}) }); err != nil {
				helperFail("trainer", err)
			}
			ack("rollout %d %d", run.ID, step)
		}
	}
}

// synthMain creates a synthesis run it holds, then appends log entries and
// stores candidate revisions one after another, while four goroutines save
// growing token usage through Batch:
//
//	synthrun ID
//	log RUN SEQ
//	env NAME REVISION
//	usage RUN REQUESTS
func synthMain(path string) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		helperFail("synth", err)
	}
	ack := ackWriter()
	run := storage.SynthRun{Status: "running"}
	if err := db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateSynthRun(tx, &run); err != nil {
			return err
		}
		_, err := tx.HoldRun(storage.RunSynth, run.ID)
		return err
	}); err != nil {
		helperFail("synth", err)
	}
	ack("synthrun %d", run.ID)
	var mu sync.Mutex
	requests := int64(0)
	for g := 0; g < 4; g++ {
		go func() {
			for {
				err := db.Batch(func(tx *storage.Tx) error {
					mu.Lock()
					requests++
					r := run
					r.Usage.Requests = requests
					mu.Unlock()
					return storage.PutSynthRun(tx, &r)
				})
				if err != nil {
					helperFail("synth", err)
				}
				mu.Lock()
				n := requests
				mu.Unlock()
				ack("usage %d %d", run.ID, n)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for i := 0; ; i++ {
		e := storage.SynthLogEntry{Candidate: fmt.Sprint(i), Stage: "validate", Message: fmt.Sprintf("candidate %d", i)}
		if err := db.Update(func(tx *storage.Tx) error { return storage.AppendSynthLog(tx, run.ID, &e) }); err != nil {
			helperFail("synth", err)
		}
		ack("log %d %d", run.ID, e.Seq)
		name := fmt.Sprintf("mp_synth_%d", i%5)
		var env storage.Env
		err := db.Update(func(tx *storage.Tx) error {
			cur, err := storage.GetEnv(tx, name)
			if errors.Is(err, storage.ErrNotFound) {
				cur = storage.Env{Name: name, Status: storage.StatusCandidate}
			} else if err != nil {
				return err
			}
			env = cur
			env.Source = fmt.Sprintf("# edit %d\n", cur.Revision+1)
			return storage.PutEnv(tx, &env)
		})
		if err != nil {
			helperFail("synth", err)
		}
		ack("env %s %d", name, env.Revision)
	}
}

// readerMain reads everything again and again, checking that no snapshot
// ever goes back in time (fewer metric steps, revisions or log entries than
// an earlier one), and prints "read N" after each snapshot.
func readerMain(path string) {
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		helperFail("reader", err)
	}
	ack := ackWriter()
	high := map[string]int64{}
	for n := 0; ; n++ {
		seen := map[string]int64{}
		err := db.View(func(tx *storage.Tx) error {
			runs, err := storage.ListTrainRuns(tx)
			if err != nil {
				return err
			}
			for _, r := range runs {
				if last, ok, err := storage.LastMetricStep(tx, r.ID); err != nil {
					return err
				} else if ok {
					seen[fmt.Sprintf("train %d", r.ID)] = last
				}
			}
			sruns, err := storage.ListSynthRuns(tx)
			if err != nil {
				return err
			}
			for _, r := range sruns {
				log, err := storage.ListSynthLog(tx, r.ID, 0)
				if err != nil {
					return err
				}
				seen[fmt.Sprintf("synth %d", r.ID)] = int64(len(log))
				seen[fmt.Sprintf("usage %d", r.ID)] = r.Usage.Requests
			}
			envs, err := storage.ListEnvs(tx)
			for _, e := range envs {
				seen["env "+e.Name] = int64(e.Revision)
			}
			return err
		})
		if err != nil {
			helperFail("reader", err)
		}
		for k, v := range seen {
			if v < high[k] {
				helperFail("reader", fmt.Errorf("snapshot %d went back in time: %s = %d after %d", n, k, v, high[k]))
			}
			high[k] = v
		}
		ack("read %d", n)
	}
}

// hogMain keeps every core busy until it is killed.
func hogMain() {
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			x := uint64(1)
			for {
				x = x*6364136223846793005 + 1442695040888963407
			}
		}()
	}
	select {}
}

// startHog starts a process that keeps every core busy for the rest of the
// test.
func startHog(t *testing.T) {
	t.Helper()
	hog := helper(t, "hog", "", "")
	if err := hog.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hog.Process.Kill(); hog.Wait() })
}

// proc is a running helper and the acknowledgements it has printed.
type proc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
}

func startProc(t *testing.T, kind, path, tag string) *proc {
	t.Helper()
	cmd := helper(t, kind, path, tag)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: kind, cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil { // a line cut short by the kill is no acknowledgement
				close(p.lines)
				return
			}
			p.lines <- strings.TrimSpace(line)
		}
	}()
	return p
}

// mpAcks is what the processes acknowledged.
type mpAcks struct {
	mu       sync.Mutex
	metrics  map[uint64]map[int64]bool // train run → steps
	rollouts map[uint64]map[int64]bool // train run → steps
	logs     map[uint64]uint64         // synth run → highest seq
	usage    map[uint64]int64          // synth run → highest saved request count
	envs     map[string]uint64         // name → highest revision
	reads    map[string]int            // reader → snapshots
	trainRun uint64
	synthRun uint64
}

func (a *mpAcks) record(t *testing.T, who, line string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var id, n uint64
	var step int64
	var name string
	switch f := strings.Fields(line); f[0] {
	case "trainrun":
		fmt.Sscanf(line, "trainrun %d", &a.trainRun)
	case "synthrun":
		fmt.Sscanf(line, "synthrun %d", &a.synthRun)
	case "metrics", "rollout":
		fmt.Sscanf(f[1]+" "+f[2], "%d %d", &id, &step)
		m := a.metrics
		if f[0] == "rollout" {
			m = a.rollouts
		}
		if m[id] == nil {
			m[id] = map[int64]bool{}
		}
		m[id][step] = true
	case "log":
		fmt.Sscanf(line, "log %d %d", &id, &n)
		a.logs[id] = max(a.logs[id], n)
	case "usage":
		fmt.Sscanf(line, "usage %d %d", &id, &n)
		a.usage[id] = max(a.usage[id], int64(n))
	case "env":
		fmt.Sscanf(line, "env %s %d", &name, &n)
		a.envs[name] = max(a.envs[name], n)
	case "read":
		a.reads[who]++
	default:
		t.Errorf("%s said %q", who, line)
	}
}

// TestManyProcessesOneStore runs a trainer, a synthesizer and two readers on
// one file at once — every reader sees the writers' progress while they
// write, and no snapshot goes back in time — then kills each with kill -9 at
// a random moment, in a random order, and checks that every acknowledged
// write is in the store, that it passes the full check, and that the two
// runs, whose processes are gone, read as interrupted.
func TestManyProcessesOneStore(t *testing.T) {
	rounds := 2
	if os.Getenv("RESYN_LONG") != "" {
		rounds = 8
	}
	path := filepath.Join(t.TempDir(), "resyn.db")
	if db, err := storage.Open(path, storage.Options{}); err != nil {
		t.Fatal(err)
	} else {
		db.Close()
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 0; round < rounds; round++ {
		a := &mpAcks{metrics: map[uint64]map[int64]bool{}, rollouts: map[uint64]map[int64]bool{},
			logs: map[uint64]uint64{}, usage: map[uint64]int64{}, envs: map[string]uint64{}, reads: map[string]int{}}
		procs := []*proc{
			startProc(t, "trainer", path, ""),
			startProc(t, "synth", path, ""),
			startProc(t, "reader", path, "1"),
			startProc(t, "reader", path, "2"),
		}
		procs[2].name, procs[3].name = "reader 1", "reader 2"
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for line := range p.lines {
					a.record(t, p.name, line)
				}
			}()
		}
		// Let everyone make progress together: each reader takes many
		// snapshots while both writers keep committing.
		enough := func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return len(a.metrics[a.trainRun]) >= 30 && a.logs[a.synthRun] >= 15 &&
				a.reads["reader 1"] >= 20 && a.reads["reader 2"] >= 20
		}
		for !enough() {
			for _, p := range procs {
				if p.cmd.ProcessState != nil {
					t.Fatalf("round %d: %s stopped early", round, p.name)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		rng.Shuffle(len(procs), func(i, j int) { procs[i], procs[j] = procs[j], procs[i] })
		for _, p := range procs {
			time.Sleep(time.Duration(rng.Intn(30)) * time.Millisecond)
			p.cmd.Process.Signal(syscall.SIGKILL)
		}
		wg.Wait()
		for _, p := range procs {
			err := p.cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("round %d: %s ended with %v before it was killed", round, p.name, err)
			}
		}
		verifyMP(t, path, a)
		t.Logf("round %d: %d metric steps, %d log entries, %d and %d snapshots, usage %d, all kept",
			round, len(a.metrics[a.trainRun]), a.logs[a.synthRun], a.reads["reader 1"], a.reads["reader 2"], a.usage[a.synthRun])
	}
}

func verifyMP(t *testing.T, path string, a *mpAcks) {
	t.Helper()
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatalf("reopening after the kills: %v", err)
	}
	defer db.Close()
	if problems, err := db.Check(); err != nil || len(problems) > 0 {
		t.Fatalf("check after the kills: %v %v", problems, err)
	}
	err = db.View(func(tx *storage.Tx) error {
		tr, err := storage.GetTrainRun(tx, a.trainRun)
		if err != nil {
			return err
		}
		if tr.Status != storage.RunInterrupted {
			return fmt.Errorf("training run %d of a killed process reads as %q, want %q", tr.ID, tr.Status, storage.RunInterrupted)
		}
		sr, err := storage.GetSynthRun(tx, a.synthRun)
		if err != nil {
			return err
		}
		if sr.Status != storage.RunInterrupted {
			return fmt.Errorf("synthesis run %d of a killed process reads as %q, want %q", sr.ID, sr.Status, storage.RunInterrupted)
		}
		if sr.Usage.Requests < a.usage[a.synthRun] {
			return fmt.Errorf("synthesis run usage %d stored, %d acknowledged", sr.Usage.Requests, a.usage[a.synthRun])
		}
		pts, err := storage.ListMetrics(tx, a.trainRun, 0)
		if err != nil {
			return err
		}
		per := map[int64]int{}
		for _, p := range pts {
			per[p.Step]++
		}
		for s := range a.metrics[a.trainRun] {
			if per[s] != metricsPerStep {
				return fmt.Errorf("step %d: %d points stored, %d acknowledged", s, per[s], metricsPerStep)
			}
		}
		rs, err := storage.ListRollouts(tx, a.trainRun, 0, 1<<62)
		if err != nil {
			return err
		}
		have := map[int64]bool{}
		for _, r := range rs {
			have[r.Step] = true
		}
		for s := range a.rollouts[a.trainRun] {
			if !have[s] {
				return fmt.Errorf("rollout of step %d acknowledged, not stored", s)
			}
		}
		log, err := storage.ListSynthLog(tx, a.synthRun, 0)
		if err != nil {
			return err
		}
		if uint64(len(log)) < a.logs[a.synthRun] {
			return fmt.Errorf("%d log entries stored, %d acknowledged", len(log), a.logs[a.synthRun])
		}
		for name, rev := range a.envs {
			h, err := storage.EnvHistory(tx, name)
			if err != nil {
				return err
			}
			if uint64(len(h)) < rev {
				return fmt.Errorf("%s: %d revisions stored, %d acknowledged", name, len(h), rev)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestKilledRunsReadAsInterrupted: a run is live while its process runs
// (another process cannot take it over), reads as interrupted once that
// process is killed, and can then be taken up (resumed) by another.
func TestKilledRunsReadAsInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resyn.db")
	p := startProc(t, "trainer", path, "")
	var run uint64
	for line := range p.lines {
		if _, err := fmt.Sscanf(line, "trainrun %d", &run); err == nil {
			break
		}
	}
	go func() {
		for range p.lines {
		}
	}()
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	status := func() storage.RunStatus {
		var r storage.TrainRun
		if err := db.View(func(tx *storage.Tx) error { r, err = storage.GetTrainRun(tx, run); return err }); err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if s := status(); s != "running" {
		t.Fatalf("a live run reads as %q", s)
	}
	err = db.Update(func(tx *storage.Tx) error { _, err := tx.HoldRun(storage.RunTrain, run); return err })
	if !errors.Is(err, storage.ErrRunBusy) {
		t.Fatalf("taking over a live run: %v, want ErrRunBusy", err)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	if s := status(); s != storage.RunInterrupted {
		t.Fatalf("the run of a killed process reads as %q", s)
	}
	var hold *storage.RunHold
	if err := db.Update(func(tx *storage.Tx) error {
		var err error
		hold, err = tx.HoldRun(storage.RunTrain, run)
		return err
	}); err != nil {
		t.Fatalf("resuming an interrupted run: %v", err)
	}
	if s := status(); s != "running" {
		t.Fatalf("a resumed run reads as %q", s)
	}
	hold.Release()
	if s := status(); s != storage.RunInterrupted {
		t.Fatalf("a released run still stored as running reads as %q", s)
	}
	// A claim taken in a transaction that does not commit is released.
	errBoom := errors.New("boom")
	err = db.Update(func(tx *storage.Tx) error {
		if _, err := tx.HoldRun(storage.RunTrain, run); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if s := status(); s != storage.RunInterrupted {
		t.Fatalf("a claim rolled back with its transaction still holds the run: %q", s)
	}
}

// TestBackupWhileAWriterCommitsFlatOut: a writer process commits as fast as
// it can (no pacing) while live backups are taken, in the long suite with
// a CPU hog on every core and 20 backups: every backup succeeds at the first
// try, passes the full check and holds every write acknowledged before it
// began. (The backup holds the store's shared lock for its copy, and the
// turnstile puts it next in line, so a busy writer cannot starve it.)
func TestBackupWhileAWriterCommitsFlatOut(t *testing.T) {
	backups := 3
	if os.Getenv("RESYN_LONG") != "" {
		backups = 20
		startHog(t)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "resyn.db")
	w := startProc(t, "writer", path, "live")
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	var mu sync.Mutex
	var runID uint64
	lastStep := int64(-1)
	first := make(chan struct{})
	go func() {
		once := sync.Once{}
		for line := range w.lines {
			var id uint64
			var step int64
			if n, _ := fmt.Sscanf(line, "metrics %d %d", &id, &step); n == 2 {
				mu.Lock()
				runID, lastStep = id, step
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		}
	}()
	<-first
	db, err := storage.Open(path, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	worst := uint64(0)
	for i := 0; i < backups; i++ {
		mu.Lock()
		id, acked := runID, lastStep
		mu.Unlock()
		out := filepath.Join(dir, fmt.Sprintf("backup%d.db", i))
		var before uint64
		storage.SetQueued(func(p string) {
			if p == path {
				before = committedTxid(t, path)
			}
		})
		_, err := db.BackupFile(out)
		storage.SetQueued(nil)
		if err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		// Once in the queue, the backup waited for the transaction in
		// progress at most: a busy writer cannot commit again and again
		// before it (a commit more is allowed for a meta page being
		// written as it was read).
		if got := committedTxid(t, out); got > before+2 {
			t.Fatalf("backup %d: %d commits landed while it waited for the lock (transaction %d when it asked, %d in the copy)", i, got-before, before, got)
		} else {
			worst = max(worst, got-before)
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
		mu.Lock()
		after := lastStep
		mu.Unlock()
		t.Logf("backup %d: steps up to %d (acknowledged before: %d, by the end: %d)", i, last, acked, after)
	}
	mu.Lock()
	final := lastStep
	mu.Unlock()
	if final < 0 {
		t.Fatal("the writer made no progress")
	}
	t.Logf("at most %d commits landed while a backup waited for its lock", worst)
	if _, err := db.BackupFile(path); err == nil || !strings.Contains(err.Error(), "the store itself") {
		t.Errorf("backup onto the store itself: %v", err)
	}
}

// committedTxid reads the newest committed transaction id from the two meta
// pages of a bbolt file, without any lock (a meta page torn by a commit in
// progress fails its checksum and the other one counts).
func committedTxid(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	best := uint64(0)
	pageSize := int64(4096)
	for i := int64(0); i < 2; i++ {
		var m [16 + 64]byte
		if _, err := f.ReadAt(m[:], i*pageSize); err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write(m[16 : 16+56])
		if binary.LittleEndian.Uint64(m[16+56:]) != h.Sum64() {
			continue
		}
		if i == 0 {
			pageSize = int64(binary.LittleEndian.Uint32(m[16+8:]))
		}
		best = max(best, binary.LittleEndian.Uint64(m[16+48:]))
	}
	if best == 0 {
		t.Fatalf("%s: no valid meta page", path)
	}
	return best
}
