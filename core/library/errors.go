package library

import "errors"

var (
	// ErrUnknown: no built-in or stored environment has the name.
	ErrUnknown = errors.New("no such environment")
	// ErrInvalidEnv: an added or edited environment failed validation and
	// was not stored (AddOptions.KeepInvalid stores it anyway).
	ErrInvalidEnv = errors.New("environment failed validation")
	// ErrNoStore: a curation action needs a store and the library has none.
	ErrNoStore = errors.New("the library has no store")
	// ErrBadTag: a tag is empty or has characters other than [a-z0-9-_.:/],
	// or an environment would have more tags than env.MaxTags.
	ErrBadTag = errors.New("invalid tag")
	// ErrChanged: a revert found the environment at another revision than
	// expected (it was changed in between) and left it alone.
	ErrChanged = errors.New("changed")
	// ErrNameTaken: an added environment's NAME belongs to a built-in or a
	// stored environment, and the caller did not say it replaces it.
	ErrNameTaken = errors.New("the name is taken")
)
