package env

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// Golden values: the rng must give these numbers on every machine and Go
// version. If this test fails, instances of every stored dataset changed.
func TestRngGolden(t *testing.T) {
	r := NewRng("graph_coloring", 42, 3)
	var got []int64
	for i := 0; i < 8; i++ {
		got = append(got, r.Intn(0, 99))
	}
	want := []int64{26, 69, 1, 89, 26, 72, 5, 95}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rng drifted: got %v, want %v", got, want)
		}
	}
	if f := NewRng("x", 1, 1).Float(); f != goldenFloat {
		t.Fatalf("rng float drifted: got %v, want %v", f, goldenFloat)
	}
	// Through Starlark: the demo module's instance is pinned too.
	m, err := Load("demo.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	state, err := m.Generate(42, 3, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if string(state) != goldenState {
		t.Fatalf("demo instance drifted:\n got %s\nwant %s", state, goldenState)
	}
	// Different inputs give different streams.
	a, b, c := NewRng("a", 1, 1).Uint64(), NewRng("a", 2, 1).Uint64(), NewRng("a", 1, 2).Uint64()
	if a == b || a == c || b == c {
		t.Fatal("rng streams collide across seed/difficulty")
	}
}

const goldenFloat = 0.8023200145660501
const goldenState = `{"xs":[2,29],"f":1.0,"pick":"a","s":[1,7,8],"u":true}`

const src = `NAME = "demo"
DESCRIPTION = "Sum two numbers."
TAGS = ["arithmetic"]
DIFFICULTY = (1, 5)

def generate(rng, difficulty):
    xs = [rng.randint(1, 10 * difficulty) for _ in range(2)]
    rng.shuffle(xs)
    return {"xs": xs, "f": 1.0, "pick": rng.choice(["a", "b"]), "s": rng.sample(range(10), 3), "u": rng.uniform(0, 1) < 2}

def render(state):
    return "Add %d and %d. Answer in <answer></answer> tags." % (state["xs"][0], state["xs"][1])

def verify(state, answer):
    m = re.fullmatch(r"\s*(-?\d+)\s*", answer)
    if m == None:
        return 0.0
    return int(m.group(1)) == sum(state["xs"])

def solve(state):
    return str(sum(state["xs"]))
`

func TestModuleRoundTrip(t *testing.T) {
	m, err := Load("demo.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "demo" || m.MaxDifficulty != 5 || !m.HasSolve || m.Tags[0] != "arithmetic" {
		t.Fatalf("metadata: %+v", m)
	}
	lim := DefaultLimits()
	s1, err := m.Generate(7, 3, lim)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := m.Generate(7, 3, lim)
	if string(s1) != string(s2) {
		t.Fatalf("not deterministic: %s vs %s", s1, s2)
	}
	if !strings.Contains(string(s1), `"f":1.0`) {
		t.Fatalf("float lost its type in %s", s1)
	}
	sol, err := m.Solve(s1, lim)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m.Verify(s1, sol, lim); err != nil || v != 1 {
		t.Fatalf("solve does not verify: %v %v", v, err)
	}
	if v, _ := m.Verify(s1, sol+"0", lim); v != 0 {
		t.Fatalf("wrong answer scored %v", v)
	}
	if _, err := m.Generate(7, 9, lim); err == nil {
		t.Fatal("difficulty outside DIFFICULTY accepted")
	}
}

func TestLoadListsEveryProblem(t *testing.T) {
	bad := `NAME = "Bad Name"
TAGS = "x"
DIFFICULTY = (5, 1)

def generate(rng):
    return {}

render = 3
`
	_, err := Load("bad.star", []byte(bad))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrContract) {
		t.Fatalf("want a contract error, got %v", err)
	}
	for _, want := range []string{
		"bad.star:1: NAME \"Bad Name\" must match",
		"missing DESCRIPTION",
		"bad.star:2: TAGS must be a list",
		"bad.star:3: DIFFICULTY (5, 1)",
		"bad.star:5: generate must take exactly (rng, difficulty)",
		"bad.star:8: render must be a function",
		"missing def verify(state, answer)",
	} {
		if !strings.Contains(e.Msg, want) {
			t.Errorf("message lacks %q:\n%s", want, e.Msg)
		}
	}
}

func TestLoadExplainsPythonisms(t *testing.T) {
	cases := map[string]string{
		"x = [0] * 10**9\n":                  "pow(a, b)",
		"def f():\n    try:\n        pass\n": "",
	}
	for code, hint := range cases {
		_, err := Load("p.star", []byte(code))
		var e *Error
		if !errors.As(err, &e) || e.Kind != FailSyntax || e.Line == 0 {
			t.Fatalf("%q: want a syntax error with a line, got %v", code, err)
		}
		if hint != "" && !strings.Contains(e.Msg, hint) {
			t.Errorf("%q: message %q lacks hint %q", code, e.Msg, hint)
		}
	}
}

func TestStateMustBeJSON(t *testing.T) {
	code := strings.Replace(src, `return {"xs": xs`, `return {1: 2, "xs": xs`, 1)
	m, err := Load("demo.star", []byte(code))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Generate(1, 1, DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "keys must be strings") {
		t.Fatalf("got %v", err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := `{"b":[1,2.5,-3.0,true,null,"x\u00e9"],"a":{"z":12345678901234567890123}}`
	v, err := fromJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := toJSON(v, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	json.Unmarshal([]byte(in), &x)
	json.Unmarshal(out, &y)
	if !strings.HasPrefix(string(out), `{"b":`) || !strings.Contains(string(out), "-3.0") {
		t.Fatalf("order or float kind lost: %s", out)
	}
}

func TestExtractAnswer(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"<answer>42</answer>", "42", true},
		{"think <answer>1</answer> then <ANSWER> 2 \n</Answer>", "2", true},
		{"no tags", "", false},
		{"<answer>unclosed", "", false},
		{"</answer><answer>", "", false},
		{"<answer><answer>3</answer>", "3", true},
		{"<answer></answer>", "", true},
		{"<answer>" + strings.Repeat("x", MaxAnswerBytes) + "</answer>", strings.Repeat("x", MaxAnswerBytes), true},
		// Over the cap is a format failure, never a cut answer: a right
		// answer padded past the cap with wrong text after it scores 0.
		{"<answer>" + strings.Repeat("x", MaxAnswerBytes+10) + "</answer>", "", false},
		{"<answer>RRDD" + strings.Repeat(" ", MaxAnswerBytes) + "LLLL</answer>", "", false},
	}
	for _, c := range cases {
		got, ok := ExtractAnswer(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("ExtractAnswer(%.40q) = %.20q, %v; want %.20q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzExtractAnswer(f *testing.F) {
	for _, s := range []string{"<answer>1</answer>", "<ANSWER>x</answer><answer>", "", "<answer>\xff</answer>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ExtractAnswer(s)
		if !ok && a != "" {
			t.Fatal("answer without a block")
		}
		if len(a) > MaxAnswerBytes || strings.TrimSpace(a) != a {
			t.Fatalf("answer not trimmed or capped: %q", a)
		}
		if ok && !strings.Contains(strings.ToLower(s), "</answer>") {
			t.Fatal("block found without a closing tag")
		}
	})
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(src))
	f.Add([]byte("NAME = 1"))
	f.Add([]byte("def generate(rng, difficulty):\n    return rng"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := DefaultLimits()
		lim.Steps = 100_000
		m, err := LoadWithLimits("fuzz.star", b, lim)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if m.Name == "" || m.MinDifficulty > m.MaxDifficulty {
			t.Fatalf("accepted a module breaking the contract: %+v", m)
		}
	})
}

// The compiled-pattern cache stays bounded when a module builds a new
// pattern per instance, and still answers correctly after it starts over.
func TestRegexpCacheIsBounded(t *testing.T) {
	for i := 0; i < 3*maxCachedRes; i++ {
		c, err := compileRe(&starlark.Thread{}, "re.match", "^x"+strconv.Itoa(i)+"$")
		if err != nil {
			t.Fatal(err)
		}
		if !c.re.MatchString("x" + strconv.Itoa(i)) {
			t.Fatalf("pattern %d does not match", i)
		}
		reMu.Lock()
		n := len(reCache)
		reMu.Unlock()
		if n > maxCachedRes {
			t.Fatalf("cache holds %d patterns, more than %d", n, maxCachedRes)
		}
	}
}

// TestSampleSamePath checks that rng.sample gives the same draws whether the
// population is indexable (the fast path) or only iterable.
func TestSampleSamePath(t *testing.T) {
	src := `NAME = "s"
DESCRIPTION = "d"
TAGS = ["t"]

def generate(rng, difficulty):
    n = 3 + difficulty * 7
    a = rng.sample(range(n), difficulty)
    b = rng.sample({i: 0 for i in range(n)}.keys(), difficulty)
    return {"a": a, "b": b}

def render(state):
    return "x <answer>"

def verify(state, answer):
    return 1.0
`
	m, err := Load("s.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for d := 1; d <= 10; d++ {
		for seed := int64(0); seed < 20; seed++ {
			st, err := m.Generate(seed, d, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			// The two draws consume the stream one after the other, so
			// compare against a fresh rng running the general path twice.
			r := NewRng("s", seed, d)
			n := 3 + d*7
			var want [2][]int
			for w := range want {
				pool := make([]int, n)
				for i := range pool {
					pool[i] = i
				}
				for i := 0; i < d; i++ {
					j := i + int(r.below(uint64(n-i)))
					pool[i], pool[j] = pool[j], pool[i]
				}
				want[w] = pool[:d]
			}
			if got := fmt.Sprintf(`{"a":%s,"b":%s}`, ints(want[0]), ints(want[1])); got != string(st) {
				t.Fatalf("seed %d difficulty %d: got %s, want %s", seed, d, st, got)
			}
		}
	}
}

func ints(xs []int) string {
	s := "["
	for i, x := range xs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(x)
	}
	return s + "]"
}

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, gcMaxPercent},       // nothing live yet
		{2 << 20, gcMaxPercent}, // a worker with its modules: capped
		{8 << 20, 800},          // next collection 64 MiB above
		{32 << 20, 200},         //
		{64 << 20, 100},         // from here on Go's default
		{900 << 20, 100},        // near the memory cap: never below the default
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func BenchmarkRngSample3(b *testing.B) {
	r := NewRng("b", 1, 1)
	pop := starlark.NewList(make([]starlark.Value, 23))
	for i := 0; i < b.N; i++ {
		r.sampleIndexable(pop, 3)
	}
}
