package grpo

import (
	"fmt"
	"math"
)

// EnvSpec is one environment of a run: its share of the prompts and the
// difficulty range its curriculum climbs (starting at MinDifficulty).
type EnvSpec struct {
	Name          string  `json:"name"`
	Weight        float64 `json:"weight"`         // mixing weight; > 0
	MinDifficulty int     `json:"min_difficulty"` // where the curriculum starts
	MaxDifficulty int     `json:"max_difficulty"` // where it stops
}

// Config is everything that shapes a run. It is stored with the run, so
// that `resyn train --resume` needs nothing else.
type Config struct {
	Envs []EnvSpec `json:"envs"`
	Seed int64     `json:"seed"` // sampling, shuffling and instance seeds

	// Prompts.
	SystemPrompt    string `json:"system_prompt,omitempty"` // none when empty
	MaxPromptTokens int    `json:"max_prompt_tokens"`       // longer prompts are skipped

	// Warm start: supervised steps on solve() answers before GRPO.
	SFTSteps   int     `json:"sft_steps"`
	SFTBatch   int     `json:"sft_batch"` // instances per step
	SFTLR      float64 `json:"sft_lr"`
	SFTMaxDiff int     `json:"sft_max_difficulty,omitempty"` // 0: each env's MaxDifficulty

	// GRPO.
	Steps          int     `json:"steps"`
	PromptsPerStep int     `json:"prompts_per_step"`
	GroupSize      int     `json:"group_size"` // G completions per prompt
	MaxNewTokens   int     `json:"max_new_tokens"`
	Temperature    float64 `json:"temperature"`
	TopP           float64 `json:"top_p"`
	Minibatches    int     `json:"minibatches"` // optimiser steps per batch of rollouts (per epoch)
	Epochs         int     `json:"epochs"`      // passes over each batch of rollouts
	MicroBatch     int     `json:"micro_batch"` // rows per forward/backward (gradients accumulate); 0: whole minibatch
	LR             float64 `json:"lr"`
	Beta1          float64 `json:"beta1"`
	Beta2          float64 `json:"beta2"`
	WeightDecay    float64 `json:"weight_decay"`
	MaxGradNorm    float64 `json:"max_grad_norm"`
	ClipLow        float64 `json:"clip_low"`
	ClipHigh       float64 `json:"clip_high"`
	DualClip       float64 `json:"dual_clip,omitempty"` // bound on a negative advantage's ratio (LossParams.DualClip); 0: none
	KLCoef         float64 `json:"kl_coef"`             // 0: no reference model
	ScaleByStd     bool    `json:"scale_by_std"`        // divide advantages by the group's std
	DropZeroVar    bool    `json:"drop_zero_var"`       // skip groups whose task rewards are all equal
	// MaxResampleRounds bounds DAPO's dynamic sampling: with DropZeroVar,
	// groups dropped are replaced by new prompts, in at most this many
	// extra rounds of generation per step, until PromptsPerStep groups
	// train. 0: no replacement.
	MaxResampleRounds int `json:"max_resample_rounds"`
	// MaskTruncated: a completion cut off at MaxNewTokens (no stop token)
	// trains no token; it still counts in its group's mean and std (DAPO's
	// overlong filtering).
	MaskTruncated   bool    `json:"mask_truncated,omitempty"`
	OverlongBuffer  int     `json:"overlong_buffer"`
	OverlongPenalty float64 `json:"overlong_penalty"`

	// Curriculum: an environment's level rises by one when its pass rate
	// over the last CurriculumWindow completions reaches PassThreshold.
	PassThreshold    float64 `json:"pass_threshold"`
	CurriculumWindow int     `json:"curriculum_window"`
	PassScore        float64 `json:"pass_score"` // a completion passes at this reward or more

	// Evaluation on instances training never sees: EvalShare of every
	// environment's instance space, chosen by the hash of the instance's
	// canonical state (inEvalPartition), is reserved for it — training
	// skips those instances, evaluation uses only them. EvalN distinct
	// instances per environment (spread over its levels; seeds from
	// EvalSeedBase), EvalSamples completions of each at EvalTemperature (0:
	// one greedy completion), with a fixed sampling seed, so numbers
	// compare.
	EvalEvery       int     `json:"eval_every"` // GRPO steps; 0: only before and after
	EvalN           int     `json:"eval_n"`     // instances per environment
	EvalSamples     int     `json:"eval_samples"`
	EvalTemperature float64 `json:"eval_temperature"`
	EvalShare       float64 `json:"eval_share,omitempty"` // in (0, 1); 0: DefaultEvalShare
	// HoldoutEnvs are whole environments never trained on (no warm start,
	// no GRPO, not in the preset tokenizer's corpus): every evaluation also
	// measures them, on all their instances, beside the in-distribution
	// score (EvalResult.Holdout).
	HoldoutEnvs []EnvSpec `json:"holdout_envs,omitempty"`
	// EvalAnswerNLL: every evaluation also measures the likelihood of
	// solve()'s answers (EvalResult.AnswerNLL).
	EvalAnswerNLL bool `json:"eval_answer_nll,omitempty"`
	// NoInitEval skips the evaluation of the untrained model before the
	// first step (an experiment that compares trained models only).
	NoInitEval bool `json:"no_init_eval,omitempty"`

	// TrainInstances > 0 fixes the training data: each environment gets a
	// pool of this many distinct instances (by canonical state, from the
	// training partition, spread over its levels; seeds from poolSeedBase),
	// and the warm start and GRPO draw only from it — the instance budget
	// of the diversity ablation. 0: every draw is a fresh seed.
	TrainInstances int `json:"train_instances,omitempty"`
	// TokenizerEnvs are environments whose prompts the preset's tokenizer
	// also learns from (beside the trained ones), so that runs on
	// different subsets share one vocabulary; never a held-out one.
	TokenizerEnvs []string `json:"tokenizer_envs,omitempty"`

	// Checkpoints every CheckpointEvery GRPO steps (and at the end).
	CheckpointEvery int `json:"checkpoint_every"`
	RolloutsPerStep int `json:"rollouts_per_step"` // sample completions kept in the store
}

// MaxTrainInstances bounds Config.TrainInstances: the pool is generated,
// rendered and held in memory before the first step.
const MaxTrainInstances = 1 << 16

// EvalSeedBase is the first evaluation seed. Seeds do not keep evaluation
// apart from training (different seeds give the same instance when an
// environment has few): the split by canonical state does (EvalShare).
const EvalSeedBase int64 = 1 << 40

// Defaults returns a configuration with the usual GRPO settings (DAPO's
// clip-higher, token-level loss, dropped zero-variance groups, no KL, std
// scaling on); a caller sets Envs and the sizes.
func Defaults() Config {
	return Config{
		MaxPromptTokens: 1024,
		SFTBatch:        16, SFTLR: 1e-3,
		Steps: 100, PromptsPerStep: 8, GroupSize: 8, MaxNewTokens: 256,
		Temperature: 1, TopP: 1,
		Minibatches: 2, Epochs: 1,
		LR: 1e-5, Beta1: 0.9, Beta2: 0.99, WeightDecay: 0.0, MaxGradNorm: 1,
		ClipLow: 0.2, ClipHigh: 0.28, DualClip: 3,
		ScaleByStd: true, DropZeroVar: true, MaxResampleRounds: 2,
		OverlongBuffer: 0, OverlongPenalty: 1,
		PassThreshold: 0.8, CurriculumWindow: 64, PassScore: 1,
		EvalN: 32, EvalSamples: 1, CheckpointEvery: 50, RolloutsPerStep: 4,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	if len(c.Envs) == 0 {
		return bad("no environments (name at least one)")
	}
	seen := map[string]bool{}
	for _, e := range c.Envs {
		switch {
		case e.Name == "":
			return bad("an environment has no name")
		case seen[e.Name]:
			return bad("environment %q is listed twice", e.Name)
		case !(e.Weight > 0) || math.IsInf(e.Weight, 0):
			return bad("environment %q has weight %v; want > 0", e.Name, e.Weight)
		case e.MinDifficulty > e.MaxDifficulty:
			return bad("environment %q: min difficulty %d above max %d", e.Name, e.MinDifficulty, e.MaxDifficulty)
		}
		seen[e.Name] = true
	}
	for _, e := range c.HoldoutEnvs {
		switch {
		case e.Name == "":
			return bad("a held-out environment has no name")
		case seen[e.Name]:
			return bad("environment %q is both trained on and held out", e.Name)
		case e.MinDifficulty > e.MaxDifficulty:
			return bad("held-out environment %q: min difficulty %d above max %d", e.Name, e.MinDifficulty, e.MaxDifficulty)
		}
		seen[e.Name] = true
	}
	for _, n := range c.TokenizerEnvs {
		for _, e := range c.HoldoutEnvs {
			if e.Name == n {
				return bad("held-out environment %q is in the tokenizer's corpus (tokenizer_envs)", n)
			}
		}
	}
	switch {
	case c.TrainInstances < 0 || c.TrainInstances > MaxTrainInstances:
		return bad("train_instances %d must be in [0, %d] (0: no fixed pool)", c.TrainInstances, MaxTrainInstances)
	case c.EvalShare < 0 || c.EvalShare >= 1:
		return bad("eval_share %v must be in (0, 1) (0: %v)", c.EvalShare, DefaultEvalShare)
	case c.MaxResampleRounds < 0:
		return bad("max_resample_rounds %d; want >= 0", c.MaxResampleRounds)
	case c.Steps < 0 || c.SFTSteps < 0:
		return bad("steps %d and sft_steps %d must be >= 0", c.Steps, c.SFTSteps)
	case c.SFTSteps > 0 && (c.SFTBatch < 1 || !(c.SFTLR > 0)):
		return bad("sft_batch %d and sft_lr %v must be positive", c.SFTBatch, c.SFTLR)
	case c.PromptsPerStep < 1:
		return bad("prompts_per_step %d; want >= 1", c.PromptsPerStep)
	case c.GroupSize < 2:
		return bad("group_size %d; GRPO needs at least 2 completions per prompt", c.GroupSize)
	case c.MaxNewTokens < 1 || c.MaxPromptTokens < 1:
		return bad("max_new_tokens %d and max_prompt_tokens %d must be >= 1", c.MaxNewTokens, c.MaxPromptTokens)
	case c.Temperature < 0 || !(c.TopP > 0 && c.TopP <= 1):
		return bad("temperature %v must be >= 0 and top_p %v in (0, 1]", c.Temperature, c.TopP)
	case c.Minibatches < 1 || c.Epochs < 1 || c.MicroBatch < 0:
		return bad("minibatches %d and epochs %d must be >= 1, micro_batch %d >= 0", c.Minibatches, c.Epochs, c.MicroBatch)
	case !(c.LR > 0):
		return bad("lr %v; want > 0", c.LR)
	case c.ClipLow < 0 || c.ClipLow >= 1 || c.ClipHigh < 0:
		return bad("clip_low %v must be in [0, 1) and clip_high %v >= 0", c.ClipLow, c.ClipHigh)
	case c.DualClip != 0 && c.DualClip <= 1+c.ClipHigh:
		return bad("dual_clip %v must be 0 (off) or above 1+clip_high (%v)", c.DualClip, 1+c.ClipHigh)
	case c.KLCoef < 0:
		return bad("kl_coef %v; want >= 0", c.KLCoef)
	case c.OverlongBuffer < 0 || c.OverlongBuffer > c.MaxNewTokens:
		return bad("overlong_buffer %d must be in [0, max_new_tokens]", c.OverlongBuffer)
	case c.PassThreshold <= 0 || c.PassThreshold > 1 || c.CurriculumWindow < 1:
		return bad("pass_threshold %v must be in (0, 1] and curriculum_window %d >= 1", c.PassThreshold, c.CurriculumWindow)
	case c.EvalN > 0 && c.EvalSamples < 1:
		return bad("eval_samples %d; want >= 1", c.EvalSamples)
	case c.EvalN < 0 || c.EvalEvery < 0 || c.CheckpointEvery < 0 || c.RolloutsPerStep < 0:
		return bad("eval_n, eval_every, checkpoint_every and rollouts_per_step must be >= 0")
	}
	return nil
}

func (c Config) adamw(lr float64) AdamW {
	return AdamW{LR: float32(lr), Beta1: float32(c.Beta1), Beta2: float32(c.Beta2), Eps: 1e-8,
		WeightDecay: float32(c.WeightDecay), MaxGradNorm: float32(c.MaxGradNorm)}
}
