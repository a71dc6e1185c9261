package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"resyn/core/library"
	"resyn/core/textout"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// Settings are a run's settings as a person gives them (resyn synth's
// flags), from which Config builds the run's Config.
type Settings struct {
	N, Parallel, IdeasPerCall int
	Repairs                   int // repair rounds; 0: none
	Categories, Topics        []string
	Seeds                     []Seed // nil: category ideation
	PerSeed                   int
	FromRun                   uint64
	Signals                   SignalOptions

	// Given reports whether the setting of that name ("n", "parallel",
	// "max-repairs", "ideas-per-call") was given explicitly: the demo's
	// own settings stand for those that were not. nil: none was.
	Given func(name string) bool
}

// Config is the run's Config: DemoConfig's where demo (the built-in demo
// recording plays), with the settings given on top.
func (s Settings) Config(demo bool) Config {
	given := func(name string) bool { return s.Given != nil && s.Given(name) }
	cfg := Config{}
	if demo {
		cfg = DemoConfig()
	}
	set := func(name string, apply func()) {
		if given(name) || !demo {
			apply()
		}
	}
	set("n", func() { cfg.N = s.N })
	set("parallel", func() { cfg.Parallel = s.Parallel })
	set("max-repairs", func() {
		cfg.MaxRepairs = s.Repairs
		if s.Repairs == 0 {
			cfg.MaxRepairs = -1
		}
	})
	set("ideas-per-call", func() { cfg.IdeasPerCall = s.IdeasPerCall })
	cfg.Categories, cfg.Topics = s.Categories, s.Topics
	if s.Seeds != nil {
		cfg.Seeds, cfg.PerSeed = s.Seeds, s.PerSeed
		if !given("n") {
			cfg.N = 0 // every idea kept
		}
	}
	if s.FromRun != 0 {
		cfg.FromRun, cfg.Signals = s.FromRun, s.Signals
		if !given("n") {
			cfg.N = 0 // every flagged environment
		}
	}
	return cfg
}

// Roles name the models of a run besides the writer: the solver that
// calibrates pass rates and the judge that reviews candidates, each on the
// writer's provider unless its own provider (and base URL) is named.
type Roles struct {
	SolverModel, SolverProvider, SolverBaseURL string
	SolverSamples                              int
	RequireTrend                               bool
	JudgeModel, JudgeProvider                  string
}

// Open opens the solver's and the judge's models, when named, into pl,
// and records them in cfg; open opens a model on a provider and base URL
// ("" for the writer's).
func (r Roles) Open(pl *Pipeline, cfg *Config, open func(model, provider, baseURL string) (llm.Provider, error)) error {
	var err error
	if r.SolverModel != "" {
		if pl.Solver, err = open(r.SolverModel, r.SolverProvider, r.SolverBaseURL); err != nil {
			return fmt.Errorf("the solver model: %w", err)
		}
		cfg.SolverModel = r.SolverModel
		cfg.Calibrate.Samples = r.SolverSamples
		cfg.Calibrate.RequireTrend = r.RequireTrend
	}
	if r.JudgeModel != "" {
		if pl.Judge, err = open(r.JudgeModel, r.JudgeProvider, ""); err != nil {
			return fmt.Errorf("the judge model: %w", err)
		}
		cfg.JudgeModel = r.JudgeModel
	}
	return nil
}

// ProviderOfRun is the provider and model stored run id used
// (RunProvider), so that a resume needs no provider flags; a model given
// (not "") wins.
func ProviderOfRun(db *storage.DB, id uint64, model string) (string, string) {
	var r storage.SynthRun
	_ = db.View(func(tx *storage.Tx) error {
		var err error
		r, err = storage.GetSynthRun(tx, id)
		return err
	})
	prov, m := RunProvider(r)
	if model == "" {
		model = m
	}
	return prov, model
}

// Finish ends a run the printer followed, which ended with err: on W how
// to continue it when it was interrupted, then, when the run started, its
// summary on out (as JSON with asJSON: run, summary and verdicts). started
// says whether it had; werr is the error of writing the summary.
func (p *TextPrinter) Finish(out io.Writer, asJSON bool, sum Summary, err error) (started bool, werr error) {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(p.W, "\ninterrupted: continue with `resyn synth --resume %d`\n", p.RunID)
	}
	if p.RunID == 0 {
		return false, nil
	}
	if asJSON {
		return true, textout.WriteJSON(out, map[string]any{"run": p.RunID, "summary": sum, "verdicts": p.Verdicts})
	}
	WriteSummary(out, p.RunID, sum, p.Verdicts)
	return true, nil
}

// Execute runs cfg on pl (with resume ≠ 0, continues run resume instead)
// in a new sandbox of workers processes (0: one per core) under
// validation's budgets, printing its events with pr, and then pr.Finish on
// out. started says whether the run started: then err is the run's own;
// otherwise it is why nothing ran (or the summary could not be written).
func Execute(ctx context.Context, pl *Pipeline, cfg Config, resume uint64, workers int, pr *TextPrinter, out io.Writer, asJSON bool) (started bool, err error) {
	if pl.Pool, _, err = library.NewPool(ctx, nil, library.ExecutorOptions{Workers: workers}); err != nil {
		return false, err
	}
	defer pl.Pool.Close()
	// Deduplication and calibration run the candidates under validation's
	// budgets too (steps and CPU time, not the wall clock of a busy
	// machine).
	pl.Pool.SetLimits(validate.Limits(validate.Options{}))
	var sum Summary
	if resume != 0 {
		sum, err = pl.Resume(ctx, resume, pr.Print)
	} else {
		sum, err = pl.Run(ctx, cfg, pr.Print)
	}
	started, werr := pr.Finish(out, asJSON, sum, err)
	if werr != nil {
		return false, werr
	}
	return started, err
}

// LoadSeeds reads the seed keywords arg names: "builtin" (DefaultSeeds)
// or a file (ParseSeeds); nil for "".
func LoadSeeds(arg string) ([]Seed, error) {
	switch arg {
	case "":
		return nil, nil
	case "builtin":
		return DefaultSeeds(), nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSeeds(f)
}

// CheckModes refuses ways of choosing a run's ideas that exclude each
// other, by the names of resyn synth's flags: given reports whether
// "seeds", "from-run", "resume" or "categories" was given.
func CheckModes(given func(name string) bool) error {
	modes := 0
	for _, name := range []string{"seeds", "from-run", "resume"} {
		if given(name) {
			modes++
		}
	}
	if modes > 1 {
		return fmt.Errorf("--seeds, --from-run and --resume do not go together: choose one")
	}
	if (given("seeds") || given("from-run")) && given("categories") {
		return fmt.Errorf("--categories is for category ideation; --seeds and --from-run replace it")
	}
	return nil
}
