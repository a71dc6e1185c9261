package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"resyn/llm"
	"resyn/storage"
)

// seedIdeation is the Detail of a seed's StageIdeate log entry: the
// exchange and the seed it was for, so that a resume reuses every reply a
// killed run already paid for.
type seedIdeation struct {
	SeedIndex int  `json:"seed_index"`
	Seed      Seed `json:"seed"`
	Exchange
}

// avoidPerSeed is how many related library names a seed's prompt lists as
// taken.
const avoidPerSeed = 30

// ideateSeeds asks for cfg.PerSeed proposals per seed keyword, cfg.Parallel
// calls at a time, then deduplicates the ideas in seed order (so the list
// does not depend on which reply came first) against everything stored and
// one another, keeping at most cfg.N. Seeds answered by an earlier
// execution of the run (its log) are not asked again. It returns the seeds
// whose call failed; all of them failing is ErrNoIdeas.
func (r *runner) ideateSeeds(ctx context.Context, log []storage.SynthLogEntry) (ideas []Idea, dropped []DroppedIdea, failed []string, err error) {
	cfg := r.cfg
	known := append(r.lib.Known(), r.known...)
	got, done, reused := loggedSeedIdeas(cfg.Seeds, log)

	ictx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu       sync.Mutex
		lastErr  error
		storeErr error
		answered = reused
	)
	errs := make([]error, len(cfg.Seeds))
	var todo []int
	for i := range cfg.Seeds {
		if !done[i] {
			todo = append(todo, i)
		}
	}
	opts := CallOptions{Temperature: cfg.Temperature, MaxTokens: cfg.MaxTokens}
	inParallel(ictx, len(todo), cfg.Parallel, func(k int) {
		i := todo[k]
		s := cfg.Seeds[i]
		req := IdeateRequest{Category: s.Family, Seed: s.Keyword, Topics: cfg.Topics, Count: cfg.PerSeed,
			Avoid: relatedNames(known, s, avoidPerSeed)}
		is, ex, err := Ideate(ictx, r.llm, req, opts)
		if ictx.Err() != nil && errors.Is(err, ictx.Err()) {
			return // cancelled: a resume asks again
		}
		msg := fmt.Sprintf("%s: %d ideas", s.Keyword, len(is))
		if err != nil {
			msg = fmt.Sprintf("%s: %v", s.Keyword, err)
		}
		lerr := r.logEntry("", StageIdeate, msg, tokenUsage(ex.Usage, 1), seedIdeation{SeedIndex: i, Seed: s, Exchange: ex})
		mu.Lock()
		defer mu.Unlock()
		answered++
		switch {
		case lerr != nil:
			storeErr = lerr
			stop(lerr)
		case err != nil:
			errs[i], lastErr = err, err
			if errors.Is(err, llm.ErrUnreachable) {
				stop(err) // every other seed would meet the same
			}
		default:
			got[i] = is
		}
		r.emit(SeedIdeatedEvent{Seed: s, Index: i, Done: answered, Total: len(cfg.Seeds), Proposed: len(is), Err: err})
		if err != nil {
			r.emit(IdeateFailedEvent{Category: s.String(), Err: err})
		}
	})
	switch cause := context.Cause(ictx); {
	case ctx.Err() != nil:
		return nil, nil, nil, ctx.Err()
	case storeErr != nil:
		return nil, nil, nil, storeErr
	case errors.Is(cause, llm.ErrUnreachable):
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrNoIdeas, cause)
	}

	return keepSeedIdeas(cfg, known, got, errs, lastErr)
}

// loggedSeedIdeas reads the ideas of the seeds an earlier execution of the
// run already ideated (its log), so that a resume does not ask again;
// reused counts them.
func loggedSeedIdeas(seeds []Seed, log []storage.SynthLogEntry) (got [][]Idea, done []bool, reused int) {
	got, done = make([][]Idea, len(seeds)), make([]bool, len(seeds))
	for _, e := range log {
		if e.Stage != StageIdeate {
			continue
		}
		var rec seedIdeation
		if json.Unmarshal(e.Detail, &rec) != nil || rec.Error != "" || rec.SeedIndex < 0 || rec.SeedIndex >= len(seeds) || seeds[rec.SeedIndex] != rec.Seed {
			continue
		}
		if is := seedIdeas(rec.Reply, rec.Seed); len(is) > 0 {
			if !done[rec.SeedIndex] {
				reused++
			}
			got[rec.SeedIndex], done[rec.SeedIndex] = is, true
		}
	}
	return got, done, reused
}

// keepSeedIdeas keeps, in seed order and up to cfg.N, the ideas that are
// new to known and to one another; errs are the seeds' ideation errors.
func keepSeedIdeas(cfg Config, known []Known, got [][]Idea, errs []error, lastErr error) (ideas []Idea, dropped []DroppedIdea, failed []string, err error) {
	dd := NewIdeaDeduper(cfg.IdeaSimilarity, known)
	for i, s := range cfg.Seeds {
		if errs[i] != nil {
			failed = append(failed, s.String())
		}
		for _, idea := range got[i] {
			if len(ideas) >= cfg.N {
				break
			}
			if ok, dr := dd.Add(idea); ok {
				ideas = append(ideas, idea)
			} else {
				dropped = append(dropped, dr)
			}
		}
	}
	switch {
	case len(ideas) > 0:
		return ideas, dropped, failed, nil
	case len(failed) == len(cfg.Seeds):
		return nil, nil, nil, fmt.Errorf("%w: ideation failed for every seed; the last error: %w", ErrNoIdeas, lastErr)
	}
	return nil, nil, nil, fmt.Errorf("%w: the model proposed none that was new", ErrNoIdeas)
}

// seedIdeas parses a logged seed reply as Ideate does.
func seedIdeas(reply string, s Seed) []Idea {
	ideas := ParseIdeas(reply)
	for i := range ideas {
		if ideas[i].Category == "" {
			ideas[i].Category = s.Family
		}
		ideas[i].Seed = s.Keyword
	}
	return ideas
}

// relatedNames picks the known names a seed's proposals are most likely to
// repeat: those sharing the most words (three letters or more, British
// spellings folded) of the seed's keyword and family with their own name and
// description, at most n, best first. With a thousand environments stored
// the prompt cannot list them all; deduplication after the call still
// compares with every one.
func relatedNames(known []Known, s Seed, n int) []string {
	want := map[string]bool{}
	for _, w := range seedWords(s.Keyword + " " + s.Family) {
		want[w] = true
	}
	type scored struct {
		name  string
		score int
	}
	var hits []scored
	seen := map[string]bool{}
	for _, k := range known {
		if seen[k.Name] {
			continue
		}
		seen[k.Name] = true
		score := 0
		for _, w := range seedWords(strings.ReplaceAll(k.Name, "_", " ")) {
			if want[w] {
				score += 2 // a word of the name says more than one of the description
			}
		}
		for _, w := range seedWords(k.Description) {
			if want[w] {
				score++
			}
		}
		if score > 0 {
			hits = append(hits, scored{k.Name, score})
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		return hits[i].name < hits[j].name
	})
	var out []string
	for i := 0; i < len(hits) && i < n; i++ {
		out = append(out, hits[i].name)
	}
	return out
}

// seedWords are the distinct comparison words of a text: normalised as
// names are, three letters or more, a plural's "s" dropped.
func seedWords(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range normWords(text) {
		w = normName(w)
		if len(w) > 4 && strings.HasSuffix(w, "s") {
			w = w[:len(w)-1]
		}
		if len(w) < 3 || seen[w] || stopWords[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
	}
	return out
}

var stopWords = map[string]bool{"the": true, "and": true, "for": true, "with": true, "from": true, "that": true,
	"are": true, "its": true, "into": true, "given": true, "find": true, "each": true, "other": true}
