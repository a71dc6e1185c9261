package hf

import "errors"

// Sentinel errors, wrapped with %w and naming the file, field or tensor.
var (
	// ErrConfig: config.json is missing, malformed, or describes an
	// inconsistent model (for example heads that do not divide the width).
	ErrConfig = errors.New("hf: invalid config")
	// ErrLayout: the directory holds no weights, or an index file names
	// shards or tensors that do not exist, or a tensor appears twice.
	ErrLayout = errors.New("hf: invalid checkpoint layout")
	// ErrTensors: the weights do not match what the config implies (a
	// missing tensor or a wrong shape).
	ErrTensors = errors.New("hf: weights do not match the config")
)
