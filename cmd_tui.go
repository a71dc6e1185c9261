package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/llm"
	"resyn/storage"
	"resyn/themes"
	"resyn/trainer/grpo"
	"resyn/trainer/native"
	"resyn/trainer/safetensors"
	"resyn/tui"
	"resyn/tui/panes/training"
)

func init() { register(newWorkbenchCmd) }

func newWorkbenchCmd() *cobra.Command {
	var theme, loadRun string
	c := &cobra.Command{
		Use:   "workbench",
		Short: "Open the workbench (the same as running resyn with no arguments)",
		Long: `Opens the keyboard-driven workbench on the store: the environment library
(built-in and stored) with curation, the preview-and-verify pane, synthesis
and training. Press ? in any pane for its keys, 1–4 or Tab to switch panes,
q to quit.

The theme is --theme, else $RESYN_THEME, else dark: dark, light,
high-contrast. NO_COLOR (set to anything) turns colour off whatever the
theme.`,
		Example: `  resyn
  resyn workbench --theme light
  RESYN_THEME=high-contrast resyn --db /tmp/scratch.db
  resyn --db /tmp/demo.db workbench --load-run testdata/train-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if theme != "" {
				os.Setenv("RESYN_THEME", theme)
			}
			workbenchLoadRun = loadRun
			return runWorkbench(cmd)
		},
	}
	c.Flags().StringVar(&theme, "theme", "", "colour theme: dark, light, high-contrast")
	c.Flags().StringVar(&loadRun, "load-run", "", "import a recorded training run (a folder like testdata/train-run) into the store first")
	return c
}

// workbenchLoadRun is --load-run of `resyn workbench`.
var workbenchLoadRun string

// runWorkbench opens the store and runs the TUI until the user quits.
func runWorkbench(cmd *cobra.Command) error {
	th, err := themes.Select(os.Getenv("RESYN_THEME"))
	if err != nil {
		return err
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
	if workbenchLoadRun != "" {
		id, err := training.LoadRecorded(db, workbenchLoadRun)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "imported %s as training run %d\n", workbenchLoadRun, id)
	}
	return tui.Run(cmd.Context(), tui.Options{Store: db, StorePath: path, Theme: th,
		OpenLLM: openWorkbenchLLM, Provider: workbenchProvider(), StartTraining: workbenchTraining(db)})
}

// workbenchProvider is the provider the synthesis pane starts with: the one
// whose key (or base URL) is set, else the recorded demo. Unlike
// resolveProvider it prints nothing: the terminal belongs to the TUI.
func workbenchProvider() string {
	switch {
	case os.Getenv("OPENAI_API_KEY") != "" || os.Getenv("OPENAI_BASE_URL") != "":
		return "openai"
	case os.Getenv("ANTHROPIC_API_KEY") != "":
		return "anthropic"
	}
	return "replay"
}

// openWorkbenchLLM opens a provider for the synthesis pane, as
// `resyn synth` does (replay without a file plays the built-in demo).
func openWorkbenchLLM(provider, model string) (llm.Provider, bool, error) {
	return openProvider(providerFlags{provider: provider, model: model, concurrency: 8}, &llm.Meter{})
}

// workbenchTraining returns what the training pane's t key runs: the
// tiny-cpu preset, as `resyn train --preset tiny-cpu` sets it up, recording
// into the workbench's store, with its events on a channel instead of
// stderr (the terminal belongs to the TUI).
func workbenchTraining(db *storage.DB) func(context.Context) (<-chan grpo.Event, error) {
	return func(ctx context.Context) (<-chan grpo.Event, error) {
		mods, err := envlib.Modules()
		if err != nil {
			return nil, err
		}
		ex := env.NewLocal(env.DefaultLimits(), 0)
		for _, m := range mods {
			ex.Register(m)
		}
		p := grpo.TinyCPU()
		tok, err := p.Tokenizer(ctx, ex)
		if err != nil {
			ex.Close()
			return nil, err
		}
		model, hfCfg, err := p.NewModel(tok, 0)
		if err != nil {
			ex.Close()
			return nil, err
		}
		cfg := p.Config
		if cfg.MaxPromptTokens+cfg.MaxNewTokens > model.Config().MaxSeqLen {
			cfg.MaxPromptTokens = model.Config().MaxSeqLen - cfg.MaxNewTokens
		}
		tr, err := grpo.New(grpo.Options{
			Config: cfg, Model: grpo.Native(model), ModelConfig: hfCfg, Tokenizer: tok, Executor: ex,
			Store: db, Name: p.Name + " (workbench)", Source: "preset:" + p.Name,
			Dir: filepath.Join(filepath.Dir(dbPath()), "runs", time.Now().Format("20060102-150405")),
			NewReference: func(ws []safetensors.Tensor) (grpo.Model, error) {
				m, err := native.New(model.Config())
				if err != nil {
					return nil, err
				}
				ref := grpo.Native(m)
				return ref, ref.SetTensors(grpo.Weights, ws)
			},
		})
		if err != nil {
			model.Close()
			ex.Close()
			return nil, err
		}
		in := tr.Start(ctx)
		out := make(chan grpo.Event, 64)
		go func() {
			defer close(out)
			defer ex.Close()
			defer model.Close()
			for e := range in {
				out <- e
			}
		}()
		return out, nil
	}
}
