package env

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PoolOptions configure a worker pool.
type PoolOptions struct {
	Workers int    // processes; default: one per core
	Limits  Limits // per call; MaxMemory caps each worker
	// Exe is the binary to re-execute as a worker; default os.Executable().
	// Test binaries work too when their TestMain calls RunWorkerIfChild.
	Exe string
}

// Pool runs tasks in worker subprocesses. Environment code that breaks a
// limit comes back as a typed *Error within about a second, and the pool
// keeps serving: a worker that dies is replaced, and the other tasks of its
// batch are re-run on a fresh one.
type Pool struct {
	opts PoolOptions
	jobs chan *job
	quit chan struct{} // closed by Close; jobs is never closed, so a late submit cannot panic
	wg   sync.WaitGroup

	mu   sync.RWMutex
	defs map[string]moduleDef // by environment name

	closeOnce sync.Once
}

type job struct {
	ctx   context.Context
	load  *moduleDef
	tasks []Task
	done  chan response
}

// NewPool starts a pool. Worker processes start lazily, on first use.
func NewPool(opts PoolOptions) (*Pool, error) {
	if opts.Workers <= 0 {
		opts.Workers = defaultWorkers()
	}
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("env pool: cannot find this binary to start workers: %w", err)
		}
		opts.Exe = exe
	}
	p := &Pool{opts: opts, jobs: make(chan *job), quit: make(chan struct{}), defs: map[string]moduleDef{}}
	for i := 0; i < opts.Workers; i++ {
		p.wg.Add(1)
		go p.serve()
	}
	return p, nil
}

// SetLimits replaces the per-call limits of tasks that carry none of their
// own, for the tasks submitted from now on (the memory cap of workers
// already started stays).
func (p *Pool) SetLimits(lim Limits) {
	p.mu.Lock()
	lim.MaxMemory = p.opts.Limits.MaxMemory
	p.opts.Limits = lim
	p.mu.Unlock()
}

// Workers is the number of worker processes.
func (p *Pool) Workers() int { return p.opts.Workers }

// Register makes an already-checked module available to tasks by name. Its
// source is sent to each worker the first time the worker needs it.
func (p *Pool) Register(m *Module) {
	p.mu.Lock()
	p.defs[m.Name] = moduleDef{File: m.File, Source: m.Source, Hash: m.Hash}
	p.mu.Unlock()
}

// Load checks untrusted source in a worker (its top level runs there, not in
// this process) and registers it. The returned Module carries the metadata
// only; run it through the pool.
func (p *Pool) Load(ctx context.Context, file string, src []byte) (*Module, error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Kind: FailContract, Func: "load", Msg: fmt.Sprintf("%s: source is %d bytes, more than the %d allowed", file, len(src), MaxSourceBytes)}
	}
	d := moduleDef{File: file, Source: src, Hash: SourceHash(src)}
	r, err := p.submit(ctx, &job{load: &d})
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	m := r.Meta
	m.File, m.Source = file, src
	p.Register(m)
	return m, nil
}

var errPoolClosed = errors.New("the sandbox pool is closed")

func (p *Pool) submit(ctx context.Context, j *job) (response, error) {
	j.ctx = ctx
	j.done = make(chan response, 1)
	select {
	case p.jobs <- j:
	case <-ctx.Done():
		return response{}, ctx.Err()
	case <-p.quit:
		return response{}, errPoolClosed
	}
	return <-j.done, nil
}

// Run executes tasks, in batches spread over the workers.
func (p *Pool) Run(ctx context.Context, tasks []Task) []Result {
	out := make([]Result, len(tasks))
	if len(tasks) == 0 {
		return out
	}
	// Batches amortise the pipe round trip; keep several per worker so
	// that the load stays balanced.
	size := len(tasks) / (p.opts.Workers * 4)
	size = max(1, min(size, 64))
	var wg sync.WaitGroup
	for lo := 0; lo < len(tasks); lo += size {
		hi := min(lo+size, len(tasks))
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			r, err := p.submit(ctx, &job{tasks: tasks[lo:hi]})
			for i := lo; i < hi; i++ {
				switch {
				case err != nil:
					out[i] = Result{Err: &Error{Kind: FailWorker, Env: tasks[i].Env, Msg: "cancelled: " + err.Error()}}
				case i-lo < len(r.Results):
					out[i] = r.Results[i-lo]
					if out[i].State == nil {
						out[i].State = tasks[i].State // a given state is not sent back
					}
				default:
					out[i] = Result{Err: &Error{Kind: FailWorker, Env: tasks[i].Env, Msg: "no result came back"}}
				}
			}
		}(lo, hi)
	}
	wg.Wait()
	return out
}

// Close stops the workers.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.quit)
		p.wg.Wait()
	})
	return nil
}

// serve is one worker slot: it owns at most one live process at a time.
func (p *Pool) serve() {
	defer p.wg.Done()
	var w *proc
	defer func() {
		if w != nil {
			w.stop()
		}
	}()
	for {
		select {
		case j := <-p.jobs:
			j.done <- p.do(&w, j)
		case <-p.quit:
			return
		}
	}
}

// do runs one job, replacing the process when it dies. A batch whose worker
// died is re-run one task at a time, so that only the task that kills a
// worker is charged with it.
func (p *Pool) do(w **proc, j *job) response {
	r, err := p.roundTrip(w, j)
	if err == nil {
		return r
	}
	if j.load != nil || len(j.tasks) == 1 {
		if j.load != nil {
			return response{Err: err}
		}
		err.Env = j.tasks[0].Env
		return response{Results: []Result{{Err: err}}}
	}
	out := response{Results: make([]Result, len(j.tasks))}
	for i := range j.tasks {
		one := &job{ctx: j.ctx, tasks: j.tasks[i : i+1]}
		ri, err := p.roundTrip(w, one)
		if err != nil {
			err.Env = j.tasks[i].Env
			out.Results[i] = Result{Err: err}
			continue
		}
		out.Results[i] = ri.Results[0]
	}
	return out
}

// roundTrip sends one request and waits for its response, with a deadline
// that backs up the worker's own per-call limits.
func (p *Pool) roundTrip(wp **proc, j *job) (response, *Error) {
	if err := j.ctx.Err(); err != nil {
		return response{}, &Error{Kind: FailWorker, Msg: "cancelled: " + err.Error()}
	}
	if *wp == nil {
		w, err := p.start()
		if err != nil {
			return response{}, &Error{Kind: FailWorker, Msg: err.Error()}
		}
		*wp = w
	}
	w := *wp
	p.mu.RLock()
	lim := p.opts.Limits
	p.mu.RUnlock()
	req := request{Limits: lim, Tasks: j.tasks, Load: j.load}
	calls := 1
	perCall := callDeadline(lim)
	if j.load == nil {
		var newDefs []moduleDef
		req.Hashes = map[string]string{}
		calls = 0
		p.mu.RLock()
		for _, t := range j.tasks {
			calls += 3 + len(t.Answers)
			if t.Limits != nil {
				perCall = max(perCall, callDeadline(*t.Limits))
			}
			d, ok := p.defs[t.Env]
			if !ok {
				continue
			}
			if _, seen := req.Hashes[t.Env]; !seen && !w.loaded[d.Hash] {
				newDefs = append(newDefs, d)
			}
			req.Hashes[t.Env] = d.Hash
		}
		p.mu.RUnlock()
		req.Defs = newDefs
		calls += len(newDefs)
	}
	deadline := time.Duration(calls)*perCall + 2*time.Second
	type reply struct {
		r   response
		err error
	}
	ch := make(chan reply, 1)
	go func() {
		var r response
		err := w.enc.Encode(&req)
		if err == nil {
			err = w.flush()
		}
		if err == nil {
			err = w.dec.Decode(&r)
		}
		ch <- reply{r, err}
	}()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	var rep reply
	reason := ""
	select {
	case rep = <-ch:
	case <-timer.C:
		reason = "deadline"
	case <-j.ctx.Done():
		reason = "cancelled"
	}
	if reason == "" && rep.err == nil {
		for _, d := range req.Defs {
			w.loaded[d.Hash] = true
		}
		return rep.r, nil
	}
	// The worker is stuck, dead or abandoned: kill it and say why.
	*wp = nil
	w.kill()
	if reason == "" {
		<-w.exited
	} else {
		<-ch
	}
	return response{}, w.classify(reason, rep.err, lim, deadline)
}

// callDeadline is how long one call may take before the pool gives up on
// its worker: the worker's own watchdog stops a call past its limits well
// before that (watchdog.go); this backs it up.
func callDeadline(lim Limits) time.Duration {
	return max(lim.Timeout, lim.CPU) + hardGraceWall
}

// proc is one live worker process.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	bw     *bufio.Writer
	enc    *gob.Encoder
	dec    *gob.Decoder
	stderr *tailBuffer
	loaded map[string]bool
	exited chan struct{}
}

func (p *Pool) start() (*proc, error) {
	cmd := exec.Command(p.opts.Exe)
	cmd.Env = append(os.Environ(), workerEnvVar+"=1", fmt.Sprintf("RESYN_ENV_WORKER_MEM=%d", p.opts.Limits.MaxMemory))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tb := &tailBuffer{max: 8 << 10}
	cmd.Stderr = tb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("env pool: cannot start worker %s: %w", p.opts.Exe, err)
	}
	bw := bufio.NewWriterSize(stdin, 64<<10)
	w := &proc{cmd: cmd, stdin: stdin, bw: bw, enc: gob.NewEncoder(bw), dec: gob.NewDecoder(bufio.NewReaderSize(stdout, 64<<10)),
		stderr: tb, loaded: map[string]bool{}, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(w.exited) }()
	return w, nil
}

func (w *proc) flush() error { return w.bw.Flush() }

func (w *proc) kill() { _ = w.cmd.Process.Kill() }

func (w *proc) stop() {
	_ = w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(time.Second):
		w.kill()
		<-w.exited
	}
}

// classify turns a worker's death into a typed error.
func (w *proc) classify(reason string, ioErr error, lim Limits, deadline time.Duration) *Error {
	tail := w.stderr.String()
	if os.Getenv("RESYN_DEBUG_WORKER") != "" {
		fmt.Fprintf(os.Stderr, "worker stderr: %s\n", tail)
	}
	if e, ok := killedByWatchdog(tail); ok && reason == "" {
		return e
	}
	switch {
	case reason == "deadline":
		return &Error{Kind: FailLimit, Limit: LimitTime, Msg: fmt.Sprintf("no answer from the worker within %v (killed)", deadline)}
	case reason == "cancelled":
		return &Error{Kind: FailWorker, Msg: "cancelled"}
	case strings.Contains(tail, "stack exceeds"):
		return &Error{Kind: FailLimit, Limit: LimitRecursion, Msg: fmt.Sprintf("recursion too deep (the stack passed %d MiB)", workerMaxStack>>20)}
	case strings.Contains(tail, "out of memory") || strings.Contains(tail, "cannot allocate memory"):
		return &Error{Kind: FailLimit, Limit: LimitMemory, Msg: fmt.Sprintf("an allocation passed the memory cap (%d MiB)", lim.MaxMemory>>20)}
	}
	msg := "worker died"
	if st := w.cmd.ProcessState; st != nil {
		msg += " (" + st.String() + ")"
	} else if ioErr != nil {
		msg += ": " + ioErr.Error()
	}
	if t := strings.TrimSpace(tail); t != "" {
		if i := strings.Index(t, "\n"); i > 0 {
			t = t[:i]
		}
		msg += ": " + t
	}
	return &Error{Kind: FailWorker, Msg: CapText(msg, MaxErrorText)}
}

// tailBuffer keeps the first and most recent bytes written to it (the reason
// for a Go fatal error is on its first line).
type tailBuffer struct {
	mu   sync.Mutex
	max  int
	head []byte
	buf  []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.head) < 512 {
		n := min(512-len(t.head), len(b))
		t.head = append(t.head, b[:n]...)
	}
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.head) + "\n" + string(t.buf)
}
