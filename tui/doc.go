// Package tui is resyn's workbench: a keyboard-driven terminal interface
// over the environment library, the preview-and-verify loop, synthesis and
// training, built with bubbletea, lipgloss and bubbles.
//
// What it is for: the root Model, which lays the panes out (a tab row, the
// current pane, a status bar), routes messages, keeps the list of running
// jobs, shows the help overlay built from the panes' key maps, and asks
// before quitting while a job runs. It does no domain work: the panes (in
// tui/panes/…) call core, trainer and storage, and tui/pane holds what they
// share.
//
// How the parts fit:
//
//	app.go     Model: layout, routing, jobs, quitting
//	keys.go    the global key map (pane numbers, Tab, ?, q)
//	run.go     Options, New and Run (the program with the alternate screen)
//	launch.go  Launch: open the store (explaining why it cannot be), import
//	           a recorded run, Run — what `resyn` and `resyn workbench` call
//	tui/pane   the Pane interface, the shared Context and messages
//	tui/panes/{library,preview,synth,training}
//
// Every pane gets every message that is not a key: each ignores the ones
// that are not its own, so a result that arrives while another pane is in
// front still lands. Keys go to the pane in front, after the global keys —
// except while a pane is reading text (Capturing), when only ctrl+c is
// global.
package tui
