package native

import (
	"fmt"
	"slices"

	"resyn/trainer/hf"
)

// LogitsCheck computes what trainer/hf's logits-check file records for a
// model: each sequence's target log-probs (Forward, as training computes
// them) and the raw logits of logitIDs at every position. The ABI has no
// call that returns raw logits, so they are recovered exactly with a copy
// of the model whose vocabulary has one more, all-zero, output row: that
// row's logit is 0, so logprob(k) - logprob(ghost) = logit(k). The ghost
// row never appears as an input, so the hidden states are unchanged. The
// copy costs the model's memory once more for the duration of the call.
func (m *Model) LogitsCheck(seqs [][]int32, logitIDs []int32, atol float64) (hf.LogitsCheck, error) {
	lc := hf.LogitsCheck{Format: hf.LogitsCheckFormat, Atol: atol}
	V := m.cfg.VocabSize
	for _, id := range logitIDs {
		if id < 0 || int(id) >= V {
			return lc, fmt.Errorf("%w: logits check: id %d is outside the vocabulary [0, %d)", ErrArgument, id, V)
		}
	}
	for i, s := range seqs {
		if len(s) < 2 || len(s) > m.cfg.MaxSeqLen+1 {
			return lc, fmt.Errorf("%w: logits check: sequence %d has %d tokens, want 2..%d", ErrArgument, i, len(s), m.cfg.MaxSeqLen+1)
		}
		T := len(s) - 1
		lp := make([]float32, T)
		if err := m.Forward(Batch{B: 1, T: T, Tokens: s[:T], Targets: s[1:]}, lp, nil); err != nil {
			return lc, err
		}
		seq := hf.LogitsSequence{InputIDs: make([]int, len(s)), TargetLogprobs: make([]float64, T), LogitIDs: make([]int, len(logitIDs))}
		for k, v := range s {
			seq.InputIDs[k] = int(v)
		}
		for k, v := range lp {
			seq.TargetLogprobs[k] = float64(v)
		}
		for k, v := range logitIDs {
			seq.LogitIDs[k] = int(v)
		}
		lc.Sequences = append(lc.Sequences, seq)
	}
	if len(logitIDs) == 0 {
		return lc, lc.Validate()
	}
	ghost, err := m.withGhostRow()
	if err != nil {
		return lc, err
	}
	defer ghost.Close()
	for i, s := range seqs {
		// rows: one per logit id, and one for the ghost; all positions
		T := len(s)
		B := len(logitIDs) + 1
		b := Batch{B: B, T: T, Tokens: make([]int32, 0, B*T), Targets: make([]int32, 0, B*T)}
		for r := range B {
			tg := int32(V)
			if r < len(logitIDs) {
				tg = logitIDs[r]
			}
			b.Tokens = append(b.Tokens, s...)
			for range T {
				b.Targets = append(b.Targets, tg)
			}
		}
		lp := make([]float32, B*T)
		if err := ghost.Forward(b, lp, nil); err != nil {
			return lc, err
		}
		rows := make([][]float64, T)
		for t := range T {
			rows[t] = make([]float64, len(logitIDs))
			for k := range logitIDs {
				rows[t][k] = float64(lp[k*T+t]) - float64(lp[(B-1)*T+t])
			}
		}
		lc.Sequences[i].Logits = rows
	}
	return lc, lc.Validate()
}

// withGhostRow copies the model into one with VocabSize+1, the extra
// embedding and output rows zero.
func (m *Model) withGhostRow() (*Model, error) {
	cfg := m.cfg
	cfg.VocabSize++
	g, err := NewOn(m.b, cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range m.Tensors() {
		buf := make([]float32, t.Numel)
		if err := m.Read(Weights, t.Name, buf); err != nil {
			g.Close()
			return nil, err
		}
		if slices.Contains([]string{"model.embed_tokens.weight", "lm_head.weight"}, t.Name) {
			buf = append(buf, make([]float32, cfg.HiddenSize)...)
		}
		if err := g.Write(Weights, t.Name, buf); err != nil {
			g.Close()
			return nil, err
		}
	}
	return g, nil
}
