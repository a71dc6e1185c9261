package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui"
)

func init() { register(newWorkbenchCmd) }

func newWorkbenchCmd() *cobra.Command {
	c := &cobra.Command{
		Use:  "workbench",
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
	th, err := themes.Resolve(workbenchOpts.theme)
	if err != nil {
		return err
	}
	// The synthesis pane starts on the provider whose key is set, else the
	// demo; unlike resolveProvider this prints nothing (the TUI has the terminal).
	provider, _ := llm.DefaultProvider()
	return tui.Launch(cmd.Context(), tui.LaunchOptions{Open: func(path string) (*storage.DB, error) { return openStoreAt(path, false) },
		LoadRun: workbenchOpts.loadRun, Log: os.Stderr, Options: tui.Options{StorePath: dbPath(), Theme: th,
			NoMouse: workbenchOpts.noMouse, OpenLLM: openWorkbenchLLM, Provider: provider}})
}

// openWorkbenchLLM opens a provider for the synthesis pane with resyn
// synth's defaults (replay without a file plays the built-in demo), writing
// nothing on the terminal the workbench holds. (It once passed no
// --max-tokens, which opening refuses: the pane could open no provider.)
func openWorkbenchLLM(provider, model string) (llm.Provider, bool, error) {
	f := llm.DefaultFlags()
	f.Provider, f.Model = provider, model
	return f.Open(&llm.Meter{}, nil, io.Discard, demoRun)
}
