package env

import (
	"math"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// TestFormatMatchesPython: every expected string is what CPython 3 prints
// for format(value, spec).
func TestFormatMatchesPython(t *testing.T) {
	cases := []struct {
		v          any
		spec, want string
	}{
		{3, "5d", "    3"},
		{3.14159, ".2f", "3.14"},
		{"ab", ">5", "   ab"},
		{"ab", "<5", "ab   "},
		{"ab", "^6", "  ab  "},
		{"ab", "*^7", "**ab***"},
		{42, "08d", "00000042"},
		{-42, "08d", "-0000042"},
		{-42, "=8d", "-     42"},
		{1234567, ",", "1,234,567"},
		{1234567.891, ",.2f", "1,234,567.89"},
		{255, "x", "ff"},
		{255, "#x", "0xff"},
		{255, "X", "FF"},
		{5, "b", "101"},
		{5, "#010b", "0b00000101"},
		{8, "o", "10"},
		{1.2345e-05, "g", "1.2345e-05"},
		{123456789.0, "g", "1.23457e+08"},
		{1.5, "e", "1.500000e+00"},
		{1.5, ".3E", "1.500E+00"},
		{0.256, ".1%", "25.6%"},
		{3, "+d", "+3"},
		{3, " d", " 3"},
		{math.Copysign(0, -1), ".1f", "-0.0"},
		{1e+20, ".3g", "1e+20"},
		{100.0, "", "100.0"},
		{2.5, ".3", "2.5"},
		{"hello", ".3", "hel"},
		{true, "", "True"},
		{true, "d", "1"},
		{nil, "", "None"},
		{1e+16, "", "1e+16"},
		{12, "_b", "1100"},
		{1234567, "_", "1_234_567"},
		{65, "c", "A"},
		{math.Inf(1), "f", "inf"},
		{math.NaN(), "F", "NAN"},
		{3, "f", "3.000000"},
		{0.1, ".20f", "0.10000000000000000555"},
		{2, ".0f", "2"},
		{0, "g", "0"},
		{123.456, "010.2f", "0000123.46"},
		{-1.5, "+.1f", "-1.5"},
		{7, "^5", "  7  "},
		{1.0, "#g", "1.00000"},
	}
	for _, c := range cases {
		var v starlark.Value
		switch x := c.v.(type) {
		case int:
			v = starlark.MakeInt(x)
		case float64:
			v = starlark.Float(x)
		case string:
			v = starlark.String(x)
		case bool:
			v = starlark.Bool(x)
		case nil:
			v = starlark.None
		}
		got, err := starlark.Call(&starlark.Thread{}, predeclared["format"], starlark.Tuple{v, starlark.String(c.spec)}, nil)
		if err != nil {
			t.Errorf("format(%v, %q): %v", c.v, c.spec, err)
			continue
		}
		if s := string(got.(starlark.String)); s != c.want {
			t.Errorf("format(%v, %q) = %q, Python gives %q", c.v, c.spec, s, c.want)
		}
	}
	for _, bad := range []string{"5.2.1f", "99999999d", ".f", "q"} {
		if _, err := starlark.Call(&starlark.Thread{}, predeclared["format"], starlark.Tuple{starlark.MakeInt(3), starlark.String(bad)}, nil); err == nil {
			t.Errorf("format(3, %q) gave no error", bad)
		}
	}
}

// TestDialectGapsGetHints: runtime errors that come from Starlark not
// being Python name what to write instead, as syntax errors do.
func TestDialectGapsGetHints(t *testing.T) {
	cases := []struct{ render, hint string }{
		{`return "%2d <answer>" % state["n"]`, `format(x, "5d")`},
		{`return "{:.2f} <answer>".format(1.5)`, `format(x, ".2f")`},
		{`return "".join([c for c in "abc"]) + "<answer>"`, "s.elems()"},
		{`return "x".rjust(5) + "<answer>"`, `format(s, ">8")`},
		{`xs = [3, 1]
    xs.sort()
    return "<answer>"`, "sorted(xs)"},
		{`return "n=" + state["n"]`, "str(n)"},
	}
	for _, c := range cases {
		m, err := Load("h.star", []byte(hostile("", c.render, "")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.Render([]byte(`{"n": 3}`), DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("render %q: got %v, want the hint %q", c.render, err, c.hint)
		}
	}
}
