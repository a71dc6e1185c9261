// Package validate runs the checks an environment must pass before it can
// serve as training material: determinism, JSON-like state, a prompt that
// asks for <answer> tags, a reference solution that verifies, a verifier
// that rejects corrupted, random and reward-hacking answers without raising,
// diversity across seeds, a per-call time budget, and a difficulty knob that
// changes something measurable.
//
// Run takes any env.Executor; untrusted code must go through an env.Pool.
// The Report is the one structure that the CLI prints, the store keeps, the
// synthesis pipeline feeds back to a model for repair and the TUI shows.
package validate
