// Package pane is what every pane of the workbench is and shares: the Pane
// interface, the one Context every pane holds (styles, the library, the
// store, the environment pool, the size), the messages panes send to the
// root model and to each other, and the small pieces of drawing every pane
// needs (cutting text to a width, padding a block to a height).
//
// What it is not for: domain work. Panes call core, trainer and storage;
// this package only describes how they plug into the root model (package
// tui), which routes messages and lays panes out.
//
// Message naming follows the house style: <Pane><Event>Msg inside the pane
// packages; the shared ones here (ErrMsg, InfoMsg, JobStartedMsg,
// JobFinishedMsg, OpenEnvMsg, LibraryChangedMsg) are what the root model
// understands.
package pane
