package grpo

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"resyn/core/env"
	"resyn/trainer/hf"
	"resyn/trainer/native"
	"resyn/trainer/tokenizer"
)

// Preset is a complete recipe for a model trained from scratch: its size,
// its tokenizer's size and the training configuration.
type Preset struct {
	Name        string
	Description string
	Config      Config
	// Model sizes; the vocabulary size comes from the tokenizer.
	Hidden, Intermediate, Layers, Heads, KVHeads int
	MaxSeqLen                                    int
	InitStd                                      float32
	// VocabSize of the BPE tokenizer trained on the environments' prompts
	// (TrainBPE); 0 keeps the 259-token byte vocabulary.
	VocabSize int
	// TokenizerSamples instances per environment and difficulty feed
	// TrainBPE (seeds from tokenizerSeedBase, apart from training and
	// evaluation seeds).
	TokenizerSamples int
}

const tokenizerSeedBase int64 = 1 << 41

// TinyCPU is the preset `resyn train --preset tiny-cpu` runs: a 4-layer,
// 128-wide Qwen2 model (about 0.9M parameters) with a 640-token BPE
// vocabulary, trained on a few easy built-in environments on two cores in
// about ten minutes: a warm start on solve() answers, then GRPO.
func TinyCPU() Preset {
	c := Defaults()
	// Level 1 only: a 0.9M model gets nowhere at graph_coloring's level 2
	// (docs/benchmarks.md, Training); --difficulty 1-3 turns the
	// curriculum on.
	c.Envs = []EnvSpec{
		{Name: "subtraction_game", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1},
		{Name: "graph_coloring", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1},
		{Name: "boolean_circuit", Weight: 1, MinDifficulty: 1, MaxDifficulty: 1},
	}
	c.Seed = 1
	c.MaxPromptTokens = 320
	c.SFTSteps, c.SFTBatch, c.SFTLR, c.SFTMaxDiff = 100, 32, 2e-3, 1
	c.Steps, c.PromptsPerStep, c.GroupSize, c.MaxNewTokens = 40, 24, 8, 32
	// Rollouts sample hotter than the model: after the warm start it is
	// sure of itself (entropy about 0.1 nats a token), and at temperature
	// 1 a prompt it gets wrong yields G copies of one wrong answer — a
	// group with no signal. The loss keeps the policy's own (temperature
	// 1) log-probabilities; evaluation samples at 1.
	c.Temperature = 1.5
	c.Minibatches, c.Epochs = 2, 1
	c.LR, c.WeightDecay, c.MaxGradNorm = 3e-4, 0, 1
	c.OverlongBuffer, c.OverlongPenalty = 8, 0.5
	c.PassThreshold, c.CurriculumWindow = 0.8, 256 // about four steps of one environment: one lucky step must not raise a level
	c.EvalN, c.EvalSamples, c.EvalTemperature, c.EvalEvery = 64, 4, 1, 0
	c.CheckpointEvery = 20
	return Preset{
		Name:        "tiny-cpu",
		Description: "0.9M-parameter model from scratch on easy built-ins, 2 CPU cores, about ten minutes",
		Config:      c,
		Hidden:      128, Intermediate: 384, Layers: 4, Heads: 4, KVHeads: 2,
		MaxSeqLen: 384, InitStd: 0.02,
		VocabSize: 640, TokenizerSamples: 40,
	}
}

// Presets lists the presets by name.
func Presets() map[string]Preset { return map[string]Preset{"tiny-cpu": TinyCPU()} }

// Tokenizer builds the preset's tokenizer: BPE trained on rendered prompts
// and reference answers of its environments (seeds reserved for this), or
// the byte vocabulary when VocabSize is 0.
func (p Preset) Tokenizer(ctx context.Context, ex env.Executor) (*tokenizer.Tokenizer, error) {
	if p.VocabSize == 0 {
		return tokenizer.ByteLevel(), nil
	}
	var tasks []env.Task
	for _, e := range p.Config.Envs {
		for d := e.MinDifficulty; d <= e.MaxDifficulty; d++ {
			for i := range p.TokenizerSamples {
				tasks = append(tasks, env.Task{Env: e.Name, Seed: tokenizerSeedBase + int64(i), Difficulty: d, Render: true, Solve: true})
			}
		}
	}
	var texts []string
	for i, r := range ex.Run(ctx, tasks) {
		if r.Err != nil {
			return nil, fmt.Errorf("preset %s: rendering %s for its tokenizer: %w", p.Name, tasks[i].Env, r.Err)
		}
		texts = append(texts, r.Prompt, "<answer>"+r.Solution+"</answer>")
	}
	texts = append(texts, "user\n", "assistant\n", "system\n")
	return TrainBPE(texts, p.VocabSize)
}

// NewModel creates the preset's model for a tokenizer, with initialised
// weights, on the CPU backend with threads threads (0: every core).
func (p Preset) NewModel(tok *tokenizer.Tokenizer, threads int) (*native.Model, hf.Config, error) {
	return p.NewModelOn(native.CPU(), tok, threads)
}

// NewModelOn is NewModel on a given backend (native.OpenBackend); threads
// matter to the CPU backend only.
func (p Preset) NewModelOn(b *native.Backend, tok *tokenizer.Tokenizer, threads int) (*native.Model, hf.Config, error) {
	// Round the embedding up to a multiple of 64, as Qwen pads its own.
	v := (tok.VocabSize() + 63) / 64 * 64
	cfg := native.Config{VocabSize: v, HiddenSize: p.Hidden, IntermediateSize: p.Intermediate,
		NumLayers: p.Layers, NumHeads: p.Heads, NumKVHeads: p.KVHeads, MaxSeqLen: p.MaxSeqLen,
		TieWordEmbeddings: true, RopeTheta: 10000, RMSNormEps: 1e-6, Threads: threads}
	m, err := native.NewOn(b, cfg)
	if err != nil {
		return nil, hf.Config{}, err
	}
	if err := m.InitWeights(uint64(p.Config.Seed), p.InitStd); err != nil {
		m.Close()
		return nil, hf.Config{}, err
	}
	return m, cfg.HF(), nil
}

// PresetNames is the sorted list of preset names, for help texts.
func PresetNames() string {
	var names []string
	for n := range Presets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
