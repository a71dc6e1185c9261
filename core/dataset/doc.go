// Package dataset turns environments into data and data into rewards:
// Generate streams instances (env, seed, difficulty, prompt, state) for a
// spec, deterministically and in parallel through an env.Executor; Score
// reads completions as JSONL and writes one reward record per line, with a
// per-environment summary. Both report progress through a callback that the
// CLI prints to stderr and the TUI turns into messages.
//
// Exporters for other trainers' formats (verl Parquet, JSONL) build on Rows.
package dataset
