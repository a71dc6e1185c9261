package env

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The worker side of the sandbox. The pool starts the resyn binary (or a test
// binary) with workerEnvVar set; main calls WorkerMain before anything else.
// A worker reads requests from stdin and writes responses to stdout with gob;
// it never writes anything else to stdout. If environment code makes it die
// (an allocation past the address-space cap, a stack past its cap) the pool
// reads the reason from its stderr.

const workerEnvVar = "RESYN_ENV_WORKER"

// IsWorkerProcess reports whether this process was started as a sandbox worker.
func IsWorkerProcess() bool { return os.Getenv(workerEnvVar) == "1" }

// RunWorkerIfChild turns the current process into a worker when it was
// started as one, and exits when done; otherwise it returns at once. Test
// binaries of packages that use a Pool call it from TestMain.
func RunWorkerIfChild() {
	if IsWorkerProcess() {
		WorkerMain()
		os.Exit(0)
	}
}

// Worker stack cap: deep enough for any honest recursion (tens of thousands
// of Starlark frames), small enough that runaway recursion dies in
// milliseconds instead of growing a 1 GB stack.
const workerMaxStack = 16 << 20

type request struct {
	Defs   []moduleDef // modules this worker has not loaded yet
	Load   *moduleDef  // a load-only request: check the module, return its metadata
	Tasks  []Task
	Hashes map[string]string // environment name -> source hash, for Tasks
	Limits Limits
}

type moduleDef struct {
	File   string
	Source []byte
	Hash   string
}

type response struct {
	Meta    *Module // for Load
	Err     *Error  // for Load
	Results []Result
}

// WorkerMain serves requests until stdin closes.
func WorkerMain() {
	debug.SetMaxStack(workerMaxStack)
	var lim Limits
	gc := &gcTuner{}
	if err := memCapFromEnv(&lim); err == nil && lim.MaxMemory > 0 {
		installMemoryCap(lim.MaxMemory, gc)
	}
	in := gob.NewDecoder(bufio.NewReaderSize(os.Stdin, 64<<10))
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	out := gob.NewEncoder(w)
	if path := os.Getenv("RESYN_ENV_WORKER_CPUPROFILE"); path != "" {
		// For profiling the worker side of the pool: one file per worker.
		if f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid())); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	mods := map[string]*Module{} // by hash
	dog := startWatchdog()
	gc.tune()
	for {
		var req request
		if err := in.Decode(&req); err != nil {
			if err != io.EOF {
				fmt.Fprintln(os.Stderr, "worker: bad request:", err)
				os.Exit(3)
			}
			return
		}
		var resp response
		for _, d := range req.Defs {
			if _, ok := mods[d.Hash]; ok {
				continue
			}
			m, err := LoadWithLimits(d.File, d.Source, req.Limits)
			if err != nil {
				// Registered modules were checked before; if one fails now,
				// its tasks report it as an unknown environment.
				continue
			}
			mods[d.Hash] = m
		}
		switch {
		case req.Load != nil:
			m, err := LoadWithLimits(req.Load.File, req.Load.Source, req.Limits)
			if err != nil {
				resp.Err = asError(err)
			} else {
				mods[m.Hash] = m
				resp.Meta = &Module{Name: m.Name, Description: m.Description, Tags: m.Tags,
					MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty, HasSolve: m.HasSolve,
					File: m.File, Source: m.Source, Hash: m.Hash}
			}
		default:
			resp.Results = make([]Result, len(req.Tasks))
			for i, t := range req.Tasks {
				m := mods[req.Hashes[t.Env]]
				if m == nil {
					resp.Results[i] = Result{Err: unknownEnv(t.Env)}
					continue
				}
				cpu := processCPU()
				endTask := dog.beginTask(limitsFor(t, req.Limits).TaskCPU)
				resp.Results[i] = runTask(m, t, req.Limits)
				endTask()
				resp.Results[i].CPU = processCPU() - cpu
				if t.State != nil {
					// The pool sent this state; it puts it back itself.
					resp.Results[i].State = nil
				}
			}
		}
		gc.tune()
		if err := out.Encode(&resp); err != nil {
			fmt.Fprintln(os.Stderr, "worker: cannot encode response:", err)
			os.Exit(3)
		}
		if err := w.Flush(); err != nil {
			os.Exit(3)
		}
	}
}

func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Kind: FailRuntime, Msg: err.Error()}
}

// memCapFromEnv reads the memory cap the pool passed in the environment.
func memCapFromEnv(lim *Limits) error {
	var mem int64
	_, err := fmt.Sscan(os.Getenv("RESYN_ENV_WORKER_MEM"), &mem)
	lim.MaxMemory = mem
	return err
}

// installMemoryCap bounds the worker two ways: an address-space limit, so that
// a one-shot allocation of gigabytes fails at once (and kills only this
// process), and a heap watch that cancels the running call when the live heap
// passes the cap, so that gradual growth is reported with its line.
//
// The heap watch also re-tunes the garbage collector (gcTuner), so that a
// call whose live heap grows is collected at Go's default pace long before
// the cap, not 64 MiB of garbage later.
func installMemoryCap(max int64, gc *gcTuner) {
	// Go reserves address space well beyond its heap (gigabytes of
	// PROT_NONE and read-only mappings at start-up), so the cap is what is
	// mapped now plus the heap cap plus headroom for stacks and GC.
	as := uint64(vmSize()) + uint64(max)*2 + 1<<30
	_ = syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: as, Max: as})
	debug.SetMemoryLimit(max)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	memCapped.Store(true)
	go func() {
		for range time.Tick(5 * time.Millisecond) {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 && int64(sample[0].Value.Uint64()) > max {
				cancelAll(cancelMemory)
			}
			gc.tune()
		}
	}()
}

// vmSize is this process's mapped address space in bytes, from /proc.
func vmSize() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 8 << 30
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 8 << 30
}

func defaultWorkers() int { return runtime.NumCPU() }

// gcTuner gives the worker's garbage collector a fixed headroom instead of
// Go's default of 100% of the live heap. A worker's live heap is a few MiB
// (its loaded modules), so at the default the collector runs every few
// instances and took about 40% of a worker's CPU time (BenchmarkEnvPool in
// core/envbench). After each request the GC percentage is set so that the
// next collection comes gcHeadroom bytes above the live heap, between 100%
// and gcMaxPercent: a large live heap keeps the default, so the heap cap
// and its watcher behave as before. (The live heap is known as of the last
// collection; the heap watch re-tunes every 5 ms, so this holds within a
// long call too.)
type gcTuner struct {
	mu      sync.Mutex // tune runs after each request and from the heap watch
	sample  []metrics.Sample
	percent int
}

const (
	gcHeadroom   = 64 << 20
	gcMaxPercent = 1600
)

func (g *gcTuner) tune() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sample == nil {
		g.sample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	}
	metrics.Read(g.sample)
	var live uint64
	if g.sample[0].Value.Kind() == metrics.KindUint64 {
		live = g.sample[0].Value.Uint64()
	}
	p := gcPercentFor(live)
	// Change it only on a real difference: SetGCPercent takes the heap lock.
	if g.percent == 0 || p < g.percent*3/4 || p > g.percent*5/4 {
		debug.SetGCPercent(p)
		g.percent = p
	}
}

// gcPercentFor is the GC percentage that puts the next collection
// gcHeadroom above a live heap of live bytes, within [100, gcMaxPercent].
func gcPercentFor(live uint64) int {
	live = max(live, 1<<20)
	return int(min(max(gcHeadroom*100/live, 100), gcMaxPercent))
}
