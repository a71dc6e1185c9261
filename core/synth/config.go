package synth

import (
	"encoding/json"
	"fmt"
	"time"

	"resyn/core/env"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// DefaultCategories are the idea categories used when Config.Categories is
// empty, after the kinds of reasoning the ReSyn paper's library covers.
var DefaultCategories = []string{
	"constraint satisfaction",
	"graph algorithms",
	"arithmetic and number theory",
	"combinatorics and counting",
	"logic puzzles",
	"string manipulation",
	"planning and search",
	"spatial reasoning on grids",
}

// DefaultExamples are the built-ins shown to the model as examples.
var DefaultExamples = []string{"graph_coloring", "sat_3cnf"}

// Config describes a run. Zero fields take the defaults listed. It is stored
// with the run, so a resume continues with the same settings.
type Config struct {
	N            int      `json:"n"`                     // candidates to produce; default 10 (with Seeds: every idea kept)
	Categories   []string `json:"categories,omitempty"`  // default DefaultCategories; unused with Seeds
	Topics       []string `json:"topics,omitempty"`      // seed topics mixed into ideation prompts
	IdeasPerCall int      `json:"ideas_per_call"`        // ideas asked for per ideation call; default 5
	Parallel     int      `json:"parallel"`              // candidates in flight at once; default 4
	MaxRepairs   int      `json:"max_repairs"`           // repair rounds after the first attempt; default 3; negative: none
	Examples     []string `json:"examples,omitempty"`    // built-ins shown as examples; default DefaultExamples
	Temperature  *float64 `json:"temperature,omitempty"` // nil: the server's default
	MaxTokens    int      `json:"max_tokens,omitempty"`  // per call; 0: the provider's default

	// IdeaSimilarity is the MinHash-estimated Jaccard similarity of two
	// descriptions above which the later idea is dropped; default 0.5.
	IdeaSimilarity float64 `json:"idea_similarity"`
	// PromptSimilarity is the shingle similarity of rendered prompts above
	// which a candidate duplicates a library environment; default 0.8.
	PromptSimilarity float64 `json:"prompt_similarity"`

	// Validate is left at its zero value by the commands: synthesis checks
	// with the same checks, seeds and budgets as `resyn envs validate`.
	Validate  validate.Options `json:"validate"`
	Calibrate CalibrateOptions `json:"calibrate"` // used when Pipeline.Solver is set

	// Seeds, when set, replace the categories: each seed keyword gets one
	// ideation call asking for PerSeed task proposals (default 8, as in the
	// paper), the calls run Parallel at a time, and the ideas are deduplicated
	// in seed order against the whole store and one another.
	Seeds   []Seed `json:"seeds,omitempty"`
	PerSeed int    `json:"per_seed,omitempty"`

	// FromRun, when set, makes this a run that closes the loop: no ideation;
	// one candidate per environment whose pass rate in training run FromRun
	// saturated at its top level or stayed at zero at its bottom one
	// (Revisions, filled in when the run starts), asking the model to harden
	// or replace it with its code and pass-rate curve in the request.
	FromRun   uint64        `json:"from_run,omitempty"`
	Revisions []Revision    `json:"revisions,omitempty"`
	Signals   SignalOptions `json:"signals,omitzero"`

	// Stream asks for StreamDeltaEvent events (the TUI's live view).
	Stream bool `json:"-"`

	// Recorded with the run for the record only.
	Provider    string `json:"provider,omitempty"`
	Model       string `json:"model,omitempty"`
	SolverModel string `json:"solver_model,omitempty"`
	JudgeModel  string `json:"judge_model,omitempty"`
}

func (c Config) withDefaults() Config {
	if len(c.Seeds) > 0 && c.PerSeed <= 0 {
		c.PerSeed = 8
	}
	switch {
	case c.N > 0:
	case len(c.Seeds) > 0:
		c.N = len(c.Seeds) * c.PerSeed
	case len(c.Revisions) > 0:
		c.N = len(c.Revisions)
	default:
		c.N = 10
	}
	if len(c.Categories) == 0 {
		c.Categories = DefaultCategories
	}
	if c.IdeasPerCall <= 0 {
		c.IdeasPerCall = 5
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	switch {
	case c.MaxRepairs == 0:
		c.MaxRepairs = 3
	case c.MaxRepairs < 0:
		c.MaxRepairs = 0
	}
	if len(c.Examples) == 0 {
		c.Examples = DefaultExamples
	}
	if c.IdeaSimilarity <= 0 {
		c.IdeaSimilarity = 0.5
	}
	if c.PromptSimilarity <= 0 {
		c.PromptSimilarity = 0.8
	}
	c.Calibrate = c.Calibrate.withDefaults()
	return c
}

// Pipeline holds what a run needs. LLM, Pool and DB are required; Solver
// turns calibration on, Judge the LLM judge.
type Pipeline struct {
	LLM    llm.Provider // writes ideas and environments
	Solver llm.Provider // solves instances for calibration; nil: no calibration
	Judge  llm.Provider // reviews valid candidates' code and questions (judge.go); nil: no judge stage
	Pool   *env.Pool    // the sandbox every candidate runs in
	DB     *storage.DB  // where runs, logs and candidates go

	now func() time.Time // replaced in tests
}

func (p *Pipeline) check() error {
	switch {
	case p.LLM == nil:
		return fmt.Errorf("%w: no LLM provider", ErrConfig)
	case p.Pool == nil:
		return fmt.Errorf("%w: no environment pool", ErrConfig)
	case p.DB == nil:
		return fmt.Errorf("%w: no store", ErrConfig)
	}
	return nil
}

func (p *Pipeline) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// RunProvider is the provider and model a stored run used, read from its
// recorded Config ("openai:gpt-4o" → "openai", "gpt-4o"), so that resuming
// it needs no provider flags. provider is "" when the record alone cannot
// reopen it: an unknown provider, or a replay of a file (a path that is
// the user's to give again). model is "" when the record names none.
func RunProvider(r storage.SynthRun) (provider, model string) {
	var cfg Config
	if json.Unmarshal(r.Config, &cfg) != nil {
		return "", ""
	}
	provider, rest := llm.ParseName(cfg.Provider)
	model = cfg.Model
	switch {
	case provider == "", provider == "replay" && rest != "" && rest != "replay":
		return "", model
	case provider == "replay":
		return provider, model
	case model == "":
		model = rest
	}
	return provider, model
}
