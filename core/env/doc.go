// Package env is resyn's environment runtime: it loads environment modules
// written in Starlark (the contract of ARCHITECTURE.md), runs their
// generate/render/verify/solve functions under limits, and turns every
// failure into a typed *Error that names the function, the limit and the
// module line.
//
// How the parts fit:
//
//   - module.go loads and checks a module against the contract (Load).
//   - host.go is the one table of what environment code may use beyond
//     Starlark: the rng, the json/math/re modules and a few builtins
//     (format.go: Python's format(value, spec)). cost.go makes every
//     builtin that can run long in Go charge the call's step count for its
//     work before doing it; hints.go explains runtime errors that come from
//     Starlark not being Python.
//   - meta.go reads NAME, DESCRIPTION, TAGS and DIFFICULTY from the syntax
//     tree (StaticMeta) and holds the contract that they are bounded
//     literals, so that listings show what runs.
//   - value.go converts between Starlark values and the canonical JSON of an
//     instance's state. Every state goes through JSON before render, verify
//     and solve see it, so an instance rebuilt from a dataset row scores
//     exactly like a freshly generated one.
//   - call.go is the single function through which every call into
//     environment code goes (step limit, wall-clock cancellation, output cap,
//     print hook, error typing).
//   - answer.go extracts the model's final answer from a completion.
//   - show.go: Show, one instance with its reference answer and a typed
//     answer's reward, as `resyn envs show` prints it (Reward.Verdict).
//   - task.go describes a unit of work (Task) and runs it in-process.
//   - pool.go and worker.go run Tasks in worker subprocesses (the resyn binary
//     re-executed in a hidden mode) with a memory cap, so that hostile code
//     that allocates gigabytes or recurses without end kills a worker, not
//     resyn; watchdog.go enforces each call's and each task's CPU time
//     there, and kills the worker when one instruction does not return.
//     Executor is the interface both the pool and the in-process runner
//     satisfy.
//
// Not here: validation (core/validate), the built-in library (core/envlib),
// storage of environments (storage, core/library).
package env
