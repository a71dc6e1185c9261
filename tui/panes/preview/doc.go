// Package preview is the workbench's preview-and-verify pane: one
// environment's instance at a seed and difficulty (keys change both), its
// prompt, its state as pretty JSON (folded when long) and the reference
// answer with the score verify gives it; an input where the user types an
// answer and sees the verifier's score and result kind as they type; and
// the validation report, failing checks first and highlighted.
//
// Everything runs in the workbench's worker pool (stored environments are
// untrusted code) from commands, so a slow or hostile environment never
// blocks the interface: a stale result (for a seed or answer the user has
// moved past) is recognised by its sequence number and dropped.
//
// Parts: keys.go (the key map), preview.go (the model and its commands),
// view.go (drawing).
package preview
