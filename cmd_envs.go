package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/library"
	"resyn/core/validate"
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

// newPool starts the sandbox with every built-in environment registered.
func newPool(workers int) (*env.Pool, []*env.Module, error) {
	mods, err := envlib.Modules()
	if err != nil {
		return nil, nil, err
	}
	p, err := env.NewPool(env.PoolOptions{Workers: workers})
	if err != nil {
		return nil, nil, err
	}
	for _, m := range mods {
		p.Register(m)
	}
	return p, mods, nil
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
of the last validation. --status and --tag filter.`,
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
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCATEGORY\tORIGIN\tSTATUS\tVALID\tDIFFICULTY\tTAGS")
			for _, e := range entries {
				valid := e.Validation
				if valid == "" {
					valid = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d-%d\t%s\n", e.Name, e.Category, e.Origin.Kind, e.Status, valid, e.MinDifficulty, e.MaxDifficulty, strings.Join(e.Tags, ","))
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&status, "status", "", "only this status: candidate, accepted or rejected")
	c.Flags().StringVar(&tag, "tag", "", "only environments with this tag")
	return c
}

// writeJSON prints v as every --json output is printed (docs/json.md):
// indented, with <, > and & as themselves (not \u003c: grep finds them),
// also inside JSON the store kept as it was written (reports, configs).
func writeJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := os.Stdout.Write(unescapeHTML(buf.Bytes()))
	return err
}

// unescapeHTML turns the escapes \u003c, \u003e and \u0026 of valid JSON
// back into <, > and &, which JSON strings may hold as they are. An escape
// is one whose backslash is not itself escaped (preceded by an even number
// of backslashes).
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			var c byte
			switch string(b[i+4 : i+6]) {
			case "3c", "3C":
				c = '<'
			case "3e", "3E":
				c = '>'
			case "26":
				c = '&'
			}
			if c != 0 {
				out = append(out, c)
				i += 5
				continue
			}
		}
		out = append(out, b[i])
		if b[i] == '\\' && i+1 < len(b) { // an escape: copy what it escapes
			i++
			out = append(out, b[i])
		}
	}
	return out
}

func newEnvsShowCmd() *cobra.Command {
	var seed int64
	var difficulty int
	var solve, asJSON bool
	c := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one instance of an environment: prompt, state and reference answer",
		Long: `Generates the instance of NAME at --seed and --difficulty (the same on every
machine), prints the prompt the model sees and the state; with --solve also the
reference answer from solve() and the score verify gives it.`,
		Example: `  resyn envs show graph_coloring --seed 3 --difficulty 5 --solve`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := libraryPool(cmd.Context(), 1, args[0], false, false)
			if err != nil {
				return err
			}
			defer p.Close()
			r := p.Run(cmd.Context(), []env.Task{{Env: args[0], Seed: seed, Difficulty: difficulty, Render: true, VerifySolution: solve}})[0]
			if r.Err != nil {
				return r.Err
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
				return writeJSON(out)
			}
			fmt.Printf("── %s  seed %d  difficulty %d ──\n\n%s\n\n── state ──\n%s\n", args[0], seed, difficulty, r.Prompt, prettyJSON(r.State))
			if solve {
				score := "error: " + fmt.Sprint(r.SolutionScore.Err)
				if r.SolutionScore.Err == nil {
					score = fmt.Sprintf("%g", r.SolutionScore.Value)
				}
				fmt.Printf("\n── reference answer (verify → %s) ──\n%s\n", score, r.Solution)
			}
			return nil
		},
	}
	c.Flags().Int64Var(&seed, "seed", 0, "instance seed")
	c.Flags().IntVar(&difficulty, "difficulty", 1, "difficulty level")
	c.Flags().BoolVar(&solve, "solve", false, "also print solve()'s answer and its score")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func prettyJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

func newEnvsValidateCmd() *cobra.Command {
	var asJSON bool
	var seeds int
	c := &cobra.Command{
		Use:   "validate FILE.star…",
		Short: "Run the validation checks on environment files",
		Long: `Loads each file in a sandboxed worker and checks, for every difficulty level and
--seeds seeds a level: deterministic generation, JSON-like state, a prompt asking
for <answer> tags, solve() scoring 1.0, corrupted and random answers scoring
below 1, reward-hacking probes (empty answer, the prompt echoed, the solution
listed with wrong ones, an overlong answer, bare tags) scoring below 1 without
verify raising, diversity across seeds, a time budget per call, and a
difficulty knob that changes something measurable.

Exits 1 when any file fails any check.`,
		Example: `  resyn envs validate my_env.star
  resyn envs validate --json envs/*.star > report.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seeds < 1 {
				return fmt.Errorf("--seeds %d: want at least 1 seed per difficulty level", seeds)
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
				r := validate.File(cmd.Context(), p, f, src, validate.Options{SeedsPerLevel: seeds})
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
			if failed > 0 {
				fmt.Fprintf(os.Stderr, "%d of %d environment(s) failed validation\n", failed, len(args))
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON")
	c.Flags().IntVar(&seeds, "seeds", 20, "seeds per difficulty level")
	return c
}
