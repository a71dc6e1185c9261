package library

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/validate"
	"resyn/storage"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

// parity is a small valid environment: is n even or odd.
const parity = `NAME = "parity"
DESCRIPTION = "Say whether a number is even or odd."
TAGS = ["arithmetic", "parity"]
DIFFICULTY = (1, 5)

def generate(rng, difficulty):
    return {"n": rng.randint(0, pow(10, difficulty + 2))}

def render(state):
    return "Is %d even or odd? Answer with one word inside <answer></answer> tags, for example <answer>even</answer>." % state["n"]

def verify(state, answer):
    want = "even" if state["n"] % 2 == 0 else "odd"
    return 1.0 if answer.strip().lower() == want else 0.0

def solve(state):
    return "even" if state["n"] % 2 == 0 else "odd"
`

// accepting has a verifier that accepts everything: validation fails it.
const accepting = `NAME = "accepting"
DESCRIPTION = "Accepts anything."
TAGS = ["logic"]

def generate(rng, difficulty):
    return {"n": rng.randint(0, 1000 * difficulty)}

def render(state):
    return "Say anything about %d inside <answer></answer> tags." % state["n"]

def verify(state, answer):
    return 1.0

def solve(state):
    return "x"
`

func setup(t *testing.T) (*Library, *env.Pool) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "resyn.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return New(db), p
}

var fast = AddOptions{Validate: validate.Options{SeedsPerLevel: 3}}

func TestAddCurateHistory(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	e, rep, err := l.Add(ctx, p, "parity.star", []byte(parity), fast)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if !rep.OK || e.Status != storage.StatusCandidate || e.Validation != "pass" || e.Revision != 1 || e.Category != "arithmetic" {
		t.Fatalf("added entry = %+v (report ok %v)", e, rep.OK)
	}
	if e.MinDifficulty != 1 || e.MaxDifficulty != 5 || e.Description == "" {
		t.Errorf("static info not read: %+v", e)
	}
	if e, err = l.SetStatus("parity", storage.StatusAccepted, ""); err != nil || e.Status != storage.StatusAccepted || !e.Usable() {
		t.Fatalf("accept: %+v %v", e, err)
	}
	// Accepting again stores nothing.
	if e, _ = l.SetStatus("parity", storage.StatusAccepted, ""); e.Revision != 2 {
		t.Errorf("a no-op accept made revision %d", e.Revision)
	}
	if e, err = l.Tag("parity", []string{"easy", "parity"}, nil); err != nil || strings.Join(e.Tags, ",") != "arithmetic,parity,easy" {
		t.Fatalf("tag: %v %v", e.Tags, err)
	}
	if _, err = l.Tag("parity", []string{"Bad Tag"}, nil); !errors.Is(err, ErrBadTag) {
		t.Errorf("bad tag: %v", err)
	}
	if e, err = l.Note("parity", "  too easy for a 7B model  "); err != nil || len(e.Notes) != 1 || e.Notes[0].Text != "too easy for a 7B model" {
		t.Fatalf("note: %+v %v", e.Notes, err)
	}
	edited := strings.Replace(parity, "pow(10, difficulty + 2)", "pow(10, difficulty + 3)", 1)
	if e, _, err = l.Edit(ctx, p, "parity", []byte(edited), fast); err != nil || e.Status != storage.StatusAccepted || len(e.Tags) != 3 {
		t.Fatalf("edit: %+v %v", e, err)
	}
	h, err := l.History("parity")
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, r := range h {
		changes = append(changes, r.Change)
	}
	want := "added from parity.star|accepted|tagged easy,parity|note|source edited"
	if got := strings.Join(changes, "|"); got != want {
		t.Errorf("history = %s\nwant      %s", got, want)
	}
	d := Diff(h[3], h[4])
	if !strings.Contains(d, "-    return {\"n\": rng.randint(0, pow(10, difficulty + 2))}") || !strings.Contains(d, "+    return {\"n\": rng.randint(0, pow(10, difficulty + 3))}") {
		t.Errorf("diff of the edit:\n%s", d)
	}
	if d := Diff(h[0], h[1]); d != "status: candidate → accepted\n" {
		t.Errorf("diff of the accept = %q", d)
	}
	// An edit that renames the module is refused.
	if _, _, err := l.Edit(ctx, p, "parity", []byte(strings.Replace(parity, `"parity"`, `"parity2"`, 1)), fast); err == nil {
		t.Error("an edit that renames the module was stored")
	}
	// Rejecting keeps the reason as a note and takes it out of use.
	if e, err = l.SetStatus("parity", storage.StatusRejected, "duplicate of modular_equation"); err != nil || e.Usable() || len(e.Notes) != 2 {
		t.Fatalf("reject: %+v %v", e, err)
	}
}

func TestAddInvalid(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	_, rep, err := l.Add(ctx, p, "accepting.star", []byte(accepting), fast)
	if !errors.Is(err, ErrInvalidEnv) || rep == nil || rep.OK {
		t.Fatalf("add of an accept-everything verifier: err %v, report %+v", err, rep)
	}
	if _, err := l.Get("accepting"); !errors.Is(err, ErrUnknown) {
		t.Errorf("an invalid environment was stored: %v", err)
	}
	opts := fast
	opts.KeepInvalid = true
	e, _, err := l.Add(ctx, p, "accepting.star", []byte(accepting), opts)
	if !errors.Is(err, ErrInvalidEnv) || e.Validation != "fail" || e.Status != storage.StatusCandidate || e.Usable() {
		t.Fatalf("kept invalid: %+v %v", e, err)
	}
	// A syntax error is a failed report too, never a stored record.
	_, rep, err = l.Add(ctx, p, "broken.star", []byte("NAME = \"broken\"\ndef generate(rng, difficulty)\n"), fast)
	if !errors.Is(err, ErrInvalidEnv) || rep.OK {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestBuiltinsAndOverride(t *testing.T) {
	l, _ := setup(t)
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	all, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(mods) {
		t.Fatalf("fresh store lists %d environments, want the %d built-ins", len(all), len(mods))
	}
	for _, e := range all {
		if !e.Builtin || e.Stored || !e.Usable() || e.Source == "" {
			t.Errorf("built-in entry %+v", e)
		}
	}
	h, err := l.History("graph_coloring")
	if err != nil || len(h) != 1 || h[0].Revision != 0 {
		t.Fatalf("history of an uncurated built-in: %+v %v", h, err)
	}
	e, err := l.SetStatus("graph_coloring", storage.StatusRejected, "")
	if err != nil || !e.Builtin || !e.Stored || e.Status != storage.StatusRejected || e.Revision != 1 {
		t.Fatalf("reject a built-in: %+v %v", e, err)
	}
	all, _ = l.List()
	for _, e := range all {
		if e.Name == "graph_coloring" && e.Status != storage.StatusRejected {
			t.Errorf("the stored record does not override the built-in: %+v", e)
		}
	}
	if _, err := l.SetStatus("no_such_env", storage.StatusAccepted, ""); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown env: %v", err)
	}
	if _, err := New(nil).Tag("graph_coloring", []string{"x"}, nil); !errors.Is(err, ErrNoStore) {
		t.Errorf("no store: %v", err)
	}
}

func TestRegisterStored(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	if _, rep, err := l.Add(ctx, p, "parity.star", []byte(parity), fast); err != nil {
		var b strings.Builder
		validate.WriteText(&b, rep)
		t.Fatalf("%v\n%s", err, b.String())
	}
	p2, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	e, _ := l.Get("parity")
	mods, err := Register(ctx, p2, []Entry{e}, nil)
	if err != nil || len(mods) != 1 || mods[0].Name != "parity" {
		t.Fatalf("register: %v %v", mods, err)
	}
	r := p2.Run(ctx, []env.Task{{Env: "parity", Seed: 1, Difficulty: 2, Render: true, VerifySolution: true}})[0]
	if r.Err != nil || r.SolutionScore.Value != 1 {
		t.Fatalf("run a stored env: %+v", r)
	}
}

func TestStaticInfo(t *testing.T) {
	for _, tc := range []struct {
		src, name, desc, tags string
		lo, hi                int
		bad                   bool
	}{
		{src: parity, name: "parity", desc: "Say whether a number is even or odd.", tags: "arithmetic,parity", lo: 1, hi: 5},
		{src: `NAME = "a"` + "\nDIFFICULTY = [2, 4]\n", name: "a", lo: 2, hi: 4},
		{src: `NAME = "a"` + "\n", name: "a", lo: 1, hi: 10},
		{src: `NAME = "x" + "y"` + "\n", bad: true},
		{src: "def f(:\n", bad: true},
		{src: `N = "a"` + "\nNAME = N\n", bad: true},
	} {
		info, err := StaticInfo("t.star", []byte(tc.src))
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.src)
			}
			continue
		}
		if err != nil || info.Name != tc.name || info.Description != tc.desc || strings.Join(info.Tags, ",") != tc.tags || info.MinDifficulty != tc.lo || info.MaxDifficulty != tc.hi {
			t.Errorf("%q: %+v %v", tc.src, info, err)
		}
	}
}

func FuzzStaticInfo(f *testing.F) {
	f.Add([]byte(parity))
	f.Add([]byte(accepting))
	f.Fuzz(func(t *testing.T, src []byte) {
		_, _ = StaticInfo("f.star", src) // must not panic
	})
}

// TestAddRefusesATakenName: a NAME that a stored environment or a built-in
// has is refused, before any validation, unless the caller says it
// replaces that one.
func TestAddRefusesATakenName(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	if _, _, err := l.Add(ctx, p, "parity.star", []byte(parity), fast); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(parity, "Say whether", "Tell whether", 1)
	_, rep, err := l.Add(ctx, p, "other/parity.star", []byte(other), fast)
	if !errors.Is(err, ErrNameTaken) || rep != nil || !strings.Contains(err.Error(), "added from parity.star") {
		t.Fatalf("re-adding a stored name: %v (report %v)", err, rep)
	}
	e, _, err := l.Add(ctx, p, "other/parity.star", []byte(other), AddOptions{Validate: fast.Validate, Replace: true})
	if err != nil || e.Revision != 2 || !strings.HasPrefix(e.Description, "Tell") {
		t.Fatalf("replace: %+v %v", e, err)
	}
	gc, _ := envlib.Get("graph_coloring")
	if _, _, err := l.Add(ctx, p, "mine.star", gc.Code, fast); !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "a built-in") {
		t.Fatalf("adding a built-in's name: %v", err)
	}
	var many []string
	for i := range env.MaxTags + 1 {
		many = append(many, fmt.Sprintf("t%d", i))
	}
	if _, err := l.Tag("parity", many, nil); !errors.Is(err, ErrBadTag) {
		t.Errorf("%d tags: %v", len(many), err)
	}
}
