package grpo

import "errors"

// Sentinel errors; errors from this package wrap one of them (or an error
// of the model, the store or the environments, wrapped with %w).
var (
	// ErrConfig: a training configuration is invalid (the message names
	// the field).
	ErrConfig = errors.New("grpo: invalid configuration")
	// ErrNoData: a step produced nothing to train on (every prompt too
	// long, every environment failing).
	ErrNoData = errors.New("grpo: no usable data")
	// ErrResume: a run cannot be resumed (no checkpoint, or its state is
	// missing or does not match).
	ErrResume = errors.New("grpo: cannot resume")
)
