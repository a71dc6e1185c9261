// Package validate runs the checks an environment must pass before it can
// serve as training material: determinism, JSON-like state, a prompt that
// asks for <answer> tags, a reference solution that verifies, a verifier
// that rejects the answers a careful reviewer would try (damaged, partial,
// random, sentinels, several candidates joined, junk, the prompt echoed:
// probes.go, each kind judged on its own) without raising, distinct
// instances at every level with an estimate of each level's instance space
// (diversity.go), a budget in Starlark steps and CPU time, and a difficulty
// knob that changes what the solver sees or must do.
//
// Budgets are work, not time (Options, Limits): the same environment gets
// the same verdict on an idle and on a saturated machine. Instances run in
// waves that start at one and double, and validation stops after the first
// few limit violations, so a hostile environment costs seconds, not minutes.
// Each failure is reported under its own check, once; a check with nothing
// to run on is skipped.
//
// Run takes any env.Executor; untrusted code must go through an env.Pool.
// The Report is the one structure that the CLI prints, the store keeps, the
// synthesis pipeline feeds back to a model for repair and the TUI shows.
// testdata/suite is the planted suite of good, buggy, hacking and hostile
// environments that suite_test.go measures validation with
// (docs/validation.md).
package validate
