package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"resyn/core/library"
	"resyn/core/synth"
	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
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

// resolveProvider picks the provider when none was named: OpenAI when its
// key or base URL is set, Anthropic when its key is, else the replay demo,
// with a note on stderr.
func resolveProvider(name string) string {
	if name != "" {
		return strings.ToLower(name)
	}
	p, found := llm.DefaultProvider()
	if !found {
		fmt.Fprintln(os.Stderr, "resyn: no --provider and no OPENAI_API_KEY, OPENAI_BASE_URL or ANTHROPIC_API_KEY: playing the recorded demo run (--provider replay)")
	}
	return p
}

// openProvider opens an LLM provider; demo reports whether it is the
// built-in demo recording.
func openProvider(f providerFlags, meter *llm.Meter) (p llm.Provider, demo bool, err error) {
	if f.maxTokens < 1 {
		return nil, false, fmt.Errorf("--max-tokens %d: want at least 1 (the most tokens one reply may take)", f.maxTokens)
	}
	name := resolveProvider(f.provider)
	if name == "replay" && f.replay == "" {
		r, err := llm.ParseReplay(bytes.NewReader(demoRun))
		if err != nil {
			return nil, false, fmt.Errorf("the built-in demo recording: %w", err)
		}
		return llm.Metered(r, meter), true, nil
	}
	p, err = llm.Open(llm.Config{
		Provider: name, Model: f.model, BaseURL: f.baseURL, APIKey: f.apiKey, ReplayFile: f.replay,
		MaxConcurrency: f.concurrency, MaxTokens: f.maxTokens, Meter: meter, OnRetry: stderrRetries.note, Timeout: f.timeout,
		BackoffBase: f.retryBase, BackoffMax: 60 * f.retryBase,
	})
	return p, false, err
}

// stderrRetries is where every LLM command reports retries.
var stderrRetries = &retryNotes{w: os.Stderr}

// retryNotes prints the LLM client's retries on stderr, so that a server
// that does not answer is visible at once instead of after minutes of
// backoff: the first retry of each kind (rate limited, server error,
// unreachable, …) at once, then at most one every 15 seconds per kind, with
// a count of those not shown, so that a storm of 429s does not flood the
// terminal.
type retryNotes struct {
	mu     sync.Mutex
	w      io.Writer
	last   map[error]time.Time
	hidden map[error]int
}

func (r *retryNotes) note(n llm.RetryNotice) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last, r.hidden = map[error]time.Time{}, map[error]int{}
	}
	var kind error
	if n.Err != nil {
		kind = n.Err.Kind
	}
	now := time.Now()
	if t, ok := r.last[kind]; ok && now.Sub(t) < 15*time.Second {
		r.hidden[kind]++
		return
	}
	r.last[kind] = now
	line := "resyn: " + n.String()
	if h := r.hidden[kind]; h > 0 {
		line += fmt.Sprintf(" [%d similar retries not shown]", h)
		r.hidden[kind] = 0
	}
	fmt.Fprintln(r.w, line)
}

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
	pf                          providerFlags
	solverModel, solverProvider string
	solverBaseURL               string
	judgeModel, judgeProvider   string
	requireTrend                bool
	categories, topics          string
	n, parallel, repairs        int
	ideasPerCall, workers       int
	solverSamples               int
	resume                      uint64
	asJSON, quiet               bool
	seeds                       string
	perSeed                     int
	fromRun                     uint64
	sf                          signalFlags
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
	c.Flags().IntVar(&f.n, "n", 10, "candidates to synthesize")
	c.Flags().StringVar(&f.categories, "categories", "", "comma-separated idea categories (default: "+strings.Join(synth.DefaultCategories, ", ")+")")
	c.Flags().StringVar(&f.topics, "topics", "", "comma-separated seed topics for ideation")
	c.Flags().StringVar(&f.seeds, "seeds", "", "seed keywords: builtin (resyn's ~100, see resyn synth seeds) or a FILE with one \"[family:] keyword\" a line")
	c.Flags().IntVar(&f.perSeed, "per-seed", 8, "with --seeds: task proposals asked for per keyword")
	c.Flags().Uint64Var(&f.fromRun, "from-run", 0, "harden or replace the environments training run `RUN` saturated or never passed (resyn train signals RUN)")
	f.sf.add(c)
	c.Flags().IntVar(&f.ideasPerCall, "ideas-per-call", 5, "ideas asked for per ideation call")
	c.Flags().IntVar(&f.parallel, "parallel", 4, "candidates in flight at once")
	c.Flags().IntVar(&f.repairs, "max-repairs", 3, "repair rounds after the first attempt (0: none)")
	c.Flags().StringVar(&f.solverModel, "solver-model", "", "calibrate with this model's pass rates (same provider unless --solver-provider)")
	c.Flags().StringVar(&f.solverProvider, "solver-provider", "", "provider of the solver model (default: the writer's)")
	c.Flags().StringVar(&f.solverBaseURL, "solver-base-url", "", "base URL of the solver model (default: the writer's)")
	c.Flags().IntVar(&f.solverSamples, "solver-samples", 4, "instances per difficulty level for calibration")
	c.Flags().BoolVar(&f.requireTrend, "require-trend", false, "reject candidates whose solver pass rate does not fall significantly with the level (the trend test's p-value above 0.1) instead of flagging them")
	c.Flags().StringVar(&f.judgeModel, "judge-model", "", "have this model review each valid candidate's code and sample questions, with one revision for what it finds (same provider unless --judge-provider)")
	c.Flags().StringVar(&f.judgeProvider, "judge-provider", "", "provider of the judge model (default: the writer's)")
	c.Flags().Uint64Var(&f.resume, "resume", 0, "continue run `RUN` (resyn synth runs lists them)")
	c.Flags().IntVar(&f.workers, "workers", 0, "sandbox worker processes (default: one per core)")
	c.Flags().BoolVar(&f.asJSON, "json", false, "print the summary and verdicts as JSON on stdout")
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only verdicts on stderr, not every step")
	c.AddCommand(newSynthRunsCmd(), newSynthSeedsCmd())
	return c
}

// check refuses flags that make no sense, alone or together.
func (f *synthFlags) check(flags *pflag.FlagSet) error {
	if err := checkFlags(
		flagAtLeast("n", f.n, 1, "at least 1 (candidates to synthesize)"),
		flagAtLeast("parallel", f.parallel, 1, "at least 1 (candidates in flight)"),
		flagAtLeast("max-repairs", f.repairs, 0, "0 (no repair) or more"),
		flagAtLeast("ideas-per-call", f.ideasPerCall, 1, "at least 1"),
		flagAtLeast("solver-samples", f.solverSamples, 1, "at least 1 (instances per difficulty level)"),
		flagAtLeast("concurrency", f.pf.concurrency, 1, "at least 1 (LLM requests in flight)"),
		flagAtLeast("workers", f.workers, 0, "0 (one per core) or more"),
		flagAtLeast("per-seed", f.perSeed, 1, "at least 1 (task proposals per seed keyword)"),
		f.sf.check(), f.pf.check(),
	); err != nil {
		return err
	}
	modes := 0
	for _, name := range []string{"seeds", "from-run", "resume"} {
		if flags.Changed(name) {
			modes++
		}
	}
	if modes > 1 {
		return fmt.Errorf("--seeds, --from-run and --resume do not go together: choose one")
	}
	if (flags.Changed("seeds") || flags.Changed("from-run")) && flags.Changed("categories") {
		return fmt.Errorf("--categories is for category ideation; --seeds and --from-run replace it")
	}
	return nil
}

// config is the run's synth.Config: the demo's where the built-in demo
// plays, with the flags the user gave on top.
func (f *synthFlags) config(flags *pflag.FlagSet, demo bool, seedList []synth.Seed) synth.Config {
	cfg := synth.Config{}
	if demo {
		cfg = synth.DemoConfig()
	}
	set := func(name string, apply func()) {
		if flags.Changed(name) || !demo {
			apply()
		}
	}
	set("n", func() { cfg.N = f.n })
	set("parallel", func() { cfg.Parallel = f.parallel })
	set("max-repairs", func() {
		cfg.MaxRepairs = f.repairs
		if f.repairs == 0 {
			cfg.MaxRepairs = -1
		}
	})
	set("ideas-per-call", func() { cfg.IdeasPerCall = f.ideasPerCall })
	cfg.Categories, cfg.Topics = splitList(f.categories), splitList(f.topics)
	if seedList != nil {
		cfg.Seeds, cfg.PerSeed = seedList, f.perSeed
		if !flags.Changed("n") {
			cfg.N = 0 // every idea kept
		}
	}
	if f.fromRun != 0 {
		cfg.FromRun, cfg.Signals = f.fromRun, f.sf.options()
		if !flags.Changed("n") {
			cfg.N = 0 // every flagged environment
		}
	}
	return cfg
}

// roles opens the solver's and the judge's models, when named: the
// writer's provider flags with their own model, provider and base URL.
func (f *synthFlags) roles(pl *synth.Pipeline, cfg *synth.Config, meter *llm.Meter) error {
	role := func(model, provider, baseURL string) (llm.Provider, error) {
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
	var err error
	if f.solverModel != "" {
		if pl.Solver, err = role(f.solverModel, f.solverProvider, f.solverBaseURL); err != nil {
			return fmt.Errorf("the solver model: %w", err)
		}
		cfg.SolverModel = f.solverModel
		cfg.Calibrate.Samples = f.solverSamples
		cfg.Calibrate.RequireTrend = f.requireTrend
	}
	if f.judgeModel != "" {
		if pl.Judge, err = role(f.judgeModel, f.judgeProvider, ""); err != nil {
			return fmt.Errorf("the judge model: %w", err)
		}
		cfg.JudgeModel = f.judgeModel
	}
	return nil
}

// runSynth runs (or resumes) a synthesis run and prints its verdicts.
func runSynth(cmd *cobra.Command, f *synthFlags) error {
	ctx, flags := cmd.Context(), cmd.Flags()
	if err := f.check(flags); err != nil {
		return err
	}
	var seedList []synth.Seed
	if f.seeds != "" {
		var err error
		if seedList, err = readSeeds(f.seeds); err != nil {
			return err
		}
	}
	db, err := openStoreAt(dbPath(), false)
	if err != nil {
		return err
	}
	defer db.Close()
	if f.resume != 0 && f.pf.provider == "" {
		f.pf.provider, f.pf.model = providerOfRun(db, f.resume, f.pf.model)
	}
	var meter llm.Meter
	p, demo, err := openProvider(f.pf, &meter)
	if err != nil {
		return err
	}
	cfg := f.config(flags, demo, seedList)
	cfg.Provider, cfg.Model = p.Name(), f.pf.model
	pl := &synth.Pipeline{LLM: p, DB: db}
	if err := f.roles(pl, &cfg, &meter); err != nil {
		return err
	}
	pool, _, err := library.NewPool(ctx, nil, library.ExecutorOptions{Workers: f.workers})
	if err != nil {
		return err
	}
	defer pool.Close()
	// Deduplication and calibration run the candidates under validation's
	// budgets too (steps and CPU time, not the wall clock of a busy
	// machine).
	pool.SetLimits(validate.Limits(validate.Options{}))
	pl.Pool = pool

	pr := &synthPrinter{w: os.Stderr, quiet: f.quiet}
	var sum synth.Summary
	if f.resume != 0 {
		sum, err = pl.Resume(ctx, f.resume, pr.print)
	} else {
		sum, err = pl.Run(ctx, cfg, pr.print)
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "\ninterrupted: continue with `resyn synth --resume %d`\n", pr.runID)
	}
	if pr.runID == 0 {
		return err
	}
	if f.asJSON {
		if jerr := writeJSON(map[string]any{"run": pr.runID, "summary": sum, "verdicts": pr.verdicts}); jerr != nil {
			return jerr
		}
	} else {
		printSynthTable(os.Stdout, pr.runID, sum, pr.verdicts)
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "resyn:", err)
		}
		return exitError{code: 1}
	}
	return nil
}

// readSeeds reads --seeds: "builtin" or a file.
func readSeeds(arg string) ([]synth.Seed, error) {
	if arg == "builtin" {
		return synth.DefaultSeeds(), nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, fmt.Errorf("--seeds: %w (or --seeds builtin for resyn's list)", err)
	}
	defer f.Close()
	s, err := synth.ParseSeeds(f)
	if err != nil {
		return nil, fmt.Errorf("--seeds %s: %w", arg, err)
	}
	return s, nil
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

// providerOfRun is the provider and model stored run id used
// (synth.RunProvider), so that --resume needs no provider flags; a model
// given on the command line wins.
func providerOfRun(db *storage.DB, id uint64, model string) (string, string) {
	var r storage.SynthRun
	_ = db.View(func(tx *storage.Tx) error {
		var err error
		r, err = storage.GetSynthRun(tx, id)
		return err
	})
	prov, m := synth.RunProvider(r)
	if model == "" {
		model = m
	}
	return prov, model
}

// synthPrinter prints a run's events as lines on stderr.
type synthPrinter struct {
	w        io.Writer
	quiet    bool
	runID    uint64
	n        int
	verdicts []synth.VerdictEvent
	done     int           // candidates finished, in this execution and before it
	rate     *textout.Rate // candidates a minute, and the time left
}

func (p *synthPrinter) line(index int, name, format string, args ...any) {
	fmt.Fprintf(p.w, "[%*d] %-24s %s\n", len(strconv.Itoa(p.n)), index+1, name, fmt.Sprintf(format, args...))
}

func (p *synthPrinter) print(e synth.Event) {
	switch e := e.(type) {
	case synth.RunStartedEvent:
		p.started(e)
	case synth.IdeateFailedEvent:
		fmt.Fprintf(p.w, "ideation (%s) failed: %v\n", e.Category, e.Err)
	case synth.SeedIdeatedEvent:
		if e.Err == nil && (!p.quiet || e.Done == e.Total || e.Done%max(1, e.Total/10) == 0) {
			fmt.Fprintf(p.w, "ideation %d/%d seeds: %s: %d proposals\n", e.Done, e.Total, e.Seed.Keyword, e.Proposed)
		}
	case synth.IdeasReadyEvent:
		p.n = len(e.Ideas)
		fmt.Fprintf(p.w, "ideas: %d kept, %d dropped as duplicates\n", len(e.Ideas), len(e.Dropped))
		if !p.quiet {
			for _, d := range e.Dropped {
				fmt.Fprintf(p.w, "  dropped %s (repeats %s, %.0f%% similar)\n", d.Idea.Name, d.SimilarTo, 100*d.Similarity)
			}
		}
	case synth.CandidateStartedEvent:
		if !p.quiet {
			p.line(e.Index, e.Idea.Name, "writing: %s", e.Idea.Description)
		}
	case synth.CodeWrittenEvent:
		if !p.quiet {
			what := "code"
			if e.Round > 0 {
				what = fmt.Sprintf("repaired code (round %d)", e.Round)
			}
			p.line(e.Index, e.Name, "%s: %d lines, %d tokens", what, e.Lines, e.Usage.Total())
		}
	case synth.ValidatedEvent:
		if p.quiet {
			return
		}
		if e.OK {
			p.line(e.Index, e.Name, "valid (%d instances checked)", e.Report.Instances)
			return
		}
		var names []string
		for _, c := range e.Failed {
			s := c.Name
			if c.Line > 0 {
				s += fmt.Sprintf(" (line %d)", c.Line)
			}
			names = append(names, s)
		}
		p.line(e.Index, e.Name, "fails: %s", strings.Join(names, "; "))
	case synth.RepairStartedEvent:
		if !p.quiet {
			p.line(e.Index, e.Name, "repair round %d", e.Round)
		}
	case synth.JudgedEvent:
		if !p.quiet {
			what := "no flaw found"
			switch {
			case e.Err != nil:
				what = "no verdict: " + e.Err.Error()
			case !e.Judgement.OK:
				what = strings.TrimPrefix(e.Judgement.Check().Failures[0], "problem: ")
			}
			p.line(e.Index, e.Name, "LLM judge: %s", what)
		}
	case synth.CalibratedEvent:
		if !p.quiet {
			var parts []string
			for _, l := range e.Calibration.Levels {
				parts = append(parts, fmt.Sprintf("d%d %d/%d", l.Difficulty, l.Passed, l.N))
			}
			p.line(e.Index, e.Name, "solver pass rates: %s %s", strings.Join(parts, ", "), strings.Join(e.Calibration.Flags, ","))
		}
	case synth.VerdictEvent:
		p.verdict(e)
	}
}

// started prints the run's first line.
func (p *synthPrinter) started(e synth.RunStartedEvent) {
	p.runID, p.n, p.done = e.RunID, e.N, e.Finished
	if p.rate == nil {
		p.rate = textout.NewRate()
	}
	p.rate.StartAt(e.Finished, p.rate.Now())
	how := "started"
	if e.Resumed {
		how = fmt.Sprintf("resumed (%d candidates already finished)", e.Finished)
	}
	fmt.Fprintf(p.w, "synthesis run %d %s: %d candidates, writer %s", e.RunID, how, e.N, e.Provider)
	if e.Solver != "" {
		fmt.Fprintf(p.w, ", solver %s", e.Solver)
	}
	fmt.Fprintln(p.w)
}

// verdict prints a candidate's verdict with the run's progress.
func (p *synthPrinter) verdict(e synth.VerdictEvent) {
	p.verdicts = append(p.verdicts, e)
	mark := "✗"
	if e.Outcome == synth.OutcomeCandidate {
		mark = "✓"
	}
	msg := fmt.Sprintf("%s %s", mark, e.Outcome)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	p.done++
	progress := fmt.Sprintf("%d/%d done", p.done, p.n)
	if p.rate != nil {
		if r := p.rate.Line(p.done, p.n, "candidates"); r != "" {
			progress += ", " + r
		}
	}
	p.line(e.Index, e.Name, "%s (%d repairs, %d tokens, %v) [%s]", msg, e.Repairs, e.Usage.Total(), e.Elapsed.Round(time.Millisecond), progress)
}

// printSynthTable is the final table: the counts, then one row per
// candidate that reached a verdict in this execution.
func printSynthTable(w io.Writer, runID uint64, s synth.Summary, vs []synth.VerdictEvent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%d\n", runID)
	fmt.Fprintf(tw, "ideas\t%d kept, %d dropped as duplicates\n", s.Ideas, s.Dropped)
	fmt.Fprintf(tw, "implemented\t%d of %d finished\n", s.Implemented, s.Finished)
	var after []string
	for k, c := range s.ValidAfter {
		after = append(after, fmt.Sprintf("%d after %d repairs", c, k))
	}
	fmt.Fprintf(tw, "valid\t%d (%s)\n", s.Valid, strings.Join(after, ", "))
	fmt.Fprintf(tw, "stored\t%d candidates (%d flagged by calibration)\n", s.Stored, s.Flagged)
	var rej []string
	rejected := 0
	var outs []string
	for o := range s.Outcomes {
		outs = append(outs, string(o))
	}
	sort.Strings(outs)
	for _, o := range outs {
		if c := s.Outcomes[synth.Outcome(o)]; synth.Outcome(o).Rejected() && c > 0 {
			rejected += c
			rej = append(rej, fmt.Sprintf("%s %d", o, c))
		}
	}
	fmt.Fprintf(tw, "rejected\t%d (%s)\n", rejected, strings.Join(rej, ", "))
	if e := s.Outcomes[synth.OutcomeError]; e > 0 {
		fmt.Fprintf(tw, "errors\t%d (LLM failures; `resyn synth --resume %d` retries them)\n", e, runID)
	}
	fmt.Fprintf(tw, "tokens\t%d in + %d out, %d calls\n", s.Usage.PromptTokens, s.Usage.CompletionTokens, s.Calls)
	fmt.Fprintf(tw, "time\t%v\n", s.Elapsed.Round(time.Millisecond))
	tw.Flush()
	if len(vs) == 0 {
		return
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Index < vs[j].Index })
	fmt.Fprintln(w)
	t := textout.NewTable("#", "NAME", "OUTCOME", "REPAIRS", "TOKENS", "WHY").Wrapping(5).RightAligned(0, 3, 4)
	for _, v := range vs {
		why := v.Reason
		if len(v.Flags) > 0 {
			why = strings.TrimSpace(why + " " + strings.Join(v.Flags, ","))
		}
		t.Row(fmt.Sprint(v.Index+1), v.Name, string(v.Outcome), fmt.Sprint(v.Repairs), fmt.Sprint(v.Usage.Total()), why)
	}
	t.WriteFitted(w)
	if s.Stored > 0 {
		fmt.Fprintln(w, "\nnext: `resyn envs list --status candidate`, then `resyn envs accept NAME`")
	}
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
			var runs []storage.SynthRun
			if err := db.View(func(tx *storage.Tx) error {
				runs, err = storage.ListSynthRuns(tx)
				return err
			}); err != nil {
				return err
			}
			if asJSON {
				// The config as this version names its fields, also for a
				// run stored with older names (docs/json.md).
				for i, r := range runs {
					var cfg synth.Config
					if json.Unmarshal(r.Config, &cfg) == nil {
						if b, err := json.Marshal(cfg); err == nil {
							runs[i].Config = b
						}
					}
				}
				if runs == nil {
					runs = []storage.SynthRun{}
				}
				return writeJSON(runs)
			}
			t := textout.NewTable("RUN", "STATUS", "CREATED", "PROVIDER", "N", "CALLS", "TOKENS").Wrapping(3).RightAligned(0, 4, 5, 6)
			for _, r := range runs {
				var cfg synth.Config
				_ = json.Unmarshal(r.Config, &cfg)
				t.Row(fmt.Sprint(r.ID), string(r.Status), r.Created.Local().Format("2006-01-02 15:04"),
					cfg.Provider, fmt.Sprint(cfg.N), fmt.Sprint(r.Usage.Requests), fmt.Sprint(r.Usage.InputTokens+r.Usage.OutputTokens))
			}
			if err := t.Write(os.Stdout, textout.OutputWidth(os.Stdout)); err != nil {
				return err
			}
			for _, r := range runs {
				if r.Status == storage.RunInterrupted {
					fmt.Fprintf(os.Stderr, "run %d was interrupted (its process ended without recording an end); resyn synth --resume %d continues it\n", r.ID, r.ID)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the run records as JSON on stdout")
	return c
}
