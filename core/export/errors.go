package export

import "errors"

// Sentinel errors, wrapped with %w by the functions that return them.
var (
	// ErrOptions: the export options are inconsistent (no rows, a weight
	// for an environment that is not exported, a bad test fraction…).
	ErrOptions = errors.New("invalid export options")
	// ErrGroundTruth: a ground-truth string is not one resyn wrote.
	ErrGroundTruth = errors.New("invalid ground truth")
	// ErrFormat: an unknown output format.
	ErrFormat = errors.New("unknown export format")
	// ErrEnvChanged: a ground truth was made by another version of its
	// environment than the one asked to score it (its env_hash differs), so
	// the instance it describes may mean something else now. Re-export the
	// dataset, or serve the environment version it was made with.
	ErrEnvChanged = errors.New("environment changed since the ground truth was made")
)
