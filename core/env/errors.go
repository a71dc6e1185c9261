package env

import (
	"errors"
	"fmt"
)

// Sentinel errors; every *Error wraps one of them, so callers can write
// errors.Is(err, env.ErrLimit).
var (
	// ErrContract: the module does not define what the contract requires.
	ErrContract = errors.New("environment breaks the contract")
	// ErrSyntax: the module does not parse or resolve as Starlark.
	ErrSyntax = errors.New("environment does not compile")
	// ErrRuntime: environment code raised (fail(), a type error, a bad index…).
	ErrRuntime = errors.New("environment code failed")
	// ErrLimit: a call broke a resource limit (steps, time, memory, output, recursion).
	ErrLimit = errors.New("environment broke a limit")
	// ErrResult: a function returned a value of the wrong kind (verify → 7, render → a dict…).
	ErrResult = errors.New("environment returned an invalid value")
	// ErrUnknownEnv: no environment of that name is registered with the executor.
	ErrUnknownEnv = errors.New("unknown environment")
	// ErrWorker: the worker process failed for a reason that is not the environment's.
	ErrWorker = errors.New("environment worker failed")
)

// Limit names which resource limit a call broke.
type Limit string

const (
	LimitSteps     Limit = "steps"
	LimitTime      Limit = "time" // wall-clock time
	LimitCPU       Limit = "cpu"  // CPU time (worker processes)
	LimitMemory    Limit = "memory"
	LimitOutput    Limit = "output"
	LimitRecursion Limit = "recursion"
)

// ErrorKind says what part of running environment code failed
// (ARCHITECTURE.md, "Environment errors and scores").
type ErrorKind string

const (
	FailContract ErrorKind = "contract" // the module breaks the environment contract (a missing function, a wrong type)
	FailSyntax   ErrorKind = "syntax"   // the module does not parse
	FailRuntime  ErrorKind = "runtime"  // the code raised
	FailLimit    ErrorKind = "limit"    // a resource limit (Error.Limit says which)
	FailResult   ErrorKind = "result"   // a function returned something it must not (a score outside [0, 1], a state that is not JSON)
	FailUnknown  ErrorKind = "unknown"  // no such environment
	FailWorker   ErrorKind = "worker"   // the sandbox worker died or was cancelled
)

// Error is a failure of environment code. It is serialisable so that it can
// cross the worker boundary unchanged.
type Error struct {
	Kind  ErrorKind `json:"kind"`
	Env   string    `json:"env,omitempty"`   // environment name
	Func  string    `json:"func,omitempty"`  // generate, render, verify, solve, load
	Limit Limit     `json:"limit,omitempty"` // set when Kind == FailLimit
	Line  int       `json:"line,omitempty"`  // module line, when known
	Msg   string    `json:"msg"`
}

func (e *Error) Error() string {
	s := e.Env
	if e.Func != "" {
		if s != "" {
			s += "."
		}
		s += e.Func
	}
	if e.Line > 0 && e.Kind != FailLimit {
		s += fmt.Sprintf(" (line %d)", e.Line)
	}
	if s != "" {
		s += ": "
	}
	if e.Kind == FailLimit {
		// The line where a limit was reached is only where the call was
		// when its budget ran out, not necessarily the culprit.
		s += fmt.Sprintf("%s limit: %s", e.Limit, e.Msg)
		if e.Line > 0 {
			s += fmt.Sprintf(" (was executing line %d)", e.Line)
		}
		return s
	}
	return s + e.Msg
}

// Unwrap maps the kind to its sentinel.
func (e *Error) Unwrap() error {
	switch e.Kind {
	case "contract":
		return ErrContract
	case "syntax":
		return ErrSyntax
	case "runtime":
		return ErrRuntime
	case "limit":
		return ErrLimit
	case "result":
		return ErrResult
	case "unknown":
		return ErrUnknownEnv
	default:
		return ErrWorker
	}
}

// IsTimeout reports whether err is a wall-clock or CPU-time limit error.
func IsTimeout(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == FailLimit && (e.Limit == LimitTime || e.Limit == LimitCPU)
}
