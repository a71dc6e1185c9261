package env

import (
	"strings"
)

// MaxAnswerBytes caps the extracted answer handed to verify. A longer answer
// is a format failure (score 0), not cut: cutting would let a model pad a
// right answer followed by wrong text past the cap and be scored on the
// right part alone.
const MaxAnswerBytes = 16 << 10

// Why ExtractAnswerWhy found no answer.
const (
	NoAnswerBlock = "no <answer>…</answer> block"
	AnswerTooLong = "the answer is longer than 16 KiB"
)

// ExtractAnswer returns the trimmed text inside the last <answer>…</answer>
// of a completion, and false when there is no complete block. Tags are
// matched case-insensitively. The last block wins, so a model that quotes the
// prompt's example first and answers after is scored on its answer.
func ExtractAnswer(completion string) (string, bool) {
	ans, why := ExtractAnswerWhy(completion)
	return ans, why == ""
}

// ExtractAnswerWhy is ExtractAnswer that says why there is no answer:
// NoAnswerBlock or AnswerTooLong ("" when there is one).
func ExtractAnswerWhy(completion string) (string, string) {
	const open, close = "<answer>", "</answer>"
	lower := asciiLower(completion)
	end := strings.LastIndex(lower, close)
	if end < 0 {
		return "", NoAnswerBlock
	}
	start := strings.LastIndex(lower[:end], open)
	if start < 0 {
		return "", NoAnswerBlock
	}
	ans := strings.TrimSpace(completion[start+len(open) : end])
	if len(ans) > MaxAnswerBytes {
		return "", AnswerTooLong
	}
	return ans, ""
}

// asciiLower lower-cases ASCII letters only, so byte offsets are preserved.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TypedCompletion is what an answer typed by a person (in the workbench's
// answer box, or `resyn envs show --answer`) is scored as: the text itself
// when it closes an <answer> block, else the text wrapped in one. So
// "3</answer>" is a format failure, as it would be from a model.
func TypedCompletion(typed string) string {
	if strings.Contains(asciiLower(typed), "</answer>") {
		return typed
	}
	return "<answer>" + typed + "</answer>"
}
