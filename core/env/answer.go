package env

import (
	"strings"
)

// MaxAnswerBytes caps the extracted answer handed to verify. Longer answers
// are cut (and verifiers see the cut text); a model gains nothing from
// padding.
const MaxAnswerBytes = 16 << 10

// ExtractAnswer returns the trimmed text inside the last <answer>…</answer>
// of a completion, and false when there is no complete block. Tags are
// matched case-insensitively. The last block wins, so a model that quotes the
// prompt's example first and answers after is scored on its answer.
func ExtractAnswer(completion string) (string, bool) {
	const open, close = "<answer>", "</answer>"
	lower := asciiLower(completion)
	end := strings.LastIndex(lower, close)
	if end < 0 {
		return "", false
	}
	start := strings.LastIndex(lower[:end], open)
	if start < 0 {
		return "", false
	}
	ans := strings.TrimSpace(completion[start+len(open) : end])
	if len(ans) > MaxAnswerBytes {
		ans = ans[:MaxAnswerBytes]
	}
	return ans, true
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
