// Package library is the workbench's library pane: every environment,
// built-in and stored, with its status, category, tags, validation result
// and calibration; filtering by status and tag, fuzzy search by name; the
// curation actions (accept, reject, tag, note, edit in $EDITOR) and each
// environment's history with the diff of every revision against the one
// before.
//
// It is a view over core/library and does no curation of its own: every
// action is one call of core/library.Library, run as a command so that the
// interface never waits on the store or on validation.
//
// Parts: keys.go (the key map), library.go (the model and its commands),
// view.go (drawing).
package library
