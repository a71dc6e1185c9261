package synth

import "errors"

// Sentinel errors; check with errors.Is.
var (
	// ErrRefusal: the model declined to write the environment.
	ErrRefusal = errors.New("synth: the model refused")
	// ErrEmptyReply: the model's reply was empty.
	ErrEmptyReply = errors.New("synth: empty reply")
	// ErrNoCode: the reply holds no recognisable environment module.
	ErrNoCode = errors.New("synth: no environment code in the reply")
	// ErrUnreadableIdeas: an ideation reply held no idea that could be read
	// (neither a JSON array of {name, description} nor "name: description"
	// lines). The error quotes the start of the reply (Excerpt).
	ErrUnreadableIdeas = errors.New("synth: no ideas could be read from the reply")
	// ErrNoIdeas: ideation produced no usable idea.
	ErrNoIdeas = errors.New("synth: no ideas")
	// ErrRunNotFound: Resume was given a run id the store does not have.
	ErrRunNotFound = errors.New("synth: no such run")
	// ErrRunFinished: Resume was given a run that has nothing left to do.
	ErrRunFinished = errors.New("synth: the run is already finished")
	// ErrSeeds: a seed file cannot be used (see ParseSeeds); the message
	// names the line.
	ErrSeeds = errors.New("synth: bad seed list")
	// ErrNoTrainingSignal: a training run named by Config.FromRun has no
	// environment whose pass rate saturated or stayed at zero.
	ErrNoTrainingSignal = errors.New("synth: the training run flags no environment")
	// ErrConfig: the configuration cannot work (no provider, N < 1, …).
	ErrConfig = errors.New("synth: bad configuration")
)
