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
		Use:   "envs",
		Short: "List, inspect, validate and curate environments",
		Long: `Environments are Starlark modules with generate, render, verify and (optionally)
solve functions. resyn ships a built-in library; synthesized and added ones live
in the store.`,
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
		Use:   "list",
		Short: "List built-in and stored environments",
		Long: `Lists every environment: the built-ins that ship with resyn and the ones in the
store (added from files, synthesized, or curated copies of built-ins, which
override them). STATUS is candidate, accepted or rejected; VALID is the result
of the last validation; DIFF the difficulty range; TAGS start with the
category. --status and --tag filter. The table fits the terminal (80 columns
when piped), wrapping the tags; --json has every field.`,
		Example: `  resyn envs list
  resyn envs list --status candidate
  resyn envs list --json | jq -r '.[].name'`,
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
			if asJSON {
				return writeJSON(entries)
			}
			return library.WriteTable(os.Stdout, entries, textout.OutputWidth(os.Stdout))
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
		Use:   "show NAME",
		Short: "Show one instance of an environment: prompt, state and reference answer; score an answer",
		Long: `Generates the instance of NAME at --seed and --difficulty (the same on every
machine), prints the prompt the model sees and the state (lists packed to the
width); with --solve also the reference answer from solve() and the score
verify gives it; with --answer TEXT the score verify gives TEXT, as the
workbench's answer box does: text without </answer> is wrapped in
<answer>…</answer>, text with it is scored as a whole completion (so
"3</answer>" is a format failure, as it would be for a model). The exit status
is 0 whatever the score: --json has it for scripts.`,
		Example: `  resyn envs show graph_coloring --seed 3 --difficulty 5 --solve
  resyn envs show maze --answer RRDD
  resyn envs show maze --answer 'I go right twice <answer>RR</answer>' --json | jq .answer_reward`,
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
			if asJSON {
				return writeJSON(shown.JSON())
			}
			return shown.WriteText(os.Stdout, textout.OutputWidth(os.Stdout))
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
	var pf providerFlags
	c := &cobra.Command{
		Use:   "validate FILE.star…",
		Short: "Run the validation checks on environment files",
		Long: `Loads each file in a sandboxed worker and checks, for every difficulty level and
--seeds seeds a level: deterministic generation, JSON-like state, a prompt asking
for <answer> tags, solve() scoring 1.0, and probes derived from each reference
answer that a careful reviewer would try — the answer damaged (a character,
digit or sign changed, truncated, its first item only, an item dropped, a
subset, duplicates, every item the same, two numbers merged), random text, JSON
and language sentinels, the answer joined with a wrong one by | ; / , newline
or "or", junk near the 16 KB answer cap, the prompt echoed, an empty answer —
each kind judged on its own, without verify raising; distinct prompts at every
level (with an estimate of each level's instance space); and a difficulty knob
that changes what the solver sees or must do.

Budgets are work, not time: 1,000,000 Starlark steps an instance (builtins
charge for theirs) and 1 s of CPU, so the verdict is the same on a busy
machine as on an idle one. Validation stops an environment after its first
few limit violations; docs/validation.md has the details.

With --judge an LLM (any --provider) also reviews the code and sample
questions of each file that passes: does verification need no reference, is
it complete, does difficulty scale, are the questions well specified and free
of loopholes. Its calls can be recorded with --record FILE and played back
with --provider replay --replay FILE.

Exits 1 when any file fails any check.`,
		Example: `  resyn envs validate my_env.star
  resyn envs validate --json envs/*.star > report.json
  resyn envs validate --judge --provider openai --model gpt-4o --record judge.jsonl my_env.star
  resyn envs validate --judge --provider replay --replay judge.jsonl my_env.star`,
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
	pf.add(c)
	return c
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
				return library.WriteHistory(os.Stdout, h, textout.OutputWidth(os.Stdout), diffs)
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
		Use:   "export NAME",
		Short: "Write an environment's source to stdout or a file",
		Long:  `Writes the Starlark source of the current (or --revision N) revision of NAME.`,
		Example: `  resyn envs export maze > maze.star
  resyn envs export maze --revision 2 --out maze_v2.star`,
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
func openJudge(pf providerFlags, record string, meter *llm.Meter) (llm.Provider, error) {
	p, demo, err := openProvider(pf, meter)
	if err != nil {
		return nil, fmt.Errorf("the judge: %w", err)
	}
	return synth.JudgeProvider(p, demo, record)
}
