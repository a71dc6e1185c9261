package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui"
	"resyn/tui/panes/training"
)

func init() { register(newWorkbenchCmd) }

func newWorkbenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "workbench",
		Short: "Open the workbench (the same as running resyn with no arguments)",
		Long: `Opens the keyboard-driven workbench on the store: the environment library
(built-in and stored) with curation, the preview-and-verify pane, synthesis
and training. Press ? in any pane for its keys, 1–4 or Tab to switch panes,
q to quit. ` + "`resyn`" + ` with no arguments is the same command, with the same flags.

The theme is --theme, else $RESYN_THEME, else dark: dark, light,
high-contrast. NO_COLOR (set to anything) turns colour off whatever the
theme. The mouse selects, sorts (a click on a header) and scrolls; with
--no-mouse the terminal keeps it (for its own text selection; most
terminals also select with shift held down).`,
		Example: `  resyn
  resyn --theme light
  resyn workbench --theme high-contrast --no-mouse
  RESYN_THEME=high-contrast resyn --db /tmp/scratch.db
  resyn --db /tmp/demo.db workbench --load-run testdata/train-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runWorkbench(cmd) },
	}
	addWorkbenchFlags(c)
	return c
}

// workbenchOpts are the flags of `resyn` and `resyn workbench`.
var workbenchOpts struct {
	theme, loadRun string
	noMouse        bool
}

// addWorkbenchFlags gives c the workbench's flags: the root command and
// `resyn workbench` open the same workbench and take the same ones.
func addWorkbenchFlags(c *cobra.Command) {
	c.Flags().StringVar(&workbenchOpts.theme, "theme", "", "colour theme: dark, light, high-contrast (default $RESYN_THEME, else dark)")
	c.Flags().StringVar(&workbenchOpts.loadRun, "load-run", "", "import a recorded training run (a folder like testdata/train-run) into the store first")
	c.Flags().BoolVar(&workbenchOpts.noMouse, "no-mouse", false, "leave the mouse to the terminal (its own text selection)")
}

// runWorkbench opens the store and runs the TUI until the user quits.
func runWorkbench(cmd *cobra.Command) error {
	name := workbenchOpts.theme
	if name == "" {
		name = os.Getenv("RESYN_THEME")
	}
	th, err := themes.Select(name)
	if err != nil {
		if workbenchOpts.theme == "" {
			return fmt.Errorf("$RESYN_THEME: %w", err)
		}
		return fmt.Errorf("--theme: %w", err)
	}
	if th.Mono {
		// No colour, but bold, underline and reverse video (the selection)
		// stay: NO_COLOR is about colour.
		lipgloss.SetColorProfile(termenv.ANSI)
	}
	path := dbPath()
	db, err := openStoreAt(path, false)
	if err != nil {
		switch {
		case errors.Is(err, storage.ErrLocked):
			return fmt.Errorf("cannot open the workbench: %w", err)
		case errors.Is(err, storage.ErrNotStore), errors.Is(err, storage.ErrCorrupt), errors.Is(err, storage.ErrTooNew):
			return fmt.Errorf("cannot open the workbench: %w; pass --db to use another file", err)
		}
		return fmt.Errorf("cannot open the workbench on %s: %w", path, err)
	}
	defer db.Close()
	if workbenchOpts.loadRun != "" {
		id, err := training.LoadRecorded(db, workbenchOpts.loadRun)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "imported %s as training run %d\n", workbenchOpts.loadRun, id)
	}
	return tui.Run(cmd.Context(), tui.Options{Store: db, StorePath: path, Theme: th, NoMouse: workbenchOpts.noMouse,
		OpenLLM: openWorkbenchLLM, Provider: defaultProvider()})
}

// defaultProvider is the provider the synthesis pane starts with
// (llm.DefaultProvider: the one whose key or base URL is set, else the
// recorded demo). Unlike resolveProvider it prints nothing: the terminal
// belongs to the TUI.
func defaultProvider() string {
	p, _ := llm.DefaultProvider()
	return p
}

// openWorkbenchLLM opens a provider for the synthesis pane, as
// `resyn synth` does (replay without a file plays the built-in demo).
func openWorkbenchLLM(provider, model string) (llm.Provider, bool, error) {
	return openProvider(providerFlags{provider: provider, model: model, concurrency: 8}, &llm.Meter{})
}
