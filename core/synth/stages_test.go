package synth

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/validate"
	"resyn/llm"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

// validateOpts keep validation quick: three seeds a level (its budgets are
// steps and CPU time, the same on a loaded machine as alone).
func validateOpts() validate.Options {
	return validate.Options{SeedsPerLevel: 3}
}

var (
	poolOnce sync.Once
	sharedP  *env.Pool
)

// testPool is one sandbox shared by the package's tests (workers are
// processes; starting them per test would dominate the run time).
func testPool(t *testing.T) *env.Pool {
	t.Helper()
	poolOnce.Do(func() {
		// A step limit low enough that the looping candidates fail fast,
		// and a wall-clock limit high enough that a loaded machine (or
		// -race) does not fail honest ones.
		lim := env.DefaultLimits()
		lim.Steps, lim.Timeout = 2_000_000, 20*time.Second
		p, err := env.NewPool(env.PoolOptions{Workers: 2, Limits: lim})
		if err != nil {
			t.Fatal(err)
		}
		sharedP = p
	})
	return sharedP
}

func TestParseIdeas(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        []string
	}{
		{"bare JSON", `[{"name":"Tower Of Hanoi","description":"Move the disks from peg A to peg C."}]`, []string{"tower_of_hanoi"}},
		{"fenced with prose", "Ideas:\n```json\n[{\"name\":\"a-b\",\"description\":\"Something long enough.\"},{\"name\":\"\",\"description\":\"no name here at all\"}]\n```\nEnjoy.", []string{"a_b"}},
		{"brackets in prose", "Sure [see below]: [{\"name\":\"x1\",\"description\":\"A description that is long.\"}] done", []string{"x1"}},
		{"lines", "1. **Knight Tour**: Find a knight's tour on a small board.\n- magic_square — Fill a magic square of order n.\nnot an idea", []string{"knight_tour", "magic_square"}},
		{"nothing", "I have no ideas today.", nil},
		{"too short", `[{"name":"x","description":"short"}]`, nil},
		{"digit first", `[{"name":"24 game","description":"Make 24 from four numbers with + - * /."}]`, []string{"task_24_game"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, i := range ParseIdeas(tc.reply) {
				got = append(got, i.Name)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("ParseIdeas = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDedupIdeas(t *testing.T) {
	known := []Known{{Name: "graph_coloring", Description: "Colour a graph with k colours so that no edge joins two vertices of the same colour."}}
	ideas := []Idea{
		{Name: "graph_colouring", Description: "Something else entirely about graphs and paints."},     // name clash (spelling folded)
		{Name: "GraphColoring2", Description: "Totally different words describing queens on a board."}, // kept: names differ
		{Name: "sum_digits", Description: "Given a list of numbers, add up the digit sums of all of them."},
		{Name: "digit_total", Description: "Given a list of numbers, add up the digit sums of all of them together."}, // near-duplicate
		{Name: "paint_graph", Description: "Colour a graph with k colours so that no edge joins two vertices of one colour."},
		{Name: "gcd_pairs", Description: "For several pairs of integers, give their greatest common divisor."},
		{Name: "modular_inverse", Description: "For several pairs (a, p) with p prime, find the inverse of a modulo p."},
	}
	kept, dropped := DedupIdeas(ideas, known, 0.5)
	var k, d []string
	for _, i := range kept {
		k = append(k, i.Name)
	}
	for _, x := range dropped {
		d = append(d, x.Idea.Name+"~"+x.SimilarTo)
	}
	if got := strings.Join(k, ","); got != "GraphColoring2,sum_digits,gcd_pairs,modular_inverse" {
		t.Errorf("kept %s", got)
	}
	if got := strings.Join(d, ","); got != "graph_colouring~graph_coloring,digit_total~sum_digits,paint_graph~graph_coloring" {
		t.Errorf("dropped %s", got)
	}
}

func TestMinHashEstimatesJaccard(t *testing.T) {
	a := "the quick brown fox jumps over the lazy dog near the river bank today"
	if s := NewMinHash(a).Similarity(NewMinHash(a)); s != 1 {
		t.Fatalf("self similarity %v", s)
	}
	if s := NewMinHash(a).Similarity(NewMinHash("completely unrelated words about prime numbers and modular arithmetic")); s > 0.2 {
		t.Fatalf("unrelated texts %v similar", s)
	}
	if s := NewMinHash(a).Similarity(NewMinHash(a + " again")); s < 0.6 {
		t.Fatalf("near-identical texts only %v similar", s)
	}
}

func TestExtractCode(t *testing.T) {
	mod := "NAME = \"x\"\n\ndef generate(rng, difficulty):\n    return {}\n\ndef verify(state, answer):\n    return 1.0\n"
	for _, tc := range []struct {
		name, reply string
		want        string
		err         error
	}{
		{"fenced", "```python\n" + mod + "```", mod, nil},
		{"fenced with prose", "Here you go:\n\n```starlark\n" + mod + "```\n\nThis module does X.", mod, nil},
		{"two blocks, module the longer", "```\nprint(1)\n```\nand\n```python\n" + mod + "```", mod, nil},
		{"unterminated fence", "```python\n" + mod, mod, nil},
		{"unfenced", mod, mod, nil},
		{"unfenced with prose", "Sure! The environment:\n\n" + mod + "\nIt follows the contract nicely.\n", mod, nil},
		{"CRLF", strings.ReplaceAll("```python\n"+mod+"```", "\n", "\r\n"), mod, nil},
		{"empty", "  \n ", "", ErrEmptyReply},
		{"refusal", "I'm sorry, but I cannot help with that.", "", ErrRefusal},
		{"refusal 2", "As an AI, I won't write this.", "", ErrRefusal},
		{"prose only", "Plan: generate pairs and verify them. Code next time.", "", ErrNoCode},
		{"fence without module", "```python\nprint('hi')\n```", "", ErrNoCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExtractCode(tc.reply)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("code =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func FuzzExtractCode(f *testing.F) {
	for _, s := range []string{"", "```", "```python\ndef generate\ndef verify\n", "def generate(): pass\ndef verify(): pass\nprose here", "I can't"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		code, err := ExtractCode(reply)
		if err == nil && (!strings.Contains(code, "def generate") || !strings.Contains(code, "def verify")) {
			t.Fatalf("accepted code without generate/verify: %q", code)
		}
	})
}

func TestImplementPromptCarriesContractAndExamples(t *testing.T) {
	system, user := ImplementPrompt(Idea{Name: "gcd_pairs", Category: "number theory", Description: "GCDs."}, Examples(DefaultExamples))
	for _, want := range []string{"def verify(state, answer)", "s.elems()", "<answer></answer>", "# graph_coloring.star", "# sat_3cnf.star", "rng.randint(a, b)"} {
		if !strings.Contains(system, want) {
			t.Errorf("system prompt lacks %q", want)
		}
	}
	if !strings.Contains(user, `NAME = "gcd_pairs"`) || !strings.Contains(user, "GCDs.") {
		t.Errorf("user prompt: %s", user)
	}
}

func TestCheckAndRepairPrompt(t *testing.T) {
	p := testPool(t)
	ctx := context.Background()
	// A Python-ism: a syntax error with its line and a hint.
	rep, mod := Check(ctx, p, "modular_inverse.star", modularInverseBroken, validateOpts())
	if rep.OK || mod != nil || rep.Checks[0].Line != 16 || !strings.Contains(rep.Checks[0].Detail, "pow(a, b)") {
		t.Fatalf("syntax error report: %+v", rep.Checks)
	}
	msg := RepairPrompt(modularInverseBroken, rep)
	if !strings.Contains(msg, "at line 16: return a ** (p - 2) % p") {
		t.Fatalf("repair prompt lacks the line:\n%s", msg)
	}
	// A loop: caught by the smoke test, not a full validation of limit
	// hits, and reported as the limit it is.
	rep, mod = Check(ctx, p, "collatz_steps.star", collatzLoops, validateOpts())
	if rep.OK || mod == nil || len(rep.Failed()) == 0 || rep.Failed()[0].Name != validate.CheckBudget || rep.Instances != 2 ||
		!strings.Contains(rep.Failed()[0].Failures[0], "steps limit") {
		t.Fatalf("loop report: %+v", rep)
	}
	// verify iterating a string: raises on the junk answer.
	rep, _ = Check(ctx, p, "alphabetical_order.star", alphabeticalBroken, validateOpts())
	if rep.OK || rep.Failed()[0].Line != 21 || len(rep.Failed()) != 1 {
		t.Fatalf("verify raising: %+v", rep.Failed())
	}
	// A verifier that accepts everything passes the smoke test and fails the full checks.
	rep, _ = Check(ctx, p, "parity_guess.star", parityAcceptsAll, validateOpts())
	var failed []string
	for _, c := range rep.Failed() {
		failed = append(failed, c.Name)
	}
	if rep.OK || !strings.Contains(strings.Join(failed, ";"), validate.CheckRejects) {
		t.Fatalf("accept-all: failed %v", failed)
	}
	for _, src := range []string{digitSumChain, modularInverseFixed, alphabeticalFixed, intervalMergeFinal, collatzFixed, gcdPairs} {
		code, err := ExtractCode(fenced(src))
		if err != nil {
			t.Fatal(err)
		}
		if rep, _ := Check(ctx, p, "x.star", code, validateOpts()); !rep.OK {
			t.Errorf("%s fails: %+v", nameLineRe.FindString(src), rep.Failed())
		}
	}
}

// solverFake answers calibration prompts: right at the difficulties in
// good, wrong elsewhere, using the reference solutions it was given.
type solverFake struct {
	answers map[string]string // prompt -> solution
	good    map[int]bool
	levelOf map[string]int
}

func (s *solverFake) Name() string { return "fake-solver" }

func (s *solverFake) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	p := req.Messages[0].Content
	ans := "wrong"
	if s.good[s.levelOf[p]] {
		ans = s.answers[p]
	}
	return llm.Completion{Text: "Thinking… <answer>" + ans + "</answer>", Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 5}}, nil
}

func newSolverFake(t *testing.T, ex env.Executor, m *env.Module, o CalibrateOptions, good ...int) *solverFake {
	s := &solverFake{answers: map[string]string{}, good: map[int]bool{}, levelOf: map[string]int{}}
	for _, g := range good {
		s.good[g] = true
	}
	o = o.withDefaults()
	var tasks []env.Task
	for _, d := range o.Levels {
		for i := 0; i < o.Samples; i++ {
			tasks = append(tasks, env.Task{Env: m.Name, Seed: o.SeedBase + int64(i), Difficulty: d, Render: true, Solve: true})
		}
	}
	for i, r := range ex.Run(context.Background(), tasks) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		s.answers[r.Prompt] = r.Solution
		s.levelOf[r.Prompt] = tasks[i].Difficulty
	}
	return s
}

func TestCalibrate(t *testing.T) {
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	ex := env.NewLocal(env.DefaultLimits(), 2)
	var gc *env.Module
	for _, m := range mods {
		ex.Register(m)
		if m.Name == "graph_coloring" {
			gc = m
		}
	}
	o := CalibrateOptions{Levels: []int{1, 5, 10}, Samples: 3}
	ctx := context.Background()

	cal, exs, err := Calibrate(ctx, newSolverFake(t, ex, gc, o, 1, 5), ex, gc, o, CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 9 || cal.Usage != (llm.Usage{PromptTokens: 90, CompletionTokens: 45}) || len(cal.Flags) != 0 {
		t.Fatalf("calibration %+v with %d exchanges", cal, len(exs))
	}
	for i, want := range []float64{1, 1, 0} {
		if l := cal.Levels[i]; l.Rate != want || l.N != 3 {
			t.Errorf("level %d: %+v, want rate %v", l.Difficulty, l, want)
		}
	}
	cal, _, _ = Calibrate(ctx, newSolverFake(t, ex, gc, o, 1, 5, 10), ex, gc, o, CallOptions{})
	if strings.Join(cal.Flags, ",") != FlagSolvedEverywhere {
		t.Errorf("solved everywhere: flags %v", cal.Flags)
	}
	cal, _, _ = Calibrate(ctx, newSolverFake(t, ex, gc, o), ex, gc, o, CallOptions{})
	if strings.Join(cal.Flags, ",") != FlagSolvedNowhere {
		t.Errorf("solved nowhere: flags %v", cal.Flags)
	}
	if _, _, err := Calibrate(ctx, newSolverFake(t, ex, gc, o), ex, gc, CalibrateOptions{Levels: []int{11}}, CallOptions{}); err == nil {
		t.Error("a level outside the range was accepted")
	}
}

func TestLibraryFindsDuplicates(t *testing.T) {
	p := testPool(t)
	ctx := context.Background()
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		p.Register(m)
	}
	lib, err := NewLibrary(ctx, p, mods, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	clone, err := p.Load(ctx, "vertex_paint.star", []byte(vertexPaint()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := lib.FindDuplicate(ctx, p, clone)
	if err != nil || d == nil || d.Of != "graph_coloring" {
		t.Fatalf("clone: %+v, %v", d, err)
	}
	// Reworded prompt, same behaviour: caught by cross-verification.
	src := vertexPaint()
	src = strings.NewReplacer(
		`"Colour the vertices of this undirected graph with colours 1 to %d so that"`, `"Paint each node using paints numbered 1 through %d; any two linked nodes"`,
		`"no edge connects two vertices of the same colour."`, `"must get different paints."`,
		`"Give the colour of every vertex in order, vertex 0 first, separated by spaces,"`, `"List every node's paint, node 0 first,"`,
		`"inside <answer></answer> tags. Example for 4 vertices: <answer>1 2 1 3</answer>"`, `"between <answer> and </answer>."`,
		`"Vertices: 0 to %d"`, `"Nodes are numbered up to %d"`,
		`"Edges: "`, `"Links: "`,
	).Replace(src)
	src = strings.Replace(src, `NAME = "vertex_paint"`, `NAME = "node_paint"`, 1)
	reworded, err := p.Load(ctx, "node_paint.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, err = lib.FindDuplicate(ctx, p, reworded)
	if err != nil || d == nil || d.Of != "graph_coloring" || !d.Behaviour || d.PromptSimilarity >= 0.8 {
		t.Fatalf("reworded clone: %+v, %v", d, err)
	}
	// Something new is no duplicate.
	fresh, err := p.Load(ctx, "gcd_pairs.star", []byte(gcdPairs))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := lib.FindDuplicate(ctx, p, fresh); err != nil || d != nil {
		t.Fatalf("gcd_pairs: %+v, %v", d, err)
	}
}

func TestNameCheck(t *testing.T) {
	if rep, _ := nameCheck("x.star", gcdPairs, "gcd_pairs"); rep != nil {
		t.Fatalf("right name refused: %+v", rep)
	}
	rep, _ := nameCheck("x.star", "# a comment\nNAME = \"graph_coloring\"\n", "gcd_pairs")
	if rep == nil || rep.OK || rep.Checks[0].Line != 2 || !strings.Contains(rep.Checks[0].Detail, `must be "gcd_pairs"`) {
		t.Fatalf("a built-in's name: %+v", rep)
	}
	if rep, _ := nameCheck("x.star", "def generate(rng, d):\n    pass\n", "gcd_pairs"); rep == nil || rep.Checks[0].Line != 0 {
		t.Fatalf("no NAME: %+v", rep)
	}
}

func TestIdeateImplementRepairCalls(t *testing.T) {
	r, err := llm.ParseReplay(strings.NewReader(`{"tag":"ideate","subject":"logic puzzles","reply":"1. Knights Tour: Find a knight's tour on a small board.","usage":{"prompt_tokens":30,"completion_tokens":12}}
{"tag":"implement","subject":"gcd_pairs","reply":"I cannot help with that."}
{"tag":"repair","subject":"gcd_pairs","reply":` + jsonString(fenced(gcdPairs)) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ideas, ex, err := Ideate(ctx, r, IdeateRequest{Category: "logic puzzles", Count: 3, Avoid: []string{"graph_coloring"}}, CallOptions{})
	if err != nil || len(ideas) != 1 || ideas[0].Name != "knights_tour" || ideas[0].Category != "logic puzzles" {
		t.Fatalf("ideas %+v, %v", ideas, err)
	}
	if ex.Stage != StageIdeate || ex.Usage.Total() != 42 || !strings.Contains(ex.Messages[0].Content, "graph_coloring") || ex.System == "" {
		t.Fatalf("exchange %+v", ex)
	}
	idea := Idea{Name: "gcd_pairs", Description: "GCDs of pairs."}
	_, ex, err = Implement(ctx, r, idea, Examples(DefaultExamples), CallOptions{})
	if !errors.Is(err, ErrRefusal) || ex.Reply != "I cannot help with that." {
		t.Fatalf("implement: %v, %+v", err, ex)
	}
	rep := &validate.Report{Checks: []validate.Check{{Name: validate.CheckPrompt, Detail: "no tags", Line: 3}}}
	system, user := ImplementPrompt(idea, nil)
	code, ex, err := Repair(ctx, r, idea, system, user, "a\nb\nc = 1\n", rep, 1, CallOptions{})
	if err != nil || !strings.Contains(code, `NAME = "gcd_pairs"`) || ex.Round != 1 || len(ex.Messages) != 3 ||
		!strings.Contains(ex.Messages[2].Content, "at line 3: c = 1") {
		t.Fatalf("repair: %v, %+v", err, ex)
	}
	if _, _, err := Ideate(ctx, r, IdeateRequest{Category: "logic puzzles"}, CallOptions{}); !errors.Is(err, llm.ErrReplayExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
}
