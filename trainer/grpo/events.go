package grpo

import "time"

// Event is one typed progress report of a run. Trainer.Run calls
// Options.Progress with each; Trainer.Start delivers them on a channel that
// closes after the FinishedEvent. The CLI prints them to stderr and the TUI
// turns each into a message (waitForProgressCmd), so both show the same run.
type Event interface{ isEvent() }

// RunStartedEvent opens a run (fresh or resumed).
type RunStartedEvent struct {
	RunID   uint64 // 0 without a store
	Resumed bool
	Phase   string // "sft" or "grpo": where the run (re)starts
	Step    int    // global step done so far
	Dir     string // where checkpoints go
}

// SFTStepEvent reports one supervised warm-start step.
type SFTStepEvent struct {
	Step, Of   int     // 1-based SFT step and the number of SFT steps
	Loss       float64 // mean NLL per answer token
	GradNorm   float64
	Tokens     int // tokens forwarded (prompts included)
	TokensPerS float64
	Elapsed    time.Duration
}

// EnvStats are one environment's numbers in a GRPO step.
type EnvStats struct {
	Completions int
	Reward      float64 // mean environment reward
	PassRate    float64 // fraction with reward >= PassScore
	FormatRate  float64 // fraction with an <answer> block
	Level       int     // curriculum difficulty of its prompts this step
	EnvErrors   int     // completions dropped because the environment failed
}

// UpdateStats are one optimiser update (one minibatch) of a GRPO step. The
// first update of a step sees ratio 1 exactly; later ones see the policy
// moved, and the clip acts there.
type UpdateStats struct {
	Tokens             int
	Loss               float64 // per token
	RatioMin, RatioMax float64
	RatioMean          float64
	ClipFrac           float64 // fraction of tokens whose gradient the clip removed
	GradNorm           float64
}

// StepEvent reports one GRPO step.
type StepEvent struct {
	Step, Of    int // 1-based GRPO step and the number of GRPO steps
	GlobalStep  int // SFT steps plus GRPO steps: the x axis of the stored metrics
	Reward      float64
	PassRate    float64
	FormatRate  float64
	PerEnv      map[string]EnvStats
	Loss        float64
	KL          float64
	Entropy     float64
	GradNorm    float64 // mean over the step's updates
	ClipFrac    float64
	ResponseLen float64 // mean completion length in tokens
	Truncated   float64 // fraction of completions that hit max_new_tokens
	Groups      int     // prompts sampled, replacements included
	GroupsKept  int     // groups that trained (not zero-variance, not failed)
	// Dynamic sampling (Config.MaxResampleRounds): extra rounds of
	// generation this step and the prompts they drew.
	ResampleRounds int
	Resampled      int
	Updates        []UpdateStats
	TokensPerS     float64 // generated plus forwarded tokens per second of the step
	Elapsed        time.Duration
}

// LevelUpEvent: an environment's curriculum moved to a harder level.
type LevelUpEvent struct {
	Step  int
	Env   string
	Level int
}

// EvalEvent reports an evaluation on held-out seeds (greedy decoding).
type EvalEvent struct {
	Step   int    // global step
	Label  string // "init", "sft", "step N", "final"
	Result EvalResult
}

// PoolEvent: the run's fixed training pools (Config.TrainInstances) were
// built: the distinct instances found per environment (and level), of
// Want asked for.
type PoolEvent struct {
	Sizes    map[string]int
	PerLevel map[string]map[int]int
	Want     int
}

// CheckpointEvent: a checkpoint was written (and recorded in the store).
type CheckpointEvent struct {
	Step int
	Path string
}

// FinishedEvent is the last event of a run. Err is nil when it completed,
// context.Canceled (wrapped) when it was stopped (after a checkpoint).
type FinishedEvent struct {
	Summary Summary
	Err     error
}

func (RunStartedEvent) isEvent() {}
func (SFTStepEvent) isEvent()    {}
func (StepEvent) isEvent()       {}
func (LevelUpEvent) isEvent()    {}
func (EvalEvent) isEvent()       {}
func (PoolEvent) isEvent()       {}
func (CheckpointEvent) isEvent() {}
func (FinishedEvent) isEvent()   {}
