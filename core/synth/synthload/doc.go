// Package synthload is a load test of synthesis at the paper's scale: a
// local OpenAI-compatible server (Server) playing a writer model that is
// slow (seconds to a minute a reply), rate-limits with Retry-After,
// sometimes hangs or cuts a reply off, and answers from a corpus of
// plausible environment code with the mistakes such models make (Model,
// Corpus, Mistakes); and the driver (Bench) that runs `resyn synth` against
// it, kills it with SIGKILL mid-run, resumes it, checks that nothing
// finished was redone, and measures the run: wall time against the ideal,
// LLM calls and tokens per admitted environment, the yield of each stage,
// peak memory and the size of the store.
//
// The corpus has two parts: "tuning", which tests and any tuning of the
// pipeline use, and "heldback", which only the measurements use, so that a
// measured yield is not one the pipeline was tuned to.
//
// It is not a model of any particular LLM: its rates (Rates) are knobs of
// the load. It is not used by resyn in normal operation; `resyn bench synth`
// runs it.
package synthload
