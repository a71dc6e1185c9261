package env

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.starlark.net/starlark"
)

// The watchdog of a worker process: the last resort against work that no
// step count sees.
//
// Steps bound everything the interpreter and the host's builtins do
// (cost.go), but a single bytecode instruction can still run long in Go:
// squaring a ten-million-digit integer, joining or comparing a list of
// millions of strings. The interpreter only looks at its cancellation
// between instructions, so such a call cannot be interrupted from outside.
// The watchdog measures the CPU time a call has used (the worker runs one
// call at a time, so the process's CPU time is the call's) and the
// wall-clock time since it began: past Limits.CPU or Limits.Timeout it
// cancels the call, and when the call has not stopped within hardGrace of
// CPU (or hardGraceWall of wall-clock time) after that, the worker writes
// the reason on stderr and exits. The pool reads the reason and reports a
// typed limit error (Pool.classify), and starts a fresh worker.
//
// CPU time rather than wall-clock time is what makes this limit, too, mostly
// independent of the machine's load: a call that other processes keep off
// the CPU is not charged for it.

var theWatchdog atomic.Pointer[watchdog]

const (
	watchdogTick  = 10 * time.Millisecond
	hardGrace     = 500 * time.Millisecond // CPU time after cancelling
	hardGraceWall = 5 * time.Second
	// exitLimit is the worker's exit status when the watchdog killed it.
	exitLimit = 7
	// limitMark starts the line the watchdog writes on stderr before exiting.
	limitMark = "resyn-limit\t"
)

type watchdog struct {
	mu    sync.Mutex
	calls map[*starlark.Thread]*watched
	task  *watchedTask
	// exit is os.Exit, replaced in tests.
	exit func(code int)
}

type watched struct {
	lim      Limits
	fn       string
	wall     time.Time     // when the call began
	cpu      time.Duration // process CPU time when the call began
	reason   string        // cancelCPU or cancelTime once cancelled
	stopCPU  time.Duration // CPU time when cancelled
	stopWall time.Time
}

// watchedTask is the task a worker is running, for Limits.TaskCPU.
type watchedTask struct {
	lim  time.Duration
	cpu  time.Duration // process CPU time when the task began
	over bool
}

// startWatchdog installs the watchdog in this (worker) process.
func startWatchdog() *watchdog {
	w := &watchdog{calls: map[*starlark.Thread]*watched{}, exit: os.Exit}
	theWatchdog.Store(w)
	go func() {
		for range time.Tick(watchdogTick) {
			w.tick(processCPU(), time.Now())
		}
	}()
	return w
}

// begin watches a call until the returned func is called; that func says
// whether the call used more than its CPU time without a tick seeing it
// (it ended between two ticks, or the ticks ran late on a busy machine).
//
// The call is charged from its first instruction (the process's CPU time
// now), not from the first tick that sees it: a tick can come late by
// however long the scheduler keeps the watchdog's goroutine waiting, and
// what a call was charged then depended on the machine's load.
func (w *watchdog) begin(t *starlark.Thread, lim Limits) (stop func() (overCPU bool)) {
	c := &watched{lim: lim, fn: t.Name, wall: time.Now(), cpu: processCPU()}
	w.mu.Lock()
	w.calls[t] = c
	w.mu.Unlock()
	return func() bool {
		used := processCPU() - c.cpu
		w.mu.Lock()
		delete(w.calls, t)
		over := c.reason == "" && c.lim.CPU > 0 && used > c.lim.CPU
		w.mu.Unlock()
		return over
	}
}

// beginTask watches the CPU time of a task's calls together against
// limit (0: none) until the returned func is called.
func (w *watchdog) beginTask(limit time.Duration) func() {
	w.mu.Lock()
	w.task = &watchedTask{lim: limit, cpu: processCPU()}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.task = nil
		w.mu.Unlock()
	}
}

// taskOver says whether the running task has used up its CPU time: its
// remaining calls fail at once.
func (w *watchdog) taskOver() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.task != nil && w.task.over
}

// tick checks every running call against its limits at process CPU time
// cpu and wall-clock time now.
func (w *watchdog) tick(cpu time.Duration, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tk := w.task; tk != nil && tk.lim > 0 {
		if tk.cpu < 0 {
			tk.cpu = cpu
		}
		tk.over = tk.over || cpu-tk.cpu > tk.lim
	}
	for t, c := range w.calls {
		if c.cpu < 0 {
			c.cpu = cpu
		}
		used, wall := cpu-c.cpu, now.Sub(c.wall)
		if c.reason == "" {
			switch {
			case w.task != nil && w.task.over:
				c.reason = cancelTaskCPU
			case c.lim.CPU > 0 && used > c.lim.CPU:
				c.reason = cancelCPU
			case c.lim.Timeout > 0 && wall > c.lim.Timeout:
				c.reason = cancelTime
			default:
				continue
			}
			c.stopCPU, c.stopWall = cpu, now
			cancel(t, c.reason)
			continue
		}
		if cpu-c.stopCPU > hardGrace || now.Sub(c.stopWall) > hardGraceWall {
			limit, what := LimitCPU, fmt.Sprintf("its %v of CPU time", c.lim.CPU)
			switch c.reason {
			case cancelTaskCPU:
				what = fmt.Sprintf("its task's %v of CPU time", c.lim.TaskCPU)
			case cancelTime:
				limit, what = LimitTime, fmt.Sprintf("its %v of wall-clock time", c.lim.Timeout)
			}
			fmt.Fprintf(os.Stderr, "%s%s\t%s\t%s did not stop when cancelled after %s: a single operation the step count cannot see (on a huge string, list or integer) ran on; the worker was killed\n",
				limitMark, limit, c.fn, c.fn, what)
			w.exit(exitLimit)
			return
		}
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// killedByWatchdog parses the line the watchdog wrote before the worker
// exited, if there is one.
func killedByWatchdog(stderr string) (*Error, bool) {
	i := strings.Index(stderr, limitMark)
	if i < 0 {
		return nil, false
	}
	line := stderr[i+len(limitMark):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	parts := strings.SplitN(line, "\t", 3)
	if len(parts) != 3 {
		return nil, false
	}
	return &Error{Kind: FailLimit, Limit: Limit(parts[0]), Func: parts[1], Msg: CapText(parts[2], MaxErrorText)}, true
}
