package grpo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"resyn/storage"
	"resyn/trainer/hf"
	"resyn/trainer/safetensors"
)

// A checkpoint directory (Dir/step-N) is a Hugging Face checkpoint —
// config.json, model.safetensors, tokenizer.json, tokenizer_config.json — that transformers and
// `resyn train --model` load as they are, plus what resuming needs:
// optimizer.safetensors (AdamW moments, named "m.<tensor>" and
// "v.<tensor>", the step counter in the metadata) and trainer_state.json
// (phase, steps, next instance seed, curriculum, config).

// checkpoint writes the current state and records it in the store.
func (t *Trainer) checkpoint() error {
	step := t.globalStep()
	dir := filepath.Join(t.o.Dir, fmt.Sprintf("step-%06d", step))
	if err := SaveCheckpoint(dir, t.o.Model, t.o.ModelConfig); err != nil {
		return err
	}
	// tokenizer.json and tokenizer_config.json: the chat template of the
	// model's own directory goes along.
	if err := t.o.Tokenizer.SaveDir(dir); err != nil {
		return fmt.Errorf("checkpoint %s: tokenizer: %w", dir, err)
	}
	if err := saveOptimizer(dir, t.o.Model); err != nil {
		return err
	}
	b, err := json.MarshalIndent(t.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o644); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	t.sum.Checkpoint = dir
	if t.o.Store != nil && t.sum.RunID != 0 {
		err := t.o.Store.Update(func(tx *storage.Tx) error {
			return storage.AddCheckpoint(tx, t.sum.RunID, &storage.Checkpoint{Step: int64(step), Path: dir, Note: t.st.Phase})
		})
		if err != nil {
			return fmt.Errorf("recording checkpoint %s: %w", dir, err)
		}
	}
	t.emit(CheckpointEvent{Step: step, Path: dir})
	return nil
}

// SaveCheckpoint writes the model's weights to dir as a Hugging Face
// checkpoint (config.json + model.safetensors, fp32).
func SaveCheckpoint(dir string, m Model, cfg hf.Config) error {
	ws, err := m.Tensors(Weights)
	if err != nil {
		return err
	}
	if err := hf.Save(dir, cfg, ws, hf.SaveOptions{}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return nil
}

func saveOptimizer(dir string, m Model) error {
	var all []safetensors.Tensor
	for _, b := range []struct {
		which  Buffer
		prefix string
	}{{AdamM, "m."}, {AdamV, "v."}} {
		ts, err := m.Tensors(b.which)
		if err != nil {
			return fmt.Errorf("checkpoint %s: optimizer state: %w", dir, err)
		}
		for _, x := range ts {
			x.Name = b.prefix + x.Name
			all = append(all, x)
		}
	}
	meta := map[string]string{"step": strconv.FormatInt(m.OptimizerStep(), 10)}
	if err := safetensors.WriteFile(filepath.Join(dir, optimizerFile), all, safetensors.F32, meta); err != nil {
		return fmt.Errorf("checkpoint %s: optimizer state: %w", dir, err)
	}
	return nil
}

// readWeights reads every tensor of a Hugging Face checkpoint as float32.
func readWeights(dir string) ([]safetensors.Tensor, error) {
	ck, err := hf.Open(dir)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	var out []safetensors.Tensor
	err = ck.Each(func(name string, shape []int64, data []float32) error {
		out = append(out, safetensors.Tensor{Name: name, Shape: append([]int64(nil), shape...), Data: append([]float32(nil), data...)})
		return nil
	})
	return out, err
}

// LoadWeights copies the weights of the Hugging Face checkpoint in dir into
// m (whose config must match).
func LoadWeights(m Model, dir string) error {
	ws, err := readWeights(dir)
	if err != nil {
		return err
	}
	return m.SetTensors(Weights, ws)
}

// restore loads weights, optimiser and trainer state from a checkpoint.
func (t *Trainer) restore(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrResume, err)
	}
	var st trainState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrResume, stateFile, err)
	}
	if st.Curriculum == nil {
		return fmt.Errorf("%w: %s has no curriculum", ErrResume, stateFile)
	}
	if err := LoadWeights(t.o.Model, dir); err != nil {
		return fmt.Errorf("%w: weights: %w", ErrResume, err)
	}
	f, err := safetensors.Open(filepath.Join(dir, optimizerFile))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrResume, err)
	}
	defer f.Close()
	moments := map[Buffer][]safetensors.Tensor{}
	for _, info := range f.Tensors() {
		data, err := f.Float32(info.Name)
		if err != nil {
			return fmt.Errorf("%w: optimizer state: %w", ErrResume, err)
		}
		which, name := AdamM, strings.TrimPrefix(info.Name, "m.")
		if strings.HasPrefix(info.Name, "v.") {
			which, name = AdamV, strings.TrimPrefix(info.Name, "v.")
		}
		moments[which] = append(moments[which], safetensors.Tensor{Name: name, Shape: info.Shape, Data: data})
	}
	for _, which := range []Buffer{AdamM, AdamV} {
		if err := t.o.Model.SetTensors(which, moments[which]); err != nil {
			return fmt.Errorf("%w: optimizer state: %w", ErrResume, err)
		}
	}
	n, err := strconv.ParseInt(f.Metadata()["step"], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: optimizer state has no step counter", ErrResume)
	}
	t.o.Model.SetOptimizerStep(n)
	// The stored config wins over the caller's for everything but the
	// number of steps, which a resume may extend.
	steps := t.cfg.Steps
	t.cfg = st.Config
	if steps > t.cfg.Steps {
		t.cfg.Steps = steps
	}
	st.Config = t.cfg
	if st.Phase == "done" && st.Step < t.cfg.Steps {
		st.Phase = "grpo"
	}
	t.st = st
	return nil
}
