package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"resyn/core/env"
	"resyn/core/library"
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
	SFTSteps, EvalN, CheckpointEvery                                   *int
	LR, SFTLR                                                          float64 // 0: keep
	KL, Temperature                                                    *float64
	Seed                                                               *int64
	NoStd, KeepZeroVar                                                 bool
	System                                                             string
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
	modes := 0
	for _, set := range []bool{s.Preset != "", s.ModelDir != "", s.Resume != 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return nil, fmt.Errorf("%w: choose one of a preset, a model directory or a run to resume", ErrConfig)
	}
	if s.Store == nil {
		return nil, fmt.Errorf("%w: a run is recorded in a store, and there is none", ErrConfig)
	}
	log := s.Log
	if log == nil {
		log = io.Discard
	}
	backend, err := native.OpenBackend(s.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", s.Backend, err)
	}

	// Which environments: named, the preset's, the resumed run's, or the
	// library's accepted ones.
	var preset Preset
	var defaults []string
	var resumed storage.TrainRun
	var info RunInfo
	named := s.Envs
	switch {
	case s.Preset != "":
		var ok bool
		if preset, ok = Presets()[s.Preset]; !ok {
			return nil, fmt.Errorf("unknown preset %q (have %s)", s.Preset, PresetNames())
		}
		for _, e := range preset.Config.Envs {
			defaults = append(defaults, e.Name)
		}
	case s.Resume != 0:
		if len(s.Envs) > 0 {
			return nil, fmt.Errorf("%w: a resumed run keeps its environments (%s)", ErrConfig, strings.Join(s.Envs, ","))
		}
		if resumed, info, err = readRun(s.Store, s.Resume); err != nil {
			return nil, err
		}
		named = nil
		for _, e := range info.Config.Envs {
			named = append(named, e.Name)
		}
	}
	if s.Weights != nil && len(s.Weights) != len(s.Envs) {
		return nil, fmt.Errorf("%w: %d weights for %d environments", ErrConfig, len(s.Weights), len(s.Envs))
	}
	entries, err := library.New(s.Store).List()
	if err != nil {
		return nil, err
	}
	chosen, warnings, err := library.Select(entries, named, defaults)
	for _, w := range warnings {
		fmt.Fprintf(log, "warning: %s\n", w)
	}
	if err != nil {
		return nil, err
	}
	ex, mods, err := library.NewExecutor(ctx, chosen, library.ExecutorOptions{Workers: s.EnvWorkers})
	if err != nil {
		return nil, err
	}
	r := &Run{Warnings: warnings, Envs: mods, ex: ex}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()

	var cfg Config
	var tok *tokenizer.Tokenizer
	var hfCfg hf.Config
	var source, resumeAt string
	switch {
	case s.Preset != "":
		cfg = preset.Config
		if err := s.configure(&cfg, mods, len(named) > 0); err != nil {
			return nil, err
		}
		preset.Config = cfg // the tokenizer learns from the chosen environments' prompts
		start := time.Now()
		if tok, err = preset.Tokenizer(ctx, ex); err != nil {
			return nil, err
		}
		if r.model, hfCfg, err = preset.NewModelOn(backend, tok, s.Threads); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "preset %s: %d-token tokenizer (%.1fs), model of %d parameters, %d layers × %d wide\n",
			preset.Name, tok.VocabSize(), time.Since(start).Seconds(), r.model.NumParams(), preset.Layers, preset.Hidden)
		source = "preset:" + preset.Name
	case s.ModelDir != "":
		if cfg, tok, hfCfg, err = s.loadModel(r, mods, log); err != nil {
			return nil, err
		}
		source, _ = filepath.Abs(s.ModelDir)
	default:
		if tok, hfCfg, resumeAt, err = s.resumeModel(r, resumed); err != nil {
			return nil, err
		}
		cfg = info.Config
		if s.Overrides.Steps > 0 {
			cfg.Steps = s.Overrides.Steps
		}
		source, r.Dir = info.Source, info.Dir
		fmt.Fprintf(log, "resuming run %d (%s) from %s\n", s.Resume, resumed.Status, resumeAt)
	}
	if s.Resume == 0 {
		if r.Dir, err = RunDir(s.Out, s.StorePath); err != nil {
			return nil, err
		}
		if n := r.model.Config().MaxSeqLen; cfg.MaxPromptTokens+cfg.MaxNewTokens > n {
			if cfg.MaxNewTokens >= n {
				return nil, fmt.Errorf("%w: max_new_tokens %d leaves no room for a prompt: the model takes %d positions", ErrConfig, cfg.MaxNewTokens, n)
			}
			cfg.MaxPromptTokens = n - cfg.MaxNewTokens
		}
	}
	model := r.model
	opts := Options{
		Config: cfg, Model: Native(model), ModelConfig: hfCfg, Tokenizer: tok, Executor: ex,
		Store: s.Store, RunID: s.Resume, Name: s.Name, Source: source, Dir: r.Dir, ResumeFrom: resumeAt,
		NewReference: func(ws []safetensors.Tensor) (Model, error) {
			// The reference lives on the policy's backend (Config().Backend).
			m, err := native.New(model.Config())
			if err != nil {
				return nil, err
			}
			ref := Native(m)
			return ref, ref.SetTensors(Weights, ws)
		},
		Progress:  s.Progress,
		EnvHashes: map[string]string{},
	}
	for _, m := range mods {
		opts.EnvHashes[m.Name] = m.Hash
	}
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(source, "preset:")
	}
	if r.Trainer, err = New(opts); err != nil {
		return nil, err
	}
	ok = true
	return r, nil
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
	}{{&c.SFTSteps, o.SFTSteps}, {&c.EvalN, o.EvalN}, {&c.CheckpointEvery, o.CheckpointEvery}} {
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
// runs/<time> beside the store file.
func RunDir(out, storePath string) (string, error) {
	if out != "" {
		return filepath.Abs(out)
	}
	base := filepath.Join(filepath.Dir(storePath), "runs", time.Now().Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		_, err := os.Stat(dir)
		if errors.Is(err, os.ErrNotExist) {
			return filepath.Abs(dir)
		}
		if err != nil {
			// Not "taken" but unusable (runs is a file, no permission):
			// every other name would fail the same way.
			return "", fmt.Errorf("choosing a run directory (or pass --out DIR): %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}
