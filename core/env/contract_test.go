package env

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// TestMetadataIsWhatListingsShow: NAME, DESCRIPTION, TAGS and DIFFICULTY
// must each be bound once to a literal that stays what it says, so that a
// listing read from the syntax tree (StaticMeta) shows what the sandbox
// runs; and each is bounded.
func TestMetadataIsWhatListingsShow(t *testing.T) {
	body := `
def generate(rng, difficulty):
    return {"n": difficulty}

def render(state):
    return "<answer></answer>"

def verify(state, answer):
    return False
`
	head := "NAME = \"m\"\nDESCRIPTION = \"d\"\nTAGS = [\"t\"]\nDIFFICULTY = (1, 3)\n"
	if _, err := Load("ok.star", []byte(head+body)); err != nil {
		t.Fatalf("a literal head does not load: %v", err)
	}
	cases := []struct{ from, to, want string }{
		{`NAME = "m"`, `NAME = "m" + "x"`, "NAME must be a literal"},
		{`NAME = "m"`, `NAME = "m"` + "\nNAME = \"other\"", "NAME is bound again"},
		{`TAGS = ["t"]`, `TAGS = ["t"]` + "\nTAGS.append(\"hidden\")", "TAGS changes after it is bound"},
		{`DIFFICULTY = (1, 3)`, `LO = 1` + "\nDIFFICULTY = (LO, 3)", "DIFFICULTY must be a literal"},
		{`DIFFICULTY = (1, 3)`, `DIFFICULTY = (1, 3)` + "\nfor DIFFICULTY in [(1, 9)]:\n    pass", "DIFFICULTY is bound again"},
		{`NAME = "m"`, `NAME = "` + strings.Repeat("m", 65) + `"`, "more than the 64 allowed"},
		{`DESCRIPTION = "d"`, `DESCRIPTION = "` + strings.Repeat("d", 2000) + `"`, "more than the 1024 allowed"},
		{`TAGS = ["t"]`, `TAGS = [` + strings.Repeat(`"t", `, 20) + `]`, "more than the 16 allowed"},
		{`TAGS = ["t"]`, `TAGS = ["Not A Tag"]`, "a tag is 1–64 of"},
	}
	for _, c := range cases {
		src := strings.Replace(head, c.from, c.to, 1) + body
		_, err := Load("m.star", []byte(src))
		if !errors.Is(err, ErrContract) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a contract error saying %q", c.to, err, c.want)
		}
		meta, _ := StaticMeta("m.star", []byte(src))
		if len(meta.Name) > MaxNameLen || len(meta.Description) > MaxDescriptionLen || len(meta.Tags) > MaxTags {
			t.Errorf("%s: StaticMeta returned an unbounded %+v", c.to, meta)
		}
	}
}

// TestErrorTextIsCapped: the text of an error is environment-controlled
// (fail's message, a key, a list of problems) and is cut at the source.
func TestErrorTextIsCapped(t *testing.T) {
	for _, gen := range []string{
		`fail("x" * 1000000)`,
		`return {"n": {}["k" * 1000000]}`,
	} {
		m, err := Load("h.star", []byte(hostile(gen, "", "")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Generate(1, 1, DefaultLimits())
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: got %v", gen, err)
		}
		if len(e.Msg) > MaxErrorText || len(e.Error()) > MaxErrorText+200 {
			t.Errorf("%s: a %d-byte message", gen, len(e.Msg))
		}
		if !strings.Contains(e.Msg, "more bytes cut]") {
			t.Errorf("%s: the message does not say it was cut", gen)
		}
	}
	// A contract error listing thousands of problems.
	var b strings.Builder
	b.WriteString("NAME = \"m\"\nDESCRIPTION = \"d\"\nTAGS = [\"t\"]\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "NAME = \"again%d\"\n", i)
	}
	_, err := Load("m.star", []byte(b.String()))
	if err == nil || len(err.Error()) > MaxErrorText+200 {
		t.Errorf("a %d-byte contract error", len(err.Error()))
	}
}

// TestRandintFullRange: rng.randint is uniform over every range it takes,
// the whole int64 range included (whose width 2^64 does not fit in the
// uint64 that Intn adds one to), and refuses bounds it cannot draw from.
func TestRandintFullRange(t *testing.T) {
	r := NewRng("x", 1, 1)
	const n = 8000
	var quarters [4]int
	for range n {
		v := r.Intn(-1<<63, 1<<63-1)
		quarters[uint64(v)>>62]++
	}
	for q, c := range quarters {
		// Binomial(8000, 1/4): mean 2000, sd 39; 5 sd either side.
		if c < 2000-195 || c > 2000+195 {
			t.Errorf("quarter %d of the int64 range drawn %d times of %d: %v", q, c, n, quarters)
		}
	}
	// A range wider than int64's half (b - a overflows int64).
	var neg, pos int
	for range n {
		if v := r.Intn(-1<<62-5, 1<<62+5); v < 0 {
			neg++
		} else {
			pos++
		}
	}
	if neg < 3800 || pos < 3800 {
		t.Errorf("[-2^62-5, 2^62+5]: %d negative, %d non-negative of %d", neg, pos, n)
	}
	m, err := Load("r.star", []byte(hostile(`return {"n": rng.randint(0, 1 << 70)}`, "", "")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(1, 1, DefaultLimits()); err == nil || !strings.Contains(err.Error(), "do not fit in 64 bits") {
		t.Errorf("rng.randint(0, 1 << 70): got %v, want a refusal naming the 64 bits", err)
	}
	v, err := starlark.Call(&starlark.Thread{}, mustAttr(NewRng("x", 1, 1), "uniform"), starlark.Tuple{starlark.Float(-1e308), starlark.Float(1e308)}, nil)
	if err == nil {
		t.Errorf("rng.uniform(-1e308, 1e308) = %v, want a refusal (the width overflows)", v)
	}
}

func mustAttr(v starlark.HasAttrs, name string) starlark.Value {
	a, err := v.Attr(name)
	if err != nil || a == nil {
		panic(name)
	}
	return a
}
