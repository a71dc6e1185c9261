package env

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// Limits bound one call into environment code.
type Limits struct {
	Steps     uint64        // Starlark execution steps, host builtins' work included (cost.go)
	Timeout   time.Duration // wall-clock time
	CPU       time.Duration // CPU time of one call (enforced in worker processes, see watchdog.go); 0: none
	TaskCPU   time.Duration // CPU time of one task, all its calls together (worker processes); 0: none
	MaxOutput int           // bytes of a prompt or an answer from solve
	MaxState  int           // bytes of the state as JSON
	MaxMemory int64         // bytes of heap (enforced in worker processes)
}

const maxOutputDefault = 1 << 20

// DefaultLimits are generous for honest environments (which take
// milliseconds) and stop hostile ones quickly.
func DefaultLimits() Limits {
	return Limits{
		Steps: 10_000_000,
		// The wall clock is a last resort, far above any honest call's
		// need: the steps and the CPU time bound the work the same on a
		// loaded machine as on an idle one, and a reward must not turn
		// into a timeout because the machine is busy.
		Timeout:   10 * time.Second,
		CPU:       time.Second,
		MaxOutput: maxOutputDefault,
		MaxState:  maxOutputDefault,
		MaxMemory: 1 << 30,
	}
}

// MaxErrorText caps the message of every *Error (a fail() message, an
// exception, a list of contract problems): errors are stored in reports,
// served and printed, and environment code controls their text.
const MaxErrorText = 4 << 10

// CapText cuts s to at most n bytes, at a rune boundary, saying how much
// was cut.
func CapText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	note := fmt.Sprintf("… [%d more bytes cut]", len(s)-n)
	cut := max(n-len(note), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// printCap bounds what print() in environment code may write (it goes nowhere
// but is counted, so a print loop cannot fill memory).
const printCap = 64 << 10

func newThread(fn string, lim Limits) *starlark.Thread {
	t := &starlark.Thread{Name: fn}
	var printed int
	t.Print = func(_ *starlark.Thread, msg string) { printed += len(msg) }
	if lim.Steps > 0 {
		t.SetMaxExecutionSteps(lim.Steps)
	}
	t.SetLocal(callStateKey, &callState{max: lim.Steps, fn: fn})
	return t
}

// memCapped is set in worker processes, whose heap watcher cancels every
// running thread (see installMemoryCap); active holds those threads.
var (
	memCapped atomic.Bool
	active    sync.Map // *starlark.Thread -> struct{}
)

// watch enforces the call's time limits. In a worker process the watchdog
// does (CPU and wall clock, watchdog.go); elsewhere a runtime timer cancels
// the thread when the wall-clock limit passes (a timer, not a goroutine:
// this runs for every call, tens of thousands of times a second). The
// returned func stops watching and says whether the call, though it
// finished, used more than its CPU time (only the watchdog measures it).
func watch(t *starlark.Thread, lim Limits) (stop func() (overCPU bool)) {
	if dog := theWatchdog.Load(); dog != nil {
		endCall := dog.begin(t, lim)
		active.Store(t, struct{}{})
		return func() bool {
			active.Delete(t)
			return endCall()
		}
	}
	var timer *time.Timer
	if lim.Timeout > 0 {
		timer = time.AfterFunc(lim.Timeout, func() { cancel(t, cancelTime) })
	}
	capped := memCapped.Load()
	if capped {
		active.Store(t, struct{}{})
	}
	return func() bool {
		if timer != nil {
			timer.Stop()
		}
		if capped {
			active.Delete(t)
		}
		return false
	}
}

// cancelAll cancels every running thread (the heap passed its cap).
func cancelAll(reason string) {
	active.Range(func(k, _ any) bool {
		cancel(k.(*starlark.Thread), reason)
		return true
	})
}

const (
	cancelTime    = "resyn: wall-clock limit"
	cancelCPU     = "resyn: cpu-time limit"
	cancelTaskCPU = "resyn: task cpu-time limit"
	cancelMemory  = "resyn: memory limit"
)

func cpuLimitMsg(lim Limits, steps uint64) string {
	return fmt.Sprintf("call used more than %v of CPU time in %d steps: most of it in single operations the step count cannot see (a huge string, list or integer?)", lim.CPU, steps)
}

// callError types an error returned by Starlark for function fn.
func callError(t *starlark.Thread, fn string, err error, lim Limits) *Error {
	e := &Error{Kind: FailRuntime, Func: fn, Msg: err.Error()}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		e.Msg = ee.Msg
		e.Line = innermostLine(ee.CallStack)
	}
	steps := t.ExecutionSteps()
	switch {
	case strings.Contains(e.Msg, cancelTime):
		e.Kind, e.Limit, e.Msg = FailLimit, LimitTime, fmt.Sprintf("call took longer than %v of wall-clock time (after %d steps)", lim.Timeout, steps)
	case strings.Contains(e.Msg, cancelTaskCPU):
		e.Kind, e.Limit, e.Msg = FailLimit, LimitCPU, fmt.Sprintf("the task (all its calls together) used more than %v of CPU time", lim.TaskCPU)
	case strings.Contains(e.Msg, cancelCPU):
		e.Kind, e.Limit, e.Msg = FailLimit, LimitCPU, cpuLimitMsg(lim, steps)
	case strings.Contains(e.Msg, cancelMemory):
		e.Kind, e.Limit, e.Msg = FailLimit, LimitMemory, fmt.Sprintf("heap grew past %d MiB", lim.MaxMemory>>20)
	case isStepsError(err):
		var se *stepsError
		errors.As(err, &se)
		e.Kind, e.Limit, e.Msg = FailLimit, LimitSteps, fmt.Sprintf("more than %d execution steps (%s)", lim.Steps, se.what)
	case strings.Contains(e.Msg, "too many steps"):
		e.Kind, e.Limit, e.Msg = FailLimit, LimitSteps, fmt.Sprintf("more than %d execution steps", lim.Steps)
	case strings.Contains(e.Msg, "excessive repeat") || strings.Contains(e.Msg, "too large"):
		e.Kind, e.Limit = FailLimit, LimitMemory
	default:
		e.Msg += runtimeHint(e.Msg)
	}
	e.Msg = CapText(e.Msg, MaxErrorText)
	return e
}

func innermostLine(stack starlark.CallStack) int {
	for i := len(stack) - 1; i >= 0; i-- {
		if l := stack[i].Pos.Line; l > 0 && stack[i].Pos.Filename() != "<builtin>" {
			return int(l)
		}
	}
	return 0
}

// call is the one function through which every call into environment code
// goes: a fresh thread with the step limit, the time limits, memory
// cancellation and the print hook; every failure becomes an *Error carrying
// the module line. The steps the call took are added to *steps when it is
// not nil.
func (m *Module) call(fn string, lim Limits, steps *uint64, args ...starlark.Value) (starlark.Value, *Error) {
	f, ok := m.globals[fn]
	if !ok {
		return nil, &Error{Kind: FailContract, Env: m.Name, Func: fn, Msg: fn + " is not defined"}
	}
	if dog := theWatchdog.Load(); dog != nil && dog.taskOver() {
		return nil, &Error{Kind: FailLimit, Limit: LimitCPU, Env: m.Name, Func: fn,
			Msg: fmt.Sprintf("the task (all its calls together) used more than %v of CPU time", lim.TaskCPU)}
	}
	t := newThread(fn, lim)
	stop := watch(t, lim)
	v, err := starlark.Call(t, f, args, nil)
	overCPU := stop()
	n := t.ExecutionSteps()
	atomic.AddUint64(&m.steps, n)
	if steps != nil {
		*steps += n
	}
	if err != nil {
		e := callError(t, fn, err, lim)
		e.Env = m.Name
		return nil, e
	}
	if overCPU {
		// It finished, but over its limit: the verdict must not depend on
		// whether a tick happened to fall inside the call.
		return nil, &Error{Kind: FailLimit, Limit: LimitCPU, Env: m.Name, Func: fn, Msg: cpuLimitMsg(lim, n)}
	}
	return v, nil
}

// Generate runs generate(rng, difficulty) and returns the state as canonical JSON.
func (m *Module) Generate(seed int64, difficulty int, lim Limits) (json.RawMessage, error) {
	return m.generate(seed, difficulty, lim, nil)
}

func (m *Module) generate(seed int64, difficulty int, lim Limits, steps *uint64) (json.RawMessage, error) {
	if difficulty < m.MinDifficulty || difficulty > m.MaxDifficulty {
		return nil, &Error{Kind: FailContract, Env: m.Name, Func: "generate",
			Msg: fmt.Sprintf("difficulty %d is outside the environment's range [%d, %d]", difficulty, m.MinDifficulty, m.MaxDifficulty)}
	}
	v, e := m.call("generate", lim, steps, NewRng(m.Name, seed, difficulty), starlark.MakeInt(difficulty))
	if e != nil {
		return nil, e
	}
	state, err := toJSON(v, lim.MaxState)
	if err != nil {
		var se *sizeError
		if errors.As(err, &se) {
			return nil, &Error{Kind: FailLimit, Limit: LimitOutput, Env: m.Name, Func: "generate", Msg: err.Error()}
		}
		return nil, &Error{Kind: FailResult, Env: m.Name, Func: "generate", Msg: "the state is not JSON-serialisable: " + err.Error()}
	}
	return state, nil
}

func (m *Module) stateArg(fn string, state json.RawMessage) (starlark.Value, *Error) {
	v, err := fromJSON(state)
	if err != nil {
		return nil, &Error{Kind: FailResult, Env: m.Name, Func: fn, Msg: err.Error()}
	}
	return v, nil
}

// text runs a function of the state that must return a string (render, solve).
func (m *Module) text(fn string, state json.RawMessage, lim Limits, steps *uint64) (string, error) {
	sv, e := m.stateArg(fn, state)
	if e != nil {
		return "", e
	}
	v, e := m.call(fn, lim, steps, sv)
	if e != nil {
		return "", e
	}
	s, ok := v.(starlark.String)
	if !ok {
		return "", &Error{Kind: FailResult, Env: m.Name, Func: fn, Msg: fmt.Sprintf("%s must return a string, got a %s", fn, v.Type())}
	}
	if lim.MaxOutput > 0 && len(s) > lim.MaxOutput {
		return "", &Error{Kind: FailLimit, Limit: LimitOutput, Env: m.Name, Func: fn,
			Msg: fmt.Sprintf("%s returned %d bytes, more than the %d allowed", fn, len(s), lim.MaxOutput)}
	}
	return string(s), nil
}

// Render runs render(state).
func (m *Module) Render(state json.RawMessage, lim Limits) (string, error) {
	return m.render(state, lim, nil)
}

func (m *Module) render(state json.RawMessage, lim Limits, steps *uint64) (string, error) {
	p, err := m.text("render", state, lim, steps)
	if err == nil && strings.TrimSpace(p) == "" {
		return "", &Error{Kind: FailResult, Env: m.Name, Func: "render", Msg: "render returned an empty prompt"}
	}
	return p, err
}

// Solve runs solve(state); an environment without solve is a contract error.
func (m *Module) Solve(state json.RawMessage, lim Limits) (string, error) {
	return m.text("solve", state, lim, nil)
}

func (m *Module) solve(state json.RawMessage, lim Limits, steps *uint64) (string, error) {
	return m.text("solve", state, lim, steps)
}

// Verify runs verify(state, answer) and checks the score: a bool is 1.0 or
// 0.0; a number must lie in [0, 1]; anything else is an environment error.
func (m *Module) Verify(state json.RawMessage, answer string, lim Limits) (float64, error) {
	return m.verify(state, answer, lim, nil)
}

func (m *Module) verify(state json.RawMessage, answer string, lim Limits, steps *uint64) (float64, error) {
	sv, e := m.stateArg("verify", state)
	if e != nil {
		return 0, e
	}
	v, e := m.call("verify", lim, steps, sv, starlark.String(answer))
	if e != nil {
		return 0, e
	}
	return scoreOf(m.Name, v)
}

func scoreOf(name string, v starlark.Value) (float64, error) {
	var f float64
	switch x := v.(type) {
	case starlark.Bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case starlark.Int:
		f, _ = starlark.AsFloat(x)
	case starlark.Float:
		f = float64(x)
	default:
		return 0, &Error{Kind: FailResult, Env: name, Func: "verify", Msg: fmt.Sprintf("verify must return a number in [0, 1] or a bool, got a %s (%s)", v.Type(), truncate(v.String(), 40))}
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, &Error{Kind: FailResult, Env: name, Func: "verify", Msg: fmt.Sprintf("verify returned %v, outside [0, 1]", f)}
	}
	return f, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
