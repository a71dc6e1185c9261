package tokenizer

import "errors"

var (
	// ErrFormat: tokenizer.json is malformed (bad JSON, a merge naming a
	// token that is not in the vocabulary, duplicate ids).
	ErrFormat = errors.New("tokenizer: invalid tokenizer.json")
	// ErrUnsupported: tokenizer.json asks for a component this package does
	// not implement (a non-BPE model, a normalizer other than NFC, …); the
	// error names it.
	ErrUnsupported = errors.New("tokenizer: unsupported tokenizer.json feature")
	// ErrChatTemplate: a chat template does not compile, fails while
	// rendering (raise_exception, a missing variable), or changes a
	// message's content in a way EncodeChat cannot keep safe.
	ErrChatTemplate = errors.New("tokenizer: chat template")
	// ErrUnknownID: Decode was given an id outside the vocabulary.
	ErrUnknownID = errors.New("tokenizer: unknown token id")
)
