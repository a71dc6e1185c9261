package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/library"
	"resyn/core/synth"
	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

var envsSubcommands []func() *cobra.Command

// registerEnvs adds a subcommand under `resyn envs`; cmd_*.go files call it from init.
func registerEnvs(f func() *cobra.Command) { envsSubcommands = append(envsSubcommands, f) }

func init() {
	register(newEnvsCmd)
	registerEnvs(newEnvsShowCmd)
	registerEnvs(newEnvsValidateCmd)
}

func newEnvsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "envs",
		Short: "List, inspect, validate and curate environments",
		Long: `Environments are Starlark modules with generate, render, verify and (optionally)
solve functions. resyn ships a built-in library; synthesized and added ones live
in the store.`,
	}
	c.AddCommand(newEnvsListCmd())
	for _, f := range envsSubcommands {
		c.AddCommand(f())
	}
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
			switch storage.Status(status) {
			case "", storage.StatusCandidate, storage.StatusAccepted, storage.StatusRejected:
			default:
				return fmt.Errorf("--status %q: want candidate, accepted or rejected", status)
			}
			var entries []library.Entry
			if err := withLibrary(true, func(l *library.Library) error {
				var err error
				entries, err = l.List()
				return err
			}); err != nil {
				return err
			}
			kept := entries[:0]
			for _, e := range entries {
				if (status == "" || string(e.Status) == status) && (tag == "" || slices.Contains(e.Tags, tag)) {
					kept = append(kept, e)
				}
			}
			entries = kept
			if asJSON {
				if entries == nil {
					entries = []library.Entry{}
				}
				return writeJSON(entries)
			}
			t := textout.NewTable("NAME", "STATUS", "VALID", "DIFF", "ORIGIN", "TAGS").Wrapping(5)
			for _, e := range entries {
				valid := e.Validation
				if valid == "" {
					valid = "-"
				}
				t.Row(e.Name, string(e.Status), valid, fmt.Sprintf("%d-%d", e.MinDifficulty, e.MaxDifficulty), string(e.Origin.Kind), strings.Join(e.Tags, ","))
			}
			return t.Write(os.Stdout, textout.OutputWidth(os.Stdout))
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
			if cmd.Flags().Changed("answer") && len(answer) > env.MaxAnswerBytes+64 {
				return fmt.Errorf("--answer is %d bytes: an answer over %d bytes is a format failure whatever it says", len(answer), env.MaxAnswerBytes)
			}
			p, _, err := libraryPool(cmd.Context(), 1, args[0], false, false)
			if err != nil {
				return err
			}
			defer p.Close()
			r := p.Run(cmd.Context(), []env.Task{{Env: args[0], Seed: seed, Difficulty: difficulty, Render: true, VerifySolution: solve}})[0]
			if r.Err != nil {
				return r.Err
			}
			var reward *env.Reward
			if cmd.Flags().Changed("answer") {
				rw := env.ScoreCompletions(cmd.Context(), p, []env.ScoreItem{{Env: args[0], Seed: seed, Difficulty: difficulty,
					State: r.State, Completion: env.TypedCompletion(answer)}})[0]
				reward = &rw
			}
			if asJSON {
				out := map[string]any{"env": args[0], "seed": seed, "difficulty": difficulty, "prompt": r.Prompt, "state": r.State}
				if solve {
					out["solution"] = r.Solution
					if r.SolutionScore.Err != nil {
						out["solution_error"] = r.SolutionScore.Err.Error()
					} else {
						out["solution_score"] = r.SolutionScore.Value
					}
				}
				if reward != nil {
					out["answer"] = answer
					out["answer_reward"] = reward
				}
				return writeJSON(out)
			}
			width := textout.OutputWidth(os.Stdout)
			fmt.Printf("── %s  seed %d  difficulty %d ──\n\n%s\n\n── state ──\n%s\n", args[0], seed, difficulty, r.Prompt, env.FormatState(r.State, width))
			if solve {
				score := "error: " + fmt.Sprint(r.SolutionScore.Err)
				if r.SolutionScore.Err == nil {
					score = fmt.Sprintf("%g", r.SolutionScore.Value)
				}
				fmt.Printf("\n── reference answer (verify → %s) ──\n%s\n", score, r.Solution)
			}
			if reward != nil {
				fmt.Printf("\n── your answer ──\n%s\n%s\n", answer, verdictLine(*reward))
			}
			return nil
		},
	}
	c.Flags().Int64Var(&seed, "seed", 0, "instance seed")
	c.Flags().IntVar(&difficulty, "difficulty", 1, "difficulty level")
	c.Flags().BoolVar(&solve, "solve", false, "also print solve()'s answer and its score")
	c.Flags().StringVar(&answer, "answer", "", "score this answer (wrapped in <answer></answer> unless it closes one)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// verdictLine says what verify made of an answer, as the workbench does.
func verdictLine(r env.Reward) string {
	switch {
	case r.Kind != env.KindOK:
		return fmt.Sprintf("✗ score %.3g  %s: %s", r.Score, r.Kind, r.Error)
	case r.Score >= 1:
		return fmt.Sprintf("✓ score %.3g  ok (correct)", r.Score)
	case r.Score > 0:
		return fmt.Sprintf("◐ score %.3g  ok (partial credit)", r.Score)
	}
	return fmt.Sprintf("✗ score %.3g  ok (wrong)", r.Score)
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
			var judgeP llm.Provider
			var meter llm.Meter
			if judge {
				var err error
				if judgeP, err = openJudge(pf, record, &meter); err != nil {
					return err
				}
			} else if cmd.Flags().Changed("record") {
				return fmt.Errorf("--record records the judge's calls: use it with --judge")
			}
			p, err := env.NewPool(env.PoolOptions{})
			if err != nil {
				return err
			}
			defer p.Close()
			var reports []*validate.Report
			failed := 0
			for _, f := range args {
				src, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				r := validateWithJudge(cmd.Context(), p, f, src, seeds, judgeP)
				reports = append(reports, r)
				if !r.OK {
					failed++
				}
				if !asJSON {
					validate.WriteText(os.Stdout, r)
				}
			}
			if asJSON {
				b, err := validate.MarshalReports(reports)
				if err != nil {
					return err
				}
				os.Stdout.Write(append(b, '\n'))
			}
			if judge {
				u := meter.Usage()
				calls, errs := meter.Calls()
				fmt.Fprintf(os.Stderr, "judge %s: %d calls (%d failed), %d+%d tokens\n", judgeP.Name(), calls+errs, errs, u.PromptTokens, u.CompletionTokens)
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

// openJudge opens the judge's provider, recording its calls to record when
// that is set.
func openJudge(pf providerFlags, record string, meter *llm.Meter) (llm.Provider, error) {
	p, demo, err := openProvider(pf, meter)
	if err != nil {
		return nil, fmt.Errorf("the judge: %w", err)
	}
	if demo {
		return nil, fmt.Errorf("--judge needs a model: name one with --provider and --model, or a recording of judge replies with --provider replay --replay FILE")
	}
	if record != "" {
		f, err := os.OpenFile(record, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--record: %w", err)
		}
		// The file stays open for the command's life; each call is one line.
		p = llm.NewRecorder(p, f)
	}
	return p, nil
}

// validateWithJudge validates one file and, when judge is set and the
// checks pass, has the judge review it.
func validateWithJudge(ctx context.Context, p *env.Pool, file string, src []byte, seeds int, judge llm.Provider) *validate.Report {
	start := time.Now()
	m, err := p.Load(ctx, file, src)
	if err != nil {
		return validate.LoadFailed(file, src, err, time.Since(start))
	}
	r := validate.Run(ctx, p, m, validate.Options{SeedsPerLevel: seeds})
	if judge != nil {
		if r.OK {
			j, err := synth.Judge(ctx, judge, p, m, synth.CallOptions{})
			synth.AddJudgement(r, j, err)
		} else {
			r.Checks = append(r.Checks, validate.Check{Name: validate.CheckJudge, Skipped: true, Detail: "skipped: the other checks fail (the judge reviews what passes them)"})
		}
	}
	r.Elapsed = time.Since(start)
	return r
}
