package grpo

import "math"

// GroupAdvantages turns the rewards of one group of completions of the same
// prompt into advantages: reward minus the group mean, divided by the
// group's standard deviation (population, plus eps) when scaleByStd is set
// (Dr. GRPO leaves it out). zeroVar reports a group whose rewards are all
// equal: every advantage is 0 and it carries no learning signal.
func GroupAdvantages(rewards []float64, scaleByStd bool, eps float64) (adv []float64, zeroVar bool) {
	adv = make([]float64, len(rewards))
	if len(rewards) == 0 {
		return adv, true
	}
	var mean float64
	for _, r := range rewards {
		mean += r
	}
	mean /= float64(len(rewards))
	var ss float64
	for _, r := range rewards {
		ss += (r - mean) * (r - mean)
	}
	std := math.Sqrt(ss / float64(len(rewards)))
	if std < 1e-12 {
		return adv, true
	}
	for i, r := range rewards {
		adv[i] = r - mean
		if scaleByStd {
			adv[i] /= std + eps
		}
	}
	return adv, false
}

// OverlongPenalty is DAPO's soft overlong punishment: 0 for a completion of
// up to maxLen-buffer tokens, then falling linearly to -penalty at maxLen
// (and beyond).
func OverlongPenalty(length, maxLen, buffer int, penalty float64) float64 {
	if buffer <= 0 || penalty == 0 || length <= maxLen-buffer {
		return 0
	}
	over := float64(length-(maxLen-buffer)) / float64(buffer)
	return -penalty * min(over, 1)
}

// LossParams are the clipped-surrogate settings.
type LossParams struct {
	ClipLow  float64 // the ratio is clipped below at 1-ClipLow …
	ClipHigh float64 // … and above at 1+ClipHigh (DAPO's clip-higher)
	KLCoef   float64 // weight of the k3 KL estimate to the reference; 0: none
	// DualClip bounds a negative advantage's loss at -DualClip·A (dual-clip
	// PPO): a token whose ratio rose above DualClip in a sequence with A < 0
	// stops pushing, instead of pushing with weight r. 0: no bound; when
	// set, it must exceed 1+ClipHigh.
	DualClip float64
}

// klMaxLogRatio bounds |logp_ref - logp| inside the k3 estimate (and its
// gradient), as verl clamps it: a sampled token the policy has all but
// ruled out would otherwise weigh exp(d), thousands of times the rest.
const klMaxLogRatio = 10

// LossStats sums per-token quantities of one loss evaluation; divide by
// Tokens for means.
type LossStats struct {
	Tokens    float64 // masked positions counted
	Loss      float64 // sum of per-token losses (surrogate + KL term)
	KL        float64 // sum of k3 estimates (0 without a reference)
	Clipped   float64 // tokens whose gradient the clip removed
	Ratio     float64 // sum of ratios
	RatioMax  float64
	RatioMin  float64
	Entropy   float64 // sum of entropies, when given
	Advantage float64 // sum of advantages over tokens
}

// Add accumulates another evaluation's sums.
func (s *LossStats) Add(o LossStats) {
	if s.Tokens == 0 {
		s.RatioMax, s.RatioMin = o.RatioMax, o.RatioMin
	} else if o.Tokens > 0 {
		s.RatioMax, s.RatioMin = max(s.RatioMax, o.RatioMax), min(s.RatioMin, o.RatioMin)
	}
	s.Tokens += o.Tokens
	s.Loss += o.Loss
	s.KL += o.KL
	s.Clipped += o.Clipped
	s.Ratio += o.Ratio
	s.Entropy += o.Entropy
	s.Advantage += o.Advantage
}

// PolicyLoss evaluates the GRPO loss with token-level aggregation (DAPO):
// every masked token of the minibatch weighs the same, whatever the length
// of its completion,
//
//	loss = (1/norm) Σ_tokens [ -min(r·A, clip(r, 1-εlow, 1+εhigh)·A) + β·k3 ]
//	r    = exp(logp - logp_old)
//	k3   = exp(d) - d - 1,  d = logp_ref - logp clamped to ±10
//
// and, with DualClip c > 0, a token with A < 0 and r > c contributes -c·A
// (no gradient). PolicyLoss writes d(loss)/d(logp) per position into dlp. All slices are per
// position (B×T); adv holds each position's completion advantage; ref may
// be nil when KLCoef is 0; entropy may be nil. norm is the number of masked
// tokens of the whole minibatch (several micro-batches share it).
func PolicyLoss(logp, old, ref, adv, mask, entropy []float32, norm float64, p LossParams, dlp []float32) LossStats {
	var s LossStats
	s.RatioMin = math.Inf(1)
	s.RatioMax = math.Inf(-1)
	for i := range logp {
		dlp[i] = 0
		if mask != nil && mask[i] == 0 {
			continue
		}
		a := float64(adv[i])
		lr := float64(logp[i]) - float64(old[i])
		r := math.Exp(lr)
		clipped := (a > 0 && r > 1+p.ClipHigh) || (a < 0 && r < 1-p.ClipLow)
		surr := r * a
		switch {
		case clipped:
			surr = math.Max(math.Min(r, 1+p.ClipHigh), 1-p.ClipLow) * a
			s.Clipped++
		case p.DualClip > 0 && a < 0 && r > p.DualClip:
			clipped = true
			surr = p.DualClip * a
			s.Clipped++
		}
		loss := -surr
		var g float64
		if !clipped {
			g = -r * a // d(-r·A)/d(logp)
		}
		if p.KLCoef != 0 {
			d := float64(ref[i]) - float64(logp[i])
			dc := math.Max(-klMaxLogRatio, math.Min(d, klMaxLogRatio))
			k3 := math.Exp(dc) - dc - 1
			loss += p.KLCoef * k3
			if d == dc {
				g += p.KLCoef * (1 - math.Exp(d))
			}
			s.KL += k3
		}
		dlp[i] = float32(g / norm)
		s.Tokens++
		s.Loss += loss
		s.Ratio += r
		s.RatioMax = math.Max(s.RatioMax, r)
		s.RatioMin = math.Min(s.RatioMin, r)
		s.Advantage += a
		if entropy != nil {
			s.Entropy += float64(entropy[i])
		}
	}
	if s.Tokens == 0 {
		s.RatioMin, s.RatioMax = 0, 0
	}
	return s
}

// SFTLoss is the mean negative log-likelihood of the masked targets; it
// writes d(loss)/d(logp) = -1/norm into dlp at masked positions.
func SFTLoss(logp, mask []float32, norm float64, dlp []float32) (sum, tokens float64) {
	for i := range logp {
		dlp[i] = 0
		if mask != nil && mask[i] == 0 {
			continue
		}
		sum -= float64(logp[i])
		tokens++
		dlp[i] = float32(-1 / norm)
	}
	return sum, tokens
}
