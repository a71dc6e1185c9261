package synth

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Seed is one seed keyword of ideation: the model is asked for
// Config.PerSeed task proposals about it. Family is the kind of reasoning
// it belongs to (becomes the ideas' Category); it may be empty.
type Seed struct {
	Family  string `json:"family,omitempty"`
	Keyword string `json:"keyword"`
}

func (s Seed) String() string {
	if s.Family == "" {
		return s.Keyword
	}
	return s.Family + ": " + s.Keyword
}

// Limits of a seed file: generous for any honest list, small enough that a
// wrong file (a binary, a log) is refused at once instead of becoming
// thousands of LLM calls.
const (
	MaxSeeds         = 10_000
	MaxSeedLineBytes = 512
	maxSeedFileBytes = 4 << 20
)

//go:embed seeds.txt
var builtinSeeds string

// DefaultSeeds is resyn's built-in list of about a hundred seed keywords,
// in the families the ReSyn paper's environments cover (constraint
// satisfaction, algorithmic puzzles, spatial reasoning, logic, arithmetic,
// strings, graphs, games, scheduling, combinatorics, sequences,
// cryptography, probability, geometry, data structures). A fresh copy each
// call.
func DefaultSeeds() []Seed {
	s, err := ParseSeeds(strings.NewReader(builtinSeeds))
	if err != nil {
		panic("synth: the built-in seed list: " + err.Error()) // seeds_test.go parses it
	}
	return s
}

// BuiltinSeedsText is the built-in list as the file it is written in, for
// `resyn synth seeds` to print (and a user to copy and edit).
func BuiltinSeedsText() string { return builtinSeeds }

// ParseSeeds reads a seed file: UTF-8 text, one seed a line, either
// "keyword" or "family: keyword" (the part before the first colon is the
// family). Blank lines and lines starting with '#' are skipped. A line that
// is too long, holds control characters or is not UTF-8, an empty keyword,
// a keyword repeated (case and spacing aside), and more than MaxSeeds seeds
// are errors naming the line; nothing is returned then.
func ParseSeeds(r io.Reader) ([]Seed, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSeedFileBytes+1))
	var (
		out   []Seed
		seen  = map[string]int{}
		read  int
		lineN int
	)
	for {
		line, err := br.ReadString('\n')
		read += len(line)
		if read > maxSeedFileBytes {
			return nil, fmt.Errorf("%w: more than %d MiB; a seed file is a short list of keywords", ErrSeeds, maxSeedFileBytes>>20)
		}
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%w: reading line %d: %v", ErrSeeds, lineN+1, err)
		}
		lineN++
		s, perr := parseSeedLine(line, lineN)
		if perr != nil {
			return nil, perr
		}
		if s == nil {
			continue
		}
		key := normSeed(s.Keyword)
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%w: line %d: %q repeats line %d", ErrSeeds, lineN, s.Keyword, first)
		}
		seen[key] = lineN
		if len(out) == MaxSeeds {
			return nil, fmt.Errorf("%w: line %d: more than %d seeds", ErrSeeds, lineN, MaxSeeds)
		}
		out = append(out, *s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no seed in the file (one keyword a line, or \"family: keyword\")", ErrSeeds)
	}
	return out, nil
}

// parseSeedLine reads one line; nil for a blank line or a comment.
func parseSeedLine(line string, n int) (*Seed, error) {
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if n == 1 {
		line = strings.TrimPrefix(line, "\ufeff") // a byte-order mark
	}
	switch {
	case len(line) > MaxSeedLineBytes:
		return nil, fmt.Errorf("%w: line %d: %d bytes, more than the %d a seed may have", ErrSeeds, n, len(line), MaxSeedLineBytes)
	case !utf8.ValidString(line):
		return nil, fmt.Errorf("%w: line %d: not UTF-8 text", ErrSeeds, n)
	}
	for _, r := range line {
		if unicode.IsControl(r) && r != '\t' {
			return nil, fmt.Errorf("%w: line %d: control character %U", ErrSeeds, n, r)
		}
	}
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return nil, nil
	}
	s := Seed{Keyword: t}
	if fam, kw, ok := strings.Cut(t, ":"); ok {
		s = Seed{Family: collapse(fam), Keyword: collapse(kw)}
	}
	s.Keyword = collapse(s.Keyword)
	if s.Keyword == "" {
		return nil, fmt.Errorf("%w: line %d: no keyword after the family %q", ErrSeeds, n, s.Family)
	}
	return &s, nil
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func normSeed(s string) string { return strings.ToLower(collapse(s)) }
