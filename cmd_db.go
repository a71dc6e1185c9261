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
		Use: "db",
	}
	c.AddCommand(newDBInfoCmd(), newDBBackupCmd(), newDBCheckCmd())
	return c
}

func newDBInfoCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:  "info",
		Args: cobra.NoArgs,
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
		Use:  "backup FILE",
		Args: cobra.ExactArgs(1),
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
		Use:  "check",
		Args: cobra.NoArgs,
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
