package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/storage"
	"resyn/trainer/grpo"
	"resyn/trainer/hf"
	"resyn/trainer/native"
	"resyn/trainer/safetensors"
	"resyn/trainer/tokenizer"
)

func init() { register(newTrainCmd) }

type trainFlags struct {
	preset, model, envs, weights, difficulty, out, name, system            string
	backend, holdout                                                       string
	resume                                                                 uint64
	steps, sftSteps, sftBatch, prompts, group, maxNew, minibatches, epochs int
	evalN, threads, ckptEvery                                              int
	lr, sftLR, kl, temperature                                             float64
	seed                                                                   int64
	noStd, keepZeroVar, asJSON, maskTruncated                              bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	c := &cobra.Command{
		Use:   "train",
		Short: "Train a model with GRPO on environments",
		Long: `Trains a Qwen2-architecture model with GRPO (group-relative policy optimisation)
on verifiable environments, with the built-in trainer (C on the CPU behind cgo).

--preset tiny-cpu trains a small model from scratch: a BPE tokenizer learned on
the environments' prompts, a warm start (SFT) on solve() answers, then GRPO.
--model DIR loads a Hugging Face Qwen2 checkpoint (config.json, safetensors,
tokenizer.json) and runs GRPO on it directly.

Each step samples --prompts prompts mixed over the environments (by --weights),
--group completions of each, scores them with the verifiers, and takes
--minibatches clipped-surrogate updates. Every step's metrics, sample rollouts
and checkpoints (Hugging Face safetensors, under --out) go to the store, where
the workbench's training pane shows them. Mean reward on instances training never
draws (a share of each environment's instances, split by the hash of their
canonical state; the same instances and sampling seed each time, with a
bootstrap interval) is measured before training, after the warm start and at
the end; --holdout-env A,B adds environments never trained on.

--backend cuda runs the model on the GPU through libresyn_cuda.so
($RESYN_CUDA_LIB, or beside the binary; see docs/cuda.md). --env takes built-in
and stored (resyn envs add) environments.

Progress goes to stderr. Ctrl-C stops after saving a checkpoint; --resume RUN
continues a run from its last checkpoint (with --steps, to a new total).`,
		Example: `  resyn train --preset tiny-cpu
  resyn train --preset tiny-cpu --steps 80 --json > summary.json
  resyn train --model ./Qwen2.5-0.5B-Instruct --env graph_coloring,knapsack --difficulty 1-4 --steps 200
  resyn train --resume 3 --steps 120
  resyn train --model ./Qwen2.5-0.5B-Instruct --env my_puzzle --backend cuda`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runTrain(cmd, f) },
	}
	c.AddCommand(newTrainSignalsCmd())
	fl := c.Flags()
	fl.StringVar(&f.preset, "preset", "", "train from scratch with a preset ("+grpo.PresetNames()+")")
	fl.StringVar(&f.model, "model", "", "Hugging Face Qwen2 checkpoint directory to start from")
	fl.Uint64Var(&f.resume, "resume", 0, "continue training run RUN from its last checkpoint")
	fl.StringVar(&f.envs, "env", "", "environments, comma-separated (default: the preset's)")
	fl.StringVar(&f.weights, "weights", "", "mixing weights, comma-separated, one per --env (default: equal)")
	fl.StringVar(&f.difficulty, "difficulty", "", "difficulty range LO-HI the curriculum climbs (default 1-3 or the preset's)")
	fl.IntVar(&f.steps, "steps", 0, "GRPO steps (default: the preset's, or 100)")
	fl.IntVar(&f.sftSteps, "sft-steps", -1, "warm-start steps on solve() answers (default: the preset's, 0 for --model)")
	fl.IntVar(&f.sftBatch, "sft-batch", 0, "instances per warm-start step")
	fl.IntVar(&f.prompts, "prompts", 0, "prompts per step")
	fl.IntVar(&f.group, "group", 0, "completions per prompt (G)")
	fl.IntVar(&f.maxNew, "max-new-tokens", 0, "completion length cap")
	fl.IntVar(&f.minibatches, "minibatches", 0, "optimiser updates per batch of rollouts")
	fl.IntVar(&f.epochs, "epochs", 0, "passes over each batch of rollouts")
	fl.Float64Var(&f.lr, "lr", 0, "GRPO learning rate")
	fl.Float64Var(&f.sftLR, "sft-lr", 0, "warm-start learning rate")
	fl.Float64Var(&f.kl, "kl", -1, "KL coefficient to the starting model (0: no reference)")
	fl.Float64Var(&f.temperature, "temperature", -1, "sampling temperature")
	fl.BoolVar(&f.noStd, "no-std", false, "do not divide advantages by the group's standard deviation")
	fl.BoolVar(&f.keepZeroVar, "keep-zero-var", false, "train on groups whose rewards are all equal")
	fl.IntVar(&f.evalN, "eval-n", -1, "distinct evaluation instances per environment, from the share training never draws (0: no evaluation)")
	fl.StringVar(&f.holdout, "holdout-env", "", "environments never trained on (nor in the tokenizer's corpus or the warm start), comma-separated: every evaluation also scores them")
	fl.BoolVar(&f.maskTruncated, "mask-truncated", false, "completions cut off at --max-new-tokens train no token (DAPO's overlong filtering)")
	fl.IntVar(&f.ckptEvery, "checkpoint-every", -1, "GRPO steps between checkpoints")
	fl.Int64Var(&f.seed, "seed", -1, "seed of sampling and instance selection")
	fl.IntVar(&f.threads, "threads", 0, "CPU threads (0: every core)")
	fl.StringVar(&f.backend, "backend", native.BackendCPU, "numeric backend: cpu (C, built in) or cuda (libresyn_cuda.so; see docs/cuda.md)")
	fl.StringVar(&f.system, "system", "", "system prompt (default: none)")
	fl.StringVar(&f.out, "out", "", "checkpoint directory (default: runs/<time> beside the store)")
	fl.StringVar(&f.name, "name", "", "name of the run in the store")
	fl.BoolVar(&f.asJSON, "json", false, "print the run's summary as JSON on stdout")
	return c
}

// trainSetup is everything runTrain assembles before the trainer starts.
type trainSetup struct {
	cfg      grpo.Config
	model    *native.Model
	hfCfg    hf.Config
	tok      *tokenizer.Tokenizer
	source   string
	dir      string
	resumeAt string
	runID    uint64
	threads  int
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	ctx := cmd.Context()
	modes := 0
	for _, set := range []bool{f.preset != "", f.model != "", f.resume != 0} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return fmt.Errorf("choose one of --preset NAME, --model DIR or --resume RUN")
	}
	if err := checkFlagValues(f); err != nil {
		return err
	}
	// The backend first: a missing CUDA library is reported before any work.
	if _, err := native.OpenBackend(f.backend); err != nil {
		return fmt.Errorf("--backend %s: %w", f.backend, err)
	}
	names, err := trainEnvNames(f)
	if err != nil {
		return err
	}
	// Environments before the store opens for writing: the library reads it.
	ex, mods, err := trainExecutor(ctx, names)
	if err != nil {
		return err
	}
	defer ex.Close()
	db, err := openStore(false)
	if err != nil {
		return err
	}
	defer db.Close()

	var s trainSetup
	switch {
	case f.preset != "":
		s, err = setupPreset(ctx, f, ex, mods)
	case f.model != "":
		s, err = setupModel(f, mods)
	default:
		s, err = setupResume(db, f)
	}
	if err != nil {
		return err
	}
	defer s.model.Close()
	if f.resume == 0 {
		if err := applyFlags(&s.cfg, f, mods); err != nil {
			return err
		}
		if s.dir, err = runDir(f.out); err != nil {
			return err
		}
		if n := s.model.Config().MaxSeqLen; s.cfg.MaxPromptTokens+s.cfg.MaxNewTokens > n {
			if s.cfg.MaxNewTokens >= n {
				return fmt.Errorf("--max-new-tokens %d leaves no room for a prompt: the model takes %d positions", s.cfg.MaxNewTokens, n)
			}
			s.cfg.MaxPromptTokens = n - s.cfg.MaxNewTokens
		}
	}
	opts := grpo.Options{
		Config: s.cfg, Model: grpo.Native(s.model), ModelConfig: s.hfCfg, Tokenizer: s.tok, Executor: ex,
		Store: db, RunID: s.runID, Name: f.name, Source: s.source, Dir: s.dir, ResumeFrom: s.resumeAt,
		NewReference: func(ws []safetensors.Tensor) (grpo.Model, error) {
			// The reference lives on the policy's backend (Config().Backend).
			m, err := native.New(s.model.Config())
			if err != nil {
				return nil, err
			}
			ref := grpo.Native(m)
			return ref, ref.SetTensors(grpo.Weights, ws)
		},
		Progress: newTrainPrinter(os.Stderr).print,
	}
	opts.EnvHashes = envHashes(mods)
	if opts.Name == "" {
		opts.Name = strings.TrimPrefix(s.source, "preset:")
	}
	tr, err := grpo.New(opts)
	if err != nil {
		return err
	}
	sum, err := tr.Run(ctx)
	reportSignals(db, sum.RunID)
	if f.asJSON {
		if jerr := writeJSON(sum); jerr != nil && err == nil {
			err = jerr
		}
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "stopped; resume with: resyn train --resume %d\n", sum.RunID)
		return exitError{code: 130}
	}
	return err
}

func setupPreset(ctx context.Context, f trainFlags, ex env.Executor, mods []*env.Module) (trainSetup, error) {
	p, ok := grpo.Presets()[f.preset]
	if !ok {
		return trainSetup{}, fmt.Errorf("unknown preset %q (have %s)", f.preset, grpo.PresetNames())
	}
	// Flags first: the tokenizer learns from the environments' prompts.
	if err := applyFlags(&p.Config, f, mods); err != nil {
		return trainSetup{}, err
	}
	start := time.Now()
	tok, err := p.Tokenizer(ctx, ex)
	if err != nil {
		return trainSetup{}, err
	}
	b, err := native.OpenBackend(f.backend)
	if err != nil {
		return trainSetup{}, fmt.Errorf("--backend %s: %w", f.backend, err)
	}
	m, hfCfg, err := p.NewModelOn(b, tok, f.threads)
	if err != nil {
		return trainSetup{}, err
	}
	fmt.Fprintf(os.Stderr, "preset %s: %d-token tokenizer (%.1fs), model of %d parameters, %d layers × %d wide\n",
		p.Name, tok.VocabSize(), time.Since(start).Seconds(), m.NumParams(), p.Layers, p.Hidden)
	return trainSetup{cfg: p.Config, model: m, hfCfg: hfCfg, tok: tok, source: "preset:" + p.Name}, nil
}

func setupModel(f trainFlags, mods []*env.Module) (trainSetup, error) {
	if st, err := os.Stat(f.model); err != nil || !st.IsDir() {
		return trainSetup{}, fmt.Errorf("--model %s: not a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer.json)", f.model)
	}
	cfg := grpo.Defaults()
	cfg.Envs = nil
	cfg.SFTSteps = 0
	cfg.MaxNewTokens = 512
	cfg.MaxPromptTokens = 1024
	cfg.KLCoef = 0
	// Flags before the weights: a bad flag costs no loading.
	if err := applyFlags(&cfg, f, mods); err != nil {
		return trainSetup{}, err
	}
	hc, err := hf.ReadConfig(f.model)
	if err != nil {
		return trainSetup{}, fmt.Errorf("--model %s: %w", f.model, err)
	}
	tok, err := tokenizer.LoadDir(f.model)
	if err != nil {
		return trainSetup{}, fmt.Errorf("--model %s: %w", f.model, err)
	}
	if tok.VocabSize() > hc.VocabSize {
		return trainSetup{}, fmt.Errorf("--model %s: tokenizer.json has %d ids but config.json's vocab_size is %d", f.model, tok.VocabSize(), hc.VocabSize)
	}
	// Positions for the longest prompt and completion, within the model's.
	seq := cfg.MaxPromptTokens + cfg.MaxNewTokens
	if hc.MaxPositionEmbeddings > 0 {
		if cfg.MaxNewTokens >= hc.MaxPositionEmbeddings {
			return trainSetup{}, fmt.Errorf("--max-new-tokens %d leaves no room for a prompt: %s takes %d positions (max_position_embeddings)",
				cfg.MaxNewTokens, f.model, hc.MaxPositionEmbeddings)
		}
		seq = min(seq, hc.MaxPositionEmbeddings)
	}
	m, hfCfg, err := native.LoadHF(f.model, native.Options{Threads: f.threads, Backend: f.backend, MaxSeqLen: seq})
	if err != nil {
		return trainSetup{}, fmt.Errorf("--model %s: %w", f.model, err)
	}
	fmt.Fprintf(os.Stderr, "loaded %s: %d parameters\n", f.model, m.NumParams())
	// Prompts are rendered by the model's own chat template, which adds
	// its default system prompt (Qwen2.5-Instruct's) when --system gives
	// none: show what one looks like.
	var sample []tokenizer.Message
	if f.system != "" {
		sample = append(sample, tokenizer.Message{Role: "system", Content: f.system})
	}
	sample = append(sample, tokenizer.Message{Role: "user", Content: "PROMPT"})
	text, err := tok.RenderChat(sample, true)
	if err != nil {
		m.Close()
		return trainSetup{}, fmt.Errorf("--model %s: %w", f.model, err)
	}
	from := "the model's chat template"
	if tok.ChatTemplate() == "" {
		from = "ChatML (the tokenizer has no chat template)"
	}
	fmt.Fprintf(os.Stderr, "prompts: %s renders them as %q\n", from, text)
	abs, _ := filepath.Abs(f.model)
	return trainSetup{cfg: cfg, model: m, hfCfg: hfCfg, tok: tok, source: abs}, nil
}

func setupResume(db *storage.DB, f trainFlags) (trainSetup, error) {
	var run storage.TrainRun
	var cks []storage.Checkpoint
	err := db.View(func(tx *storage.Tx) error {
		var err error
		if run, err = storage.GetTrainRun(tx, f.resume); err != nil {
			return err
		}
		cks, err = storage.ListCheckpoints(tx, f.resume)
		return err
	})
	if err != nil {
		return trainSetup{}, fmt.Errorf("--resume %d: %w", f.resume, err)
	}
	if run.Status == "running" {
		// Read as running only while its process lives (storage.RunHold).
		return trainSetup{}, fmt.Errorf("--resume %d: the run is being trained by another resyn process right now; resume it once that one has ended", f.resume)
	}
	var info grpo.RunInfo
	if err := json.Unmarshal(run.Config, &info); err != nil {
		return trainSetup{}, fmt.Errorf("--resume %d: the run's config: %w", f.resume, err)
	}
	if len(cks) == 0 {
		return trainSetup{}, fmt.Errorf("--resume %d: %w: the run has no checkpoint", f.resume, grpo.ErrResume)
	}
	last := cks[len(cks)-1].Path
	tok, err := tokenizer.LoadDir(last)
	if err != nil {
		return trainSetup{}, fmt.Errorf("--resume %d: %w", f.resume, err)
	}
	hfCfg, err := hf.ReadConfig(last)
	if err != nil {
		return trainSetup{}, fmt.Errorf("--resume %d: %w", f.resume, err)
	}
	nc := native.ConfigFromHF(hfCfg)
	nc.Threads, nc.Backend = f.threads, f.backend
	m, err := native.New(nc)
	if err != nil {
		return trainSetup{}, err
	}
	cfg := info.Config
	if f.steps > 0 {
		cfg.Steps = f.steps
	}
	fmt.Fprintf(os.Stderr, "resuming run %d (%s) from %s\n", f.resume, run.Status, last)
	return trainSetup{cfg: cfg, model: m, hfCfg: hfCfg, tok: tok, source: info.Source, dir: info.Dir,
		resumeAt: last, runID: f.resume}, nil
}

// trainEnvNames lists the environments a run needs, comma-separated:
// --env's, else the resumed run's or the preset's; "" for --model without
// --env (applyFlags then asks for them).
func trainEnvNames(f trainFlags) (string, error) {
	if f.envs != "" {
		return f.envs, nil
	}
	var envs []grpo.EnvSpec
	switch {
	case f.preset != "":
		p, ok := grpo.Presets()[f.preset]
		if !ok {
			return "", fmt.Errorf("unknown preset %q (have %s)", f.preset, grpo.PresetNames())
		}
		envs = p.Config.Envs
		if f.holdout == "" {
			return p.Config.EnvNames(), nil
		}
	case f.resume != 0:
		db, err := openStore(true)
		if err != nil {
			return "", err
		}
		if db == nil {
			return "", fmt.Errorf("--resume %d: no store at %s", f.resume, dbPath())
		}
		var run storage.TrainRun
		err = db.View(func(tx *storage.Tx) error {
			var err error
			run, err = storage.GetTrainRun(tx, f.resume)
			return err
		})
		db.Close()
		if err != nil {
			return "", fmt.Errorf("--resume %d: %w", f.resume, err)
		}
		var info grpo.RunInfo
		if err := json.Unmarshal(run.Config, &info); err != nil {
			return "", fmt.Errorf("--resume %d: the run's config: %w", f.resume, err)
		}
		return info.Config.EnvNames(), nil
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	if f.holdout != "" {
		names = append(names, f.holdout)
	}
	return strings.Join(names, ","), nil
}

// trainExecutor registers the named environments, built-in or stored in the
// library (libraryPool), and returns the executor that runs them with their
// modules: the in-process executor when every one is built in, the sandbox
// pool when a stored (possibly synthesized) environment is among them.
func trainExecutor(ctx context.Context, names string) (env.Executor, []*env.Module, error) {
	if names == "" {
		return env.NewLocal(env.DefaultLimits(), 0), nil, nil
	}
	pool, mods, err := libraryPool(ctx, 0, names, false, false)
	if err != nil {
		return nil, nil, fmt.Errorf("--env: %w", err)
	}
	builtins, err := envlib.Modules()
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	builtin := map[string]*env.Module{}
	for _, m := range builtins {
		builtin[m.Name] = m
	}
	for _, m := range mods {
		if builtin[m.Name] != m {
			return pool, mods, nil
		}
	}
	pool.Close()
	ex := env.NewLocal(env.DefaultLimits(), 0)
	for _, m := range mods {
		ex.Register(m)
	}
	return ex, mods, nil
}

// runDir is the run's checkpoint directory, absolute (the store records
// it, and --resume may run from another directory): --out, or a new
// runs/<time> beside the store.
func runDir(out string) (string, error) {
	if out != "" {
		return filepath.Abs(out)
	}
	base := filepath.Join(filepath.Dir(dbPath()), "runs", time.Now().Format("20060102-150405"))
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

// checkFlagValues refuses numeric flags set out of range, naming the flag.
func checkFlagValues(f trainFlags) error {
	for _, c := range []struct {
		name     string
		v, least int
	}{
		{"steps", f.steps, 0}, {"sft-steps", f.sftSteps, 0}, {"sft-batch", f.sftBatch, 1}, {"prompts", f.prompts, 1}, {"group", f.group, 2},
		{"max-new-tokens", f.maxNew, 1}, {"minibatches", f.minibatches, 1}, {"epochs", f.epochs, 1},
		{"eval-n", f.evalN, 0}, {"checkpoint-every", f.ckptEvery, 0}, {"threads", f.threads, 0},
	} {
		unset := 0
		switch c.name {
		case "sft-steps", "eval-n", "checkpoint-every":
			unset = -1
		}
		if c.v != unset && c.v < c.least {
			why := fmt.Sprintf("want %d or more", c.least)
			if c.name == "group" {
				why = "GRPO compares at least 2 completions per prompt"
			}
			return fmt.Errorf("--%s %d: %s", c.name, c.v, why)
		}
	}
	return nil
}

// applyFlags overrides the configuration with the flags that were given.
func applyFlags(c *grpo.Config, f trainFlags, mods []*env.Module) error {
	if err := checkFlagValues(f); err != nil {
		return err
	}
	if f.envs != "" {
		byName := map[string]*env.Module{}
		for _, m := range mods {
			byName[m.Name] = m
		}
		var chosen []*env.Module
		for _, n := range strings.Split(f.envs, ",") {
			m, ok := byName[strings.TrimSpace(n)]
			if !ok {
				return fmt.Errorf("--env: unknown environment %q (see `resyn envs list`)", n)
			}
			chosen = append(chosen, m)
		}
		var err error
		lo, hi := 1, 3
		if f.difficulty != "" {
			if lo, hi, err = dataset.ParseRange(f.difficulty); err != nil {
				return err
			}
		}
		var ws []float64
		if f.weights != "" {
			for _, w := range strings.Split(f.weights, ",") {
				v, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
				if err != nil {
					return fmt.Errorf("--weights %q: %v", f.weights, err)
				}
				ws = append(ws, v)
			}
			if len(ws) != len(chosen) {
				return fmt.Errorf("--weights has %d values for %d environments", len(ws), len(chosen))
			}
		}
		c.Envs = nil
		for i, m := range chosen {
			w := 1.0
			if ws != nil {
				w = ws[i]
			}
			c.Envs = append(c.Envs, grpo.EnvSpec{Name: m.Name, Weight: w,
				MinDifficulty: max(lo, m.MinDifficulty), MaxDifficulty: min(hi, m.MaxDifficulty)})
		}
	} else if len(c.Envs) == 0 {
		return fmt.Errorf("name the environments to train on with --env A,B (see `resyn envs list`)")
	}
	setInt := func(dst *int, v, unset int) {
		if v != unset {
			*dst = v
		}
	}
	setInt(&c.Steps, f.steps, 0)
	setInt(&c.SFTSteps, f.sftSteps, -1)
	setInt(&c.SFTBatch, f.sftBatch, 0)
	setInt(&c.PromptsPerStep, f.prompts, 0)
	setInt(&c.GroupSize, f.group, 0)
	setInt(&c.MaxNewTokens, f.maxNew, 0)
	setInt(&c.Minibatches, f.minibatches, 0)
	setInt(&c.Epochs, f.epochs, 0)
	setInt(&c.EvalN, f.evalN, -1)
	setInt(&c.CheckpointEvery, f.ckptEvery, -1)
	if f.lr > 0 {
		c.LR = f.lr
	}
	if f.sftLR > 0 {
		c.SFTLR = f.sftLR
	}
	if f.kl >= 0 {
		c.KLCoef = f.kl
	}
	if f.temperature >= 0 {
		c.Temperature = f.temperature
	}
	if f.seed >= 0 {
		c.Seed = f.seed
	}
	if f.noStd {
		c.ScaleByStd = false
	}
	if f.keepZeroVar {
		c.DropZeroVar = false
	}
	if f.system != "" {
		c.SystemPrompt = f.system
	}
	if f.maskTruncated {
		c.MaskTruncated = true
	}
	if f.holdout != "" {
		var err error
		if c.HoldoutEnvs, err = grpo.HoldoutEnvs(f.holdout, mods, c.Envs); err != nil {
			return err
		}
	}
	return c.Validate()
}

// trainPrinter writes one line per event, with the steps' rate and the
// time the phase has left.
type trainPrinter struct {
	w         io.Writer
	sft, grpo *rate
}

func newTrainPrinter(w io.Writer) *trainPrinter {
	return &trainPrinter{w: w, sft: newRate(), grpo: newRate()}
}

// print writes one event.
func (p *trainPrinter) print(e grpo.Event) {
	{
		w := p.w
		switch e := e.(type) {
		case grpo.RunStartedEvent:
			verb := "started"
			if e.Resumed {
				verb = "resumed"
			}
			fmt.Fprintf(w, "run %d %s at step %d (%s); checkpoints in %s\n", e.RunID, verb, e.Step, e.Phase, e.Dir)
		case grpo.SFTStepEvent:
			p.sft.startAt(e.Step-1, p.sft.now().Add(-e.Elapsed))
			eta := p.sft.line(e.Step, e.Of, "steps")
			if e.Step == 1 || e.Step%10 == 0 || e.Step == e.Of {
				fmt.Fprintf(w, "sft %4d/%d%s  loss %.4f  grad %.3f  %6.0f tok/s\n", e.Step, e.Of, paren(eta), e.Loss, e.GradNorm, e.TokensPerS)
			}
		case grpo.StepEvent:
			p.grpo.startAt(e.Step-1, p.grpo.now().Add(-e.Elapsed))
			eta := p.grpo.line(e.Step, e.Of, "steps")
			var envs []string
			for name, s := range e.PerEnv {
				envs = append(envs, fmt.Sprintf("%s %.2f@%d", name, s.Reward, s.Level))
			}
			sort.Strings(envs)
			fmt.Fprintf(w, "step %4d/%d%s  reward %.3f  pass %.2f  loss %+.4f  kl %.4f  ent %.3f  len %.1f  clip %.3f  kept %d/%d  %6.0f tok/s  [%s]\n",
				e.Step, e.Of, paren(eta), e.Reward, e.PassRate, e.Loss, e.KL, e.Entropy, e.ResponseLen, e.ClipFrac,
				e.GroupsKept, e.Groups, e.TokensPerS, strings.Join(envs, ", "))
		case grpo.LevelUpEvent:
			fmt.Fprintf(w, "curriculum: %s now at difficulty %d\n", e.Env, e.Level)
		case grpo.EvalEvent:
			fmt.Fprintf(w, "eval (%s): %s\n", e.Label, e.Result.Format())
		case grpo.CheckpointEvent:
			fmt.Fprintf(w, "checkpoint at step %d: %s\n", e.Step, e.Path)
		case grpo.FinishedEvent:
			if e.Err != nil && !errors.Is(e.Err, context.Canceled) {
				fmt.Fprintf(w, "training failed after %v: %v\n", e.Summary.Elapsed.Round(time.Second), e.Err)
				return
			}
			fmt.Fprintf(w, "finished %d SFT + %d GRPO steps in %v\n", e.Summary.SFTSteps, e.Summary.Steps, e.Summary.Elapsed.Round(time.Second))
		}
	}
}
