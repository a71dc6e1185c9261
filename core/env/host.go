package env

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
	"sync"

	"go.starlark.net/lib/json"
	starmath "go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// The host surface: everything environment code can name beyond the Starlark
// language and its universe. This table is the whole of it.
//
//	json   go.starlark.net/lib/json: encode, decode, indent
//	math   go.starlark.net/lib/math
//	re     Go RE2 with a Python-like API (see reModule)
//	sum    sum(iterable, start=0)
//	pow    pow(a, b): Starlark has no ** operator
//	divmod divmod(a, b)
//	round  round(x, ndigits=0)
//
// The rng is not a global: generate(rng, difficulty) receives it.
var predeclared = starlark.StringDict{
	"json":   json.Module,
	"math":   starmath.Module,
	"re":     reModule,
	"sum":    starlark.NewBuiltin("sum", builtinSum),
	"pow":    starlark.NewBuiltin("pow", builtinPow),
	"divmod": starlark.NewBuiltin("divmod", builtinDivmod),
	"round":  starlark.NewBuiltin("round", builtinRound),
}

// fileOptions narrows the gap to the Python that LLMs write.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

func builtinSum(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Iterable
	var start starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "iterable", &seq, "start?", &start); err != nil {
		return nil, err
	}
	acc := start
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		var err error
		acc, err = starlark.Binary(syntax.PLUS, acc, x)
		if err != nil {
			return nil, fmt.Errorf("sum: %v", err)
		}
	}
	return acc, nil
}

func builtinPow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	var mod starlark.Value = starlark.None
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &x, &y, &mod); err != nil {
		return nil, err
	}
	xi, xInt := x.(starlark.Int)
	yi, yInt := y.(starlark.Int)
	if xInt && yInt {
		if yi.Sign() < 0 {
			xf, _ := starlark.AsFloat(x)
			yf, _ := starlark.AsFloat(y)
			return starlark.Float(math.Pow(xf, yf)), nil
		}
		if m, ok := mod.(starlark.Int); ok {
			if m.Sign() == 0 {
				return nil, fmt.Errorf("pow: modulus is zero")
			}
			return starlark.MakeBigInt(new(big.Int).Exp(xi.BigInt(), yi.BigInt(), m.BigInt())), nil
		}
		// Bound the result size: |x|^y has about y*log2|x| bits.
		bitsX := xi.BigInt().BitLen()
		e, ok := yi.Int64()
		if !ok || (bitsX > 1 && float64(e)*float64(bitsX) > 1<<20) {
			return nil, fmt.Errorf("pow: result too large (%s ** %s)", x, y)
		}
		return starlark.MakeBigInt(new(big.Int).Exp(xi.BigInt(), yi.BigInt(), nil)), nil
	}
	xf, ok1 := starlark.AsFloat(x)
	yf, ok2 := starlark.AsFloat(y)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("pow: want numbers, got %s and %s", x.Type(), y.Type())
	}
	return starlark.Float(math.Pow(xf, yf)), nil
}

func builtinDivmod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &x, &y); err != nil {
		return nil, err
	}
	q, err := starlark.Binary(syntax.SLASHSLASH, x, y)
	if err != nil {
		return nil, fmt.Errorf("divmod: %v", err)
	}
	r, err := starlark.Binary(syntax.PERCENT, x, y)
	if err != nil {
		return nil, fmt.Errorf("divmod: %v", err)
	}
	return starlark.Tuple{q, r}, nil
}

func builtinRound(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value
	var nd starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "x", &x, "ndigits?", &nd); err != nil {
		return nil, err
	}
	f, ok := starlark.AsFloat(x)
	if !ok {
		return nil, fmt.Errorf("round: want a number, got %s", x.Type())
	}
	if nd == starlark.None {
		return starlark.NumberToInt(starlark.Float(math.RoundToEven(f)))
	}
	n, err := starlark.AsInt32(nd)
	if err != nil {
		return nil, fmt.Errorf("round: ndigits: %v", err)
	}
	p := math.Pow(10, float64(n))
	return starlark.Float(math.RoundToEven(f*p) / p), nil
}

// ---- re ----------------------------------------------------------------

var reModule = &starlarkstruct.Module{
	Name: "re",
	Members: starlark.StringDict{
		"match":     starlark.NewBuiltin("re.match", reMatch),
		"search":    starlark.NewBuiltin("re.search", reMatch),
		"fullmatch": starlark.NewBuiltin("re.fullmatch", reMatch),
		"findall":   starlark.NewBuiltin("re.findall", reFindall),
		"sub":       starlark.NewBuiltin("re.sub", reSub),
		"split":     starlark.NewBuiltin("re.split", reSplit),
		"escape":    starlark.NewBuiltin("re.escape", reEscape),
	},
}

const maxPattern = 4096

// reCache keeps compiled patterns: most environments use a few fixed ones on
// every call. Some build a pattern per instance (regex_matching does), so
// the cache is bounded: past maxCachedRes patterns it starts over, which
// keeps a long-lived worker's memory flat.
var (
	reMu    sync.Mutex
	reCache = map[string]*regexp.Regexp{}
)

const maxCachedRes = 512

func compileRe(fn, pattern string) (*regexp.Regexp, error) {
	reMu.Lock()
	re, ok := reCache[pattern]
	reMu.Unlock()
	if ok {
		return re, nil
	}
	if len(pattern) > maxPattern {
		return nil, fmt.Errorf("%s: pattern longer than %d bytes", fn, maxPattern)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: bad pattern (RE2 syntax; no lookaround or backreferences): %v", fn, err)
	}
	reMu.Lock()
	if len(reCache) >= maxCachedRes {
		clear(reCache)
	}
	reCache[pattern] = re
	reMu.Unlock()
	return re, nil
}

func reMatch(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pattern, &s); err != nil {
		return nil, err
	}
	switch b.Name() {
	case "re.match":
		pattern = `\A(?:` + pattern + `)`
	case "re.fullmatch":
		pattern = `\A(?:` + pattern + `)\z`
	}
	re, err := compileRe(b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return starlark.None, nil
	}
	return &matchObject{s: s, loc: loc}, nil
}

func reFindall(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pattern, &s); err != nil {
		return nil, err
	}
	re, err := compileRe(b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		switch len(m) {
		case 1:
			out = append(out, starlark.String(m[0]))
		case 2:
			out = append(out, starlark.String(m[1]))
		default:
			t := make(starlark.Tuple, len(m)-1)
			for i, g := range m[1:] {
				t[i] = starlark.String(g)
			}
			out = append(out, t)
		}
	}
	return starlark.NewList(out), nil
}

var pyGroupRef = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

func reSub(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, repl, s string
	count := 0
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "repl", &repl, "string", &s, "count?", &count); err != nil {
		return nil, err
	}
	re, err := compileRe(b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	// Python's \1 and \g<name> become Go's ${1} and ${name}.
	tmpl := strings.ReplaceAll(repl, "$", "$$")
	if strings.Contains(repl, "$") && !strings.Contains(repl, `\`) {
		tmpl = repl // Go-style $1 references, as documented
	}
	tmpl = pyGroupRef.ReplaceAllString(tmpl, "$${$1$2}")
	n := 0
	var sb strings.Builder
	last := 0
	for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
		if count > 0 && n == count {
			break
		}
		sb.WriteString(s[last:loc[0]])
		sb.Write(re.ExpandString(nil, tmpl, s, loc))
		last = loc[1]
		n++
		if sb.Len() > maxOutputDefault {
			return nil, fmt.Errorf("%s: result larger than %d bytes", b.Name(), maxOutputDefault)
		}
	}
	sb.WriteString(s[last:])
	return starlark.String(sb.String()), nil
}

func reSplit(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	maxsplit := 0
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "string", &s, "maxsplit?", &maxsplit); err != nil {
		return nil, err
	}
	re, err := compileRe(b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	n := -1
	if maxsplit > 0 {
		n = maxsplit + 1
	}
	parts := re.Split(s, n)
	out := make([]starlark.Value, len(parts))
	for i, p := range parts {
		out[i] = starlark.String(p)
	}
	return starlark.NewList(out), nil
}

func reEscape(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &s); err != nil {
		return nil, err
	}
	return starlark.String(regexp.QuoteMeta(s)), nil
}

// matchObject is re's match result: m.group(i=0), m.groups(), m.start(i=0),
// m.end(i=0), m.span(i=0). An unmatched group is None.
type matchObject struct {
	s   string
	loc []int
}

func (m *matchObject) String() string        { return fmt.Sprintf("<re.match %q>", m.s[m.loc[0]:m.loc[1]]) }
func (m *matchObject) Type() string          { return "re.match" }
func (m *matchObject) Freeze()               {}
func (m *matchObject) Truth() starlark.Bool  { return true }
func (m *matchObject) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: re.match") }
func (m *matchObject) AttrNames() []string {
	return []string{"end", "group", "groups", "span", "start"}
}

func (m *matchObject) group(i int) starlark.Value {
	if m.loc[2*i] < 0 {
		return starlark.None
	}
	return starlark.String(m.s[m.loc[2*i]:m.loc[2*i+1]])
}

func (m *matchObject) Attr(name string) (starlark.Value, error) {
	ngroups := len(m.loc)/2 - 1
	index := func(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (int, error) {
		i := 0
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0, &i); err != nil {
			return 0, err
		}
		if i < 0 || i > ngroups {
			return 0, fmt.Errorf("%s: no such group %d (the pattern has %d)", b.Name(), i, ngroups)
		}
		return i, nil
	}
	switch name {
	case "group":
		return starlark.NewBuiltin("group", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			i, err := index(b, args, kwargs)
			if err != nil {
				return nil, err
			}
			return m.group(i), nil
		}), nil
	case "groups":
		return starlark.NewBuiltin("groups", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			t := make(starlark.Tuple, ngroups)
			for i := range t {
				t[i] = m.group(i + 1)
			}
			return t, nil
		}), nil
	case "start", "end", "span":
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			i, err := index(b, args, kwargs)
			if err != nil {
				return nil, err
			}
			s, e := starlark.MakeInt(m.loc[2*i]), starlark.MakeInt(m.loc[2*i+1])
			switch name {
			case "start":
				return s, nil
			case "end":
				return e, nil
			}
			return starlark.Tuple{s, e}, nil
		}), nil
	}
	return nil, nil
}
