package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"resyn/core/env"
)

// synthLibrary is a library of n synthetic entries, built without the
// sandbox: each prompt is a shared boilerplate sentence plus words of the
// entry's own topic from a large vocabulary, and a quarter of the entries
// share one popular state layout (the rest have their own), 40% of them.
type synthLibrary struct {
	lib  *Library
	rng  *rand.Rand
	next int
}

var popularLayout = json.RawMessage(`{"numbers":[1,2,3]}`)

const boilerplate = "Think step by step and give your final answer inside <answer></answer> tags, exactly in the form asked for. "

func newSynthLibrary(n int) *synthLibrary {
	s := &synthLibrary{lib: newLibrary(0.8), rng: rand.New(rand.NewPCG(1, 2))}
	for range n {
		s.lib.insert(s.module(), s.sample(s.prompt(40), s.layout()))
	}
	return s
}

func (s *synthLibrary) module() *env.Module {
	s.next++
	return &env.Module{Name: fmt.Sprintf("synthetic_%d", s.next), Hash: fmt.Sprint(s.next), HasSolve: false}
}

func (s *synthLibrary) word() string {
	k := s.rng.IntN(20000)
	return fmt.Sprintf("w%c%c%c", 'a'+k%26, 'a'+k/26%26, 'a'+k/676%30)
}

func (s *synthLibrary) prompt(words int) []string {
	var out []string
	for range 3 { // three instances, each with the boilerplate
		var b strings.Builder
		b.WriteString(boilerplate)
		for range words {
			b.WriteString(s.word() + " ")
		}
		out = append(out, b.String())
	}
	return out
}

func (s *synthLibrary) layout() json.RawMessage {
	if s.rng.IntN(10) < 4 {
		return popularLayout
	}
	return json.RawMessage(fmt.Sprintf(`{"%s":[[1]],"%s":"x"}`, s.word(), s.word()))
}

func (s *synthLibrary) sample(prompts []string, state json.RawMessage) sample {
	set := map[string]bool{}
	for _, p := range prompts {
		for sh := range Shingles(p, 3) {
			set[sh] = true
		}
	}
	sm := sample{states: []json.RawMessage{state}, solutions: []string{""}, shingles: hashSet(set)}
	sm.sig = minhashOf(sm.shingles)
	sm.schema = stateSchema(sm.states)
	return sm
}

// perturb replaces a share of the words of prompts.
func (s *synthLibrary) perturb(prompts []string, share float64) []string {
	var out []string
	for _, p := range prompts {
		f := strings.Fields(p)
		for i := range f {
			if s.rng.Float64() < share {
				f[i] = s.word()
			}
		}
		out = append(out, strings.Join(f, " "))
	}
	return out
}

// The work of one duplicate check is bounded by constants, not by the size
// of the library: growing the library 20-fold leaves the entries visited
// and compared per check under the fixed bound (an exhaustive check would
// visit all 6,000), and the popular layout's group (2,400 entries at 6,000)
// is looked at no further than its schemaScan most recent members.
func TestLibraryLookupWorkIsBounded(t *testing.T) {
	perCheck := map[int]LookupWork{}
	for _, n := range []int{300, 6000} {
		s := newSynthLibrary(n)
		before := s.lib.Work()
		const checks = 20
		for range checks {
			cs := s.sample(s.prompt(40), popularLayout)
			if d, err := s.lib.compare(context.Background(), nil, s.module(), &cs, "", 0, s.lib.Len()); d != nil || err != nil {
				t.Fatalf("a fresh entry duplicates %+v (%v)", d, err)
			}
		}
		w := s.lib.Work()
		perCheck[n] = LookupWork{Visited: (w.Visited - before.Visited) / checks, Signatures: (w.Signatures - before.Signatures) / checks,
			Exact: (w.Exact - before.Exact) / checks}
	}
	t.Logf("work per check: %+v", perCheck)
	small, large := perCheck[300], perCheck[6000]
	if small.Visited < 300*4/10 {
		t.Errorf("library of 300: %+v per check; the popular layout's %d members should all be visited", small, 300*4/10)
	}
	// The boilerplate's band buckets are full and skipped: what is visited
	// beyond the layout group is a few band neighbours.
	if large.Visited > int64(schemaScan)+100 || large.Signatures > int64(schemaScan)+100 {
		t.Errorf("library of 6000: %+v per check, more than the bound %d", large, schemaScan+100)
	}
}

// Near-duplicates by prompt (a few words changed) are found through the
// bands in a large library exactly as an exhaustive comparison finds them,
// and an entry is never its own duplicate.
func TestLibraryFindsNearDuplicatesAtScale(t *testing.T) {
	s := newSynthLibrary(3000)
	var planted []struct {
		of      string
		prompts []string
	}
	for i := range 40 {
		m := s.module()
		p := s.prompt(40)
		s.lib.insert(m, s.sample(p, s.layout()))
		if i%2 == 0 {
			planted = append(planted, struct {
				of      string
				prompts []string
			}{m.Name, p})
		}
	}
	found := 0
	for i, pl := range planted {
		cs := s.sample(s.perturb(pl.prompts, []float64{0.005, 0.01, 0.02, 0.04}[i%4]), json.RawMessage(`{"other":true}`))
		d, err := s.lib.compare(context.Background(), nil, s.module(), &cs, "", 0, s.lib.Len())
		exact := 0.0
		for _, e := range s.lib.entries {
			if e.mod.Name == pl.of {
				exact = jaccardSorted(cs.shingles, e.shingles)
			}
		}
		// What an exhaustive comparison decides: a duplicate from 0.8 on.
		if exact >= 0.8 {
			found++
			if err != nil || d == nil || d.Of != pl.of || d.PromptSimilarity != exact {
				t.Errorf("near-duplicate of %s (exact similarity %.2f): found %+v, %v", pl.of, exact, d, err)
			}
		} else if d != nil {
			t.Errorf("%s at exact similarity %.2f taken for a duplicate: %+v", pl.of, exact, d)
		}
		// The same comparison with the original excluded finds nothing.
		if d, _ := s.lib.compare(context.Background(), nil, s.module(), &cs, pl.of, 0, s.lib.Len()); d != nil {
			t.Errorf("with %s excluded: %+v", pl.of, d)
		}
	}
	if found < len(planted)/2 {
		t.Errorf("only %d of %d planted near-duplicates at 0.8 or more: the test lost its power", found, len(planted))
	}
}

func TestStateSchema(t *testing.T) {
	a := stateSchema([]json.RawMessage{json.RawMessage(`{"edges":[[0,1],[1,2]],"n":3,"k":2}`), json.RawMessage(`{"k":4,"n":9,"edges":[[5,6]]}`)})
	b := stateSchema([]json.RawMessage{json.RawMessage(`{"n":1,"k":1,"edges":[[2,3]]}`)})
	c := stateSchema([]json.RawMessage{json.RawMessage(`{"n":1,"colours":1,"edges":[[2,3]]}`)})
	d := stateSchema([]json.RawMessage{json.RawMessage(`{"n":"1","k":1,"edges":[[2,3]]}`)})
	if a != b || a == c || a == d {
		t.Errorf("schemas %x %x %x %x: the first two should be equal, the others differ", a, b, c, d)
	}
}

// BenchmarkLibraryLookup measures one duplicate check's prompt and layout
// stage (no sandbox) as the library grows, beside an exhaustive comparison
// of the candidate's signature with every entry; entries visited per check
// are reported as work. 40% of the entries share one layout, whose group
// reaches its cap (schemaScan) at about 5,000 entries: beyond that the
// indexed check's work stays flat.
func BenchmarkLibraryLookup(b *testing.B) {
	for _, n := range []int{1000, 10000, 30000} {
		s := newSynthLibrary(n)
		cands := make([]sample, 64)
		for i := range cands {
			cands[i] = s.sample(s.prompt(40), s.layout())
		}
		m := s.module()
		b.Run(fmt.Sprintf("indexed/library=%d", n), func(b *testing.B) {
			w0 := s.lib.Work()
			for i := 0; b.Loop(); i++ {
				_, _ = s.lib.compare(context.Background(), nil, m, &cands[i%len(cands)], "", 0, s.lib.Len())
			}
			w := s.lib.Work()
			b.ReportMetric(float64(w.Visited-w0.Visited)/float64(b.N), "visited/op")
		})
		b.Run(fmt.Sprintf("exhaustive/library=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				c := &cands[i%len(cands)]
				best := 0.0
				for _, e := range s.lib.entries {
					best = max(best, c.sig.Similarity(e.sig))
				}
				_ = best
			}
			b.ReportMetric(float64(n), "visited/op")
		})
	}
}

// topNeighbours keeps exactly what sorting all neighbours would put first.
func TestTopNeighbours(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		var nb []neighbour
		for i := range rng.IntN(60) {
			nb = append(nb, neighbour{e: &libEntry{id: i}, est: float64(rng.IntN(8)) / 8, sameLayout: rng.IntN(3) == 0})
		}
		k := 1 + rng.IntN(25)
		all := append([]neighbour(nil), nb...)
		sort.SliceStable(all, func(i, j int) bool { return better(&all[i], &all[j]) })
		want := all[:min(k, len(all))]
		got := topNeighbours(nb, k)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d of %d kept, want %d", trial, len(got), len(nb), len(want))
		}
		for i := range got {
			if got[i].e.id != want[i].e.id {
				t.Fatalf("trial %d: position %d is %d, want %d", trial, i, got[i].e.id, want[i].e.id)
			}
		}
	}
}
