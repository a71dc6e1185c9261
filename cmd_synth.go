package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"resyn/core/synth"
	"resyn/core/textout"
	"resyn/llm"
)

// demoRun is the recorded synthesis run that `resyn synth --provider replay`
// plays when no --replay file is given (see testdata/synth/run.jsonl).
//
//go:embed testdata/synth/run.jsonl
var demoRun []byte

func init() { register(newSynthCmd) }

// openProvider opens the provider f names, reporting retries and the
// provider chosen on stderr; demo says it is the built-in demo recording.
func openProvider(f llm.Flags, meter *llm.Meter) (p llm.Provider, demo bool, err error) {
	return f.Open(meter, stderrRetries.Note, os.Stderr, demoRun)
}

// stderrRetries is where every LLM command reports retries.
var stderrRetries = &llm.RetryNotes{W: os.Stderr}

// synthFlags are `resyn synth`'s flags.
type synthFlags struct {
	pf                        llm.Flags
	set                       synth.Settings
	roles                     synth.Roles
	categories, topics, seeds string
	resume                    uint64
	workers                   int
	asJSON, quiet             bool
	sf                        synth.SignalOptions
}

func newSynthCmd() *cobra.Command {
	var f synthFlags
	c := &cobra.Command{
		Use:  "synth",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSynth(cmd, &f) },
	}
	f.pf.Add(c.Flags())
	c.Flags().IntVar(&f.set.N, "n", 10, "candidates to synthesize")
	c.Flags().StringVar(&f.categories, "categories", "", "comma-separated idea categories (default: "+strings.Join(synth.DefaultCategories, ", ")+")")
	c.Flags().StringVar(&f.topics, "topics", "", "comma-separated seed topics for ideation")
	c.Flags().StringVar(&f.seeds, "seeds", "", "seed keywords: builtin (resyn's ~100, see resyn synth seeds) or a FILE with one \"[family:] keyword\" a line")
	c.Flags().IntVar(&f.set.PerSeed, "per-seed", 8, "with --seeds: task proposals asked for per keyword")
	c.Flags().Uint64Var(&f.set.FromRun, "from-run", 0, "harden or replace the environments training run `RUN` saturated or never passed (resyn train signals RUN)")
	f.sf.AddFlags(c.Flags())
	c.Flags().IntVar(&f.set.IdeasPerCall, "ideas-per-call", 5, "ideas asked for per ideation call")
	c.Flags().IntVar(&f.set.Parallel, "parallel", 4, "candidates in flight at once")
	c.Flags().IntVar(&f.set.Repairs, "max-repairs", 3, "repair rounds after the first attempt (0: none)")
	c.Flags().StringVar(&f.roles.SolverModel, "solver-model", "", "calibrate with this model's pass rates (same provider unless --solver-provider)")
	c.Flags().StringVar(&f.roles.SolverProvider, "solver-provider", "", "provider of the solver model (default: the writer's)")
	c.Flags().StringVar(&f.roles.SolverBaseURL, "solver-base-url", "", "base URL of the solver model (default: the writer's)")
	c.Flags().IntVar(&f.roles.SolverSamples, "solver-samples", 4, "instances per difficulty level for calibration")
	c.Flags().BoolVar(&f.roles.RequireTrend, "require-trend", false, "reject candidates whose solver pass rate does not fall significantly with the level (the trend test's p-value above 0.1) instead of flagging them")
	c.Flags().StringVar(&f.roles.JudgeModel, "judge-model", "", "have this model review each valid candidate's code and sample questions, with one revision for what it finds (same provider unless --judge-provider)")
	c.Flags().StringVar(&f.roles.JudgeProvider, "judge-provider", "", "provider of the judge model (default: the writer's)")
	c.Flags().Uint64Var(&f.resume, "resume", 0, "continue run `RUN` (resyn synth runs lists them)")
	c.Flags().IntVar(&f.workers, "workers", 0, "sandbox worker processes (default: one per core)")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print the summary and verdicts as JSON on stdout")
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only verdicts on stderr, not every step")
	c.AddCommand(newSynthRunsCmd(), newSynthSeedsCmd())
	return c
}

// check refuses flags that make no sense, alone or together.
func (f *synthFlags) check(flags *pflag.FlagSet) error {
	return checkFlags(
		flagAtLeast("n", f.set.N, 1, "at least 1 (candidates to synthesize)"),
		flagAtLeast("parallel", f.set.Parallel, 1, "at least 1 (candidates in flight)"),
		flagAtLeast("max-repairs", f.set.Repairs, 0, "0 (no repair) or more"),
		flagAtLeast("ideas-per-call", f.set.IdeasPerCall, 1, "at least 1"),
		flagAtLeast("solver-samples", f.roles.SolverSamples, 1, "at least 1 (instances per difficulty level)"),
		flagAtLeast("concurrency", f.pf.Concurrency, 1, "at least 1 (LLM requests in flight)"),
		flagAtLeast("workers", f.workers, 0, "0 (one per core) or more"),
		flagAtLeast("per-seed", f.set.PerSeed, 1, "at least 1 (task proposals per seed keyword)"),
		f.sf.CheckFlags(), f.pf.Check(), synth.CheckModes(flags.Changed),
	)
}

// open opens a model of the run besides the writer: the writer's provider
// flags with its own model, provider and base URL (synth.Roles).
func (f *synthFlags) open(meter *llm.Meter) func(model, provider, baseURL string) (llm.Provider, error) {
	return func(model, provider, baseURL string) (llm.Provider, error) {
		pf := f.pf
		pf.Model = model
		if provider != "" {
			pf.Provider = provider
		}
		if baseURL != "" {
			pf.BaseURL = baseURL
		}
		p, _, err := openProvider(pf, meter)
		return p, err
	}
}

// runSynth runs (or resumes) a synthesis run and prints its verdicts.
func runSynth(cmd *cobra.Command, f *synthFlags) error {
	ctx, flags := cmd.Context(), cmd.Flags()
	if err := f.check(flags); err != nil {
		return err
	}
	var pathErr *fs.PathError
	switch seeds, err := synth.LoadSeeds(f.seeds); {
	case errors.As(err, &pathErr):
		return fmt.Errorf("--seeds: %w (or --seeds builtin for resyn's list)", err)
	case err != nil:
		return fmt.Errorf("--seeds %s: %w", f.seeds, err)
	default:
		f.set.Seeds = seeds
	}
	db, err := openStoreAt(dbPath(), false)
	if err != nil {
		return err
	}
	defer db.Close()
	if f.resume != 0 && f.pf.Provider == "" {
		f.pf.Provider, f.pf.Model = synth.ProviderOfRun(db, f.resume, f.pf.Model)
	}
	var meter llm.Meter
	p, demo, err := openProvider(f.pf, &meter)
	if err != nil {
		return err
	}
	f.set.Categories, f.set.Topics, f.set.Signals, f.set.Given = textout.SplitList(f.categories), textout.SplitList(f.topics), f.sf, flags.Changed
	cfg := f.set.Config(demo)
	cfg.Provider, cfg.Model = p.Name(), f.pf.Model
	pl := &synth.Pipeline{LLM: p, DB: db}
	if err := f.roles.Open(pl, &cfg, f.open(&meter)); err != nil {
		return err
	}
	started, err := synth.Execute(ctx, pl, cfg, f.resume, f.workers, &synth.TextPrinter{W: os.Stderr, Quiet: f.quiet}, os.Stdout, f.asJSON)
	if !started || err == nil {
		return err
	}
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "resyn:", err)
	}
	return exitError{code: 1}
}

func newSynthSeedsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:  "seeds",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(synth.DefaultSeeds())
			}
			_, err := io.WriteString(os.Stdout, synth.BuiltinSeedsText())
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the seeds as JSON")
	return c
}

func newSynthRunsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:  "runs",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openStore(true)
			if err != nil || db == nil {
				if err == nil {
					fmt.Fprintln(os.Stderr, "no store yet: no runs")
				}
				return err
			}
			defer db.Close()
			runs, err := synth.Runs(db)
			if err != nil {
				return err
			}
			return jsonOr(asJSON, synth.RunsJSON(runs), func() error { return synth.WriteRuns(os.Stdout, os.Stderr, textout.OutputWidth(os.Stdout), runs) })
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON on stdout")
	return c
}
