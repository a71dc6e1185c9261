package grpo

import (
	"encoding/json"

	"resyn/core/env"
)

// DefaultEvalShare is the share of every environment's instance space that
// evaluation reserves (Config.EvalShare 0).
const DefaultEvalShare = 0.2

// inEvalPartition says whether an instance belongs to the evaluation
// partition: the split is by the instance's content (env.InstanceHash of
// its canonical state), not by seed, so that no seed of training — warm
// start or GRPO, whatever the curriculum draws — can reach an instance
// evaluation measures, and evaluation never scores one training saw. The
// split is the same for every run. A state that cannot be hashed (not
// JSON) belongs to neither: it is never trained on nor evaluated.
func inEvalPartition(envName string, state json.RawMessage, share float64) (eval, ok bool) {
	h, err := env.InstanceHash(envName, state)
	if err != nil {
		return false, false
	}
	const buckets = 1 << 20
	return float64(h%buckets) < share*buckets, true
}

func (c Config) evalShare() float64 {
	if c.EvalShare == 0 {
		return DefaultEvalShare
	}
	return c.EvalShare
}
