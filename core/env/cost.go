package env

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"

	"go.starlark.net/starlark"
)

// Work that Go does inside one Starlark step.
//
// The interpreter counts one step per bytecode instruction, so a single call
// of a builtin is one step whatever it does: int() of a million digits,
// sorted() over long strings, re.search with a large program over a long
// input, rng.sample with a huge k. Every builtin of the host surface that can
// run long therefore charges the thread for its work before doing it, in the
// same unit (about the cost of one bytecode instruction: tens of
// nanoseconds), and refuses work that would pass the call's step limit. The
// verdict on an environment is then a count of work, the same on an idle and
// on a loaded machine; only work that no builtin sees (big-int arithmetic
// in the interpreter, string methods over huge strings) is left to the
// worker's CPU-time limit (watchdog.go).
//
// The cost model is deliberately pessimistic and simple: one step per value
// touched, one step per bytesPerStep bytes scanned, and the measured
// super-linear cost of decimal conversion and division for big integers
// (docs/validation.md lists the calibration).

const bytesPerStep = 64

// callState is what a running call's builtins need to see: its step limit
// and whether it was cancelled. It lives in the thread's locals.
type callState struct {
	max       uint64 // step limit; 0: none
	fn        string // generate, render, verify, solve, load
	cancelled atomic.Pointer[string]
}

const callStateKey = "resyn.call"

func stateOf(t *starlark.Thread) *callState {
	cs, _ := t.Local(callStateKey).(*callState)
	return cs
}

// cancel cancels a running call: the interpreter stops at its next step and
// the host's long builtins at their next check.
func cancel(t *starlark.Thread, reason string) {
	if cs := stateOf(t); cs != nil {
		cs.cancelled.CompareAndSwap(nil, &reason)
	}
	t.Cancel(reason)
}

// stepsError is a builtin refusing work that would pass the step limit.
type stepsError struct {
	what string // what the work was, e.g. "sorted over 2000000 values"
	cost uint64
}

func (e *stepsError) Error() string {
	return fmt.Sprintf("too many steps: %s costs about %d steps", e.what, e.cost)
}

// cancelError is a long builtin that saw the call's cancellation.
type cancelError struct{ reason string }

func (e *cancelError) Error() string { return "Starlark computation cancelled: " + e.reason }

// remaining is how many steps the call may still take (a large number when
// it has no limit).
func remaining(t *starlark.Thread) uint64 {
	cs := stateOf(t)
	if cs == nil || cs.max == 0 {
		return 1 << 40
	}
	if t.Steps >= cs.max {
		return 0
	}
	return cs.max - t.Steps
}

// charge adds n steps of work to the thread, or refuses it when it would
// pass the call's step limit or the call was cancelled. what describes the
// work for the error message.
func charge(t *starlark.Thread, n uint64, what func() string) error {
	cs := stateOf(t)
	if cs == nil {
		t.Steps = satAdd(t.Steps, n)
		return nil
	}
	if r := cs.cancelled.Load(); r != nil {
		return &cancelError{*r}
	}
	if cs.max > 0 && n >= remaining(t) {
		t.Steps = cs.max // the interpreter stops at its next step too
		return &stepsError{what(), n}
	}
	t.Steps = satAdd(t.Steps, n)
	return nil
}

// checkCancel returns the cancellation error of a cancelled call.
func checkCancel(t *starlark.Thread) error {
	if cs := stateOf(t); cs != nil {
		if r := cs.cancelled.Load(); r != nil {
			return &cancelError{*r}
		}
	}
	return nil
}

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return ^uint64(0)
	}
	return s
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}

func isStepsError(err error) bool {
	var se *stepsError
	return errors.As(err, &se)
}

// decimalCost is the cost of converting an integer of n decimal digits to or
// from text: linear for small n, quadratic past a few thousand digits (Go's
// math/big, measured: 16k digits ≈ 1 ms, 100k ≈ 25 ms).
func decimalCost(n uint64) uint64 {
	return 1 + n/16 + satMul(n, n)/8192
}

// bigIntCost is the cost of writing x in decimal.
func bigIntCost(x starlark.Int) uint64 {
	if _, ok := x.Int64(); ok {
		return 1
	}
	// digits ≈ bits × log10(2)
	return decimalCost(uint64(x.BigInt().BitLen())*30103/100000 + 1)
}

// sizeOf is the cost of touching every value of v once (iterating,
// hashing, comparing): one step per value, one per bytesPerStep bytes of
// strings, and decimal conversion of big integers when text is set (str,
// repr, print, fail). The walk stops as soon as the cost passes limit, so
// it is itself bounded by what the call may still spend; a cyclic value
// simply costs more than any limit.
func sizeOf(v starlark.Value, limit uint64, text bool) uint64 {
	var total uint64
	stack := []starlark.Value{v}
	for len(stack) > 0 && total <= limit {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		total++
		switch x := x.(type) {
		case starlark.String:
			total += uint64(len(x)) / bytesPerStep
		case starlark.Bytes:
			total += uint64(len(x)) / bytesPerStep
		case starlark.Int:
			if text {
				total += bigIntCost(x) - 1
			} else if _, ok := x.Int64(); !ok {
				total += uint64(x.BigInt().BitLen()) / 64
			}
		case *starlark.List:
			for i := 0; i < x.Len() && total+uint64(len(stack)) <= limit; i++ {
				stack = append(stack, x.Index(i))
			}
			total += uint64(x.Len())
		case starlark.Tuple:
			for i := 0; i < len(x) && total+uint64(len(stack)) <= limit; i++ {
				stack = append(stack, x[i])
			}
			total += uint64(len(x))
		case *starlark.Dict:
			for _, kv := range x.Items() {
				if total+uint64(len(stack)) > limit {
					break
				}
				stack = append(stack, kv[0], kv[1])
			}
			total += uint64(x.Len())
		case *starlark.Set:
			it := x.Iterate()
			var e starlark.Value
			for total+uint64(len(stack)) <= limit && it.Next(&e) {
				stack = append(stack, e)
			}
			it.Done()
			total += uint64(x.Len())
		case starlark.Sequence:
			total += uint64(x.Len())
		}
	}
	return total
}

// lenOf is the number of values an iteration over v visits, when v says
// (every sequence, range, dict, set and string.elems() does); 1 otherwise.
func lenOf(v starlark.Value) uint64 {
	if s, ok := v.(starlark.Sequence); ok {
		return uint64(s.Len())
	}
	return 1
}

func log2(n uint64) uint64 { return uint64(bits.Len64(n)) }

// costly wraps a builtin of Starlark's universe so that it charges the cost
// that cost computes from its arguments before running.
// (The description of the work is a func: it is only spelled out for an
// error, and a builtin runs thousands of times an instance.)
type costFunc func(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (uint64, func() string)

func costly(name string, cost costFunc) *starlark.Builtin {
	orig := starlark.Universe[name].(*starlark.Builtin)
	return starlark.NewBuiltin(name, func(t *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		n, what := cost(t, args, kwargs)
		if err := charge(t, n, what); err != nil {
			return nil, err
		}
		return orig.CallInternal(t, args, kwargs)
	})
}

// says is a fixed description.
func says(s string) func() string { return func() string { return s } }

// argsSize is the cost of touching every value of every argument.
func argsSize(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple, text bool) uint64 {
	var n uint64
	lim := remaining(t)
	for _, a := range args {
		n = satAdd(n, sizeOf(a, lim, text))
	}
	for _, kv := range kwargs {
		n = satAdd(n, sizeOf(kv[1], lim, text))
	}
	return n
}

// iterCost charges one step per value of the first argument.
func iterCost(name string) costFunc {
	return func(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (uint64, func() string) {
		var n uint64
		for _, a := range args {
			n = satAdd(n, lenOf(a))
		}
		return n, func() string { return fmt.Sprintf("%s over %d values", name, n) }
	}
}

// hashCost charges for hashing (and so reading) every value.
func hashCost(name string) costFunc {
	return func(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (uint64, func() string) {
		n := argsSize(t, args, kwargs, false)
		return n, func() string { return fmt.Sprintf("%s of values of total size %d", name, n) }
	}
}

func textCost(name string) costFunc {
	return func(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (uint64, func() string) {
		n := argsSize(t, args, kwargs, true)
		return n, func() string { return fmt.Sprintf("%s of a value that takes %d steps to write out", name, n) }
	}
}

// costedUniverse are the universe builtins that can run long in Go, each
// charging for its work. They shadow the originals through the predeclared
// table (host.go); everything else of the universe is O(1) or bounded by
// its result's size, which the memory cap bounds.
var costedUniverse = func() starlark.StringDict {
	d := starlark.StringDict{
		"int": costly("int", func(t *starlark.Thread, args starlark.Tuple, _ []starlark.Tuple) (uint64, func() string) {
			if len(args) > 0 {
				if s, ok := args[0].(starlark.String); ok {
					n := uint64(len(s))
					if len(args) > 1 {
						if b, ok := args[1].(starlark.Int); ok {
							if v, _ := b.Int64(); v > 0 && v&(v-1) == 0 {
								return 1 + n/16, says("int() of a string")
							}
						}
					}
					return decimalCost(n), func() string { return fmt.Sprintf("int() of a %d-character string", n) }
				}
			}
			return 1, says("int()")
		}),
		"float": costly("float", func(t *starlark.Thread, args starlark.Tuple, _ []starlark.Tuple) (uint64, func() string) {
			if len(args) > 0 {
				if s, ok := args[0].(starlark.String); ok {
					return 1 + uint64(len(s))/16, says("float() of a string")
				}
				if i, ok := args[0].(starlark.Int); ok {
					return 1 + uint64(i.BigInt().BitLen())/64, says("float() of an int")
				}
			}
			return 1, says("float()")
		}),
		"sorted": costly("sorted", func(t *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (uint64, func() string) {
			if len(args) == 0 {
				return 1, says("sorted()")
			}
			n := lenOf(args[0])
			size := sizeOf(args[0], remaining(t), false)
			// n log n comparisons, each reading the values compared.
			return satAdd(n, satMul(size, log2(n))), func() string {
				return fmt.Sprintf("sorted() over %d values of total size %d", n, size)
			}
		}),
	}
	// The rest charge by one of three measures of their arguments.
	for _, name := range []string{"str", "repr", "print", "fail"} {
		d[name] = costly(name, textCost(name+"()"))
	}
	for _, name := range []string{"bytes", "hash", "set", "dict", "min", "max"} {
		d[name] = costly(name, hashCost(name+"()"))
	}
	for _, name := range []string{"list", "tuple", "enumerate", "reversed", "zip", "any", "all"} {
		d[name] = costly(name, iterCost(name+"()"))
	}
	return d
}()
