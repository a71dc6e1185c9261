// Package library is the environment library as a person curates it: the
// built-in environments that ship in the binary and the ones kept in the
// store (added from files, written by synthesis, or curated copies of
// built-ins), merged into one list of Entry values, and the curation
// actions on them — add, edit, accept, reject, tag, note — each of which
// appends a revision in the store and never overwrites one.
//
// What it is for: the commands under `resyn envs` and the TUI's library
// pane call this package and nothing lower for curation, so both behave the
// same. What it is not for: running environments (core/env), checking them
// (core/validate) or synthesising them (core/synth); Add and Edit call
// core/validate and keep its report.
//
// How the parts fit:
//
//	library.go  Library (a store, possibly nil: built-ins only), Entry,
//	            List/Get, the curation actions
//	static.go   StaticInfo: NAME, DESCRIPTION, TAGS and DIFFICULTY read from
//	            a module's syntax tree without running it, so listing a
//	            thousand stored environments runs no untrusted code
//	diff.go     Diff: a unified diff between two revisions
//	pool.go     Register: load stored environments into a worker pool
//	select.go   Select: the environments a job runs on (the accepted ones
//	            by default, a rejected one only when named, with a
//	            warning); NewExecutor and NewPool: the one place that
//	            builds what runs a selection (in process for built-ins, the
//	            sandbox pool when a stored one is among them), for train,
//	            serve, gen, export, score and the workbench
//	pick.go     Pick: the environments a command names (--env, --all);
//	            PickPool starts a pool of them; WithStore runs a function
//	            on the library over a store file
//	text.go     what `resyn envs` prints: Filter and the list table,
//	            WriteHistory, DiffRevision, Source of a revision
//	files.go    AddFiles (envs add) and EditSource (envs edit: the editor
//	            round trip, which never loses what was typed)
//
// A stored environment with the name of a built-in overrides it (that is
// how a built-in is rejected, tagged or edited). Built-ins without a stored
// record count as accepted.
package library
