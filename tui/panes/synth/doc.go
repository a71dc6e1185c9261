// Package synth is the workbench's synthesis pane: start a run of the
// synthesis pipeline (provider, model, count, categories) or resume an
// unfinished one, and watch it live — one row per candidate with its idea,
// code, validation, repair rounds and verdict, and the run's totals
// (tokens, valid, rejected). Valid candidates are stored by the pipeline
// with status "candidate"; the pane tells the library pane to reload, so
// they are there to review at once.
//
// The run is core/synth's: Pipeline.Start delivers typed events on a
// channel, which waitForProgressCmd turns into one SynthEventMsg at a time
// (no goroutines in the pane). Stopping the run (x, or quitting the
// workbench) cancels its context; the pipeline records where it stopped,
// and R resumes it.
//
// Parts: keys.go (the key map), synth.go (the model, its commands and the
// event bookkeeping), view.go (drawing).
package synth
