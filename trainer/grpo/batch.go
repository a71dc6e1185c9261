package grpo

// sequence is one prompt+completion row for a forward pass; the loss runs
// over the completion's tokens only.
type sequence struct {
	prompt, completion []int32
	adv                float32   // GRPO advantage (0 for SFT)
	old, ref           []float32 // per completion token, filled before the updates
}

// packed is a Batch built from sequences, with per-position advantages and
// where each sequence's completion sits.
type packed struct {
	Batch
	adv []float32
	// start[i]: the position (in row i) predicting completion token 0.
	start []int
}

// pack right-pads seqs into one batch. Position t of a row predicts token
// t+1, so a row of L tokens needs T = L-1 positions; the mask selects the
// positions predicting completion tokens.
func pack(seqs []*sequence) packed {
	T := 1
	for _, s := range seqs {
		T = max(T, len(s.prompt)+len(s.completion)-1)
	}
	B := len(seqs)
	p := packed{Batch: Batch{B: B, T: T, Tokens: make([]int32, B*T), Targets: make([]int32, B*T),
		Mask: make([]float32, B*T)}, adv: make([]float32, B*T), start: make([]int, B)}
	for b, s := range seqs {
		row := p.Tokens[b*T : (b+1)*T]
		tgt := p.Targets[b*T : (b+1)*T]
		n := copy(row, s.prompt)
		copy(row[n:], s.completion)
		L := len(s.prompt) + len(s.completion)
		for t := 0; t < L-1; t++ {
			if t+1 < len(s.prompt) {
				tgt[t] = s.prompt[t+1]
			} else {
				tgt[t] = s.completion[t+1-len(s.prompt)]
			}
		}
		p.start[b] = len(s.prompt) - 1
		for j := range s.completion {
			p.Mask[b*T+p.start[b]+j] = 1
			p.adv[b*T+p.start[b]+j] = s.adv
		}
	}
	return p
}

// gather copies each row's completion positions of a per-position array
// (B×T) into per-sequence slices (old or ref logprobs).
func (p packed) gather(seqs []*sequence, src []float32, dst func(*sequence) *[]float32) {
	for b, s := range seqs {
		off := b*p.T + p.start[b]
		*dst(s) = append((*dst(s))[:0], src[off:off+len(s.completion)]...)
	}
}

// scatter is gather's inverse: per-sequence slices into a B×T array.
func (p packed) scatter(seqs []*sequence, src func(*sequence) []float32) []float32 {
	out := make([]float32, p.B*p.T)
	for b, s := range seqs {
		copy(out[b*p.T+p.start[b]:], src(s))
	}
	return out
}

// chunks splits n items into pieces of at most size (size <= 0: one piece).
func chunks(n, size int) [][2]int {
	if size <= 0 || size > n {
		size = n
	}
	var out [][2]int
	for i := 0; i < n; i += size {
		out = append(out, [2]int{i, min(i+size, n)})
	}
	return out
}

// split cuts n items into k nearly equal contiguous parts (no empty ones).
func split(n, k int) [][2]int {
	k = max(1, min(k, n))
	var out [][2]int
	for i := range k {
		out = append(out, [2]int{i * n / k, (i + 1) * n / k})
	}
	return out
}
