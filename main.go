// Command resyn is a keyboard-driven terminal workbench for reinforcement
// learning on synthesized reasoning environments (after ReSyn, He et al.,
// arXiv 2602.20117). With no arguments it opens the workbench; every
// subcommand is a headless path into the same core functions.
//
// This package is wiring only: flags, subcommands and output. Each group of
// subcommands lives in its own cmd_*.go file and registers itself with
// register, so that the command tree stays in one place without one file
// growing to thousands of lines.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/library"
	"resyn/core/textout"
	"resyn/storage"
)

// globals are the flags every subcommand shares.
type globals struct {
	db string // --db / RESYN_DB
}

var (
	global      globals
	subcommands []func() *cobra.Command
)

// register adds a subcommand constructor; cmd_*.go files call it from init.
func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// exitError carries a process exit status through cobra without printing
// anything more (the command has already reported what went wrong).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "resyn",
		Short:         "A terminal workbench for RL on synthesized reasoning environments",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkbench(cmd)
		},
	}
	root.PersistentFlags().StringVar(&global.db, "db", "", "store file (default $RESYN_DB or $XDG_DATA_HOME/resyn/resyn.db)")
	addWorkbenchFlags(root)
	for _, f := range subcommands {
		root.AddCommand(f())
	}
	for _, c := range root.Commands() {
		refuseUnknownSubcommands(c)
	}
	applyHelp(root)
	return root
}

// The long help and the examples of every command are text files,
// docs/cli/<command path, words joined by dashes>.txt (docs/cli/envs-list.txt
// is resyn envs list's), embedded in the binary: prose read and reviewed as
// text, beside the code that defines the flags. A file is the Long text, then,
// after a line "--- examples", the Example text.
//
//go:embed docs/cli/*.txt
var helpFiles embed.FS

// helpName is the name of c's help file, without docs/cli/ and .txt.
func helpName(c *cobra.Command) string {
	if !c.HasParent() {
		return c.Name()
	}
	return strings.ReplaceAll(strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" "), " ", "-")
}

// applyHelp sets the Long and Example of c and its subcommands from their
// help files.
func applyHelp(c *cobra.Command) {
	if b, err := helpFiles.ReadFile("docs/cli/" + helpName(c) + ".txt"); err == nil {
		c.Long, c.Example, _ = strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n--- examples\n")
	}
	for _, s := range c.Commands() {
		applyHelp(s)
	}
}

// refuseUnknownSubcommands makes every command group (resyn envs, db, …)
// that has no action of its own fail on a word that is not one of its
// subcommands, as the root does: cobra would print the group's help and
// exit 0, so a script with `resyn envs lsit` would not notice.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.SuggestionsMinimumDistance = 2
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return fmt.Errorf("%s (%s --help lists them)", msg, cmd.CommandPath())
	}
}

// dbPath resolves --db, then RESYN_DB, then the XDG default.
func dbPath() string { return storage.ResolvePath(global.db) }

// storeOptions are the options every command opens the store with
// (storage.OptionsFromEnv: RESYN_LOCK_WAIT).
func storeOptions(readOnly bool) (storage.Options, error) { return storage.OptionsFromEnv(readOnly) }

// openStoreAt opens the store at path with storeOptions.
func openStoreAt(path string, readOnly bool) (*storage.DB, error) {
	return storage.OpenAt(path, readOnly)
}

// openStore opens the store at dbPath() (storage.OpenExisting: a read-only
// open where there is no store yet is (nil, nil)).
func openStore(readOnly bool) (*storage.DB, error) { return storage.OpenExisting(dbPath(), readOnly) }

// withLibrary runs fn on the library over the store (library.WithStore).
func withLibrary(readOnly bool, fn func(*library.Library) error) error {
	return library.WithStore(dbPath(), readOnly, fn)
}

// libraryPool starts a sandbox pool of the environments library.Pick
// chooses: --env names, --all, or with anyStored every one not rejected.
func libraryPool(ctx context.Context, workers int, names string, all, anyStored bool) (*env.Pool, []*env.Module, error) {
	return library.PickPool(ctx, dbPath(), workers, names, all, anyStored)
}

func main() {
	// A worker subprocess of the environment sandbox re-executes this binary;
	// it must never reach cobra.
	if env.IsWorkerProcess() {
		env.WorkerMain()
		return
	}
	root := newRootCmd()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "resyn:", err)
		os.Exit(1)
	}
}

// writeJSON prints v on stdout as every --json output is printed.
func writeJSON(v any) error { return textout.WriteJSON(os.Stdout, v) }
