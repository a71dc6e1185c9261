package hf

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped with %w and naming the file, field or tensor.
var (
	// ErrConfig: config.json is missing, malformed, or describes an
	// inconsistent model (for example heads that do not divide the width).
	// Errors about one field are *FieldError, which matches ErrConfig.
	ErrConfig = errors.New("hf: invalid config")
	// ErrLayout: the directory holds no weights, or an index file names
	// shards or tensors that do not exist, or a tensor appears twice.
	ErrLayout = errors.New("hf: invalid checkpoint layout")
	// ErrTensors: the weights do not match what the config implies (a
	// missing tensor or a wrong shape).
	ErrTensors = errors.New("hf: weights do not match the config")
)

// FieldError is a config.json (or generation_config.json) field that
// cannot be used: out of its bounds, of the wrong type, a feature resyn does
// not implement, in disagreement with another field, or with the weight
// files. It matches ErrConfig with errors.Is; Field is the JSON name as the
// file spells it ("rope_parameters.rope_type"), so that a caller can name it.
type FieldError struct {
	File  string // "config.json" or "generation_config.json"; "" when not from a file
	Field string
	Value string // the value as the file has it (JSON), cut to 80 bytes
	Why   string // "is above the bound 1024", "disagrees with rope_theta 10000", …
}

func (e *FieldError) Error() string {
	where := e.Field
	if e.File != "" {
		where = e.File + ": " + e.Field
	}
	if e.Value == "" {
		return fmt.Sprintf("%v: %s %s", ErrConfig, where, e.Why)
	}
	return fmt.Sprintf("%v: %s = %s %s", ErrConfig, where, e.Value, e.Why)
}

// Is makes a FieldError match ErrConfig.
func (e *FieldError) Is(target error) bool { return target == ErrConfig }
