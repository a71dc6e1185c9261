package synthload

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strings"
)

// Rates are the simulated writer model's habits: how often it gets things
// right, how it fails, how well it repairs. The defaults are what a capable
// open model does on this task in our experience of the pipeline; they are
// knobs of the load, not measurements of any model.
type Rates struct {
	Clean      float64 // the first module has no mistake
	Fix        float64 // a repair round fixes the mistake (else it stays, or another replaces it)
	Clone      float64 // a variant takes its template's first knob values: a behavioural clone of others
	Refuse     float64 // a reply declines
	Empty      float64 // a reply is empty
	Prose      float64 // a reply describes a plan instead of code
	Truncated  float64 // a reply is cut at the token limit inside the code
	IdeaRepeat float64 // a proposal repeats a name proposed for another seed
	IdeaEcho   float64 // a proposal repeats the previous one's description under another name
}

// DefaultRates are the rates of the measured load test.
func DefaultRates() Rates {
	return Rates{Clean: 0.45, Fix: 0.7, Clone: 0.1, Refuse: 0.01, Empty: 0.005, Prose: 0.015, Truncated: 0.02,
		IdeaRepeat: 0.04, IdeaEcho: 0.03}
}

// Model is the simulated writer: it answers ideation, implementation and
// repair requests of core/synth from the corpus, working out from the
// request alone what is asked, so that it keeps no state: the same request
// always gets the same reply (a retried or resumed call included).
type Model struct {
	Corpus *Corpus
	Rates  Rates
	Seed   uint64
}

// Message is one message of a chat request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Stages of requests, as the model tells them apart.
const (
	StageIdeate    = "ideate"
	StageImplement = "implement"
	StageRepair    = "repair"
	StageSolve     = "solve"
	StageUnknown   = "unknown"
)

var (
	proposeRe = regexp.MustCompile(`Propose (\d+) distinct reasoning tasks (?:built around "([^"]*)"|in the category "([^"]*)")`)
	askNameRe = regexp.MustCompile(`NAME = "([a-z0-9_]+)"`)
)

// Classify says what a request asks for and about what: the seed keyword
// (or category) of an ideation call, the environment name of an
// implementation or repair call; round is the number of the model's turns
// in the conversation (1 or more for a repair; which repair round it is,
// Model.RepairRound works out).
func Classify(msgs []Message) (stage, subject string, round int) {
	var user []Message
	for _, m := range msgs {
		if m.Role != "system" {
			user = append(user, m)
		}
	}
	if len(user) == 0 {
		return StageUnknown, "", 0
	}
	first := user[0].Content
	if m := proposeRe.FindStringSubmatch(first); m != nil {
		return StageIdeate, m[2] + m[3], 0
	}
	if m := askNameRe.FindAllStringSubmatch(first, -1); m != nil {
		name := m[len(m)-1][1] // a revision names the old environment first, the new one last
		for _, u := range user {
			if u.Role == "assistant" {
				round++
			}
		}
		if round > 0 {
			return StageRepair, name, round
		}
		return StageImplement, name, 0
	}
	if strings.Contains(first, "<answer>") {
		return StageSolve, "", 0
	}
	return StageUnknown, "", 0
}

func (m *Model) rng(parts ...any) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprint(h, parts...)
	return rand.New(rand.NewPCG(h.Sum64(), m.Seed))
}

// Reply answers a request.
func (m *Model) Reply(msgs []Message) string {
	stage, subject, _ := Classify(msgs)
	switch stage {
	case StageIdeate:
		n := 0
		if sm := proposeRe.FindStringSubmatch(msgs[len(msgs)-1].Content); sm != nil {
			fmt.Sscan(sm[1], &n)
		}
		return m.ideas(subject, n)
	case StageImplement:
		reply, _ := m.module(subject, 0)
		return reply
	case StageRepair:
		reply, _ := m.module(subject, m.RepairRound(subject, msgs))
		return reply
	case StageSolve:
		return "Let me think.\n<answer>0</answer>"
	}
	return "I am not sure what you are asking for."
}

// popular are names a model proposes again and again, whatever the seed.
var popular = []string{"sudoku_solver", "maze_escape", "word_search", "prime_sieve", "tower_of_hanoi", "magic_square",
	"graph_colouring", "knapsack_problem"}

// ideas is an ideation reply: n proposals about the keyword, each the
// variant of a template, in the JSON form the prompt asks for (sometimes
// fenced and with prose around, as models do).
func (m *Model) ideas(keyword string, n int) string {
	type idea struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	var out []idea
	for i := 0; i < n; i++ {
		r := m.rng("idea", keyword, i)
		switch p := r.Float64(); {
		case p < m.Rates.IdeaRepeat:
			nm := popular[r.IntN(len(popular))]
			out = append(out, idea{nm, "Solve a classic " + strings.ReplaceAll(nm, "_", " ") + " instance of growing size and report the solution."})
			continue
		case p < m.Rates.IdeaRepeat+m.Rates.IdeaEcho && len(out) > 0:
			prev := out[len(out)-1]
			out = append(out, idea{fmt.Sprintf("%s_%d", prev.Name, i), prev.Description})
			continue
		}
		t := m.Corpus.Templates[r.IntN(len(m.Corpus.Templates))]
		th := Themes[r.IntN(len(Themes))]
		name := fmt.Sprintf("%s_%s_%04x", slug(th.Thing), t.ID, r.Uint32()&0xffff)
		v := m.Variant(name)
		out = append(out, idea{name, proposal(r, v, keyword)})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if m.rng("ideas-form", keyword).IntN(3) == 0 {
		return string(b)
	}
	return fmt.Sprintf("Here are %d task ideas around %s:\n\n```json\n%s\n```\n\nEach has an exact, checkable answer.", n, keyword, b)
}

// Phrase banks of flavour: what makes two proposals of one template read as
// different ideas, as a model's proposals do.
var (
	flavourOpen = []string{"Instances are drawn from", "Each case is modelled on", "The data mimics", "Think of it as",
		"It is inspired by", "Cases resemble", "The setting borrows from", "Picture"}
	flavourScene = []string{"a busy winter season", "last year's ledgers", "a stormy night shift", "a festival weekend",
		"an inventory recount", "a training exercise", "a quiet Sunday morning", "a product launch", "the annual inspection",
		"a power outage", "an overbooked holiday", "a spring cleaning", "a county fair", "a midnight deadline",
		"a supply shortage", "a record harvest", "a marathon day", "a relocation", "a surprise visit", "the end of the fiscal year"}
	flavourGrow = []string{"larger inputs at higher levels", "more items as the level rises", "longer chains at every level",
		"denser constraints when harder", "bigger numbers further up", "more steps per level"}
)

var (
	proposalVerb = []string{"tracks", "audits", "reorders", "balances", "forecasts", "schedules", "encodes", "routes",
		"inspects", "tallies", "matches", "ranks", "splits", "merges", "verifies", "simulates"}
	proposalAim = []string{"to find the one exact figure asked for", "so that a single checkable answer results",
		"under rules stated in full", "from a compact description", "step by step from a starting position",
		"against a fixed rule book", "where every detail counts", "from clues given as numbers",
		"with a twist in the rules", "after a series of changes", "under a strict budget", "across several rounds"}
)

// proposal is the description of an idea as a writer model words it: the
// theme, a task sentence and a flavour sentence drawn from phrase banks,
// so that two proposals read as different ideas unless the model repeats
// itself (Rates.IdeaRepeat, Rates.IdeaEcho) — whatever template their
// code will come from. Deduplicating ideas that the code later shows to be
// the same task is the work of the behavioural check, as with real models.
func proposal(r *rand.Rand, v Variant, keyword string) string {
	return fmt.Sprintf("%s %s %s %s, on a %s theme. %s %s, with %s.", capitalise(v.Theme.Who),
		proposalVerb[r.IntN(len(proposalVerb))], v.Theme.Things, proposalAim[r.IntN(len(proposalAim))], keyword,
		flavourOpen[r.IntN(len(flavourOpen))], flavourScene[r.IntN(len(flavourScene))], flavourGrow[r.IntN(len(flavourGrow))])
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "_"), "_")
}

// Variant is the environment a name stands for: the template whose ID it
// contains (the longest), else one chosen by the name's hash; the theme,
// the knobs and whether it is a clone by the hash too.
func (m *Model) Variant(name string) Variant {
	var t *Template
	for _, c := range m.Corpus.Templates {
		if strings.Contains(name, "_"+c.ID+"_") && (t == nil || len(c.ID) > len(t.ID)) {
			t = c
		}
	}
	r := m.rng("variant", name)
	if t == nil {
		t = m.Corpus.Templates[r.IntN(len(m.Corpus.Templates))]
	}
	// The theme's parts are drawn apart (who, what, where), so that a
	// template is told in some ten thousand ways, as a writer model words
	// one task many ways; what it is about follows the name when the name
	// says.
	what := Themes[r.IntN(len(Themes))]
	for _, th := range Themes {
		if strings.HasPrefix(name, slug(th.Thing)+"_") {
			what = th
		}
	}
	who, where := Themes[r.IntN(len(Themes))], Themes[r.IntN(len(Themes))]
	v := Variant{T: t, Name: name, Theme: Theme{Who: who.Who, Thing: what.Thing, Things: what.Things, Place: where.Place, Tag: what.Tag},
		Knobs: map[string]int{}}
	clone := r.Float64() < m.Rates.Clone
	for _, k := range t.Knobs {
		v.Knobs[k.Name] = k.Lo
		if !clone {
			v.Knobs[k.Name] = k.Lo + r.IntN(k.Hi-k.Lo+1)
		}
	}
	return v
}

// mistakeAt is the mistake in round's module of a name ("" for none): the
// first module is clean at Rates.Clean; each repair fixes the mistake at
// Rates.Fix, else keeps it or (half the time) makes another.
func (m *Model) mistakeAt(name string, round int) string {
	r := m.rng("mistakes", name)
	cur := ""
	if r.Float64() >= m.Rates.Clean {
		cur = Mistakes[r.IntN(len(Mistakes))].Name
	}
	for k := 1; k <= round && cur != ""; k++ {
		switch p := r.Float64(); {
		case p < m.Rates.Fix:
			cur = ""
		case p < m.Rates.Fix+(1-m.Rates.Fix)/2:
			cur = Mistakes[r.IntN(len(Mistakes))].Name
		}
	}
	return cur
}

// Mistake is the mistake the module of name at round has ("" for none).
func (m *Model) Mistake(name string, round int) string { return m.mistakeAt(name, round) }

// maxRounds bounds the repair rounds the model tells apart.
const maxRounds = 8

// module is an implementation (round 0) or repair reply. The code in it,
// when there is some, is also returned.
func (m *Model) module(name string, round int) (reply, code string) {
	r := m.rng("reply", name, round)
	scale := 1.0
	if round > 0 {
		scale = 0.5
	}
	switch p := r.Float64(); {
	case round > 0:
		// A model asked to fix its code does not give up on it (and a repair
		// that brings no code would show the same module again).
	case p < m.Rates.Refuse:
		return "I'm sorry, but I can't help with writing this environment.", ""
	case p < m.Rates.Refuse+m.Rates.Empty:
		return "", ""
	case p < m.Rates.Refuse+m.Rates.Empty+m.Rates.Prose:
		return "To build this I would generate random instances, render them as text and check answers exactly. " +
			"The generator scales with difficulty, and the verifier parses the numbers in the answer.", ""
	}
	code = m.Variant(name).Code()
	if round > 0 {
		// Each round's module differs from the others, as a model's do, so
		// that a repair request shows which round it answers.
		code = fmt.Sprintf("# revision %d\n", round) + code
	}
	if mk := m.mistakeAt(name, round); mk != "" {
		if mi, ok := MistakeByName(mk); ok {
			if c, ok := mi.Apply(code, r); ok {
				code = c
			}
		}
	}
	if r.Float64() < m.Rates.Truncated*scale {
		code = code[:len(code)*(55+r.IntN(35))/100]
		return "Here is the environment:\n\n```python\n" + code, code
	}
	switch r.IntN(20) {
	case 0, 1:
		return code, code // bare
	case 2:
		return "Here is a module.\n\n" + code + "\nIt follows the contract.", code
	case 3:
		return "The state holds the instance:\n\n```json\n{\"example\": 1}\n```\n\nThe module:\n\n```python\n" + code + "```\n", code
	case 4, 5, 6, 7, 8:
		return "```python\n" + code + "```", code
	}
	what := "Here is the environment"
	if round > 0 {
		what = "Here is the corrected module"
	}
	return what + ":\n\n```python\n" + code + "```\n\nThe verifier is strict about the content and lenient about spacing.", code
}

// RepairRound works out which round a repair request is: one after the
// round whose code the request shows (the pipeline sends the last module
// and its failures, not the whole history). Code the model never wrote
// counts as round 0's.
func (m *Model) RepairRound(name string, msgs []Message) int {
	shown := ""
	for _, msg := range msgs {
		if msg.Role == "assistant" {
			shown = msg.Content
		}
	}
	shown = normCode(shown)
	for k := 0; k < maxRounds; k++ {
		if _, code := m.module(name, k); code != "" && normCode(code) == shown {
			return k + 1
		}
	}
	return 1
}

// normCode strips a module of its fence and surrounding white space.
func normCode(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "```python")
	s = strings.TrimSuffix(s, "```")
	return strings.TrimSpace(s)
}
