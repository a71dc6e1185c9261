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
	"time"

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

// providerFlags are the flags every LLM-using command shares.
type providerFlags struct {
	provider, model, baseURL, apiKey, replay string
	concurrency, maxTokens                   int
	timeout, retryBase                       time.Duration
}

func (f *providerFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.provider, "provider", "", "openai (any OpenAI-compatible server), anthropic or replay (default: from the API key variables, else replay)")
	c.Flags().StringVar(&f.model, "model", "", "model name")
	c.Flags().StringVar(&f.baseURL, "base-url", "", "API base URL (default $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL, else the vendor's)")
	c.Flags().StringVar(&f.apiKey, "api-key", "", "API key (default $OPENAI_API_KEY / $ANTHROPIC_API_KEY)")
	c.Flags().StringVar(&f.replay, "replay", "", "with --provider replay: the recorded run to play (default: the built-in demo recording)")
	c.Flags().IntVar(&f.concurrency, "concurrency", 8, "LLM requests in flight at once")
	c.Flags().IntVar(&f.maxTokens, "max-tokens", 8192, "most tokens one reply may take (max_tokens); a server whose context is shorter than the prompt plus this (vLLM --max-model-len) refuses the call with a 400 that says which value fits")
	c.Flags().DurationVar(&f.timeout, "request-timeout", 10*time.Minute, "longest one LLM request may take before it is abandoned and retried (a hung server)")
	c.Flags().DurationVar(&f.retryBase, "retry-base", time.Second, "first pause before retrying a failed LLM request, doubling each time up to 60 times it (a Retry-After asking for longer wins)")
}

// check refuses durations that cannot work.
func (f *providerFlags) check() error {
	switch {
	case f.timeout <= 0:
		return fmt.Errorf("--request-timeout %v: must be positive (how long one LLM request may take)", f.timeout)
	case f.retryBase <= 0:
		return fmt.Errorf("--retry-base %v: must be positive (the first pause before a retry)", f.retryBase)
	}
	return nil
}

// openProvider opens an LLM provider; demo reports whether it is the
// built-in demo recording.
func openProvider(f providerFlags, meter *llm.Meter) (p llm.Provider, demo bool, err error) {
	if f.maxTokens < 1 {
		return nil, false, fmt.Errorf("--max-tokens %d: want at least 1 (the most tokens one reply may take)", f.maxTokens)
	}
	return llm.OpenOrDemo(llm.Config{
		Provider: llm.ResolveProvider(f.provider, os.Stderr), Model: f.model, BaseURL: f.baseURL, APIKey: f.apiKey, ReplayFile: f.replay,
		MaxConcurrency: f.concurrency, MaxTokens: f.maxTokens, Meter: meter, OnRetry: stderrRetries.Note, Timeout: f.timeout,
		BackoffBase: f.retryBase, BackoffMax: 60 * f.retryBase,
	}, demoRun)
}

// stderrRetries is where every LLM command reports retries.
var stderrRetries = &llm.RetryNotes{W: os.Stderr}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// synthFlags are `resyn synth`'s flags.
type synthFlags struct {
	pf                        providerFlags
	set                       synth.Settings
	roles                     synth.Roles
	categories, topics, seeds string
	resume                    uint64
	workers                   int
	asJSON, quiet             bool
	sf                        signalFlags
}

func newSynthCmd() *cobra.Command {
	var f synthFlags
	c := &cobra.Command{
		Use:   "synth",
		Short: "Synthesize environments with an LLM: ideas, code, validation and repair",
		Long: `Runs the synthesis pipeline: the model proposes task ideas per category, or
with --seeds per seed keyword (--per-seed proposals each, as the ReSyn paper
does with about 100 keywords; --seeds builtin is resyn's list, resyn synth
seeds prints it), duplicates of the store and of one another dropped; it
writes each as a Starlark environment, and every module is
validated in the sandbox; failing checks go back to the model with their line
numbers for up to --max-repairs rounds; validation is the very one of
resyn envs validate (the same checks, seeds and step budgets). With
--judge-model an LLM judge reviews each valid candidate's code and sample
questions (ReSyn's first admission gate), with one revision for what it
finds. With --solver-model a second model solves instances to calibrate the
pass rate per difficulty: environments solved everywhere or nowhere are
flagged, and an exact one-sided trend test checks that the pass rate falls as
the level rises (its p-value is stored with the curve; --require-trend makes
it a gate). Near-duplicates of the library (by rendered
prompts and by behaviour) are rejected. Survivors are stored with status
"candidate" and their full provenance; accept or reject them with resyn envs.

--from-run RUN closes the loop: it reads training run RUN's pass rate per
environment (resyn train signals RUN shows it), and for exactly the
environments that saturated at their top level or stayed at zero at their
bottom one asks the model for a harder version or a replacement, sending the
environment's code and its pass-rate curve. New versions are stored beside the
old ones (NAME_v2, …) as candidates linked to the training run.

Everything is recorded in the store as it happens; a run that is interrupted
(Ctrl-C, a crash) continues with --resume RUN without redoing finished
candidates. Progress goes to stderr, the final table to stdout (--json for
machines).

Providers: --provider openai works with any OpenAI-compatible server (vLLM,
SGLang, Ollama at http://localhost:11434/v1, llama.cpp, OpenAI itself);
--provider anthropic with the Messages API. Keys and URLs come from the flags
or OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY. With no provider and no
key, resyn plays a recorded demo run (--provider replay), so you can watch the
pipeline without any model.`,
		Example: `  resyn synth --provider replay                 # the recorded demo, no key needed
  resyn synth --seeds builtin --per-seed 8 --parallel 32 --concurrency 32 --provider openai --base-url http://gpu:8000/v1 --model M
  resyn synth --seeds my_keywords.txt --n 200 --provider openai --model gpt-4o-mini
  resyn synth --from-run 4 --provider openai --base-url http://gpu:8000/v1 --model M
  resyn synth --n 50 --provider openai --model gpt-4o-mini --categories "logic puzzles,graph algorithms"
  resyn synth --n 20 --provider openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-72B-Instruct \
      --solver-model Qwen/Qwen2.5-7B-Instruct
  resyn synth --provider anthropic --model claude-sonnet-4-5 --n 10
  resyn synth --resume 3
  resyn synth runs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runSynth(cmd, &f) },
	}
	f.pf.add(c)
	c.Flags().IntVar(&f.set.N, "n", 10, "candidates to synthesize")
	c.Flags().StringVar(&f.categories, "categories", "", "comma-separated idea categories (default: "+strings.Join(synth.DefaultCategories, ", ")+")")
	c.Flags().StringVar(&f.topics, "topics", "", "comma-separated seed topics for ideation")
	c.Flags().StringVar(&f.seeds, "seeds", "", "seed keywords: builtin (resyn's ~100, see resyn synth seeds) or a FILE with one \"[family:] keyword\" a line")
	c.Flags().IntVar(&f.set.PerSeed, "per-seed", 8, "with --seeds: task proposals asked for per keyword")
	c.Flags().Uint64Var(&f.set.FromRun, "from-run", 0, "harden or replace the environments training run `RUN` saturated or never passed (resyn train signals RUN)")
	f.sf.add(c)
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
		flagAtLeast("concurrency", f.pf.concurrency, 1, "at least 1 (LLM requests in flight)"),
		flagAtLeast("workers", f.workers, 0, "0 (one per core) or more"),
		flagAtLeast("per-seed", f.set.PerSeed, 1, "at least 1 (task proposals per seed keyword)"),
		f.sf.check(), f.pf.check(), synth.CheckModes(flags.Changed),
	)
}

// open opens a model of the run besides the writer: the writer's provider
// flags with its own model, provider and base URL (synth.Roles).
func (f *synthFlags) open(meter *llm.Meter) func(model, provider, baseURL string) (llm.Provider, error) {
	return func(model, provider, baseURL string) (llm.Provider, error) {
		pf := f.pf
		pf.model = model
		if provider != "" {
			pf.provider = provider
		}
		if baseURL != "" {
			pf.baseURL = baseURL
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
	if f.resume != 0 && f.pf.provider == "" {
		f.pf.provider, f.pf.model = synth.ProviderOfRun(db, f.resume, f.pf.model)
	}
	var meter llm.Meter
	p, demo, err := openProvider(f.pf, &meter)
	if err != nil {
		return err
	}
	f.set.Categories, f.set.Topics, f.set.Signals, f.set.Given = splitList(f.categories), splitList(f.topics), f.sf.options(), flags.Changed
	cfg := f.set.Config(demo)
	cfg.Provider, cfg.Model = p.Name(), f.pf.model
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
		Use:   "seeds",
		Short: "Print the built-in seed keywords of --seeds builtin",
		Long: `Prints resyn's built-in list of about a hundred seed keywords, one
"family: keyword" a line, in the families the ReSyn paper's environments
cover. Save it, edit it, and pass the file to resyn synth --seeds FILE.`,
		Example: `  resyn synth seeds > seeds.txt && $EDITOR seeds.txt && resyn synth --seeds seeds.txt …
  resyn synth seeds --json | jq -r '.[].family' | sort | uniq -c`,
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

// signalFlags say when a training run's pass-rate curve flags an
// environment (resyn synth --from-run, resyn train signals).
type signalFlags struct {
	window int
	high   float64
}

func (f *signalFlags) add(c *cobra.Command) {
	c.Flags().IntVar(&f.window, "signal-window", 10, "training steps at the end of a pass-rate curve that decide whether it saturated or stayed at zero")
	c.Flags().Float64Var(&f.high, "saturation", 0.9, "mean pass rate over the window, at the top level, that counts as saturated")
}

func (f *signalFlags) check() error {
	if f.window < 1 {
		return fmt.Errorf("--signal-window %d: must be at least 1 (training steps)", f.window)
	}
	if !(f.high > 0 && f.high <= 1) {
		return fmt.Errorf("--saturation %v: must be a pass rate in (0, 1]", f.high)
	}
	return nil
}

func (f *signalFlags) options() synth.SignalOptions {
	return synth.SignalOptions{Window: f.window, High: f.high}
}

func newSynthRunsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "runs",
		Short: "List synthesis runs",
		Long: `Lists the synthesis runs in the store with their status, candidates and
token usage. A run whose status is not "done" can be continued with
resyn synth --resume RUN.`,
		Example: `  resyn synth runs
  resyn synth runs --json | jq '.[] | select(.status != "done") | .id'`,
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
			if asJSON {
				return writeJSON(synth.RunsJSON(runs))
			}
			return synth.WriteRuns(os.Stdout, os.Stderr, textout.OutputWidth(os.Stdout), runs)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON on stdout")
	return c
}
