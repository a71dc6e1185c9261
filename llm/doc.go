// Package llm puts the language models resyn talks to behind one small
// interface: messages in, a completion with its token usage out, and, when
// the caller asks for it, the reply streamed as deltas through a callback.
//
// How the parts fit:
//
//   - llm.go holds the interface (Provider) and its plain data types
//     (Request, Message, Completion, Usage, Delta).
//   - client.go is the one retry layer every network provider goes through:
//     a concurrency cap, a per-attempt timeout (and an idle timeout while a
//     reply streams, so a hung connection is caught), retries with
//     exponential backoff and full jitter on 429, 5xx, resets, timeouts and
//     cut streams, honouring Retry-After, and token accounting into a Meter.
//     A server that is not there at all (connection refused, no route, an
//     unknown host) gets two quick retries and then ErrUnreachable, naming
//     the URL and the flag or variable that set it; Config.OnRetry hears of
//     every retry before its pause, so a caller can show it at once.
//   - openai.go (any OpenAI-compatible chat-completions server: OpenAI,
//     vLLM, SGLang, Ollama, llama.cpp) and anthropic.go (the Messages API)
//     make exactly one attempt each with the official SDKs, whose own
//     retries are switched off (see client.go for why).
//   - replay.go plays a recorded run from a JSONL file, so tests, demos and
//     users without a key can watch a synthesis run; Recorder writes such a
//     file from a live provider.
//   - meter.go is the per-run token accumulator, safe for concurrent use.
//   - open.go builds a provider from a Config (flags and the usual
//     environment variables).
//
// Not here: prompts, parsing of what a model writes (code, ideas, answers) —
// that is the synthesis pipeline's business (core/synth) — and tool calling,
// images or any other API surface resyn does not use.
package llm
