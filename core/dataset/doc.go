// Package dataset turns environments into data and data into rewards.
//
//   - generate.go: Generate, the one streaming instance generator. It runs a
//     Plan (N instances, each computed from its index on demand) through an
//     env.Executor a chunk at a time, deterministically and in parallel, and
//     hands each instance over in order as soon as its chunk is done, so
//     memory does not grow with N and output appears as it is produced.
//     Spec is the plan of `resyn gen` (Rows: its JSONL rows); core/export
//     builds its shuffled, weighted plan on the same Generate. Progress
//     (with Rate and Left) is the one progress report of gen, export and
//     score, which the CLI prints to stderr and the TUI can show.
//   - score.go: Score reads completions as JSONL (a line at a time, a line
//     over MaxLineBytes skipped and named like any malformed line) and
//     writes one reward record per line, with a per-environment summary.
//     CapReward/CapText bound the error texts resyn writes.
//   - scoreline.go: ParseScoreLine, the contract of one input line.
//
// Every long call takes a context: cancelled, it returns at once and leaves
// what it wrote whole (complete JSONL lines).
package dataset
