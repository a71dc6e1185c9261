package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"resyn/core/env"
)

// Duplicate says which library environment a candidate duplicates and how
// that was established.
type Duplicate struct {
	Of               string  `json:"of"`
	PromptSimilarity float64 `json:"prompt_similarity"` // Jaccard similarity of rendered-prompt shingles
	Behaviour        bool    `json:"behaviour"`         // each verifier accepts the other's reference answers on the other's instances
	Reason           string  `json:"reason"`
}

// sampleSeeds are the instances a library entry is summarised by.
var sampleSeeds = []int64{0, 1, 2}

// How the library finds what to compare a candidate with, without looking
// at every entry (see DESIGN.md beside this file):
//
//   - Rendered prompts: a MinHash signature of the prompts' word 3-shingles,
//     cut into promptBands bands of promptRows values; entries sharing a
//     band with the candidate are its prompt neighbours (locality-sensitive
//     hashing). Two prompt sets at Jaccard 0.8 share a band with
//     probability 1-(1-0.8⁴)¹⁶ > 0.9997, at 0.5 with 0.64, at 0.2 with 0.03.
//     A band bucket that grows past bandCap members is common boilerplate
//     and stops being looked up.
//   - State layout: the key paths and value types of the sample states.
//     Behaviour can only match where the layouts do (a verifier reading
//     another layout raises or rejects), so entries of the candidate's
//     layout are its behaviour neighbours; the schemaScan most recent of a
//     layout are looked at.
//
// Exact prompt similarity is computed for the neighbours whose signatures
// estimate it near the threshold, and the behavioural cross-check for at
// most BehaviourCandidates of them: the work per candidate is bounded by
// these constants, not by the size of the library.
const (
	promptBands = 16
	promptRows  = minhashSize / promptBands
	bandCap     = 256
	schemaScan  = 2048
	// exactMargin: signatures estimating a similarity within this of the
	// threshold get the exact comparison (8 standard errors at 0.8).
	exactMargin = 0.3
)

type sample struct {
	difficulty int
	states     []json.RawMessage
	solutions  []string // "" where solve is missing or failed
	shingles   []uint64 // sorted hashes of the rendered prompts' word 3-shingles
	sig        MinHash  // of shingles
	schema     uint64   // hash of the states' layout (stateSchema)
}

type libEntry struct {
	id  int
	mod *env.Module
	sample
}

// LookupWork counts what duplicate checks have cost, cumulatively: bucket
// members visited, signatures compared, exact prompt comparisons and
// behavioural cross-checks (each one sandbox run).
type LookupWork struct {
	Lookups, Visited, Signatures, Exact, Behaviour int64
}

// Library is what candidates are compared with: the built-ins, the stored
// environments, and the candidates of this run so far. Safe for concurrent
// use.
type Library struct {
	mu      sync.RWMutex
	entries []*libEntry
	byName  map[string]int // lower-case name -> id
	bands   [promptBands]map[uint64][]int32
	full    [promptBands]map[uint64]bool // buckets past bandCap
	schemas map[uint64][]int32

	admitMu sync.Mutex // serialises the final compare-and-add of Admit

	// Threshold is the prompt similarity at or above which a candidate is a
	// duplicate without further evidence.
	Threshold float64
	// BehaviourCandidates is how many neighbours get the behavioural
	// comparison; default 20.
	BehaviourCandidates int

	lookups, visited, signatures, exact, behaviour atomic.Int64
}

func newLibrary(threshold float64) *Library {
	l := &Library{Threshold: threshold, BehaviourCandidates: 20, byName: map[string]int{}, schemas: map[uint64][]int32{}}
	for i := range l.bands {
		l.bands[i] = map[uint64][]int32{}
		l.full[i] = map[uint64]bool{}
	}
	return l
}

// libraryParallel is how many modules NewLibrary samples at once.
const libraryParallel = 8

// NewLibrary summarises mods (registered with ex) for comparison, a few at
// a time; entries keep the order of mods. A module whose instances cannot
// be rendered is skipped (it can be nobody's original).
func NewLibrary(ctx context.Context, ex env.Executor, mods []*env.Module, threshold float64) (*Library, error) {
	l := newLibrary(threshold)
	samples := make([]*sample, len(mods))
	inParallel(ctx, len(mods), libraryParallel, func(i int) {
		if s, err := sampleOf(ctx, ex, mods[i]); err == nil {
			samples[i] = &s
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, s := range samples {
		if s != nil {
			l.insert(mods[i], *s)
		}
	}
	return l, nil
}

// Len is the number of entries.
func (l *Library) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.entries)
}

// Work is what the duplicate checks so far have cost.
func (l *Library) Work() LookupWork {
	return LookupWork{Lookups: l.lookups.Load(), Visited: l.visited.Load(), Signatures: l.signatures.Load(),
		Exact: l.exact.Load(), Behaviour: l.behaviour.Load()}
}

// Add summarises m and adds it. An environment whose instances cannot be
// rendered is skipped (it can be nobody's original).
func (l *Library) Add(ctx context.Context, ex env.Executor, m *env.Module) error {
	s, err := sampleOf(ctx, ex, m)
	if err != nil {
		return ctx.Err()
	}
	l.insert(m, s)
	return ctx.Err()
}

// insert indexes an entry.
func (l *Library) insert(m *env.Module, s sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := &libEntry{id: len(l.entries), mod: m, sample: s}
	l.entries = append(l.entries, e)
	if _, ok := l.byName[strings.ToLower(m.Name)]; !ok {
		l.byName[strings.ToLower(m.Name)] = e.id
	}
	for b := range l.bands {
		k := bandKey(&s.sig, b)
		if l.full[b][k] {
			continue
		}
		ids := append(l.bands[b][k], int32(e.id))
		if len(ids) > bandCap {
			// Boilerplate every environment shares: it says nothing about
			// which ones are alike, and looking it up would cost a visit of
			// a share of the whole library.
			l.full[b][k] = true
			delete(l.bands[b], k)
			continue
		}
		l.bands[b][k] = ids
	}
	l.schemas[s.schema] = append(l.schemas[s.schema], int32(e.id))
}

func bandKey(sig *MinHash, b int) uint64 {
	h := uint64(b) * 0x9E3779B97F4A7C15
	for _, v := range sig[b*promptRows : (b+1)*promptRows] {
		h = (h ^ v) * 0x100000001B3
		h ^= h >> 29
	}
	return h
}

func sampleOf(ctx context.Context, ex env.Executor, m *env.Module) (sample, error) {
	d := (m.MinDifficulty + m.MaxDifficulty) / 2
	s := sample{difficulty: d}
	var tasks []env.Task
	for _, seed := range sampleSeeds {
		tasks = append(tasks, env.Task{Env: m.Name, Seed: seed, Difficulty: d, Render: true, Solve: m.HasSolve})
	}
	set := map[string]bool{}
	for _, r := range ex.Run(ctx, tasks) {
		if r.Err != nil {
			if len(s.states) == 0 {
				return s, r.Err
			}
			continue
		}
		s.states = append(s.states, r.State)
		s.solutions = append(s.solutions, r.Solution)
		for sh := range Shingles(r.Prompt, 3) {
			set[sh] = true
		}
	}
	if len(s.states) == 0 {
		return s, fmt.Errorf("%s: no instance", m.Name)
	}
	s.shingles = hashSet(set)
	s.sig = minhashOf(s.shingles)
	s.schema = stateSchema(s.states)
	return s, nil
}

// hashSet hashes a set of strings to a sorted slice of distinct uint64s.
func hashSet(set map[string]bool) []uint64 {
	out := make([]uint64, 0, len(set))
	for s := range set {
		h := fnv.New64a()
		h.Write([]byte(s))
		out = append(out, h.Sum64())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jaccardSorted is the Jaccard similarity of two sorted sets of hashes.
func jaccardSorted(a, b []uint64) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// Schema limits: a state is summarised by at most this many key paths,
// this deep.
const (
	maxSchemaPaths = 256
	maxSchemaDepth = 8
)

// stateSchema hashes the layout of states: the union of their key paths
// with the JSON type at each ("edges[][]:number", "n:number"). Two
// environments whose generators build the same layout hash alike whatever
// the values.
func stateSchema(states []json.RawMessage) uint64 {
	paths := map[string]bool{}
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		if len(paths) >= maxSchemaPaths {
			return
		}
		if depth > maxSchemaDepth {
			paths[prefix+":deep"] = true
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if len(v) == 0 {
				paths[prefix+"{}"] = true
			}
			for k, x := range v {
				walk(prefix+"."+k, x, depth+1)
			}
		case []any:
			if len(v) == 0 {
				paths[prefix+"[]"] = true
			}
			for _, x := range v {
				walk(prefix+"[]", x, depth+1)
			}
		case string:
			paths[prefix+":string"] = true
		case json.Number, float64:
			paths[prefix+":number"] = true
		case bool:
			paths[prefix+":bool"] = true
		case nil:
			paths[prefix+":null"] = true
		}
	}
	for _, st := range states {
		dec := json.NewDecoder(strings.NewReader(string(st)))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			walk("", v, 0)
		}
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// neighbour is an entry worth comparing with a candidate.
type neighbour struct {
	e          *libEntry
	est        float64 // signature estimate of prompt similarity
	sameLayout bool
}

// neighbours are the entries with ids in [from, to) that share a prompt
// band or the state layout with s, but not the excluded name nor m itself.
func (l *Library) neighbours(m *env.Module, s *sample, exclude string, from, to int) []neighbour {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.lookups.Add(1)
	// Ids from the band buckets and from the layout group; an id can come
	// several times. Sorting and merging them is cheaper than a map.
	var banded []int32
	for b := range l.bands {
		banded = append(banded, l.bands[b][bandKey(&s.sig, b)]...)
	}
	group := l.schemas[s.schema]
	group = group[max(0, len(group)-schemaScan):] // ids ascending: the most recent
	l.visited.Add(int64(len(banded) + len(group)))
	slices.Sort(banded)
	out := make([]neighbour, 0, len(banded)+len(group))
	add := func(id int32, sameLayout bool) {
		if int(id) < from || int(id) >= to {
			return
		}
		if n := len(out); n > 0 && out[n-1].e.id == int(id) {
			out[n-1].sameLayout = out[n-1].sameLayout || sameLayout
			return
		}
		e := l.entries[id]
		if (e.mod.Name == m.Name && e.mod.Hash == m.Hash) || (exclude != "" && strings.EqualFold(e.mod.Name, exclude)) {
			return
		}
		out = append(out, neighbour{e: e, sameLayout: sameLayout})
	}
	i, j := 0, 0
	for i < len(banded) || j < len(group) {
		switch {
		case j == len(group) || i < len(banded) && banded[i] < group[j]:
			add(banded[i], false)
			i++
		default:
			add(group[j], true)
			j++
		}
	}
	for k := range out {
		out[k].est = s.sig.Similarity(out[k].e.sig)
	}
	l.signatures.Add(int64(len(out)))
	return out
}

// better orders neighbours for the behavioural check: the same layout
// first, then the most similar prompts.
func better(a, b *neighbour) bool {
	if a.sameLayout != b.sameLayout {
		return a.sameLayout
	}
	return a.est > b.est
}

// topNeighbours are the k best of nb by better, best first.
func topNeighbours(nb []neighbour, k int) []neighbour {
	top := make([]neighbour, 0, k)
	for i := range nb {
		n := &nb[i]
		if len(top) == k && !better(n, &top[k-1]) {
			continue
		}
		at := len(top)
		for at > 0 && better(n, &top[at-1]) {
			at--
		}
		if len(top) < k {
			top = append(top, neighbour{})
		}
		copy(top[at+1:], top[at:len(top)-1])
		top[at] = *n
	}
	return top
}

// FindDuplicate compares a candidate (registered with ex) with the library:
// first by rendered prompts, then, for its nearest neighbours, by behaviour
// — the candidate's verifier scores the entry's reference answers on the
// entry's instances 1, and the other way round. It returns nil when the
// candidate duplicates nothing.
func (l *Library) FindDuplicate(ctx context.Context, ex env.Executor, m *env.Module) (*Duplicate, error) {
	cs, err := sampleOf(ctx, ex, m)
	if err != nil {
		return nil, err
	}
	return l.compare(ctx, ex, m, &cs, "", 0, l.Len())
}

// Admit checks a candidate against the library and, when it duplicates
// nothing, adds it, atomically with respect to other Admits: of two
// near-twins admitted at once only one gets in. exclude names an entry not
// to compare with (the environment a revision replaces; "" for none). The
// slow part (sampling, the comparison with what the library held when it
// started) runs outside any lock; only the entries added meanwhile are
// compared under it. A candidate that cannot be sampled duplicates nothing
// and is not added.
func (l *Library) Admit(ctx context.Context, ex env.Executor, m *env.Module, exclude string) (*Duplicate, error) {
	if l.Has(m.Name) {
		return nameDuplicate(m.Name), nil
	}
	cs, err := sampleOf(ctx, ex, m)
	if err != nil {
		return nil, ctx.Err()
	}
	seen := l.Len()
	if d, err := l.compare(ctx, ex, m, &cs, exclude, 0, seen); d != nil || err != nil {
		return d, err
	}
	l.admitMu.Lock()
	defer l.admitMu.Unlock()
	if l.Has(m.Name) {
		return nameDuplicate(m.Name), nil
	}
	if d, err := l.compare(ctx, ex, m, &cs, exclude, seen, l.Len()); d != nil || err != nil {
		return d, err
	}
	l.insert(m, cs)
	return nil, ctx.Err()
}

func nameDuplicate(name string) *Duplicate {
	return &Duplicate{Of: name, PromptSimilarity: 1, Reason: fmt.Sprintf("the library already has an environment named %s", name)}
}

// compare looks for a duplicate of m among the entries with ids in [from, to).
func (l *Library) compare(ctx context.Context, ex env.Executor, m *env.Module, cs *sample, exclude string, from, to int) (*Duplicate, error) {
	nb := l.neighbours(m, cs, exclude, from, to)
	// Prompts: exact similarity where the estimate comes near the threshold.
	var best *neighbour
	bestSim := 0.0
	for i := range nb {
		if nb[i].est < l.Threshold-exactMargin {
			continue
		}
		l.exact.Add(1)
		if sim := jaccardSorted(cs.shingles, nb[i].e.shingles); sim > bestSim || best == nil {
			best, bestSim = &nb[i], sim
		}
	}
	if best != nil && bestSim >= l.Threshold {
		return &Duplicate{Of: best.e.mod.Name, PromptSimilarity: bestSim,
			Reason: fmt.Sprintf("rendered prompts %.0f%% similar to %s", 100*bestSim, best.e.mod.Name)}, nil
	}
	// Behaviour: the same layout first, then the most similar prompts.
	k := l.BehaviourCandidates
	if k <= 0 {
		k = 20
	}
	for _, n := range topNeighbours(nb, k) {
		if !m.HasSolve || !n.e.mod.HasSolve {
			continue
		}
		l.behaviour.Add(1)
		if same, err := sameBehaviour(ctx, ex, m, *cs, n.e); err != nil {
			return nil, err
		} else if same {
			sim := jaccardSorted(cs.shingles, n.e.shingles)
			return &Duplicate{Of: n.e.mod.Name, PromptSimilarity: sim, Behaviour: true,
				Reason: fmt.Sprintf("behaves like %s: each verifier accepts the other's reference answers", n.e.mod.Name)}, nil
		}
	}
	return nil, ctx.Err()
}

// sameBehaviour runs each side's verifier on the other's instances and
// reference answers. Both must have solutions, and every score must be 1
// with no error: a different state layout makes a verifier raise or reject,
// so only a clone (renamed, reworded) passes.
func sameBehaviour(ctx context.Context, ex env.Executor, m *env.Module, cs sample, e *libEntry) (bool, error) {
	if !m.HasSolve || !e.mod.HasSolve {
		return false, nil
	}
	var tasks []env.Task
	cross := func(target *env.Module, from sample) {
		for i, st := range from.states {
			if from.solutions[i] == "" {
				continue
			}
			tasks = append(tasks, env.Task{Env: target.Name, Difficulty: from.difficulty, State: st, Answers: []string{from.solutions[i]}})
		}
	}
	cross(m, e.sample)
	cross(e.mod, cs)
	if len(tasks) == 0 {
		return false, nil
	}
	for _, r := range ex.Run(ctx, tasks) {
		if r.Err != nil || len(r.Scores) != 1 || r.Scores[0].Err != nil || r.Scores[0].Value < 1 {
			return false, ctx.Err()
		}
	}
	return true, ctx.Err()
}

// Names lists the library's environment names.
func (l *Library) Names() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []string
	for _, e := range l.entries {
		out = append(out, e.mod.Name)
	}
	return out
}

// Known lists the library as ideation's deduplication knows it.
func (l *Library) Known() []Known {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Known
	for _, e := range l.entries {
		out = append(out, Known{Name: e.mod.Name, Description: e.mod.Description})
	}
	return out
}

// Has says whether an environment of that name is in the library.
func (l *Library) Has(name string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.byName[strings.ToLower(name)]
	return ok
}
