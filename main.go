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

var (
	dbFlag      string // --db, the flag every subcommand shares
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
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWorkbench(cmd)
		},
	}
	root.PersistentFlags().StringVar(&dbFlag, "db", "", "store file (default $RESYN_DB or $XDG_DATA_HOME/resyn/resyn.db)")
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

// The help of every command is a text file, docs/cli/<command path, words
// joined by dashes>.txt (docs/cli/envs-list.txt is resyn envs list's),
// embedded in the binary: prose read and reviewed as text, beside the code
// that defines the flags. A file is the one-line summary (Short), a blank
// line, the Long text, then, after a line "--- examples", the Example text.
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

// applyHelp sets the Short, Long and Example of c and its subcommands from
// their help files.
func applyHelp(c *cobra.Command) {
	if b, err := helpFiles.ReadFile("docs/cli/" + helpName(c) + ".txt"); err == nil {
		short, rest, _ := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n\n")
		c.Short = short
		c.Long, c.Example, _ = strings.Cut(rest, "\n--- examples\n")
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

// The store every command works on: dbPath resolves --db, then RESYN_DB,
// then the XDG default; openStoreAt opens a store with RESYN_LOCK_WAIT's
// options (storage.OpenAt); openStore opens dbPath's, (nil, nil) for a
// read-only open where there is no store yet (storage.OpenExisting);
// withLibrary runs fn on the library over it; libraryPool starts a sandbox
// pool of the environments library.Pick chooses (--env names, --all, or
// with anyStored every one not rejected).
func dbPath() string { return storage.ResolvePath(dbFlag) }
func openStoreAt(path string, readOnly bool) (*storage.DB, error) {
	return storage.OpenAt(path, readOnly)
}
func openStore(readOnly bool) (*storage.DB, error) { return storage.OpenExisting(dbPath(), readOnly) }
func withLibrary(readOnly bool, fn func(*library.Library) error) error {
	return library.WithStore(dbPath(), readOnly, fn)
}
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

// jsonOr is a command's output: v as JSON with --json, else what text
// prints.
func jsonOr(asJSON bool, v any, text func() error) error {
	if asJSON {
		return writeJSON(v)
	}
	return text()
}
