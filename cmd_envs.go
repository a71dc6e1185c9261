package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/library"
	"resyn/core/synth"
	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

func init() { register(newEnvsCmd) }

func newEnvsCmd() *cobra.Command {
	c := &cobra.Command{
		Use: "envs",
	}
	c.AddCommand(newEnvsListCmd(), newEnvsShowCmd(), newEnvsValidateCmd(), newEnvsAddCmd(),
		newEnvsStatusCmd(storage.StatusAccepted), newEnvsStatusCmd(storage.StatusRejected), newEnvsTagCmd(),
		newEnvsNoteCmd(), newEnvsHistoryCmd(), newEnvsDiffCmd(), newEnvsExportCmd(), newEnvsEditCmd())
	return c
}

func newEnvsListCmd() *cobra.Command {
	var asJSON bool
	var status, tag string
	c := &cobra.Command{
		Use:  "list",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := library.CheckStatusFilter(status); err != nil {
				return err
			}
			var entries []library.Entry
			if err := withLibrary(true, func(l *library.Library) (err error) {
				entries, err = l.Filtered(status, tag)
				return err
			}); err != nil {
				return err
			}
			return jsonOr(asJSON, entries, func() error { return library.WriteTable(os.Stdout, entries, textout.OutputWidth(os.Stdout)) })
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&status, "status", "", "only this status: candidate, accepted or rejected")
	c.Flags().StringVar(&tag, "tag", "", "only environments with this tag")
	return c
}

func newEnvsShowCmd() *cobra.Command {
	var seed int64
	var difficulty int
	var solve, asJSON bool
	var answer string
	c := &cobra.Command{
		Use:  "show NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var typed *string
			if cmd.Flags().Changed("answer") {
				if len(answer) > env.MaxAnswerBytes+64 {
					return fmt.Errorf("--answer is %d bytes: an answer over %d bytes is a format failure whatever it says", len(answer), env.MaxAnswerBytes)
				}
				typed = &answer
			}
			p, _, err := libraryPool(cmd.Context(), 1, args[0], false, false)
			if err != nil {
				return err
			}
			defer p.Close()
			shown, err := env.Show(cmd.Context(), p, args[0], seed, difficulty, solve, typed)
			if err != nil {
				return err
			}
			return jsonOr(asJSON, shown.JSON(), func() error { return shown.WriteText(os.Stdout, textout.OutputWidth(os.Stdout)) })
		},
	}
	c.Flags().Int64Var(&seed, "seed", 0, "instance seed")
	c.Flags().IntVar(&difficulty, "difficulty", 1, "difficulty level")
	c.Flags().BoolVar(&solve, "solve", false, "also print solve()'s answer and its score")
	c.Flags().StringVar(&answer, "answer", "", "score this answer (wrapped in <answer></answer> unless it closes one)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newEnvsValidateCmd() *cobra.Command {
	var asJSON, judge bool
	var seeds int
	var record string
	var pf llm.Flags
	c := &cobra.Command{
		Use:  "validate FILE.star…",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seeds < 1 {
				return fmt.Errorf("--seeds %d: want at least 1 seed per difficulty level", seeds)
			}
			if !judge && cmd.Flags().Changed("record") {
				return fmt.Errorf("--record records the judge's calls: use it with --judge")
			}
			var judgeP llm.Provider
			var meter llm.Meter
			if judge {
				var err error
				if judgeP, err = openJudge(pf, record, &meter); err != nil {
					return err
				}
			}
			var text io.Writer
			if !asJSON {
				text = os.Stdout
			}
			reports, failed, err := synth.ValidateFiles(cmd.Context(), args, seeds, judgeP, text)
			if err == nil && asJSON {
				err = validate.WriteReports(os.Stdout, reports)
			}
			if err != nil {
				return err
			}
			if judge {
				fmt.Fprintf(os.Stderr, "judge %s: %s\n", judgeP.Name(), meter.Summary())
			}
			if failed > 0 {
				fmt.Fprintf(os.Stderr, "%d of %d environment(s) failed validation\n", failed, len(args))
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON")
	c.Flags().IntVar(&seeds, "seeds", validate.DefaultSeeds, "seeds per difficulty level")
	c.Flags().BoolVar(&judge, "judge", false, "also have an LLM judge review each file that passes (needs --provider)")
	c.Flags().StringVar(&record, "record", "", "with --judge: append the judge's calls to `FILE` as a replay recording")
	pf.Add(c.Flags())
	return c
}

func newEnvsAddCmd() *cobra.Command {
	var seeds int
	var keep, asJSON, replace bool
	c := &cobra.Command{
		Use:  "add FILE.star…",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(false, func(l *library.Library) error {
				o := library.AddOptions{Validate: validate.Options{SeedsPerLevel: seeds}, KeepInvalid: keep, Replace: replace}
				reports, failed, err := l.AddFiles(cmd.Context(), args, o, os.Stderr, !asJSON)
				if err == nil && asJSON {
					err = validate.WriteReports(os.Stdout, reports)
				}
				if err != nil || failed == 0 {
					return err
				}
				return exitError{1}
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
		Use:  verb + " NAME…",
		Args: cobra.MinimumNArgs(1),
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
		Use:  "tag NAME TAG…",
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
		Use:  "note NAME TEXT…",
		Args: cobra.MinimumNArgs(2),
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
		Use:  "history NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(true, func(l *library.Library) error {
				h, err := l.History(args[0])
				if err != nil {
					return err
				}
				return jsonOr(asJSON, h, func() error { return library.WriteHistory(os.Stdout, h, textout.OutputWidth(os.Stdout), diffs) })
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the revisions as JSON")
	c.Flags().BoolVar(&diffs, "diff", false, "print each revision's changes")
	return c
}

func newEnvsDiffCmd() *cobra.Command {
	return &cobra.Command{
		Use:  "diff NAME [REV]",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := ""
			if len(args) == 2 {
				rev = args[1]
			}
			return withLibrary(true, func(l *library.Library) error {
				d, err := l.DiffRevision(args[0], rev)
				if err == nil {
					_, err = os.Stdout.WriteString(d)
				}
				return err
			})
		},
	}
}

func newEnvsExportCmd() *cobra.Command {
	var out string
	var rev uint64
	c := &cobra.Command{
		Use:  "export NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(true, func(l *library.Library) error {
				src, err := l.Source(args[0], rev)
				if err != nil {
					return err
				}
				return textout.WriteOut(out, []byte(src))
			})
		},
	}
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	c.Flags().Uint64Var(&rev, "revision", 0, "revision to export (default the latest)")
	return c
}

func newEnvsEditCmd() *cobra.Command {
	var seeds int
	var keep bool
	c := &cobra.Command{
		Use:  "edit NAME",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLibrary(false, func(l *library.Library) error {
				o := library.AddOptions{Validate: validate.Options{SeedsPerLevel: seeds}, KeepInvalid: keep}
				return l.EditSource(cmd.Context(), args[0], library.EditorFromEnv(), o)
			})
		},
	}
	c.Flags().IntVar(&seeds, "seeds", 20, "seeds per difficulty level for validation")
	c.Flags().BoolVar(&keep, "keep-invalid", false, "store the edit even if it fails validation")
	return c
}

// openJudge opens the judge's provider (synth.JudgeProvider), recording its
// calls to record when that is set.
func openJudge(pf llm.Flags, record string, meter *llm.Meter) (llm.Provider, error) {
	p, demo, err := openProvider(pf, meter)
	if err != nil {
		return nil, fmt.Errorf("the judge: %w", err)
	}
	return synth.JudgeProvider(p, demo, record)
}
