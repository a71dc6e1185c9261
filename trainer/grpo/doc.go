// Package grpo is resyn's RL trainer: GRPO (group-relative policy
// optimisation) in Go, on top of the numeric core (trainer/native), the
// environments (core/env) as reward functions, and the store (storage) for
// everything a run leaves behind.
//
// What it is for: one run on one machine — a warm start (SFT) on solve()
// answers for models trained from scratch, then GRPO steps: sample
// PromptsPerStep prompts mixed over environments by weight, at each
// environment's curriculum level; G completions each (one batched
// Generate); score them with the verifiers; group-normalised advantages
// (std scaling optional; zero-variance groups dropped; DAPO's soft overlong
// penalty); Epochs × Minibatches updates of the clipped surrogate with
// separate low/high clip ranges (and dual clip for negative advantages),
// token-level loss aggregation and an optional k3 KL term to a frozen
// reference. Old log-probabilities are
// recomputed by a forward pass before the updates, so the first update sees
// a ratio of exactly 1 and later ones see the clip act.
//
// What it is not for: the model's numerics (trainer/native), file formats
// (trainer/hf, trainer/safetensors), tokenization (trainer/tokenizer),
// multi-machine training (export datasets for verl/TRL instead).
//
// How the parts fit:
//
//	model.go       Model: the small interface the loop needs (Forward,
//	               Backward, ZeroGrad, Step, Generate, tensors by name)
//	native.go      Native: the adapter for *native.Model
//	loss.go        GroupAdvantages, OverlongPenalty, PolicyLoss, SFTLoss:
//	               the math as pure functions with their gradients
//	curriculum.go  Curriculum (levels per environment) and Mix (weights)
//	rollout.go     prompts (chat format), instances, Evaluate on held-out
//	               seeds (EvalSeedBase upwards, never used for training)
//	batch.go       packing prompt+completion rows for Forward
//	trainer.go     Trainer: New, Run, Start; the SFT and GRPO steps; metrics
//	checkpoint.go  checkpoints (HF safetensors + optimizer + state), resume
//	events.go      the typed progress events
//	preset.go      Preset, TinyCPU; tinytok.go: TrainBPE for its tokenizer
//	setup.go       Setup: a Spec (preset, model directory or run to resume;
//	               environments; overrides; the store) → a ready Run (the
//	               trainer with its executor, tokenizer, model and
//	               reference); what resyn train and the workbench share
//
// Progress. Trainer.Run calls Options.Progress with each Event;
// Trainer.Start runs on a goroutine and returns a channel of the same
// events that closes after the FinishedEvent (the TUI's
// waitForProgressCmd reads it one event per message). Events:
// RunStartedEvent, SFTStepEvent, StepEvent (with PerEnv EnvStats and the
// per-update UpdateStats), LevelUpEvent, EvalEvent, CheckpointEvent,
// FinishedEvent (Summary and error; a cancelled run's error wraps
// context.Canceled, after a checkpoint was saved).
//
// Metrics in the store (storage.MetricsWriter, one point per name and
// step; x axis = global step: SFT steps first, then GRPO steps):
//
//	sft_loss                  warm-start NLL per answer token
//	reward                    mean environment reward; PerEnv by environment
//	pass_rate                 fraction with reward >= PassScore; PerEnv too
//	pass_rate/<env>           the same per environment, as scalars
//	format_rate               fraction of completions with an <answer> block
//	loss, kl, entropy         per token, over the step's updates
//	grad_norm                 before clipping (mean over the step's updates)
//	clip_frac, ratio_max      how much the clip acted; the last update's max ratio
//	response_len, truncated   mean completion tokens; fraction hitting the cap
//	tokens_per_s, step_s      throughput (generated + forwarded tokens) and step time
//	groups_kept               groups that trained (not zero-variance or failed)
//	level/<env>, level        curriculum difficulty (level has PerEnv)
//	eval_reward, eval_pass_rate  held-out evaluation (eval_reward has PerEnv)
//
// Sample rollouts (RolloutsPerStep per step) go to storage.PutRollouts;
// every checkpoint to storage.AddCheckpoint; the run record's Config is a
// RunInfo (the Config, the model's source, the checkpoint directory), and
// its Status ends "done", "failed" or "cancelled".
package grpo
