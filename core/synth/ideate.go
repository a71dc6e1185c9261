package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"resyn/llm"
)

const ideateSystem = `You design reasoning tasks for training language models with reinforcement learning.
Every task becomes a program that generates random instances at a difficulty level, renders each
as a text prompt, and verifies an answer exactly. Good tasks have one checkable answer (or a set of
answers a program can recognise), scale from easy to hard, and need real reasoning rather than recall.`

// IdeateRequest is one ideation call.
type IdeateRequest struct {
	Category string
	Seed     string   // a seed keyword (Config.Seeds): the tasks are about it, in family Category
	Topics   []string // seed topics to draw on
	Count    int      // ideas to ask for
	Avoid    []string // names already taken (library and earlier ideas)
}

// IdeatePrompt builds the user message of an ideation call.
func IdeatePrompt(r IdeateRequest) string {
	var b strings.Builder
	switch {
	case r.Seed != "" && r.Category != "":
		fmt.Fprintf(&b, "Propose %d distinct reasoning tasks built around %q (a kind of %s).\n", r.Count, r.Seed, r.Category)
	case r.Seed != "":
		fmt.Fprintf(&b, "Propose %d distinct reasoning tasks built around %q.\n", r.Count, r.Seed)
	default:
		fmt.Fprintf(&b, "Propose %d distinct reasoning tasks in the category %q.\n", r.Count, r.Category)
	}
	if len(r.Topics) > 0 {
		fmt.Fprintf(&b, "Draw on these topics where they fit: %s.\n", strings.Join(r.Topics, ", "))
	}
	if len(r.Avoid) > 0 {
		avoid := r.Avoid
		if len(avoid) > 60 {
			avoid = avoid[len(avoid)-60:]
		}
		fmt.Fprintf(&b, "These already exist; propose different tasks: %s.\n", strings.Join(avoid, ", "))
	}
	b.WriteString(`Each task needs an instance generator with a difficulty knob, a prompt, and an exact verifier.
Reply with a JSON array only, one object per task:
[{"name": "snake_case_name", "description": "One or two sentences: what the solver is given and what it must answer."}]`)
	return b.String()
}

// Ideate makes one ideation call and parses its reply. The call is tagged
// StageIdeate with the seed keyword, or else the category, as subject.
func Ideate(ctx context.Context, p llm.Provider, r IdeateRequest, opts CallOptions) ([]Idea, Exchange, error) {
	msgs := []llm.Message{{Role: llm.RoleUser, Content: IdeatePrompt(r)}}
	subject := r.Category
	if r.Seed != "" {
		subject = r.Seed
	}
	ex, err := call(ctx, p, StageIdeate, subject, ideateSystem, msgs, opts)
	if err != nil {
		return nil, ex, err
	}
	ideas := ParseIdeas(ex.Reply)
	if len(ideas) == 0 {
		return nil, ex, fmt.Errorf("%w; the model replied %s", ErrUnreadableIdeas, Excerpt(ex.Reply, ExcerptLen))
	}
	for i := range ideas {
		if ideas[i].Category == "" {
			ideas[i].Category = r.Category
		}
		ideas[i].Seed = r.Seed
	}
	return ideas, ex, nil
}

// ExcerptLen is how much of a reply an error quotes.
const ExcerptLen = 300

// Excerpt quotes the start of a model's reply for an error message: at
// most n bytes (cut at a character boundary), in Go quotes so that
// newlines and control characters show as escapes and cannot garble a
// terminal, with the size of what was left out. An empty reply is "nothing".
func Excerpt(reply string, n int) string {
	if reply == "" {
		return "nothing (an empty reply)"
	}
	shown, tail := reply, ""
	if len(reply) > n {
		cut := max(n, 0)
		for cut > 0 && !utf8.RuneStart(reply[cut]) {
			cut--
		}
		shown, tail = reply[:cut], fmt.Sprintf("… (%d of %d bytes shown)", cut, len(reply))
	}
	s := strconv.Quote(shown) + tail
	if strings.TrimSpace(reply) == "" {
		s = "only white space: " + s
	}
	return s
}

var (
	fenceRe    = regexp.MustCompile("(?s)```[a-zA-Z0-9_+-]*[ \t]*\n(.*?)(?:\n```|$)")
	ideaLineRe = regexp.MustCompile(`^\s*(?:[-*•]|\d+[.)])?\s*\**([A-Za-z][A-Za-z0-9_ -]{1,60}?)\**\s*[:—–-]\s+(.{10,})$`)
)

// ParseIdeas reads ideas from a reply: a JSON array of objects (bare, fenced
// or surrounded by prose), or failing that one "name: description" per
// line. Names are normalised to slugs; ideas without a usable name or
// description are skipped.
func ParseIdeas(reply string) []Idea {
	var raw []struct {
		Name        string `json:"name"`
		Category    string `json:"category"`
		Description string `json:"description"`
	}
	candidates := []string{reply}
	for _, m := range fenceRe.FindAllStringSubmatch(reply, -1) {
		candidates = append(candidates, m[1])
	}
	for _, c := range candidates {
		if json.Unmarshal([]byte(strings.TrimSpace(c)), &raw) == nil && len(raw) > 0 {
			break
		}
		raw = nil
	}
	// An array inside prose: decode from each '[' the first value there.
	for i := 0; raw == nil && i < len(reply); i++ {
		if reply[i] != '[' {
			continue
		}
		if json.NewDecoder(strings.NewReader(reply[i:])).Decode(&raw) != nil || len(raw) == 0 {
			raw = nil
		}
	}
	var out []Idea
	add := func(name, cat, desc string) {
		name, desc = Slug(name), strings.Join(strings.Fields(desc), " ")
		if name == "" || len(desc) < 10 {
			return
		}
		out = append(out, Idea{Name: name, Category: strings.TrimSpace(cat), Description: desc})
	}
	if raw != nil {
		for _, r := range raw {
			add(r.Name, r.Category, r.Description)
		}
		return out
	}
	for _, line := range strings.Split(reply, "\n") {
		if m := ideaLineRe.FindStringSubmatch(line); m != nil {
			add(m[1], "", m[2])
		}
	}
	return out
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// Slug turns a name into an environment name: lower case, runs of other
// characters as one underscore, at most 48 characters, not starting with a
// digit.
func Slug(name string) string {
	s := strings.Trim(slugRe.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if len(s) > 48 {
		s = strings.TrimRight(s[:48], "_")
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "task_" + s
	}
	return s
}

// normName is the comparison key of names: letters and digits only, with
// British spellings folded, so "graph_colouring" and "GraphColoring" clash.
func normName(name string) string {
	s := strings.ToLower(name)
	s = strings.NewReplacer("colour", "color", "ise", "ize", "isation", "ization").Replace(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Shingles returns the set of k-word shingles of text after normalisation
// (lower case, numbers as one token, punctuation dropped). Text of fewer
// than k words gives one shingle of the whole.
func Shingles(text string, k int) map[string]bool {
	words := normWords(text)
	set := map[string]bool{}
	if len(words) < k {
		set[strings.Join(words, " ")] = true
		return set
	}
	for i := 0; i+k <= len(words); i++ {
		set[strings.Join(words[i:i+k], " ")] = true
	}
	return set
}

func normWords(text string) []string {
	f := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r > 127)
	})
	for i, w := range f {
		if w[0] >= '0' && w[0] <= '9' {
			f[i] = "#"
		}
	}
	return f
}

// Jaccard is the exact Jaccard similarity of two sets.
func Jaccard(a, b map[string]bool) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for s := range a {
		if b[s] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// minhashSize is the number of hash functions of a MinHash signature; the
// standard error of the estimate is about 1/sqrt(64) = 0.125.
const minhashSize = 64

// MinHash is a signature of a shingle set; the fraction of equal positions
// of two signatures estimates the Jaccard similarity of their sets.
type MinHash [minhashSize]uint64

// NewMinHash signs the 2-word shingles and 4-character shingles of text;
// the mix keeps short descriptions comparable.
func NewMinHash(text string) MinHash {
	set := Shingles(text, 2)
	joined := strings.Join(normWords(text), " ")
	for i := 0; i+4 <= len(joined); i++ {
		set["c:"+joined[i:i+4]] = true
	}
	return minhashOf(hashSet(set))
}

// minhashOf signs a set of hashed shingles.
func minhashOf(hashes []uint64) MinHash {
	var sig MinHash
	for i := range sig {
		sig[i] = ^uint64(0)
	}
	for _, x := range hashes {
		for i := range sig {
			// One cheap universal-ish hash per position: xorshift-multiply of x.
			y := (x ^ uint64(i)*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
			y ^= y >> 31
			if y < sig[i] {
				sig[i] = y
			}
		}
	}
	return sig
}

// Similarity estimates the Jaccard similarity of the two signed sets.
func (m MinHash) Similarity(o MinHash) float64 {
	eq := 0
	for i := range m {
		if m[i] == o[i] {
			eq++
		}
	}
	return float64(eq) / minhashSize
}

// Known is something ideas must not repeat: a library environment or an
// idea kept earlier.
type Known struct {
	Name        string
	Description string
}

// IdeaDeduper drops ideas that repeat a known one by normalised name or by
// description similarity. The zero value is not ready; use NewIdeaDeduper.
type IdeaDeduper struct {
	threshold float64
	names     map[string]string // normName -> name
	sigs      []MinHash
	sigNames  []string
}

// NewIdeaDeduper starts a deduper that already knows the library.
func NewIdeaDeduper(threshold float64, known []Known) *IdeaDeduper {
	d := &IdeaDeduper{threshold: threshold, names: map[string]string{}}
	for _, k := range known {
		d.remember(k.Name, k.Description)
	}
	return d
}

func (d *IdeaDeduper) remember(name, desc string) {
	d.names[normName(name)] = name
	if desc != "" {
		d.sigs = append(d.sigs, NewMinHash(desc))
		d.sigNames = append(d.sigNames, name)
	}
}

// Names are every name the deduper knows, sorted.
func (d *IdeaDeduper) Names() []string {
	var out []string
	for _, n := range d.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Add keeps the idea unless it repeats a known one; a kept idea becomes known.
func (d *IdeaDeduper) Add(idea Idea) (kept bool, dropped DroppedIdea) {
	if other, ok := d.names[normName(idea.Name)]; ok {
		return false, DroppedIdea{Idea: idea, SimilarTo: other, Similarity: 1}
	}
	sig := NewMinHash(idea.Description)
	best, bestName := 0.0, ""
	for i, s := range d.sigs {
		if sim := sig.Similarity(s); sim > best {
			best, bestName = sim, d.sigNames[i]
		}
	}
	if best >= d.threshold {
		return false, DroppedIdea{Idea: idea, SimilarTo: bestName, Similarity: best}
	}
	d.remember(idea.Name, idea.Description)
	return true, DroppedIdea{}
}

// DedupIdeas filters ideas against the known ones and one another, keeping
// the first of each group of repeats.
func DedupIdeas(ideas []Idea, known []Known, threshold float64) (kept []Idea, dropped []DroppedIdea) {
	d := NewIdeaDeduper(threshold, known)
	for _, idea := range ideas {
		if ok, dr := d.Add(idea); ok {
			kept = append(kept, idea)
		} else {
			dropped = append(dropped, dr)
		}
	}
	return kept, dropped
}
