// Package experiment runs experiments over many training runs. Its one
// experiment today is the paper's diversity ablation (ReSyn, He et al.
// 2026, §5): a fixed budget of training instances spread over K
// environments — nested subsets of one pool, several K from 1 to all,
// several seeds — each run then measured on the same held-out
// environments, never trained on. `resyn experiment diversity` runs it;
// the record lives in the store (storage.Experiment) and grows run by
// run, so a stopped or killed experiment resumes where it was.
package experiment

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"resyn/trainer/grpo"
)

// Design is what a diversity experiment measures. It is stored with the
// experiment, so that a resume needs nothing else.
type Design struct {
	Preset string `json:"preset,omitempty"` // the model and recipe of every run (grpo.Presets)…
	// …or a Hugging Face Qwen2 checkpoint directory every run starts from
	// (its own tokenizer; no warm start unless SFTSteps says so).
	Model   string   `json:"model,omitempty"`
	Envs    []string `json:"envs"`    // the training pool; each run trains on a nested subset
	Holdout []string `json:"holdout"` // evaluated by every run, trained on by none
	Ks      []int    `json:"ks"`      // subset sizes, ascending; 1 and len(Envs) among them
	Seeds   []int64  `json:"seeds"`   // each seed draws its own nested subsets and trains its own models
	// Budget is the training instances of every run, split evenly over
	// its K environments (Budget/K distinct instances each: the rest of
	// the division is not used, and the report gives what each run had).
	Budget   int    `json:"budget"`
	Levels   [2]int `json:"levels"` // the difficulty range of every environment, lowest and highest
	SFTSteps int    `json:"sft_steps"`
	Steps    int    `json:"steps"`  // GRPO steps
	EvalN    int    `json:"eval_n"` // distinct evaluation instances per environment
	// EvalSamples completions of each (at the preset's evaluation
	// temperature).
	EvalSamples int `json:"eval_samples"`
}

// Defaults is the design `resyn experiment diversity` runs with no flags:
// 8 training environments and 2 held out, K = 1, 2, 4, 8, three seeds, 256
// training instances a run, the tiny-cpu model with a 60-step warm start
// and 10 GRPO steps — about half an hour on 2 cores (docs/science.md).
func Defaults() Design {
	return Design{
		Preset: "tiny-cpu",
		Envs: []string{"arithmetic_expression", "base_conversion", "boolean_circuit", "graph_coloring",
			"knapsack", "linear_system", "regex_matching", "topological_order"},
		Holdout:  []string{"modular_equation", "shortest_path"},
		Ks:       []int{1, 2, 4, 8},
		Seeds:    []int64{1, 2, 3},
		Budget:   256,
		Levels:   [2]int{1, 1},
		SFTSteps: 60, Steps: 10, EvalN: 48, EvalSamples: 2,
	}
}

// Limits on a design: what fits in memory and in a person's patience.
const (
	maxEnvs  = 256
	maxSeeds = 100
	maxSteps = 1 << 20
)

// Validate reports the first thing wrong with d.
func (d Design) Validate() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("design: "+format, a...) }
	if (d.Preset == "") == (d.Model == "") {
		return bad("name a preset or a model directory, not both or neither")
	}
	if _, ok := grpo.Presets()[d.Preset]; !ok && d.Preset != "" {
		return bad("unknown preset %q (have %s)", d.Preset, grpo.PresetNames())
	}
	switch {
	case len(d.Envs) < 2 || len(d.Envs) > maxEnvs:
		return bad("%d training environments; want 2 to %d (a diversity ablation compares subsets)", len(d.Envs), maxEnvs)
	case len(d.Holdout) == 0:
		return bad("no held-out environment: the ablation measures transfer to environments no run trains on")
	case len(d.Seeds) == 0 || len(d.Seeds) > maxSeeds:
		return bad("%d seeds; want 1 to %d", len(d.Seeds), maxSeeds)
	case d.Levels[0] < 1 || d.Levels[1] < d.Levels[0]:
		return bad("difficulty %d-%d", d.Levels[0], d.Levels[1])
	case d.SFTSteps < 0 || d.Steps < 1 || d.SFTSteps > maxSteps || d.Steps > maxSteps:
		return bad("sft_steps %d and steps %d: want 0 to %d warm-start steps and 1 to %d GRPO steps", d.SFTSteps, d.Steps, maxSteps, maxSteps)
	case d.EvalN < 1 || d.EvalN > 4096 || d.EvalSamples < 1 || d.EvalSamples > 64:
		return bad("eval_n %d and eval_samples %d; want 1 to 4096 instances and 1 to 64 samples of each", d.EvalN, d.EvalSamples)
	}
	seen := map[string]bool{}
	for _, n := range append(slices.Clone(d.Envs), d.Holdout...) {
		if n == "" || seen[n] {
			return bad("environment %q is empty or listed twice (training and held-out environments are disjoint)", n)
		}
		seen[n] = true
	}
	if !slices.IsSorted(d.Ks) || len(slices.Compact(slices.Clone(d.Ks))) != len(d.Ks) {
		return bad("ks %v: want ascending, without repeats", d.Ks)
	}
	if len(d.Ks) < 2 || d.Ks[0] != 1 || d.Ks[len(d.Ks)-1] != len(d.Envs) {
		return bad("ks %v: want 1 and all %d environments among them (the extremes of the ablation)", d.Ks, len(d.Envs))
	}
	if d.Budget < len(d.Envs) || d.Budget > len(d.Envs)*grpo.MaxTrainInstances {
		return bad("budget %d: want at least one instance per environment at K = %d, at most %d", d.Budget, len(d.Envs), len(d.Envs)*grpo.MaxTrainInstances)
	}
	if d.Budget > grpo.MaxTrainInstances {
		return bad("budget %d: at K = 1 one environment would need more than %d distinct instances", d.Budget, grpo.MaxTrainInstances)
	}
	return nil
}

// Subset is the K environments seed trains on: the first K of a
// permutation of the pool that depends on the seed alone, so that one
// seed's subsets are nested (K = 2 holds K = 1's environment) and
// different seeds spread over different environments.
func (d Design) Subset(seed int64, k int) []string {
	perm := rand.New(rand.NewPCG(uint64(seed), 0xd17e5)).Perm(len(d.Envs))
	out := make([]string, k)
	for i := range k {
		out[i] = d.Envs[perm[i]]
	}
	return out
}

// PerEnv is the distinct training instances each environment of a run of
// K environments gets.
func (d Design) PerEnv(k int) int { return d.Budget / k }
