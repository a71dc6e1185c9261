package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/library"
	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/storage"
)

func init() {
	registerEnvs(newEnvsAddCmd)
	registerEnvs(func() *cobra.Command { return newEnvsStatusCmd(storage.StatusAccepted) })
	registerEnvs(func() *cobra.Command { return newEnvsStatusCmd(storage.StatusRejected) })
	registerEnvs(newEnvsTagCmd)
	registerEnvs(newEnvsNoteCmd)
	registerEnvs(newEnvsHistoryCmd)
	registerEnvs(newEnvsDiffCmd)
	registerEnvs(newEnvsExportCmd)
	registerEnvs(newEnvsEditCmd)
}

// openStore opens the store at dbPath(). A read-only open shares the file
// with other readers and returns (nil, nil) when no store exists yet, so
// that read-only commands work on a fresh machine from the built-ins.
func openStore(readOnly bool) (*storage.DB, error) {
	db, err := openStoreAt(dbPath(), readOnly)
	if readOnly && errors.Is(err, storage.ErrNoStore) {
		return nil, nil
	}
	return db, err
}

// withLibrary runs fn on the library over the store; readOnly opens the
// store shared and tolerates its absence. Other resyn processes using the
// store at the same time (the workbench, a training or synthesis run) are
// no obstacle: each command takes its turn between their transactions.
func withLibrary(readOnly bool, fn func(*library.Library) error) error {
	db, err := openStore(readOnly)
	if err != nil {
		return err
	}
	if db != nil {
		defer db.Close()
	}
	return fn(library.New(db))
}

// libraryPool starts a sandbox pool holding the chosen environments, built-in
// and stored, and returns their modules. --all (all) means every usable one
// (accepted and not failing validation); names picks by name whatever the
// status; with neither and anyStored, every environment that is not rejected
// is registered (for scoring files that may name any of them). The store is
// open only while the list is read.
func libraryPool(ctx context.Context, workers int, names string, all, anyStored bool) (*env.Pool, []*env.Module, error) {
	var entries []library.Entry
	if err := withLibrary(true, func(l *library.Library) error {
		var err error
		entries, err = l.List()
		return err
	}); err != nil {
		return nil, nil, err
	}
	var chosen []library.Entry
	switch {
	case all:
		for _, e := range entries {
			if e.Usable() {
				chosen = append(chosen, e)
			}
		}
	case names != "":
		byName := map[string]library.Entry{}
		for _, e := range entries {
			byName[e.Name] = e
		}
		for _, n := range strings.Split(names, ",") {
			n = strings.TrimSpace(n)
			e, ok := byName[n]
			if !ok {
				return nil, nil, fmt.Errorf("unknown environment %q (see `resyn envs list`)", n)
			}
			chosen = append(chosen, e)
		}
	case anyStored:
		for _, e := range entries {
			if e.Status != storage.StatusRejected {
				chosen = append(chosen, e)
			}
		}
	default:
		return nil, nil, fmt.Errorf("name environments with --env A,B or use --all (see `resyn envs list`)")
	}
	return library.NewPool(ctx, chosen, library.ExecutorOptions{Workers: workers})
}

func newEnvsAddCmd() *cobra.Command {
	var seeds int
	var keep, asJSON, replace bool
	c := &cobra.Command{
		Use:   "add FILE.star…",
		Short: "Validate environment files and store them as candidates",
		Long: `Validates each file in the sandbox (the checks of ` + "`resyn envs validate`" + `) and
stores it in the library as a candidate, with its validation report, for a
person to accept or reject. A file whose NAME a built-in or a stored
environment already has is refused, before validation, unless --replace: then
it becomes that environment's next revision (tags and notes are kept, status
goes back to candidate). A file that fails validation is not stored unless
--keep-invalid.

Exits 1 when any file fails.`,
		Example: `  resyn envs add my_puzzle.star
  resyn envs add --seeds 5 synthesized/*.star && resyn envs list`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := env.NewPool(env.PoolOptions{})
			if err != nil {
				return err
			}
			defer p.Close()
			return withLibrary(false, func(l *library.Library) error {
				failed := 0
				var reports []*validate.Report
				for _, f := range args {
					src, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					e, rep, err := l.Add(cmd.Context(), p, f, src, library.AddOptions{Validate: validate.Options{SeedsPerLevel: seeds}, KeepInvalid: keep, Replace: replace})
					if rep != nil {
						reports = append(reports, rep)
						if !asJSON {
							validate.WriteText(os.Stderr, rep)
						}
					}
					switch {
					case err != nil:
						failed++
						fmt.Fprintf(os.Stderr, "%v\n", err)
						if e.Stored {
							fmt.Fprintf(os.Stderr, "stored %s as a candidate (revision %d)\n", e.Name, e.Revision)
						}
					default:
						fmt.Fprintf(os.Stderr, "stored %s as a candidate (revision %d); `resyn envs accept %s` puts it in use\n", e.Name, e.Revision, e.Name)
					}
				}
				if asJSON {
					b, err := validate.MarshalReports(reports)
					if err != nil {
						return err
					}
					os.Stdout.Write(append(b, '\n'))
				}
				if failed > 0 {
					return exitError{1}
				}
				return nil
			})
		},
	}
	c.Flags().IntVar(&seeds, "seeds", 20, "seeds per difficulty level for validation")
	c.Flags().BoolVar(&keep, "keep-invalid", false, "store files that fail validation too (as candidates)")
	c.Flags().BoolVar(&replace, "replace", false, "let a file take the NAME of a built-in or stored environment (it becomes that one's next revision)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the validation reports as JSON on stdout")
	return c
}

func newEnvsStatusCmd(s storage.Status) *cobra.Command {
	verb := map[storage.Status]string{storage.StatusAccepted: "accept", storage.StatusRejected: "reject"}[s]
	var why string
	c := &cobra.Command{
		Use:   verb + " NAME…",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " environments",
		Long: fmt.Sprintf(`Marks each named environment %s. Accepted environments are the ones gen --all,
export and training use; rejected ones stay in the store, with their history,
and are used nowhere. Built-ins count as accepted until a person says otherwise.
Each change is a new revision (see `+"`resyn envs history`"+`); --why keeps the reason
as a note.`, s),
		Example: fmt.Sprintf("  resyn envs %s knapsack_variant\n  resyn envs %s maze_v2 --why \"duplicate of maze\"", verb, verb),
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(false, func(l *library.Library) error {
				for _, name := range args {
					e, err := l.SetStatus(name, s, why)
					if err != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "%s: %s (revision %d)\n", name, e.Status, e.Revision)
				}
				return nil
			})
		},
	}
	c.Flags().StringVar(&why, "why", "", "the reason, kept as a note")
	return c
}

func newEnvsTagCmd() *cobra.Command {
	var remove bool
	c := &cobra.Command{
		Use:   "tag NAME TAG…",
		Short: "Add (or with --remove, remove) tags of an environment",
		Long: `Tags group environments for filtering, export and training mixes. The first
tag is the environment's category. Tags are 1–64 characters of a-z, 0-9 and
- _ . : /.`,
		Example: `  resyn envs tag maze easy curriculum:stage1
  resyn envs tag maze --remove easy`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(false, func(l *library.Library) error {
				add, rm := args[1:], []string(nil)
				if remove {
					add, rm = nil, args[1:]
				}
				e, err := l.Tag(args[0], add, rm)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s: tags %s (revision %d)\n", e.Name, strings.Join(e.Tags, ","), e.Revision)
				return nil
			})
		},
	}
	c.Flags().BoolVar(&remove, "remove", false, "remove the tags instead")
	return c
}

func newEnvsNoteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "note NAME TEXT…",
		Short:   "Add a dated note to an environment",
		Long:    `Appends a note (the rest of the arguments, joined by spaces) to the environment's record.`,
		Example: `  resyn envs note maze "prompts get long above level 8"`,
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(false, func(l *library.Library) error {
				e, err := l.Note(args[0], strings.Join(args[1:], " "))
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s: %d note(s) (revision %d)\n", e.Name, len(e.Notes), e.Revision)
				return nil
			})
		},
	}
}

func newEnvsHistoryCmd() *cobra.Command {
	var asJSON, diffs bool
	c := &cobra.Command{
		Use:   "history NAME",
		Short: "List every revision of an environment",
		Long: `Every change to a stored environment — added, source edited, accepted,
rejected, tagged, noted — is a revision; none is ever overwritten. Lists them
oldest first; --diff also prints what each revision changed.`,
		Example: `  resyn envs history maze
  resyn envs history maze --diff | less`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(true, func(l *library.Library) error {
				h, err := l.History(args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(h)
				}
				t := textout.NewTable("REV", "TIME", "STATUS", "HASH", "CHANGE").Wrapping(4).RightAligned(0)
				for _, r := range h {
					when := "-"
					if !r.Time.IsZero() {
						when = r.Time.Local().Format("2006-01-02 15:04:05")
					}
					t.Row(fmt.Sprint(r.Revision), when, string(r.Status), env.SourceHash([]byte(r.Source)), r.Change)
				}
				if err := t.Write(os.Stdout, textout.OutputWidth(os.Stdout)); err != nil {
					return err
				}
				if diffs {
					for i := 1; i < len(h); i++ {
						fmt.Printf("\n── revision %d → %d: %s ──\n%s", h[i-1].Revision, h[i].Revision, h[i].Change, library.Diff(h[i-1], h[i]))
					}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the revisions as JSON")
	c.Flags().BoolVar(&diffs, "diff", false, "print each revision's changes")
	return c
}

func newEnvsDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff NAME [REV]",
		Short: "Show what a revision changed against the one before",
		Long: `Prints the changed fields and a unified diff of the source between revision REV
(default: the latest) and the revision before it. A built-in's first stored
revision is compared with the embedded source.`,
		Example: `  resyn envs diff maze
  resyn envs diff maze 3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(true, func(l *library.Library) error {
				h, err := l.History(args[0])
				if err != nil {
					return err
				}
				i := len(h) - 1
				if len(args) == 2 {
					rev, err := strconv.ParseUint(args[1], 10, 64)
					if err != nil {
						return fmt.Errorf("revision %q: not a number", args[1])
					}
					i = -1
					for j, r := range h {
						if r.Revision == rev {
							i = j
						}
					}
					if i < 0 {
						return fmt.Errorf("%s has no revision %d (see `resyn envs history %s`)", args[0], rev, args[0])
					}
				}
				prev := storage.Env{Name: args[0]}
				if i > 0 {
					prev = h[i-1]
				} else if src, ok := envlib.Get(args[0]); ok && h[i].Revision > 0 {
					prev = storage.Env{Name: args[0], Source: string(src.Code), Status: storage.StatusAccepted, Tags: h[i].Tags}
				}
				fmt.Print(library.Diff(prev, h[i]))
				return nil
			})
		},
	}
}

func newEnvsExportCmd() *cobra.Command {
	var out string
	var rev uint64
	c := &cobra.Command{
		Use:   "export NAME",
		Short: "Write an environment's source to stdout or a file",
		Long:  `Writes the Starlark source of the current (or --revision N) revision of NAME.`,
		Example: `  resyn envs export maze > maze.star
  resyn envs export maze --revision 2 --out maze_v2.star`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(true, func(l *library.Library) error {
				var src string
				if rev == 0 {
					e, err := l.Get(args[0])
					if err != nil {
						return err
					}
					src = e.Source
				} else {
					h, err := l.History(args[0])
					if err != nil {
						return err
					}
					for _, r := range h {
						if r.Revision == rev {
							src = r.Source
						}
					}
					if src == "" {
						return fmt.Errorf("%s has no revision %d (see `resyn envs history %s`)", args[0], rev, args[0])
					}
				}
				if out == "" || out == "-" {
					_, err := os.Stdout.WriteString(src)
					return err
				}
				return writeFileAtomic(out, []byte(src))
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	c.Flags().Uint64Var(&rev, "revision", 0, "revision to export (default the latest)")
	return c
}

// writeFileAtomic writes through a temporary file renamed into place, so a
// crash never leaves a half-written file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func newEnvsEditCmd() *cobra.Command {
	var seeds int
	var keep bool
	c := &cobra.Command{
		Use:   "edit NAME",
		Short: "Edit an environment's source in $EDITOR; re-validate and store it",
		Long: `Opens the current source of NAME in $VISUAL or $EDITOR (default vi). When the
editor exits with the file changed, resyn validates it and stores it as the next
revision (status, tags and notes kept). A version that fails validation is not
stored unless --keep-invalid; the edited file is left in place so nothing you
typed is lost.`,
		Example: `  EDITOR=nano resyn envs edit maze`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := env.NewPool(env.PoolOptions{Workers: 1})
			if err != nil {
				return err
			}
			defer p.Close()
			return withLibrary(false, func(l *library.Library) error {
				e, err := l.Get(args[0])
				if err != nil {
					return err
				}
				dir, err := os.MkdirTemp("", "resyn-edit-")
				if err != nil {
					return err
				}
				path := filepath.Join(dir, e.Name+".star")
				if err := os.WriteFile(path, []byte(e.Source), 0o600); err != nil {
					return err
				}
				editor := os.Getenv("VISUAL")
				if editor == "" {
					editor = os.Getenv("EDITOR")
				}
				if editor == "" {
					editor = "vi"
				}
				ed := exec.CommandContext(cmd.Context(), "sh", "-c", editor+` "$1"`, "editor", path)
				ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := ed.Run(); err != nil {
					return fmt.Errorf("editor %q: %w (your file is kept at %s)", editor, err, path)
				}
				src, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if string(src) == e.Source {
					os.RemoveAll(dir)
					fmt.Fprintln(os.Stderr, "no change")
					return nil
				}
				ne, rep, err := l.Edit(cmd.Context(), p, e.Name, src, library.AddOptions{Validate: validate.Options{SeedsPerLevel: seeds}, KeepInvalid: keep})
				if rep != nil {
					validate.WriteText(os.Stderr, rep)
				}
				if err != nil && !ne.Stored {
					return fmt.Errorf("%w (your edit is kept at %s)", err, path)
				}
				os.RemoveAll(dir)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "%s: revision %d stored\n", ne.Name, ne.Revision)
				return nil
			})
		},
	}
	c.Flags().IntVar(&seeds, "seeds", 20, "seeds per difficulty level for validation")
	c.Flags().BoolVar(&keep, "keep-invalid", false, "store the edit even if it fails validation")
	return c
}
