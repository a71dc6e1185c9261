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
// implementation or repair call; round is the repair round.
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
	stage, subject, round := Classify(msgs)
	switch stage {
	case StageIdeate:
		n := 0
		if sm := proposeRe.FindStringSubmatch(msgs[len(msgs)-1].Content); sm != nil {
			fmt.Sscan(sm[1], &n)
		}
		return m.ideas(subject, n)
	case StageImplement, StageRepair:
		return m.module(subject, round)
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
		out = append(out, idea{name, "A " + keyword + " task. " + v.Description()})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	if m.rng("ideas-form", keyword).IntN(3) == 0 {
		return string(b)
	}
	return fmt.Sprintf("Here are %d task ideas around %s:\n\n```json\n%s\n```\n\nEach has an exact, checkable answer.", n, keyword, b)
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
	v := Variant{T: t, Name: name, Theme: Themes[r.IntN(len(Themes))], Knobs: map[string]int{}}
	for _, th := range Themes {
		if strings.HasPrefix(name, slug(th.Thing)+"_") {
			v.Theme = th
		}
	}
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

// module is an implementation (round 0) or repair reply.
func (m *Model) module(name string, round int) string {
	r := m.rng("reply", name, round)
	scale := 1.0
	if round > 0 {
		scale = 0.5 // a model asked to fix its code rarely gives up on it
	}
	switch p := r.Float64() / scale; {
	case p < m.Rates.Refuse:
		return "I'm sorry, but I can't help with writing this environment."
	case p < m.Rates.Refuse+m.Rates.Empty:
		return ""
	case p < m.Rates.Refuse+m.Rates.Empty+m.Rates.Prose:
		return "To build this I would generate random instances, render them as text and check answers exactly. " +
			"The generator scales with difficulty, and the verifier parses the numbers in the answer."
	}
	code := m.Variant(name).Code()
	if mk := m.mistakeAt(name, round); mk != "" {
		if mi, ok := MistakeByName(mk); ok {
			if c, ok := mi.Apply(code, r); ok {
				code = c
			}
		}
	}
	if r.Float64() < m.Rates.Truncated*scale {
		cut := len(code) * (55 + r.IntN(35)) / 100
		return "Here is the environment:\n\n```python\n" + code[:cut]
	}
	switch r.IntN(20) {
	case 0, 1:
		return code // bare
	case 2:
		return "Here is a module.\n\n" + code + "\nIt follows the contract."
	case 3:
		return "The state holds the instance:\n\n```json\n{\"example\": 1}\n```\n\nThe module:\n\n```python\n" + code + "```\n"
	case 4, 5, 6, 7, 8:
		return "```python\n" + code + "```"
	}
	what := "Here is the environment"
	if round > 0 {
		what = "Here is the corrected module"
	}
	return what + ":\n\n```python\n" + code + "```\n\nThe verifier is strict about the content and lenient about spacing."
}
