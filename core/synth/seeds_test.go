package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/llm"
	"resyn/storage"
)

// The built-in list covers the paper's families with about a hundred
// keywords.
func TestDefaultSeeds(t *testing.T) {
	seeds := DefaultSeeds()
	if len(seeds) < 100 || len(seeds) > 130 {
		t.Fatalf("%d built-in seeds; want about 100", len(seeds))
	}
	fams := map[string]int{}
	for _, s := range seeds {
		fams[s.Family]++
	}
	for _, f := range []string{"constraint satisfaction", "algorithmic puzzles", "spatial reasoning", "logic", "arithmetic",
		"strings", "graphs", "games", "scheduling"} {
		if fams[f] < 5 {
			t.Errorf("family %q has %d seeds", f, fams[f])
		}
	}
	if got := DefaultSeeds(); &got[0] == &seeds[0] {
		t.Error("DefaultSeeds shares its slice between calls")
	}
}

func TestParseSeeds(t *testing.T) {
	in := "\ufeff# my seeds\n\ngraphs: shortest   paths\r\nknights tour\n  logic :  liars and truth-tellers \n"
	got, err := ParseSeeds(strings.NewReader(in))
	want := []Seed{{"graphs", "shortest paths"}, {"", "knights tour"}, {"logic", "liars and truth-tellers"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	many := strings.Repeat("x\n", 1) + func() string {
		var b strings.Builder
		for i := 0; i <= MaxSeeds; i++ {
			fmt.Fprintf(&b, "seed %d\n", i)
		}
		return b.String()
	}()
	for _, c := range []struct{ in, want string }{
		{"a\nb\nA \n", `line 3: "A" repeats line 1`},
		{"graphs:\n", "line 1: no keyword after the family \"graphs\""},
		{"ok\nbad\x01line\n", "line 2: control character U+0001"},
		{"ok\n\xff\xfe\n", "line 2: not UTF-8"},
		{strings.Repeat("w", MaxSeedLineBytes+1), "line 1: 513 bytes"},
		{"# only a comment\n\n", "no seed in the file"},
		{"", "no seed in the file"},
		{many, fmt.Sprintf("more than %d seeds", MaxSeeds)},
		{strings.Repeat("# long comment line of forty-odd bytes....\n", 100_000), "more than 4 MiB"},
	} {
		_, err := ParseSeeds(strings.NewReader(c.in))
		if !errors.Is(err, ErrSeeds) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: %v; want %q", c.in, err, c.want)
		}
	}
}

func FuzzParseSeeds(f *testing.F) {
	f.Add(BuiltinSeedsText())
	f.Add("a: b\nc\n#d\n")
	f.Add("x:\n")
	f.Fuzz(func(t *testing.T, in string) {
		seeds, err := ParseSeeds(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrSeeds) || seeds != nil {
				t.Fatalf("error %v with %d seeds", err, len(seeds))
			}
			return
		}
		seen := map[string]bool{}
		for _, s := range seeds {
			if s.Keyword == "" || strings.TrimSpace(s.Keyword) != s.Keyword || seen[normSeed(s.Keyword)] {
				t.Fatalf("bad seed %q in %q", s, seeds)
			}
			seen[normSeed(s.Keyword)] = true
		}
	})
}

// seedModel answers ideation with perSeed ideas about the subject (the
// seed keyword), after a delay that differs by seed so replies come back
// out of order, and implementation with prose (no code, a quick verdict).
// It counts the ideation calls per seed.
type seedModel struct {
	mu      sync.Mutex
	calls   map[string]int
	prompts map[string]string
	delay   func(subject string) time.Duration
	extra   map[string][]map[string]string // seed -> ideas added to its reply
	// onIdeate, when set, runs at the start of every ideation call with the
	// number of calls so far (this one included).
	onIdeate func(ctx context.Context, n int) error
	n        int
}

func newSeedModel() *seedModel {
	return &seedModel{calls: map[string]int{}, prompts: map[string]string{}, extra: map[string][]map[string]string{}}
}

func (m *seedModel) Name() string { return "seeds" }

func (m *seedModel) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	if req.Tag != StageIdeate {
		return llm.Completion{Text: "I would model it as a search problem.", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}}, nil
	}
	m.mu.Lock()
	m.calls[req.Subject]++
	m.prompts[req.Subject] = req.Messages[0].Content
	m.n++
	n, hook := m.n, m.onIdeate
	m.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, n); err != nil {
			return llm.Completion{}, err
		}
	}
	if m.delay != nil {
		select {
		case <-time.After(m.delay(req.Subject)):
		case <-ctx.Done():
			return llm.Completion{}, ctx.Err()
		}
	}
	var count int
	fmt.Sscanf(req.Messages[0].Content, "Propose %d", &count)
	slug := Slug(req.Subject)
	var ideas []map[string]string
	for i := 0; i < count; i++ {
		ideas = append(ideas, map[string]string{"name": fmt.Sprintf("%s_task_%d", slug, i),
			"description": distinctText(req.Subject+fmt.Sprint(i), 12)})
	}
	ideas = append(ideas, m.extra[req.Subject]...)
	b, _ := json.Marshal(ideas)
	return llm.Completion{Text: string(b), Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 50}}, nil
}

// distinctText is n words drawn by a hash of key from a vocabulary large
// enough that two keys' texts share almost nothing.
func distinctText(key string, n int) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	x := h.Sum64()
	words := make([]string, n)
	for i := range words {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		words[i] = fmt.Sprintf("%c%c%c%c", 'a'+x%26, 'a'+x/26%26, 'a'+x/676%26, 'a'+x/17576%26)
	}
	return strings.Join(words, " ") + "."
}

func seedList(n int) []Seed {
	var out []Seed
	for i := 0; i < n; i++ {
		out = append(out, Seed{Family: "family " + string(rune('a'+i%3)), Keyword: fmt.Sprintf("keyword %c%c", 'a'+i/26, 'a'+i%26)})
	}
	return out
}

func ideaNames(ideas []Idea) []string {
	var out []string
	for _, i := range ideas {
		out = append(out, i.Name)
	}
	return out
}

func runIdeas(t *testing.T, db *storage.DB, runID uint64) ideasRecord {
	t.Helper()
	var rec ideasRecord
	err := db.View(func(tx *storage.Tx) error {
		log, err := storage.ListSynthLog(tx, runID, 0)
		for _, e := range log {
			if e.Stage == StageIdeas {
				return json.Unmarshal(e.Detail, &rec)
			}
		}
		if err == nil {
			err = errors.New("no ideas entry")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Seeds: one call per keyword asking for PerSeed proposals, run in
// parallel; the kept ideas are the same whatever order the replies come in,
// and ideation drops what the store already has — names and descriptions of
// stored environments, rejected ones included — and repeats across seeds.
func TestSeedIdeation(t *testing.T) {
	seeds := seedList(6)
	stored := []storage.Env{
		// a stored candidate whose idea's description a seed's reply repeats
		{Name: "ledger_balance", Source: gcdPairs, Status: storage.StatusCandidate, Origin: storage.Origin{Kind: storage.OriginSynthesis},
			Provenance: json.RawMessage(`{"idea":{"name":"ledger_balance","description":"Balance a ledger of berries across the four seasons and report the surplus."}}`)},
		// a rejected environment: its name is not proposed again
		{Name: "keyword_ab_task_1", Source: gcdPairs, Status: storage.StatusRejected, Origin: storage.Origin{Kind: storage.OriginFile}},
	}
	var lists [][]string
	var dropped []DroppedIdea
	for round, delay := range []func(string) time.Duration{
		func(s string) time.Duration { return 0 },
		func(s string) time.Duration { // later seeds answer first
			h := fnv.New32a()
			h.Write([]byte(s))
			return time.Duration(h.Sum32()%20) * time.Millisecond
		},
	} {
		db := openStore(t)
		if err := db.Update(func(tx *storage.Tx) error {
			for i := range stored {
				e := stored[i]
				if err := storage.PutEnv(tx, &e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		m := newSeedModel()
		m.delay = delay
		m.extra["keyword ac"] = []map[string]string{
			{"name": "berry_ledger", "description": "Balance a ledger of berries across the four seasons and report the surplus!"},
			{"name": "Keyword_AA_Task_0", "description": "The first task of the first seed, proposed again under another seed."},
		}
		pl := &Pipeline{LLM: m, Pool: testPool(t), DB: db}
		sum, err := pl.Run(context.Background(), Config{Seeds: seeds, PerSeed: 3, Parallel: 5, MaxRepairs: -1}, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		rec := runIdeas(t, db, 1)
		lists = append(lists, ideaNames(rec.Ideas))
		dropped = rec.Dropped
		if len(m.calls) != len(seeds) {
			t.Errorf("round %d: %d seeds asked, want %d", round, len(m.calls), len(seeds))
		}
		for s, n := range m.calls {
			if n != 1 {
				t.Errorf("seed %q asked %d times", s, n)
			}
		}
		if p := m.prompts["keyword ab"]; !strings.Contains(p, `Propose 3 distinct reasoning tasks built around "keyword ab" (a kind of family b)`) {
			t.Errorf("prompt: %s", p)
		}
		if sum.Ideas != 6*3-1 || sum.Finished != sum.Ideas || sum.Outcomes[OutcomeNoCode] != sum.Ideas {
			t.Errorf("round %d: summary %+v", round, sum)
		}
		if rec.Ideas[0].Seed != "keyword aa" || rec.Ideas[0].Category != "family a" {
			t.Errorf("first idea %+v", rec.Ideas[0])
		}
	}
	if fmt.Sprint(lists[0]) != fmt.Sprint(lists[1]) {
		t.Errorf("the ideas depend on the order replies came in:\n%v\n%v", lists[0], lists[1])
	}
	why := map[string]string{}
	for _, d := range dropped {
		why[d.Idea.Name] = d.SimilarTo
	}
	want := map[string]string{"keyword_ab_task_1": "keyword_ab_task_1", "berry_ledger": "ledger_balance", "keyword_aa_task_0": "keyword_aa_task_0"}
	if fmt.Sprint(why) != fmt.Sprint(want) {
		t.Errorf("dropped %v; want %v", why, want)
	}
}

// A run cancelled during ideation keeps the replies it got: the resume asks
// only the seeds not yet answered, and every seed is asked once in all.
func TestSeedIdeationResumes(t *testing.T) {
	seeds := seedList(20)
	db := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	m := newSeedModel()
	m.onIdeate = func(c context.Context, n int) error {
		if n <= 7 {
			return nil
		}
		cancel() // the 8th call and later never get an answer
		<-c.Done()
		return c.Err()
	}
	pl := &Pipeline{LLM: m, Pool: testPool(t), DB: db}
	cfg := Config{Seeds: seeds, PerSeed: 2, Parallel: 3, MaxRepairs: -1}
	if _, err := pl.Run(ctx, cfg, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	answered := map[string]bool{}
	for s, n := range m.calls {
		if n != 1 {
			t.Errorf("seed %q asked %d times", s, n)
		}
	}
	// Which seeds got an answer: the logged exchanges.
	if err := db.View(func(tx *storage.Tx) error {
		log, err := storage.ListSynthLog(tx, 1, 0)
		for _, e := range log {
			var rec seedIdeation
			if e.Stage == StageIdeate && json.Unmarshal(e.Detail, &rec) == nil && rec.Error == "" {
				answered[rec.Seed.Keyword] = true
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(answered) != 7 {
		t.Fatalf("%d seeds answered before the cancel, want 7", len(answered))
	}
	m2 := newSeedModel()
	pl.LLM = m2
	sum, err := pl.Resume(context.Background(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for s := range m2.calls {
		if answered[s] {
			t.Errorf("seed %q asked again on resume", s)
		}
	}
	if len(m2.calls)+len(answered) != len(seeds) || sum.Ideas != 40 {
		t.Errorf("resume asked %d seeds (%d answered before); %d ideas", len(m2.calls), len(answered), sum.Ideas)
	}
}

// A seed whose call fails is recorded and the run goes on with the others;
// when every seed fails the run fails with the last error.
func TestSeedIdeationFailures(t *testing.T) {
	db := openStore(t)
	m := newSeedModel()
	m.onIdeate = func(ctx context.Context, n int) error {
		if n%2 == 0 {
			return fmt.Errorf("llm: server error (call %d)", n)
		}
		return nil
	}
	pl := &Pipeline{LLM: m, Pool: testPool(t), DB: db}
	var failedEvents int
	sum, err := pl.Run(context.Background(), Config{Seeds: seedList(6), PerSeed: 1, Parallel: 1, MaxRepairs: -1}, func(e Event) {
		if _, ok := e.(IdeateFailedEvent); ok {
			failedEvents++
		}
	})
	if err != nil || sum.Ideas != 3 || failedEvents != 3 {
		t.Fatalf("%v; %d ideas, %d failures reported", err, sum.Ideas, failedEvents)
	}
	if rec := runIdeas(t, db, 1); len(rec.Failed) != 3 || !strings.HasPrefix(rec.Failed[0], "family b: keyword ab") {
		t.Errorf("failed seeds %q", rec.Failed)
	}
	m.onIdeate = func(ctx context.Context, n int) error { return errors.New("llm: server error (always)") }
	_, err = pl.Run(context.Background(), Config{Seeds: seedList(3), PerSeed: 1, MaxRepairs: -1}, nil)
	if !errors.Is(err, ErrNoIdeas) || !strings.Contains(err.Error(), "always") {
		t.Fatalf("every seed failing: %v", err)
	}
}

func TestRelatedNames(t *testing.T) {
	known := []Known{
		{Name: "graph_coloring", Description: "Colour a graph so that no edge joins two vertices of the same colour."},
		{Name: "shortest_path", Description: "Find the shortest route in a weighted graph."},
		{Name: "knapsack", Description: "Pack items of most value under a weight limit."},
		{Name: "sudoku_mini", Description: "Fill a small grid."},
	}
	got := relatedNames(known, Seed{Family: "graphs", Keyword: "graph colouring"}, 2)
	if fmt.Sprint(got) != "[graph_coloring shortest_path]" {
		t.Errorf("related to graph colouring: %v", got)
	}
	if got := relatedNames(known, Seed{Keyword: "zebra puzzles"}, 5); len(got) != 0 {
		t.Errorf("related to zebra puzzles: %v", got)
	}
}
