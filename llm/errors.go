package llm

import "errors"

// Sentinel errors. Errors returned by providers wrap one of these with %w;
// check them with errors.Is.
var (
	// ErrNoAPIKey: a provider that needs a key found none in its flag or
	// environment variable.
	ErrNoAPIKey = errors.New("llm: no API key")
	// ErrUnknownProvider: Config.Provider names no provider resyn knows.
	ErrUnknownProvider = errors.New("llm: unknown provider")
	// ErrRateLimited: the server kept answering 429 until the retries ran out.
	ErrRateLimited = errors.New("llm: rate limited")
	// ErrServer: the server answered 5xx until the retries ran out.
	ErrServer = errors.New("llm: server error")
	// ErrRequest: the server rejected the request (4xx other than 408/409/429);
	// retrying would not help.
	ErrRequest = errors.New("llm: request rejected")
	// ErrTimeout: an attempt took longer than Config.Timeout, or a stream was
	// silent for longer than Config.IdleTimeout, on every attempt.
	ErrTimeout = errors.New("llm: timed out")
	// ErrStreamCut: a streamed reply ended before the server said it was done.
	ErrStreamCut = errors.New("llm: stream ended before the reply was complete")
	// ErrBadReply: the server's reply could not be understood (malformed JSON,
	// no choices).
	ErrBadReply = errors.New("llm: malformed reply")
	// ErrNetwork: the connection failed (reset, dropped) on every attempt.
	ErrNetwork = errors.New("llm: network error")
	// ErrUnreachable: the server refused the connection, or its host name
	// does not resolve, on a few quick tries (Config.UnreachableRetries).
	// Unlike a 429 or a 503 this does not pass by waiting: nothing listens
	// at the base URL. The error names the URL and where it was set.
	ErrUnreachable = errors.New("llm: server unreachable")
	// ErrTruncated: the reply reached max_tokens before it held any text
	// (finish_reason "length" with null or empty content; a reasoning
	// model can spend every token on hidden reasoning). Retrying the same
	// request gives the same; the error says to raise --max-tokens.
	ErrTruncated = errors.New("llm: reply cut at max_tokens before any text")
	// ErrReplayExhausted: a replay file has no (more) replies for a request.
	ErrReplayExhausted = errors.New("llm: replay has no reply for this request")
	// ErrReplayFile: a replay file could not be read or parsed.
	ErrReplayFile = errors.New("llm: bad replay file")
)
