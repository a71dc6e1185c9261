package tui

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"resyn/storage"
	"resyn/tui/panes/training"
)

// LaunchOptions are what `resyn` and `resyn workbench` open the workbench
// with: the store at StorePath (opened with Open), a recorded training run
// to import first (LoadRun, reported on Log), and the Options given.
type LaunchOptions struct {
	Options
	Open    func(path string) (*storage.DB, error)
	LoadRun string
	Log     io.Writer
}

// Launch opens the store, imports LoadRun when set, and runs the workbench
// until the user quits. A store that cannot be opened is explained: locked
// by another process, or not a store resyn can use (pass --db).
func Launch(ctx context.Context, o LaunchOptions) error {
	if o.Theme.Mono {
		// No colour, but bold, underline and reverse video (the selection)
		// stay: NO_COLOR is about colour.
		lipgloss.SetColorProfile(termenv.ANSI)
	}
	db, err := o.Open(o.StorePath)
	if err != nil {
		switch {
		case errors.Is(err, storage.ErrLocked):
			return fmt.Errorf("cannot open the workbench: %w", err)
		case errors.Is(err, storage.ErrNotStore), errors.Is(err, storage.ErrCorrupt), errors.Is(err, storage.ErrTooNew):
			return fmt.Errorf("cannot open the workbench: %w; pass --db to use another file", err)
		}
		return fmt.Errorf("cannot open the workbench on %s: %w", o.StorePath, err)
	}
	defer db.Close()
	if o.LoadRun != "" {
		id, err := training.LoadRecorded(db, o.LoadRun)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Log, "imported %s as training run %d\n", o.LoadRun, id)
	}
	o.Store = db
	return Run(ctx, o.Options)
}
