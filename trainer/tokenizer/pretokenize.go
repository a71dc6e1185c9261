package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Qwen2Pattern is the split pattern of Qwen2, Qwen2.5 and Qwen3's
// tokenizer.json, matched by hand in qwen2End.
const Qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// GPT2Pattern is the pattern of the ByteLevel pre-tokenizer when use_regex
// is true (GPT-2 and its descendants); it runs on regexp2.
const GPT2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// splitter cuts normalised text into the pieces BPE runs on, calling emit
// for each [start, end) byte range in order.
type splitter interface {
	split(s string, emit func(start, end int))
}

// rune classes of the pattern: letters (\p{L}), numbers (\p{N}), white
// space (\s: Unicode White_Space, as regexp2 and Oniguruma define it), and
// everything else.
const (
	clsOther = iota
	clsLetter
	clsNumber
	clsSpace
)

var asciiClass [128]uint8

func init() {
	for r := range rune(128) {
		switch {
		case unicode.IsLetter(r):
			asciiClass[r] = clsLetter
		case unicode.IsNumber(r):
			asciiClass[r] = clsNumber
		case unicode.IsSpace(r):
			asciiClass[r] = clsSpace
		}
	}
}

func class(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}

func decodeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// qwen2Splitter implements Qwen2Pattern with the semantics of a
// backtracking engine (leftmost alternative first, greedy quantifiers).
type qwen2Splitter struct{}

func (qwen2Splitter) split(s string, emit func(start, end int)) {
	for i := 0; i < len(s); {
		e := qwen2End(s, i)
		emit(i, e)
		i = e
	}
}

// scan advances over runes of class c from i.
func scan(s string, i int, c uint8) int {
	for i < len(s) {
		r, n := decodeAt(s, i)
		if class(r) != c {
			break
		}
		i += n
	}
	return i
}

// scanCRLF advances over \r and \n from i.
func scanCRLF(s string, i int) int {
	for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// contraction matches (?i:'s|'t|'re|'ve|'m|'ll|'d) at i (s[i] == '\”) and
// returns its end, or 0. Case-insensitivity is ASCII, as in regexp2 and the
// JavaScript port (Oniguruma would also fold U+017F ſ to s).
func contraction(s string, i int) int {
	lower := func(j int) byte {
		if j < len(s) {
			return s[j] | 0x20
		}
		return 0
	}
	switch lower(i + 1) {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if lower(i+2) == 'e' {
			return i + 3
		}
	case 'l':
		if lower(i+2) == 'l' {
			return i + 3
		}
	}
	return 0
}

// qwen2End returns the end of the pattern's match at i. The pattern matches
// at every position (each rune is a letter, a number, space or other), so
// the pieces tile the text.
func qwen2End(s string, i int) int {
	r, n := decodeAt(s, i)
	if r == '\'' {
		if e := contraction(s, i); e > 0 { // '(?i:'s|'t|'re|'ve|'m|'ll|'d)
			return e
		}
	}
	c := class(r)
	switch c {
	case clsLetter: // [^\r\n\p{L}\p{N}]?\p{L}+ with the option empty
		return scan(s, i+n, clsLetter)
	case clsNumber: // \p{N}
		return i + n
	}
	j := i + n
	var next rune
	var nn int
	if j < len(s) {
		next, nn = decodeAt(s, j)
	}
	nextClass := uint8(255)
	if nn > 0 {
		nextClass = class(next)
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+: one non-letter, non-number rune (space and
	// punctuation included) glued to the letters after it.
	if r != '\r' && r != '\n' && nextClass == clsLetter {
		return scan(s, j+nn, clsLetter)
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*
	if c == clsOther {
		return scanCRLF(s, scan(s, j, clsOther))
	}
	if r == ' ' && nextClass == clsOther {
		return scanCRLF(s, scan(s, j+nn, clsOther))
	}
	// r is white space. Find the maximal run, the end of its last \r or \n,
	// and the start of its last rune.
	end, afterNL, lastStart := i, 0, i
	for end < len(s) {
		r, n := decodeAt(s, end)
		if class(r) != clsSpace {
			break
		}
		if r == '\r' || r == '\n' {
			afterNL = end + n
		}
		lastStart = end
		end += n
	}
	if afterNL > 0 { // \s*[\r\n]+ : greedy \s* backs off to the last newline
		return afterNL
	}
	if end == len(s) { // \s+(?!\S) at the end of the text
		return end
	}
	if lastStart > i { // \s+(?!\S) backs off one rune to leave a space before \S
		return lastStart
	}
	return end // \s+
}

// regexSplitter runs any split pattern on regexp2 (Isolated behaviour: the
// matches and the text between them are all pieces).
type regexSplitter struct{ re *regexp2.Regexp }

func newRegexSplitter(pattern string) (*regexSplitter, error) {
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("%w: split pattern %q: %v", ErrUnsupported, pattern, err)
	}
	return &regexSplitter{re: re}, nil
}

func (rs *regexSplitter) split(s string, emit func(start, end int)) {
	runes := []rune(s)
	// regexp2 reports rune indices; map them back to bytes.
	byteAt := make([]int, len(runes)+1)
	b := 0
	for k, r := range runes {
		byteAt[k] = b
		b += utf8.RuneLen(r)
	}
	byteAt[len(runes)] = b
	pos := 0
	m, _ := rs.re.FindRunesMatch(runes)
	for m != nil {
		st, en := m.Index, m.Index+m.Length
		if st > pos {
			emit(byteAt[pos], byteAt[st])
		}
		if en > st {
			emit(byteAt[st], byteAt[en])
		}
		pos = en
		m, _ = rs.re.FindNextMatch(m)
	}
	if pos < len(runes) {
		emit(byteAt[pos], byteAt[len(runes)])
	}
}

// wholeSplitter leaves the text in one piece (no pre-tokenizer regex).
type wholeSplitter struct{}

func (wholeSplitter) split(s string, emit func(start, end int)) {
	if len(s) > 0 {
		emit(0, len(s))
	}
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
