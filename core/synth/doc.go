// Package synth is resyn's synthesis pipeline: an LLM proposes task ideas,
// writes each one as an environment module (the contract of
// ARCHITECTURE.md), the module is validated and, when it fails, the failing
// checks go back to the model for a few repair rounds; the survivors are
// optionally calibrated against a solver model, compared with the library
// for near-duplicates, and stored as candidates with their full provenance.
//
// It is not the curation of the library (a person accepts or rejects
// candidates: core/library and the TUI), not the LLM plumbing (llm), and not
// the sandbox or the checks themselves (core/env, core/validate).
//
// # Stages
//
// Each stage is a plain function with its own tests; the runner strings them
// together per candidate:
//
//   - ideation (ideate.go): Ideate asks for ideas per category and parses
//     them (ParseIdeas); DedupIdeas drops ideas whose normalised name or
//     MinHash-estimated description similarity repeats one already seen.
//   - implementation (implement.go): ImplementPrompt carries the contract
//     and two or three built-ins as examples; ExtractCode takes the module
//     out of a reply with or without fences and prose, and tells a refusal
//     or an empty reply from code (ErrRefusal, ErrEmptyReply, ErrNoCode).
//   - validation and repair (repair.go): Check runs a quick smoke test and
//     then validate.File; RepairPrompt feeds the failing checks, with their
//     module lines, back to the model, up to Config.MaxRepairs rounds.
//   - ValidateFiles/ValidateFile (validate_files.go): `resyn envs validate`,
//     the checks and, for what passes them, the judge.
//   - the LLM judge (judge.go), optional: Judge has a model review a valid
//     candidate's code and sample questions (ReSyn's first admission gate);
//     a flaw it finds goes back to the writer for one revision.
//   - calibration (calibrate.go): Calibrate measures a solver model's pass
//     rate per difficulty level, flags environments solved at every level
//     or at none, and tests that the pass rate falls with the level
//     (TrendTest, ReSyn's second gate; its p-value is stored on the curve).
//     resyn eval uses the same function.
//   - deduplication against the library (dedup.go): FindDuplicate compares
//     rendered prompts (shingle similarity) and behaviour (each side's
//     verifier run on the other's instances and reference answers).
//   - persistence (candidate.go): a valid candidate becomes a storage.Env
//     with status "candidate", origin "synthesis" and a Provenance record
//     (prompts, replies, repair rounds, reports, tokens, timings), written in
//     one transaction with its verdict; every step is also appended to the
//     run's log.
//
// The rest: run.go strings the stages together (Pipeline.Run, Resume,
// Start), candidate.go takes one idea to its verdict, events.go and
// types.go are the data the outside sees, config.go the knobs, demo.go the
// configuration of the shipped demo recording (testdata/synth/run.jsonl).
//
// # Runs, progress and resume
//
// Run (and Start, its channel form) processes Config.N candidates with at
// most Config.Parallel in flight. Progress is a stream of typed events
// (events.go): RunStartedEvent, IdeasReadyEvent, CandidateStartedEvent, CodeWrittenEvent,
// ValidatedEvent, RepairStartedEvent, JudgedEvent, CalibratedEvent, VerdictEvent, TotalsEvent and, last,
// RunFinishedEvent. The callback is never called concurrently, so a consumer
// needs no locking; Start delivers the same events on a channel that is
// closed after RunFinishedEvent, which is what the TUI reads with a
// waitForProgressCmd. The headless `resyn synth` prints the very same
// events.
//
// A run is recorded in the store as it goes (storage.SynthRun and its log):
// the ideas as soon as they are known, and one "verdict" entry per finished
// candidate. Resume reads that record and processes only the candidates
// without a verdict, so a run killed at any moment continues without
// redoing finished work. A candidate interrupted by cancellation gets no
// verdict; one whose LLM calls failed gets a verdict "error", which a resume
// retries.
package synth
