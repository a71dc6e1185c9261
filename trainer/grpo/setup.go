package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"resyn/core/dataset"
	"resyn/core/env"
	"resyn/core/library"
	"resyn/core/textout"
	"resyn/storage"
	"resyn/trainer/hf"
	"resyn/trainer/native"
	"resyn/trainer/safetensors"
	"resyn/trainer/tokenizer"
)

// Spec is a training run as a person asks for it, from `resyn train` or the
// workbench: where the model comes from (exactly one of Preset, ModelDir and
// Resume), the environments, the steps and the few settings that override
// the recipe's. Setup turns it into a ready Trainer.
type Spec struct {
	Preset   string // a preset's name (Presets): a model trained from scratch
	ModelDir string // a Hugging Face Qwen2 checkpoint directory
	Resume   uint64 // a stored run to continue from its last checkpoint

	// Envs names the environments, whatever their curation status (a
	// rejected one is taken with a warning). Empty: the preset's that are
	// accepted, every accepted one for a model directory, the run's own
	// for a resume (library.Select).
	Envs []string
	// Weights, one per named environment; nil is equal mixing.
	Weights []float64
	// Holdout names whole environments evaluated but never trained on
	// (Config.HoldoutEnvs; not in the tokenizer's corpus, the warm start
	// or GRPO). Empty: the preset's own, or the resumed run's.
	Holdout []string
	// TokenizerEnvs: environments whose prompts a preset's tokenizer also
	// learns from (Config.TokenizerEnvs); never a held-out one.
	TokenizerEnvs []string
	// MinDifficulty, MaxDifficulty: the range the curriculum climbs (each
	// environment's own range bounds it); 0, 0 is 1-3 for named
	// environments and the preset's for its own.
	MinDifficulty, MaxDifficulty int

	Overrides Overrides

	Backend string // native.BackendCPU (default) or native.BackendCUDA
	Threads int    // CPU threads; 0: every core
	// EnvWorkers runs the environments (processes of the sandbox pool, or
	// goroutines); 0: one per core.
	EnvWorkers int

	// Store records the run; StorePath is its file (new runs' checkpoints
	// go to runs/<time> beside it unless Out names a directory).
	Store     *storage.DB
	StorePath string
	Out       string
	Name      string // of the run record; default: the preset or the model directory's name

	// Log receives what the setup did (the tokenizer, the model loaded,
	// how prompts render) and the warnings; nil discards it.
	Log io.Writer
	// Progress: see Options.Progress.
	Progress func(Event)
}

// Overrides are recipe settings a person changed; nil or zero fields keep
// the preset's (or the defaults for a model directory). For a resume only
// Steps applies (a new total).
type Overrides struct {
	Steps, SFTBatch, Prompts, Group, MaxNewTokens, Minibatches, Epochs int // 0: keep
	SFTSteps, EvalN, EvalSamples, CheckpointEvery, TrainInstances      *int
	AnswerNLL, NoInitEval                                              bool    // Config.EvalAnswerNLL, Config.NoInitEval
	LR, SFTLR                                                          float64 // 0: keep
	KL, Temperature                                                    *float64
	Seed                                                               *int64
	NoStd, KeepZeroVar, MaskTruncated                                  bool
	System                                                             string
}

// SpecLists are a spec's list settings as a person types them (resyn
// train's --env, --weights, --difficulty and --holdout-env): comma-separated
// names and numbers, and a LO-HI range.
type SpecLists struct {
	Envs                         string
	EnvsSet                      bool // --env was given (an empty list is then an error)
	Weights, Difficulty, Holdout string
}

// ParseLists sets s's environments, weights, difficulty range and held-out
// environments from l, refusing what a resume cannot change.
func (s *Spec) ParseLists(l SpecLists) error {
	if l.EnvsSet {
		if s.Envs = textout.SplitList(l.Envs); len(s.Envs) == 0 {
			return fmt.Errorf("--env %q: name the environments to train on with --env A,B (see `resyn envs list`)", l.Envs)
		}
	}
	if l.Difficulty != "" {
		lo, hi, err := dataset.ParseRange(l.Difficulty)
		if err != nil {
			return fmt.Errorf("--difficulty: %w", err)
		}
		s.MinDifficulty, s.MaxDifficulty = lo, hi
	}
	if l.Weights != "" {
		for _, w := range strings.Split(l.Weights, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
			if err != nil {
				return fmt.Errorf("--weights %q: %v", l.Weights, err)
			}
			s.Weights = append(s.Weights, v)
		}
		if len(s.Weights) != len(s.Envs) {
			return fmt.Errorf("--weights has %d values for %d environments (--env)", len(s.Weights), len(s.Envs))
		}
	}
	if s.Resume != 0 && len(s.Envs) > 0 {
		return fmt.Errorf("--env with --resume: a resumed run keeps its environments")
	}
	if l.Holdout != "" {
		if s.Holdout = textout.SplitList(l.Holdout); len(s.Holdout) == 0 {
			return fmt.Errorf("--holdout-env %q: name the environments to hold out with --holdout-env A,B", l.Holdout)
		}
		if s.Resume != 0 {
			return fmt.Errorf("--holdout-env with --resume: a resumed run keeps its held-out environments")
		}
	}
	return nil
}

// Run is a trainer set up by Setup, with what it holds.
type Run struct {
	*Trainer
	// Warnings name what the person should know before the run starts (a
	// rejected environment trained on because it was named, a preset's
	// environment left out because it is rejected).
	Warnings []string
	// Envs are the modules of the run's environments, in order.
	Envs []*env.Module
	// Dir holds the run's checkpoints.
	Dir string

	model *native.Model
	ex    env.Executor
}

// Close releases the model and the environments' executor; call it once
// the trainer has finished (after Run, or once Start's channel is closed).
func (r *Run) Close() error {
	var errs []error
	if r.model != nil {
		r.model.Close()
	}
	if r.ex != nil {
		errs = append(errs, r.ex.Close())
	}
	return errors.Join(errs...)
}

// Setup prepares a run from a spec: the environments chosen from the
// library (and the executor that runs them), the tokenizer and the model
// (a preset's, a checkpoint directory's, or a resumed run's last
// checkpoint), the reference model factory, and the checkpoint directory.
// Nothing is written to the store until the trainer runs. The caller
// closes the Run.
func Setup(ctx context.Context, s Spec) (*Run, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	log := s.Log
	if log == nil {
		log = io.Discard
	}
	backend, err := native.OpenBackend(s.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", s.Backend, err)
	}
	ch, err := s.choose(log)
	if err != nil {
		return nil, err
	}
	all := append(append(append([]library.Entry{}, ch.train...), ch.held...), ch.tok...)
	ex, mods, err := library.NewExecutor(ctx, all, library.ExecutorOptions{Workers: s.EnvWorkers})
	if err != nil {
		return nil, err
	}
	trainMods, heldMods := mods[:len(ch.train)], mods[len(ch.train):len(ch.train)+len(ch.held)]
	ch.tokMods = mods[len(ch.train)+len(ch.held):]
	r := &Run{Warnings: ch.warnings, Envs: trainMods, ex: ex}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	m, err := s.model(ctx, r, ch, backend, trainMods, heldMods, log)
	if err != nil {
		return nil, err
	}
	opts := Options{
		Config: m.cfg, Model: Native(r.model), ModelConfig: m.hf, Tokenizer: m.tok, Executor: ex,
		Store: s.Store, RunID: s.Resume, Name: s.Name, Source: m.source, Dir: r.Dir, ResumeFrom: m.resumeAt,
		NewReference: func(ws []safetensors.Tensor) (Model, error) {
			// The reference lives on the policy's backend (Config().Backend).
			ref, err := native.New(r.model.Config())
			if err != nil {
				return nil, err
			}
			nref := Native(ref)
			return nref, nref.SetTensors(Weights, ws)
		},
		Progress:  s.Progress,
		EnvHashes: map[string]string{},
	}
	for _, m := range mods {
		opts.EnvHashes[m.Name] = m.Hash
	}
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(m.source, "preset:")
	}
	if r.Trainer, err = New(opts); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
}

// Sources is how many of Preset, ModelDir and Resume s sets: Setup wants
// exactly one.
func (s Spec) Sources() int {
	n := 0
	for _, set := range []bool{s.Preset != "", s.ModelDir != "", s.Resume != 0} {
		if set {
			n++
		}
	}
	return n
}

// check refuses a spec that names no model, or more than one, or no store.
func (s Spec) check() error {
	if s.Sources() != 1 {
		return fmt.Errorf("%w: choose one of a preset, a model directory or a run to resume", ErrConfig)
	}
	if s.Store == nil {
		return fmt.Errorf("%w: a run is recorded in a store, and there is none", ErrConfig)
	}
	return nil
}

// choice is the environments a run uses, chosen from the library.
type choice struct {
	preset   Preset
	resumed  storage.TrainRun // for a resume: the run, and its config
	info     RunInfo
	named    bool // the training environments were named (not the preset's own)
	train    []library.Entry
	held     []library.Entry // evaluated, never trained on
	tok      []library.Entry // only in the tokenizer's corpus (Spec.TokenizerEnvs)
	tokMods  []*env.Module
	warnings []string
}

// choose picks the environments: named, the preset's, the resumed run's,
// or the library's accepted ones; and the held-out ones: named, the
// preset's, or the resumed run's. Warnings go to log as well.
func (s Spec) choose(log io.Writer) (choice, error) {
	var ch choice
	var defaults, held []string
	named := s.Envs
	switch {
	case s.Preset != "":
		var ok bool
		if ch.preset, ok = Presets()[s.Preset]; !ok {
			return ch, fmt.Errorf("unknown preset %q (have %s)", s.Preset, PresetNames())
		}
		for _, e := range ch.preset.Config.Envs {
			defaults = append(defaults, e.Name)
		}
		for _, e := range ch.preset.Config.HoldoutEnvs {
			held = append(held, e.Name)
		}
	case s.Resume != 0:
		if len(s.Envs) > 0 || len(s.Holdout) > 0 {
			return ch, fmt.Errorf("%w: a resumed run keeps its environments (%s)", ErrConfig, strings.Join(append(s.Envs, s.Holdout...), ","))
		}
		var err error
		if ch.resumed, ch.info, err = readRun(s.Store, s.Resume); err != nil {
			return ch, err
		}
		named = nil
		for _, e := range ch.info.Config.Envs {
			named = append(named, e.Name)
		}
		for _, e := range ch.info.Config.HoldoutEnvs {
			held = append(held, e.Name)
		}
	}
	if s.Weights != nil && len(s.Weights) != len(s.Envs) {
		return ch, fmt.Errorf("%w: %d weights for %d environments", ErrConfig, len(s.Weights), len(s.Envs))
	}
	if len(s.Holdout) > 0 {
		held = s.Holdout
	}
	ch.named = len(named) > 0
	entries, err := library.New(s.Store).List()
	if err != nil {
		return ch, err
	}
	chosen, warnings, err := library.Select(entries, named, defaults)
	ch.train, ch.warnings = chosen, warnings
	if err == nil && len(held) > 0 {
		for _, e := range chosen {
			if slices.Contains(held, e.Name) {
				err = fmt.Errorf("%w: %q is both trained on and held out; a held-out environment must not be trained on", ErrConfig, e.Name)
			}
		}
		if err == nil {
			var hw []string
			ch.held, hw, err = library.Select(entries, held, nil)
			ch.warnings = append(ch.warnings, hw...)
		}
	}
	if err == nil {
		err = ch.tokenizerEnvs(s.TokenizerEnvs, held, entries)
	}
	for _, w := range ch.warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	return ch, err
}

// tokenizerEnvs picks the entries of Spec.TokenizerEnvs not trained on,
// refusing a held-out one.
func (ch *choice) tokenizerEnvs(names, held []string, entries []library.Entry) error {
	var extra []string
	for _, n := range names {
		if slices.Contains(held, n) {
			return fmt.Errorf("%w: %q is held out; its prompts must not train the tokenizer", ErrConfig, n)
		}
		if !slices.ContainsFunc(ch.train, func(e library.Entry) bool { return e.Name == n }) {
			extra = append(extra, n)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	var warnings []string
	var err error
	ch.tok, warnings, err = library.Select(entries, extra, nil)
	ch.warnings = append(ch.warnings, warnings...)
	return err
}

// built is the model side of a run: its config, tokenizer and where it
// comes from.
type built struct {
	cfg              Config
	tok              *tokenizer.Tokenizer
	hf               hf.Config
	source, resumeAt string
}

// model builds (a preset), loads (a model directory) or reloads (a resume)
// the run's model into r, with its config and tokenizer, and picks the
// checkpoint directory of a new run.
func (s Spec) model(ctx context.Context, r *Run, ch choice, backend *native.Backend, trainMods, heldMods []*env.Module, log io.Writer) (built, error) {
	var b built
	var err error
	switch {
	case s.Preset != "":
		preset := ch.preset
		b.cfg = preset.Config
		if err := s.configure(&b.cfg, trainMods, ch.named); err != nil {
			return b, err
		}
		preset.Config = b.cfg // the tokenizer learns from the chosen environments' prompts, never the held-out ones'
		if len(s.TokenizerEnvs) > 0 {
			b.cfg.TokenizerEnvs = s.TokenizerEnvs
			preset.Config.Envs = append(slices.Clone(b.cfg.Envs), spanSpecs(ch.tokMods, b.cfg.Envs)...)
		}
		start := time.Now()
		if b.tok, err = preset.Tokenizer(ctx, r.ex); err != nil {
			return b, err
		}
		if r.model, b.hf, err = preset.NewModelOn(backend, b.tok, s.Threads); err != nil {
			return b, err
		}
		fmt.Fprintf(log, "preset %s: %d-token tokenizer (%.1fs), model of %d parameters, %d layers × %d wide\n",
			preset.Name, b.tok.VocabSize(), time.Since(start).Seconds(), r.model.NumParams(), preset.Layers, preset.Hidden)
		b.source = "preset:" + preset.Name
	case s.ModelDir != "":
		if b.cfg, b.tok, b.hf, err = s.loadModel(r, trainMods, log); err != nil {
			return b, err
		}
		b.source, _ = filepath.Abs(s.ModelDir)
	default:
		if b.tok, b.hf, b.resumeAt, err = s.resumeModel(r, ch.resumed); err != nil {
			return b, err
		}
		b.cfg = ch.info.Config
		if s.Overrides.Steps > 0 {
			b.cfg.Steps = s.Overrides.Steps
		}
		b.source, r.Dir = ch.info.Source, ch.info.Dir
		fmt.Fprintf(log, "resuming run %d (%s) from %s\n", s.Resume, ch.resumed.Status, b.resumeAt)
		return b, nil
	}
	if len(s.Holdout) > 0 {
		names := make([]string, len(heldMods))
		for i, m := range heldMods {
			names[i] = m.Name
		}
		if b.cfg.HoldoutEnvs, err = HoldoutEnvs(strings.Join(names, ","), heldMods, b.cfg.Envs); err != nil {
			return b, err
		}
		if err := b.cfg.Validate(); err != nil {
			return b, err
		}
	}
	if r.Dir, err = RunDir(s.Out, s.StorePath); err != nil {
		return b, err
	}
	if n := r.model.Config().MaxSeqLen; b.cfg.MaxPromptTokens+b.cfg.MaxNewTokens > n {
		if b.cfg.MaxNewTokens >= n {
			return b, fmt.Errorf("%w: max_new_tokens %d leaves no room for a prompt: the model takes %d positions", ErrConfig, b.cfg.MaxNewTokens, n)
		}
		b.cfg.MaxPromptTokens = n - b.cfg.MaxNewTokens
	}
	return b, nil
}

// configure sets the environments of a new run and applies the overrides.
// explicit: the environments were named (else they are the preset's own,
// with the preset's ranges and weights, less those left out).
func (s Spec) configure(c *Config, mods []*env.Module, explicit bool) error {
	lo, hi := s.MinDifficulty, s.MaxDifficulty
	if lo == 0 && hi == 0 && explicit {
		lo, hi = 1, 3
	}
	if lo < 0 || hi < lo {
		return fmt.Errorf("%w: difficulty %d-%d", ErrConfig, lo, hi)
	}
	own := map[string]EnvSpec{}
	for _, e := range c.Envs {
		own[e.Name] = e
	}
	c.Envs = nil
	for i, m := range mods {
		e, ok := own[m.Name]
		elo, ehi := lo, hi
		if explicit || !ok {
			e = EnvSpec{Name: m.Name, Weight: 1}
			if s.Weights != nil {
				e.Weight = s.Weights[i]
			}
			if elo == 0 {
				elo, ehi = 1, 3
			}
		}
		if elo > 0 {
			e.MinDifficulty, e.MaxDifficulty = max(elo, m.MinDifficulty), min(ehi, m.MaxDifficulty)
		}
		if e.MinDifficulty > e.MaxDifficulty {
			return fmt.Errorf("%w: %s has difficulties %d-%d, none in %d-%d", ErrConfig, m.Name, m.MinDifficulty, m.MaxDifficulty, elo, ehi)
		}
		c.Envs = append(c.Envs, e)
	}
	s.Overrides.apply(c)
	return c.Validate()
}

// apply sets the overridden fields.
func (o Overrides) apply(c *Config) {
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&c.Steps, o.Steps)
	set(&c.SFTBatch, o.SFTBatch)
	set(&c.PromptsPerStep, o.Prompts)
	set(&c.GroupSize, o.Group)
	set(&c.MaxNewTokens, o.MaxNewTokens)
	set(&c.Minibatches, o.Minibatches)
	set(&c.Epochs, o.Epochs)
	for _, p := range []struct {
		dst *int
		v   *int
	}{{&c.SFTSteps, o.SFTSteps}, {&c.EvalN, o.EvalN}, {&c.CheckpointEvery, o.CheckpointEvery}, {&c.TrainInstances, o.TrainInstances},
		{&c.EvalSamples, o.EvalSamples}} {
		if p.v != nil {
			*p.dst = *p.v
		}
	}
	if o.LR > 0 {
		c.LR = o.LR
	}
	if o.SFTLR > 0 {
		c.SFTLR = o.SFTLR
	}
	if o.KL != nil {
		c.KLCoef = *o.KL
	}
	if o.Temperature != nil {
		c.Temperature = *o.Temperature
	}
	if o.Seed != nil {
		c.Seed = *o.Seed
	}
	if o.NoStd {
		c.ScaleByStd = false
	}
	if o.KeepZeroVar {
		c.DropZeroVar = false
	}
	if o.MaskTruncated {
		c.MaskTruncated = true
	}
	if o.AnswerNLL {
		c.EvalAnswerNLL = true
	}
	if o.NoInitEval {
		c.NoInitEval = true
	}
	if o.System != "" {
		c.SystemPrompt = o.System
	}
}

// loadModel loads a Hugging Face checkpoint directory for GRPO on it
// directly (no warm start, no KL unless asked).
func (s Spec) loadModel(r *Run, mods []*env.Module, log io.Writer) (Config, *tokenizer.Tokenizer, hf.Config, error) {
	dir := s.ModelDir
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: not a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)", dir)
	}
	cfg := Defaults()
	cfg.SFTSteps = 0
	cfg.MaxNewTokens = 512
	cfg.MaxPromptTokens = 1024
	cfg.KLCoef = 0
	// The configuration before the weights: a bad setting costs no loading.
	if err := s.configure(&cfg, mods, true); err != nil {
		return Config{}, nil, hf.Config{}, err
	}
	hc, err := hf.ReadConfig(dir)
	if err != nil {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: %w", dir, err)
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: %w", dir, err)
	}
	if tok.VocabSize() > hc.VocabSize {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: tokenizer.json has %d ids but config.json's vocab_size is %d", dir, tok.VocabSize(), hc.VocabSize)
	}
	// Positions for the longest prompt and completion, within the model's.
	seq := cfg.MaxPromptTokens + cfg.MaxNewTokens
	if hc.MaxPositionEmbeddings > 0 {
		if cfg.MaxNewTokens >= hc.MaxPositionEmbeddings {
			return Config{}, nil, hf.Config{}, fmt.Errorf("%w: max_new_tokens %d leaves no room for a prompt: %s takes %d positions (max_position_embeddings)",
				ErrConfig, cfg.MaxNewTokens, dir, hc.MaxPositionEmbeddings)
		}
		seq = min(seq, hc.MaxPositionEmbeddings)
	}
	m, hfCfg, err := native.LoadHF(dir, native.Options{Threads: s.Threads, Backend: s.Backend, MaxSeqLen: seq})
	if err != nil {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: %w", dir, err)
	}
	r.model = m
	fmt.Fprintf(log, "loaded %s: %d parameters\n", dir, m.NumParams())
	// Prompts are rendered by the model's own chat template, which adds its
	// default system prompt (Qwen2.5-Instruct's) when none is set: show
	// what one looks like.
	var sample []tokenizer.Message
	if cfg.SystemPrompt != "" {
		sample = append(sample, tokenizer.Message{Role: "system", Content: cfg.SystemPrompt})
	}
	sample = append(sample, tokenizer.Message{Role: "user", Content: "PROMPT"})
	text, err := tok.RenderChat(sample, true)
	if err != nil {
		return Config{}, nil, hf.Config{}, fmt.Errorf("model %s: %w", dir, err)
	}
	from := "the model's chat template"
	if tok.ChatTemplate() == "" {
		from = "ChatML (the tokenizer has no chat template)"
	}
	fmt.Fprintf(log, "prompts: %s renders them as %q\n", from, text)
	return cfg, tok, hfCfg, nil
}

// readRun reads a run to resume and its recorded configuration.
func readRun(db *storage.DB, id uint64) (storage.TrainRun, RunInfo, error) {
	var run storage.TrainRun
	err := db.View(func(tx *storage.Tx) error {
		var err error
		run, err = storage.GetTrainRun(tx, id)
		return err
	})
	if err != nil {
		return run, RunInfo{}, fmt.Errorf("resume run %d: %w", id, err)
	}
	if run.Status == "running" {
		// Read as running only while its process lives (storage.RunHold).
		return run, RunInfo{}, fmt.Errorf("resume run %d: the run is being trained by another resyn process right now; resume it once that one has ended", id)
	}
	var info RunInfo
	if err := json.Unmarshal(run.Config, &info); err != nil {
		return run, RunInfo{}, fmt.Errorf("resume run %d: the run's config: %w", id, err)
	}
	return run, info, nil
}

// resumeModel creates the model of a resumed run's last checkpoint (the
// trainer restores its weights), with the checkpoint's tokenizer.
func (s Spec) resumeModel(r *Run, run storage.TrainRun) (*tokenizer.Tokenizer, hf.Config, string, error) {
	var cks []storage.Checkpoint
	if err := s.Store.View(func(tx *storage.Tx) error {
		var err error
		cks, err = storage.ListCheckpoints(tx, run.ID)
		return err
	}); err != nil {
		return nil, hf.Config{}, "", fmt.Errorf("resume run %d: %w", run.ID, err)
	}
	if len(cks) == 0 {
		return nil, hf.Config{}, "", fmt.Errorf("resume run %d: %w: the run has no checkpoint", run.ID, ErrResume)
	}
	last := cks[len(cks)-1].Path
	tok, err := tokenizer.LoadDir(last)
	if err != nil {
		return nil, hf.Config{}, "", fmt.Errorf("resume run %d: %w", run.ID, err)
	}
	hfCfg, err := hf.ReadConfig(last)
	if err != nil {
		return nil, hf.Config{}, "", fmt.Errorf("resume run %d: %w", run.ID, err)
	}
	nc := native.ConfigFromHF(hfCfg)
	nc.Threads, nc.Backend = s.Threads, s.Backend
	if r.model, err = native.New(nc); err != nil {
		return nil, hf.Config{}, "", err
	}
	return tok, hfCfg, last, nil
}

// RunDir is a new run's checkpoint directory, absolute (the store records
// it, and a resume may run from another directory): out, or a new
// runs/<time> beside the store file, created here so that no other run
// takes the same.
func RunDir(out, storePath string) (string, error) {
	if out != "" {
		return filepath.Abs(out)
	}
	base := filepath.Join(filepath.Dir(storePath), "runs", time.Now().Format("20060102-150405"))
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("choosing a run directory (or pass --out DIR): %w", err)
	}
	// The name is taken by creating it: runs started in the same second
	// (an experiment's parallel runs, two terminals) get different ones.
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return filepath.Abs(dir)
		}
		if !errors.Is(err, os.ErrExist) {
			// Not "taken" but unusable (no permission): every other name
			// would fail the same way.
			return "", fmt.Errorf("choosing a run directory (or pass --out DIR): %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}
