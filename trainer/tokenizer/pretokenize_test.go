package tokenizer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The hand-written Qwen2 splitter must agree with a backtracking regex
// engine running the original pattern.

var reference = func() *regexSplitter {
	rs, err := newRegexSplitter(Qwen2Pattern)
	if err != nil {
		panic(err)
	}
	return rs
}()

func splitWith(sp splitter, s string) []string {
	var out []string
	sp.split(s, func(a, b int) { out = append(out, s[a:b]) })
	return out
}

func checkSplit(t *testing.T, s string) {
	t.Helper()
	got := splitWith(qwen2Splitter{}, s)
	want := splitWith(reference, s)
	if !slices.Equal(got, want) {
		t.Fatalf("split(%q)\n hand:   %q\n regexp2: %q", s, got, want)
	}
}

// alphabet covers every branch of the pattern: letters of several scripts,
// numbers (Nd, No, Nl), each kind of white space, the contraction letters in
// both cases, punctuation, symbols, a combining mark and an emoji.
var alphabet = []rune{
	'a', 'Z', 'é', '中', 'ß', 'Ω', '1', '٣', '²', 'Ⅷ',
	' ', ' ', ' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u3000', '\u2028', '\u0085',
	'\'', 's', 'S', 't', 'l', 'L', 'e', 'E', 'v', 'r', 'd', 'm', 'M', 'ſ',
	'!', '.', '_', '(', '$', '😀', '\u0301', '\u200d', '\ufeff',
}

func TestQwen2SplitMatchesRegexp2(t *testing.T) {
	for _, s := range corpus {
		checkSplit(t, s)
	}
	for _, s := range []string{"'s", "'S", "'ll", "'Ll", "'lx", "'re", "'r", "'ve", "'v", "'", "''s", "x'", " 's",
		" \n", "\n ", " \n x", "  x", " x", "\t\tx", "\r\n\r\n", " !\n\n", "a\u0301b", "1a", "a1", " 1", "\n\nx", "x  "} {
		checkSplit(t, s)
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 20000 {
		n := r.IntN(12)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = alphabet[r.IntN(len(alphabet))]
		}
		checkSplit(t, string(rs))
	}
}

func FuzzQwen2Split(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	f.Add("'s 'LL\n\n  x\u00a0\u3000y")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8Valid(s) {
			return // Encode replaces invalid UTF-8 before splitting
		}
		checkSplit(t, s)
	})
}
