package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"resyn/core/env"
	"resyn/storage"
	"resyn/trainer/hf"
	"resyn/trainer/safetensors"
	"resyn/trainer/tokenizer"
)

// Options wire a Trainer to its model, data and store.
type Options struct {
	Config Config
	// Model is the policy, already holding its starting weights (or, with
	// ResumeFrom, created for the checkpoint's config).
	Model Model
	// ModelConfig is saved as config.json with every checkpoint.
	ModelConfig hf.Config
	Tokenizer   *tokenizer.Tokenizer
	// Executor runs the environments named in Config.Envs (registered).
	Executor env.Executor
	// EnvHashes is the version hash of each environment of Config.Envs
	// (env.Module.Hash): the lineage the run record and every stored
	// rollout carry. A resume with a changed version records it with the
	// step it took over from.
	EnvHashes map[string]string

	// Reference is the frozen model of the KL term (KLCoef > 0). When nil,
	// NewReference builds one from the policy's weights at the start of
	// GRPO (after the warm start); they are saved under Dir/reference so
	// that a resumed run gets the same reference.
	Reference    Model
	NewReference func(weights []safetensors.Tensor) (Model, error)

	// Store receives the run record, metrics, sample rollouts and the
	// checkpoint records; nil runs without one.
	Store *storage.DB
	// RunID continues an existing run record (resume); 0 creates one.
	RunID uint64
	Name  string // of a new run record
	// Source says where the model came from ("preset:tiny-cpu", a
	// directory), kept in the run record for resume.
	Source string
	// Dir holds the run's checkpoints (Dir/step-N) and reference weights.
	Dir string
	// ResumeFrom is a checkpoint directory written by this package: its
	// weights, optimiser state and trainer state are restored.
	ResumeFrom string

	// Progress receives every event, from the goroutine running the
	// trainer; it should return quickly.
	Progress func(Event)
}

// RunInfo is the Config of a stored run record.
type RunInfo struct {
	Config Config `json:"grpo"`
	Source string `json:"source"`
	Dir    string `json:"dir"`
}

// Summary is what a finished (or stopped) run reports.
type Summary struct {
	RunID      uint64        `json:"run"`
	Steps      int           `json:"steps"` // GRPO steps done
	SFTSteps   int           `json:"sft_steps"`
	Init       *EvalResult   `json:"init,omitempty"` // before any training (fresh runs, and resumes of a run stopped before its first step)
	AfterSFT   *EvalResult   `json:"after_sft,omitempty"`
	Final      *EvalResult   `json:"final,omitempty"`
	Checkpoint string        `json:"checkpoint,omitempty"` // the last checkpoint written
	Elapsed    time.Duration `json:"elapsed_ns"`
	// TrainPool: the distinct training instances per environment, when the
	// run trains on fixed pools (Config.TrainInstances).
	TrainPool map[string]int `json:"train_pool,omitempty"`
}

// Trainer runs the warm start and GRPO for one run.
type Trainer struct {
	o     Options
	cfg   Config
	p     *prompter
	st    trainState
	ref   Model
	mw    *storage.MetricsWriter
	hold  *storage.RunHold // this process's claim on the run record
	sum   Summary
	start time.Time
	// lastSaved is the global step of the last checkpoint of this
	// process's run (the one resumed from counts), -1 before any.
	lastSaved int
	pool      *trainPool // the fixed training data (Config.TrainInstances), built on first use
}

// trainState is what a checkpoint needs beyond the weights and moments.
type trainState struct {
	Phase      string      `json:"phase"` // "sft", "grpo" or "done"
	SFTStep    int         `json:"sft_step"`
	Step       int         `json:"step"`      // GRPO steps done
	NextSeed   int64       `json:"next_seed"` // next training instance seed
	Curriculum *Curriculum `json:"curriculum"`
	Config     Config      `json:"config"`
	Init       *EvalResult `json:"init,omitempty"`
	AfterSFT   *EvalResult `json:"after_sft,omitempty"`
}

const stateFile = "trainer_state.json"
const optimizerFile = "optimizer.safetensors"

// New checks the options and prepares a run; nothing is written yet.
func New(o Options) (*Trainer, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Model == nil || o.Tokenizer == nil || o.Executor == nil {
		return nil, fmt.Errorf("%w: a trainer needs a model, a tokenizer and an executor", ErrConfig)
	}
	if o.Config.KLCoef > 0 && o.Reference == nil && o.NewReference == nil {
		return nil, fmt.Errorf("%w: kl_coef %v needs a reference model", ErrConfig, o.Config.KLCoef)
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no checkpoint directory", ErrConfig)
	}
	if v := o.ModelConfig.VocabSize; v > 0 && o.Tokenizer.VocabSize() > v {
		return nil, fmt.Errorf("%w: the tokenizer has %d ids but the model's vocab_size is %d (ids %d to %d have no embedding row)",
			ErrConfig, o.Tokenizer.VocabSize(), v, v, o.Tokenizer.VocabSize()-1)
	}
	p, err := newPrompter(o.Tokenizer, o.Config.SystemPrompt)
	if err != nil {
		return nil, err
	}
	t := &Trainer{o: o, cfg: o.Config, p: p, ref: o.Reference}
	t.st = trainState{Phase: "sft", Curriculum: NewCurriculum(o.Config.Envs, o.Config.PassThreshold, o.Config.CurriculumWindow), Config: o.Config}
	if o.Config.SFTSteps == 0 {
		t.st.Phase = "grpo"
	}
	return t, nil
}

// Start runs the trainer on its own goroutine and returns its events; the
// channel closes after the FinishedEvent. Options.Progress, when set, sees
// every event first.
func (t *Trainer) Start(ctx context.Context) <-chan Event {
	ch := make(chan Event, 64)
	prev := t.o.Progress
	t.o.Progress = func(e Event) {
		if prev != nil {
			prev(e)
		}
		ch <- e
	}
	go func() {
		defer close(ch)
		_, _ = t.Run(ctx)
	}()
	return ch
}

func (t *Trainer) emit(e Event) {
	if t.o.Progress != nil {
		t.o.Progress(e)
	}
}

// Run trains until the configured steps are done or ctx is cancelled; on
// cancellation it saves a checkpoint first. The last event is a
// FinishedEvent carrying the same summary and error.
func (t *Trainer) Run(ctx context.Context) (sum Summary, err error) {
	t.start = time.Now()
	defer func() {
		t.sum.Elapsed = time.Since(t.start)
		t.sum.Steps, t.sum.SFTSteps = t.st.Step, t.st.SFTStep
		t.sum.Init, t.sum.AfterSFT = t.st.Init, t.st.AfterSFT
		sum = t.sum
		t.finishRecord(err)
		t.emit(FinishedEvent{Summary: sum, Err: err})
	}()
	resumed := t.o.ResumeFrom != ""
	if resumed {
		if err := t.restore(t.o.ResumeFrom); err != nil {
			return t.sum, err
		}
	}
	if err := t.openRecord(); err != nil {
		return t.sum, err
	}
	t.emit(RunStartedEvent{RunID: t.sum.RunID, Resumed: resumed, Phase: t.st.Phase, Step: t.globalStep(), Dir: t.o.Dir})

	t.lastSaved = -1
	if resumed {
		t.lastSaved = t.globalStep()
	}
	// The first evaluation runs before any step, and again on a resume of
	// a run stopped during it: a stop there saves the untrained model as
	// the step-0 checkpoint, so every stopped run can be resumed.
	if t.st.Init == nil && t.globalStep() == 0 && t.cfg.EvalN > 0 && !t.cfg.NoInitEval {
		r, err := t.eval(ctx, "init")
		if err != nil {
			return t.stopped(err)
		}
		t.st.Init = &r
	}
	for t.st.Phase == "sft" && t.st.SFTStep < t.cfg.SFTSteps {
		if err := ctx.Err(); err != nil {
			return t.stopped(err)
		}
		if err := t.sftStep(ctx); err != nil {
			return t.stopped(err)
		}
	}
	if t.st.Phase == "sft" {
		t.st.Phase = "grpo"
		if t.cfg.EvalN > 0 {
			r, err := t.eval(ctx, "sft")
			if err != nil {
				return t.stopped(err)
			}
			t.st.AfterSFT = &r
		}
		if t.cfg.SFTSteps > 0 {
			if err := t.checkpoint(); err != nil {
				return t.sum, err
			}
			t.lastSaved = t.globalStep()
		}
	}
	if err := t.prepareReference(); err != nil {
		return t.sum, err
	}
	for t.st.Step < t.cfg.Steps {
		if err := ctx.Err(); err != nil {
			return t.stopped(err)
		}
		if err := t.grpoStep(ctx); err != nil {
			return t.stopped(err)
		}
		if t.cfg.EvalEvery > 0 && t.st.Step%t.cfg.EvalEvery == 0 && t.st.Step < t.cfg.Steps && t.cfg.EvalN > 0 {
			if _, err := t.eval(ctx, fmt.Sprintf("step %d", t.st.Step)); err != nil {
				return t.stopped(err)
			}
		}
		if t.cfg.CheckpointEvery > 0 && t.st.Step%t.cfg.CheckpointEvery == 0 && t.st.Step < t.cfg.Steps {
			if err := t.checkpoint(); err != nil {
				return t.sum, err
			}
			t.lastSaved = t.globalStep()
		}
	}
	t.st.Phase = "done"
	if t.cfg.EvalN > 0 {
		r, err := t.eval(ctx, "final")
		if err != nil {
			return t.stopped(err)
		}
		t.sum.Final = &r
	}
	if err := t.checkpoint(); err != nil {
		return t.sum, err
	}
	return t.sum, nil
}

// stopped ends Run with err; a cancelled run saves a checkpoint first
// unless its last one is of this step.
func (t *Trainer) stopped(err error) (Summary, error) {
	if errors.Is(err, context.Canceled) && t.globalStep() != t.lastSaved {
		if serr := t.checkpoint(); serr != nil {
			return t.sum, errors.Join(err, serr)
		}
	}
	return t.sum, err
}

func (t *Trainer) globalStep() int { return t.st.SFTStep + t.st.Step }

// stepRand is the random stream of one step: resumed runs draw the same.
func (t *Trainer) stepRand(kind uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(t.cfg.Seed), uint64(t.globalStep())<<8|kind))
}

// tasks draws n training instances mixed by weight at the curriculum's
// current levels (or uniformly in [min, maxDiff] for the warm start).
func (t *Trainer) tasks(rng *rand.Rand, n int, sft bool) []env.Task {
	idx := Mix(t.cfg.Envs, n, rng)
	out := make([]env.Task, n)
	for i, k := range idx {
		e := t.cfg.Envs[k]
		d := t.st.Curriculum.Level(e.Name)
		if sft {
			hi := e.MaxDifficulty
			if t.cfg.SFTMaxDiff > 0 {
				hi = min(hi, max(t.cfg.SFTMaxDiff, e.MinDifficulty))
			}
			d = e.MinDifficulty + rng.IntN(hi-e.MinDifficulty+1)
		}
		out[i] = env.Task{Env: e.Name, Seed: t.st.NextSeed, Difficulty: d}
		t.st.NextSeed++
	}
	return out
}

// trainInstances draws n training instances (fewer when the environments
// fail or their instances keep falling into the evaluation partition):
// instances of the evaluation partition (inEvalPartition) are skipped and
// replaced by new draws, for at most 8 rounds.
func (t *Trainer) trainInstances(ctx context.Context, rng *rand.Rand, n int, sft bool) ([]instance, error) {
	if t.cfg.TrainInstances > 0 {
		return t.poolInstances(ctx, rng, n, sft)
	}
	var out []instance
	for round := 0; len(out) < n && round < 8; round++ {
		insts, _, err := makeInstances(ctx, t.o.Executor, t.p, t.tasks(rng, n-len(out), sft), sft, t.cfg.MaxPromptTokens)
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			if eval, ok := inEvalPartition(in.Env, in.State, t.cfg.evalShare()); ok && !eval {
				out = append(out, in)
			}
		}
	}
	return out, nil
}

func (t *Trainer) sftStep(ctx context.Context) error {
	start := time.Now()
	rng := t.stepRand(1)
	insts, err := t.trainInstances(ctx, rng, t.cfg.SFTBatch, true)
	if err != nil {
		return err
	}
	if len(insts) == 0 {
		return fmt.Errorf("%w: no warm-start instance with a solve() answer at SFT step %d", ErrNoData, t.st.SFTStep+1)
	}
	seqs := make([]*sequence, len(insts))
	var norm float64
	for i, in := range insts {
		seqs[i] = &sequence{prompt: in.Tokens, completion: t.p.encodeAnswer(in.Solution)}
		norm += float64(len(seqs[i].completion))
	}
	if err := t.o.Model.ZeroGrad(); err != nil {
		return err
	}
	var loss float64
	tokens := 0
	for _, c := range chunks(len(seqs), t.cfg.MicroBatch) {
		pk := pack(seqs[c[0]:c[1]])
		lp := make([]float32, pk.B*pk.T)
		if err := t.o.Model.Forward(pk.Batch, lp, nil); err != nil {
			return err
		}
		dlp := make([]float32, len(lp))
		s, _ := SFTLoss(lp, pk.Mask, norm, dlp)
		loss += s
		tokens += pk.B * pk.T
		if err := t.o.Model.Backward(dlp); err != nil {
			return err
		}
	}
	gn, err := t.o.Model.Step(t.cfg.adamw(t.cfg.SFTLR))
	if err != nil {
		return err
	}
	t.st.SFTStep++
	el := time.Since(start)
	ev := SFTStepEvent{Step: t.st.SFTStep, Of: t.cfg.SFTSteps, Loss: loss / norm, GradNorm: float64(gn),
		Tokens: tokens, TokensPerS: float64(tokens) / el.Seconds(), Elapsed: el}
	t.metrics(t.globalStep(), map[string]float64{"sft_loss": ev.Loss, "grad_norm": ev.GradNorm,
		"tokens_per_s": ev.TokensPerS, "step_s": el.Seconds()}, nil)
	t.emit(ev)
	return nil
}

// rollout is one scored completion of a GRPO step.
type rollout struct {
	inst   *instance
	group  int
	tokens []int32
	text   string
	reward env.Reward
	shaped float64 // reward with the overlong penalty
	// truncated: the completion hit MaxNewTokens without a stop token
	truncated bool
}

func (t *Trainer) grpoStep(ctx context.Context) error {
	start := time.Now()
	cfg := t.cfg
	rng := t.stepRand(2)
	ev := StepEvent{Step: t.st.Step + 1, Of: cfg.Steps, GlobalStep: t.globalStep() + 1, PerEnv: map[string]EnvStats{}}
	rolls, seqs, genTokens, err := t.rollouts(ctx, rng, &ev)
	if err != nil {
		return err
	}
	passedBy := stepStats(rolls, &ev, cfg.PassScore, t.p.isStop)
	fwdTokens := 0
	if len(seqs) > 0 {
		n, err := t.update(rng, seqs, &ev)
		if err != nil {
			return err
		}
		fwdTokens = n
	}
	t.st.Step++
	for name, passed := range passedBy {
		lvl := t.st.Curriculum.Level(name)
		if ev.PerEnv[name].Level == lvl && t.st.Curriculum.Observe(name, lvl, passed) {
			t.emit(LevelUpEvent{Step: t.st.Step, Env: name, Level: t.st.Curriculum.Level(name)})
		}
	}
	ev.Elapsed = time.Since(start)
	ev.TokensPerS = float64(genTokens+fwdTokens) / ev.Elapsed.Seconds()
	t.stepMetrics(ev)
	t.storeRollouts(rolls)
	t.emit(ev)
	return nil
}

// rollouts samples the step's groups and builds the sequences that train:
// DAPO's dynamic sampling replaces groups without a learning signal by new
// prompts until PromptsPerStep groups train, for at most MaxResampleRounds
// more rounds. It returns the rollouts, the sequences and the tokens
// generated.
func (t *Trainer) rollouts(ctx context.Context, rng *rand.Rand, ev *StepEvent) ([]rollout, []*sequence, int, error) {
	cfg := t.cfg
	var rolls []rollout
	var seqs []*sequence
	genTokens := 0
	for round := 0; ev.GroupsKept < cfg.PromptsPerStep && round <= cfg.MaxResampleRounds; round++ {
		need := cfg.PromptsPerStep - ev.GroupsKept
		if round > 0 {
			if !cfg.DropZeroVar {
				break // every group with two scored completions trains: nothing to replace
			}
			ev.ResampleRounds++
			ev.Resampled += need
		}
		insts, err := t.trainInstances(ctx, rng, need, false)
		if err != nil {
			return nil, nil, 0, err
		}
		if len(insts) == 0 {
			if round == 0 {
				return nil, nil, 0, fmt.Errorf("%w: no prompt could be generated at GRPO step %d", ErrNoData, t.st.Step+1)
			}
			break
		}
		rs, n, err := t.sample(ctx, rng, insts)
		if err != nil {
			return nil, nil, 0, err
		}
		genTokens += n
		ev.Groups += len(insts)
		gs, kept := buildGroups(rs, cfg)
		seqs = append(seqs, gs...)
		ev.GroupsKept += kept
		rolls = append(rolls, rs...)
	}
	return rolls, seqs, genTokens, nil
}

// stepStats fills ev's rewards, rates and lengths, overall and per
// environment, from the step's rollouts (environment errors counted, not
// averaged in), and returns each environment's pass/fail list for the
// curriculum. isStop tells a completion that ended from one cut off.
func stepStats(rolls []rollout, ev *StepEvent, passScore float64, isStop func(int32) bool) map[string][]bool {
	truncated := 0
	for i := range rolls {
		if n := len(rolls[i].tokens); n > 0 && !isStop(rolls[i].tokens[n-1]) {
			truncated++
		}
	}
	passedBy := map[string][]bool{}
	var scored int
	for i := range rolls {
		r := &rolls[i]
		es := ev.PerEnv[r.inst.Env]
		es.Level = r.inst.Difficulty
		if r.reward.Kind == env.KindEnvError || r.reward.Kind == env.KindTimeout {
			es.EnvErrors++
			ev.PerEnv[r.inst.Env] = es
			continue
		}
		pass := r.reward.Kind == env.KindOK && r.reward.Score >= passScore
		es.Completions++
		es.Reward += r.reward.Score
		if pass {
			es.PassRate++
		}
		if r.reward.Kind != env.KindFormat {
			es.FormatRate++
		}
		ev.PerEnv[r.inst.Env] = es
		passedBy[r.inst.Env] = append(passedBy[r.inst.Env], pass)
		ev.Reward += r.reward.Score
		if pass {
			ev.PassRate++
		}
		if r.reward.Kind != env.KindFormat {
			ev.FormatRate++
		}
		ev.ResponseLen += float64(len(r.tokens))
		scored++
	}
	if scored > 0 {
		ev.Reward /= float64(scored)
		ev.PassRate /= float64(scored)
		ev.FormatRate /= float64(scored)
		ev.ResponseLen /= float64(scored)
	}
	ev.Truncated = float64(truncated) / float64(max(len(rolls), 1))
	for name, es := range ev.PerEnv {
		if es.Completions > 0 {
			es.Reward /= float64(es.Completions)
			es.PassRate /= float64(es.Completions)
			es.FormatRate /= float64(es.Completions)
		}
		ev.PerEnv[name] = es
	}
	return passedBy
}

// sample draws GroupSize completions of every instance in one batched call
// and scores them; rollout i belongs to instance i / GroupSize. It returns
// the number of tokens generated.
func (t *Trainer) sample(ctx context.Context, rng *rand.Rand, insts []instance) ([]rollout, int, error) {
	cfg := t.cfg
	var prompts [][]int32
	for i := range insts {
		for range cfg.GroupSize {
			prompts = append(prompts, insts[i].Tokens)
		}
	}
	comps, err := t.o.Model.Generate(GenRequest{Prompts: prompts, MaxNewTokens: cfg.MaxNewTokens,
		Temperature: float32(cfg.Temperature), TopP: float32(cfg.TopP), StopTokens: t.p.stop, Seed: rng.Uint64()})
	if err != nil {
		return nil, 0, err
	}
	genTokens := 0
	rolls := make([]rollout, len(comps))
	items := make([]env.ScoreItem, len(comps))
	for i, c := range comps {
		in := &insts[i/cfg.GroupSize]
		rolls[i] = rollout{inst: in, group: i / cfg.GroupSize, tokens: c, text: t.p.decode(c)}
		items[i] = env.ScoreItem{Env: in.Env, Seed: in.Seed, Difficulty: in.Difficulty, State: in.State, Completion: rolls[i].text}
		genTokens += len(c)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	rws := env.ScoreCompletions(ctx, t.o.Executor, items)
	for i := range rolls {
		r := &rolls[i]
		r.reward = rws[i]
		r.truncated = len(r.tokens) > 0 && !t.p.isStop(r.tokens[len(r.tokens)-1])
		r.shaped = r.reward.Score + OverlongPenalty(len(r.tokens), cfg.MaxNewTokens, cfg.OverlongBuffer, cfg.OverlongPenalty)
	}
	return rolls, genTokens, nil
}

// buildGroups turns scored rollouts (GroupSize consecutive ones per
// prompt) into training sequences with their group advantages and reports
// how many groups train:
//
//   - completions the environment failed on (env_error, timeout) and empty
//     ones leave their group; a group needs two completions left;
//   - with DropZeroVar, a group whose task rewards are all equal is
//     dropped, whatever the overlong penalty adds (the penalty alone is no
//     signal about the task);
//   - advantages are of the shaped rewards (task reward plus the overlong
//     penalty), divided by the group's std with ScaleByStd;
//   - with MaskTruncated, a completion that hit MaxNewTokens without a stop
//     token counts in its group's mean and std but trains no token (DAPO's
//     overlong filtering).
func buildGroups(rolls []rollout, cfg Config) (seqs []*sequence, kept int) {
	G := cfg.GroupSize
	for g := 0; g+G <= len(rolls); g += G {
		var members []*rollout
		var rewards, task []float64
		for i := g; i < g+G; i++ {
			k := rolls[i].reward.Kind
			if k == env.KindEnvError || k == env.KindTimeout || len(rolls[i].tokens) == 0 {
				continue
			}
			members = append(members, &rolls[i])
			rewards = append(rewards, rolls[i].shaped)
			task = append(task, rolls[i].reward.Score)
		}
		if len(members) < 2 {
			continue
		}
		_, taskZero := GroupAdvantages(task, false, 0)
		adv, zero := GroupAdvantages(rewards, cfg.ScaleByStd, 1e-6)
		if (zero || taskZero) && cfg.DropZeroVar {
			continue
		}
		kept++
		for j, m := range members {
			if cfg.MaskTruncated && m.truncated {
				continue
			}
			seqs = append(seqs, &sequence{prompt: m.inst.Tokens, completion: m.tokens, adv: float32(adv[j])})
		}
	}
	return seqs, kept
}

// packSampled packs rollout sequences for a forward pass at the sampling
// distribution (logits / temperature over the top-p nucleus), so that the
// ratio, the clip, the KL term and the entropy concern the policy that
// generated the completions, as in verl and TRL.
func (t *Trainer) packSampled(seqs []*sequence) packed {
	pk := pack(seqs)
	pk.Temperature, pk.TopP = float32(t.cfg.Temperature), float32(t.cfg.TopP)
	return pk
}

// update computes the old (and reference) log-probabilities, then takes
// Epochs × Minibatches optimiser steps over the sequences. It returns the
// number of positions forwarded.
func (t *Trainer) update(rng *rand.Rand, seqs []*sequence, ev *StepEvent) (int, error) {
	cfg := t.cfg
	fwd := 0
	for _, c := range chunks(len(seqs), cfg.MicroBatch) {
		part := seqs[c[0]:c[1]]
		pk := t.packSampled(part)
		lp := make([]float32, pk.B*pk.T)
		if err := t.o.Model.Forward(pk.Batch, lp, nil); err != nil {
			return fwd, err
		}
		pk.gather(part, lp, func(s *sequence) *[]float32 { return &s.old })
		fwd += pk.B * pk.T
		if cfg.KLCoef > 0 {
			if err := t.ref.Forward(pk.Batch, lp, nil); err != nil {
				return fwd, fmt.Errorf("reference model: %w", err)
			}
			pk.gather(part, lp, func(s *sequence) *[]float32 { return &s.ref })
			fwd += pk.B * pk.T
		}
	}
	params := LossParams{ClipLow: cfg.ClipLow, ClipHigh: cfg.ClipHigh, KLCoef: cfg.KLCoef, DualClip: cfg.DualClip}
	var total LossStats
	var gnSum float64
	order := slices.Clone(seqs)
	for range cfg.Epochs {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, mb := range split(len(order), cfg.Minibatches) {
			mseqs := order[mb[0]:mb[1]]
			var norm float64
			for _, s := range mseqs {
				norm += float64(len(s.completion))
			}
			if err := t.o.Model.ZeroGrad(); err != nil {
				return fwd, err
			}
			var us LossStats
			for _, c := range chunks(len(mseqs), cfg.MicroBatch) {
				part := mseqs[c[0]:c[1]]
				pk := t.packSampled(part)
				lp := make([]float32, pk.B*pk.T)
				ent := make([]float32, pk.B*pk.T)
				if err := t.o.Model.Forward(pk.Batch, lp, ent); err != nil {
					return fwd, err
				}
				old := pk.scatter(part, func(s *sequence) []float32 { return s.old })
				var ref []float32
				if cfg.KLCoef > 0 {
					ref = pk.scatter(part, func(s *sequence) []float32 { return s.ref })
				}
				dlp := make([]float32, len(lp))
				us.Add(PolicyLoss(lp, old, ref, pk.adv, pk.Mask, ent, norm, params, dlp))
				if err := t.o.Model.Backward(dlp); err != nil {
					return fwd, err
				}
				fwd += 3 * pk.B * pk.T // forward + backward
			}
			gn, err := t.o.Model.Step(cfg.adamw(cfg.LR))
			if err != nil {
				return fwd, err
			}
			gnSum += float64(gn)
			ev.Updates = append(ev.Updates, UpdateStats{Tokens: int(us.Tokens), Loss: us.Loss / max(us.Tokens, 1),
				RatioMin: us.RatioMin, RatioMax: us.RatioMax, RatioMean: us.Ratio / max(us.Tokens, 1),
				ClipFrac: us.Clipped / max(us.Tokens, 1), GradNorm: float64(gn)})
			total.Add(us)
		}
	}
	n := max(total.Tokens, 1)
	ev.Loss, ev.KL, ev.Entropy, ev.ClipFrac = total.Loss/n, total.KL/n, total.Entropy/n, total.Clipped/n
	ev.GradNorm = gnSum / float64(len(ev.Updates))
	return fwd, nil
}

// eval runs Evaluate with the run's settings (and again on the held-out
// environments, if any) and reports it.
func (t *Trainer) eval(ctx context.Context, label string) (EvalResult, error) {
	o := EvalOptions{
		Envs: t.cfg.Envs, N: t.cfg.EvalN, MaxNewTokens: t.cfg.MaxNewTokens, System: t.cfg.SystemPrompt,
		PassScore: t.cfg.PassScore, MaxPrompt: t.cfg.MaxPromptTokens,
		Samples: t.cfg.EvalSamples, Temperature: t.cfg.EvalTemperature, Seed: uint64(t.cfg.Seed) ^ 0x5eed,
		Partition: EvalPartition, Share: t.cfg.evalShare(), AnswerNLL: t.cfg.EvalAnswerNLL}
	r, err := Evaluate(ctx, t.o.Model, t.o.Tokenizer, t.o.Executor, o)
	if err != nil {
		return r, fmt.Errorf("evaluation (%s): %w", label, err)
	}
	vals := map[string]float64{"eval_reward": r.Reward, "eval_pass_rate": r.PassRate}
	if r.AnswerNLL != nil {
		vals["eval_answer_nll"] = *r.AnswerNLL
	}
	step := t.globalStep()
	points := []storage.MetricPoint{{Step: int64(step), Name: "eval_reward", Value: r.Reward, PerEnv: r.PerEnv}}
	if len(t.cfg.HoldoutEnvs) > 0 {
		o.Envs, o.Partition = t.cfg.HoldoutEnvs, AllInstances
		h, err := Evaluate(ctx, t.o.Model, t.o.Tokenizer, t.o.Executor, o)
		if err != nil {
			return r, fmt.Errorf("evaluation (%s) on the held-out environments: %w", label, err)
		}
		r.Holdout = &h
		vals["holdout_reward"], vals["holdout_pass_rate"] = h.Reward, h.PassRate
		if h.AnswerNLL != nil {
			vals["holdout_answer_nll"] = *h.AnswerNLL
		}
		points = append(points, storage.MetricPoint{Step: int64(step), Name: "holdout_reward", Value: h.Reward, PerEnv: h.PerEnv})
	}
	t.metrics(step, vals, points)
	t.emit(EvalEvent{Step: step, Label: label, Result: r})
	return r, nil
}

// prepareReference sets up the frozen reference model of the KL term.
func (t *Trainer) prepareReference() error {
	if t.cfg.KLCoef == 0 || t.ref != nil {
		return nil
	}
	dir := filepath.Join(t.o.Dir, "reference")
	var ws []safetensors.Tensor
	var err error
	if t.st.Step == 0 {
		if ws, err = t.o.Model.Tensors(Weights); err != nil {
			return err
		}
		if err := hf.Save(dir, t.o.ModelConfig, ws, hf.SaveOptions{}); err != nil {
			return fmt.Errorf("saving the reference weights: %w", err)
		}
	} else if ws, err = readWeights(dir); err != nil {
		return fmt.Errorf("%w: reference weights: %w", ErrResume, err)
	}
	t.ref, err = t.o.NewReference(ws)
	return err
}

func (t *Trainer) metrics(step int, vals map[string]float64, extra []storage.MetricPoint) {
	if t.mw == nil {
		return
	}
	for k, v := range vals {
		if math.IsNaN(v) {
			delete(vals, k)
		}
	}
	err := t.mw.Step(int64(step), vals)
	if err == nil && len(extra) > 0 {
		err = t.mw.Add(extra...)
	}
	if err != nil {
		t.mw = nil // the run goes on; the store error shows in the record
	}
}

func (t *Trainer) stepMetrics(ev StepEvent) {
	step := int64(ev.GlobalStep)
	vals := map[string]float64{
		"reward": ev.Reward, "pass_rate": ev.PassRate, "format_rate": ev.FormatRate,
		"loss": ev.Loss, "kl": ev.KL, "entropy": ev.Entropy, "grad_norm": ev.GradNorm,
		"clip_frac": ev.ClipFrac, "response_len": ev.ResponseLen, "truncated": ev.Truncated,
		"tokens_per_s": ev.TokensPerS, "step_s": ev.Elapsed.Seconds(),
		"groups_kept": float64(ev.GroupsKept), "resampled": float64(ev.Resampled),
	}
	if n := len(ev.Updates); n > 0 {
		vals["ratio_max"] = ev.Updates[n-1].RatioMax
	}
	reward, pass, level := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for name, es := range ev.PerEnv {
		reward[name], pass[name], level[name] = es.Reward, es.PassRate, float64(es.Level)
		vals["pass_rate/"+name] = es.PassRate
		vals["level/"+name] = float64(es.Level)
	}
	t.metrics(ev.GlobalStep, vals, []storage.MetricPoint{
		{Step: step, Name: "reward", Value: ev.Reward, PerEnv: reward},
		{Step: step, Name: "pass_rate", Value: ev.PassRate, PerEnv: pass},
		{Step: step, Name: "level", Value: 0, PerEnv: level},
	})
}

func (t *Trainer) storeRollouts(rolls []rollout) {
	if t.o.Store == nil || t.cfg.RolloutsPerStep == 0 || t.sum.RunID == 0 {
		return
	}
	var rs []storage.Rollout
	for i := 0; i < len(rolls) && len(rs) < t.cfg.RolloutsPerStep; i += t.cfg.GroupSize {
		r := rolls[i]
		rs = append(rs, storage.Rollout{Step: int64(t.globalStep()), Env: r.inst.Env, Seed: r.inst.Seed,
			Difficulty: r.inst.Difficulty, Prompt: r.inst.Prompt, Completion: r.text,
			Outcome: string(r.reward.Kind), Reward: r.reward.Score, EnvHash: t.o.EnvHashes[r.inst.Env]})
	}
	_ = t.o.Store.Batch(func(tx *storage.Tx) error { return storage.PutRollouts(tx, t.sum.RunID, rs) })
}

func (t *Trainer) openRecord() error {
	if t.o.Store == nil {
		return nil
	}
	info, err := json.Marshal(RunInfo{Config: t.cfg, Source: t.o.Source, Dir: t.o.Dir})
	if err != nil {
		return err
	}
	// The run is claimed (storage.RunHold) in the commit that starts or
	// resumes it: while this process lives it reads as running, once it is
	// gone without recording an end (kill -9), as interrupted.
	err = t.o.Store.Update(func(tx *storage.Tx) error {
		if t.o.RunID != 0 {
			r, err := storage.GetTrainRun(tx, t.o.RunID)
			if err != nil {
				return err
			}
			if t.hold, err = tx.HoldRun(storage.RunTrain, r.ID); err != nil {
				return err
			}
			r.Status, r.Error, r.Finished = "running", "", time.Time{}
			r.Envs = t.lineage(r.Envs)
			t.sum.RunID = r.ID
			return storage.PutTrainRun(tx, &r)
		}
		r := storage.TrainRun{Name: t.o.Name, Status: "running", Config: info, Envs: t.lineage(nil)}
		if err := storage.CreateTrainRun(tx, &r); err != nil {
			return err
		}
		t.sum.RunID = r.ID
		var err error
		t.hold, err = tx.HoldRun(storage.RunTrain, r.ID)
		return err
	})
	if errors.Is(err, storage.ErrRunBusy) {
		return fmt.Errorf("training run %d is being run by another resyn process right now; resume it once that one has ended: %w", t.o.RunID, err)
	}
	if err != nil {
		return fmt.Errorf("training run record: %w", err)
	}
	t.mw = t.o.Store.NewMetricsWriter(t.sum.RunID)
	return nil
}

// lineage adds to a run's recorded environment versions those that are
// new from this step on (all of them for a fresh run).
func (t *Trainer) lineage(recorded []storage.EnvVersion) []storage.EnvVersion {
	last := map[string]string{}
	for _, v := range recorded {
		last[v.Name] = v.Hash
	}
	for _, e := range t.cfg.Envs {
		h := t.o.EnvHashes[e.Name]
		if prev, ok := last[e.Name]; ok && prev == h {
			continue
		}
		recorded = append(recorded, storage.EnvVersion{Name: e.Name, Hash: h, MinDifficulty: e.MinDifficulty,
			MaxDifficulty: e.MaxDifficulty, FromStep: int64(t.globalStep())})
	}
	return recorded
}

func (t *Trainer) finishRecord(runErr error) {
	if t.o.Store == nil || t.sum.RunID == 0 {
		return
	}
	if t.mw != nil {
		_ = t.mw.Close()
	}
	_ = t.o.Store.Update(func(tx *storage.Tx) error {
		r, err := storage.GetTrainRun(tx, t.sum.RunID)
		if err != nil {
			return err
		}
		switch {
		case runErr == nil:
			r.Status = "done"
		case errors.Is(runErr, context.Canceled):
			r.Status = "stopped" // resumable
		default:
			r.Status, r.Error = "failed", runErr.Error()
		}
		r.Finished = time.Now().UTC()
		return storage.PutTrainRun(tx, &r)
	})
	t.hold.Release()
}
