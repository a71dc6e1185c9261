package serve

import "errors"

// Sentinel errors, wrapped with %w by the functions that return them.
var (
	// ErrTokenRequired: the address is not loopback and no bearer token was
	// given; anyone who can reach the port could run the verifiers.
	ErrTokenRequired = errors.New("a bearer token is required to listen on a non-loopback address")
	// ErrOptions: the server options are inconsistent.
	ErrOptions = errors.New("invalid server options")
	// ErrStatus: the server answered a client with an HTTP error.
	ErrStatus = errors.New("reward server error")
)
