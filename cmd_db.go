package main

import (
	"fmt"
	"os"
	"resyn/core/textout"
	"resyn/storage"

	"github.com/spf13/cobra"
)

func init() { register(newDBCmd) }

func newDBCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "db",
		Short: "Inspect, check and back up the store",
		Long: `resyn keeps all of its state in one bbolt file: the environment library with
every revision, synthesis runs, datasets, training runs and their metrics. It is
at --db, $RESYN_DB or $XDG_DATA_HOME/resyn/resyn.db (default
~/.local/share/resyn/resyn.db). One resyn writes to it at a time; a second one
is told so within a second instead of hanging.`,
	}
	c.AddCommand(newDBInfoCmd(), newDBBackupCmd(), newDBCheckCmd())
	return c
}

func newDBInfoCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "info",
		Short:   "Print the store's path, size, schema version and record counts",
		Long:    `Opens the store read-only (alongside other readers) and prints what it holds.`,
		Example: "  resyn db info\n  resyn --db /data/team.db db info --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withExistingStore("no store at %s yet (it is created the first time resyn writes to it)", func(db *storage.DB) error {
				in, err := db.Info()
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(in)
				}
				t := textout.NewTable("", "").Wrapping(1)
				t.Headless = true
				for _, row := range in.Rows() {
					t.Row(row[0], row[1])
				}
				return t.Write(os.Stdout, textout.OutputWidth(os.Stdout))
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newDBBackupCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE",
		Long: `Copies the store in one read transaction, so the copy is the state at one
moment, also while other resyn processes (the workbench, a training or
synthesis run) write to it: their writes wait while the file is copied — the
copy takes its turn after the transaction in progress, however busy they are —
and go on after. The copy is then checked on its own bytes (the page walk,
bbolt's check, every record decoded) and renamed into place, so FILE is never
half a store nor a damaged one: a store with damaged pages fails here and
writes nothing. The copy is itself a store: open it with --db FILE.

An existing FILE (an earlier backup, say) is replaced only with --force.`,
		Example: "  resyn db backup ~/backups/resyn-$(date +%F).db",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := os.Lstat(args[0]); err == nil && !force {
				return fmt.Errorf("%s exists; pass --force to replace it with the backup", args[0])
			}
			return withExistingStore("no store at %s to back up", func(db *storage.DB) error {
				n, err := db.BackupFile(args[0])
				if err == nil {
					fmt.Fprintf(os.Stderr, "wrote %s (%s), checked\n", args[0], storage.HumanBytes(n))
				}
				return err
			})
		},
	}
	c.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return c
}

func newDBCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Check the store's consistency and decode every record",
		Long: `Runs bbolt's page-level consistency check (every page reachable or free, none
used twice, keys in order), then decodes every record. Prints each problem and
exits 1 when there is any. The file is opened read-only and never modified.`,
		Example: "  resyn db check && echo healthy",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return withExistingStore("no store at %s", func(db *storage.DB) error {
				problems, err := db.Check()
				if err != nil {
					return err
				}
				for _, p := range problems {
					fmt.Println(p)
				}
				if len(problems) > 0 {
					fmt.Fprintf(os.Stderr, "%s: %d problem(s)\n", db.Path(), len(problems))
					return exitError{1}
				}
				fmt.Fprintf(os.Stderr, "%s: ok\n", db.Path())
				return nil
			})
		},
	}
}

// withExistingStore runs fn on the store opened read-only (shared with other
// readers); where there is none the error is missing, formatted with the
// path.
func withExistingStore(missing string, fn func(*storage.DB) error) error {
	db, err := openStore(true)
	if err != nil {
		return err
	}
	if db == nil {
		return fmt.Errorf(missing, dbPath())
	}
	defer db.Close()
	return fn(db)
}
