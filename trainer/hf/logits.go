package hf

import (
	"encoding/json"
	"fmt"
	"os"
)

// LogitsCheckFormat identifies the logits-check JSON (see docs/formats.md).
const LogitsCheckFormat = "resyn-logits-check/1"

// LogitsCheck is what resyn computed for a checkpoint, for
// scripts/gpu/check_hf_checkpoint.py to compare transformers against. It
// lives beside the checkpoint as logits_check.json.
type LogitsCheck struct {
	Format string `json:"format"` // LogitsCheckFormat
	// Atol is the largest absolute difference the script accepts for logits
	// and log-probs (fp32 engines on different hardware: about 1e-3).
	Atol      float64          `json:"atol"`
	Sequences []LogitsSequence `json:"sequences"`
}

// LogitsSequence is one token sequence and resyn's outputs for it.
type LogitsSequence struct {
	// InputIDs are the tokens fed to the model, T of them.
	InputIDs []int `json:"input_ids"`
	// TargetLogprobs[t] = log p(InputIDs[t+1] | InputIDs[:t+1]), T-1 values:
	// the quantity the trainer's forward computes.
	TargetLogprobs []float64 `json:"target_logprobs"`
	// LogitIDs are vocabulary ids whose raw logits are recorded at every
	// position (a few, to keep the file small).
	LogitIDs []int `json:"logit_ids"`
	// Logits[t][k] is the logit of LogitIDs[k] at position t (T rows).
	Logits [][]float64 `json:"logits"`
}

// Validate checks the shapes agree.
func (lc LogitsCheck) Validate() error {
	if lc.Format != LogitsCheckFormat {
		return fmt.Errorf("%w: logits check format %q, want %q", ErrConfig, lc.Format, LogitsCheckFormat)
	}
	for i, s := range lc.Sequences {
		t := len(s.InputIDs)
		if t < 2 {
			return fmt.Errorf("%w: logits check sequence %d has %d tokens, want at least 2", ErrConfig, i, t)
		}
		if len(s.TargetLogprobs) != t-1 {
			return fmt.Errorf("%w: logits check sequence %d has %d target_logprobs for %d tokens, want %d",
				ErrConfig, i, len(s.TargetLogprobs), t, t-1)
		}
		if len(s.Logits) != 0 && len(s.Logits) != t {
			return fmt.Errorf("%w: logits check sequence %d has %d logits rows for %d tokens", ErrConfig, i, len(s.Logits), t)
		}
		for j, row := range s.Logits {
			if len(row) != len(s.LogitIDs) {
				return fmt.Errorf("%w: logits check sequence %d row %d has %d values for %d logit_ids",
					ErrConfig, i, j, len(row), len(s.LogitIDs))
			}
		}
	}
	return nil
}

// WriteLogitsCheck validates lc and writes it to path.
func WriteLogitsCheck(path string, lc LogitsCheck) error {
	if lc.Format == "" {
		lc.Format = LogitsCheckFormat
	}
	if err := lc.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(lc)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// ReadLogitsCheck reads and validates a logits check file.
func ReadLogitsCheck(path string) (LogitsCheck, error) {
	var lc LogitsCheck
	b, err := os.ReadFile(path)
	if err != nil {
		return lc, err
	}
	if err := json.Unmarshal(b, &lc); err != nil {
		return lc, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	return lc, lc.Validate()
}
