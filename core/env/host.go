package env

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	resyntax "regexp/syntax"
	"strconv"
	"strings"
	"sync"

	starjson "go.starlark.net/lib/json"
	starmath "go.starlark.net/lib/math"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// The host surface: everything environment code can name beyond the Starlark
// language and its universe. This table is the whole of it.
//
//	json   encode, decode, indent (go.starlark.net/lib/json, with depth and size bounds)
//	math   go.starlark.net/lib/math
//	re     Go RE2 with a Python-like API (see reModule)
//	sum    sum(iterable, start=0)
//	pow    pow(a, b[, mod]): Starlark has no ** operator
//	divmod divmod(a, b)
//	round  round(x, ndigits=0)
//	format format(value, spec): Python's format-spec mini-language (format.go),
//	       for the width and precision that Starlark's % does not take
//
// The universe builtins that can run long in Go (int, str, sorted, min, …)
// are shadowed by versions that charge for their work (cost.go).
// The rng is not a global: generate(rng, difficulty) receives it.
var predeclared = func() starlark.StringDict {
	d := starlark.StringDict{
		"json":   jsonModule,
		"math":   starmath.Module,
		"re":     reModule,
		"sum":    starlark.NewBuiltin("sum", builtinSum),
		"pow":    starlark.NewBuiltin("pow", builtinPow),
		"divmod": starlark.NewBuiltin("divmod", builtinDivmod),
		"round":  starlark.NewBuiltin("round", builtinRound),
		"format": starlark.NewBuiltin("format", builtinFormat),
	}
	for k, v := range costedUniverse {
		d[k] = v
	}
	return d
}()

// fileOptions narrows the gap to the Python that LLMs write.
var fileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// builtinSum is Python's sum, charging one step per value plus the cost of
// each addition. Strings and lists are accumulated in one buffer (Python
// refuses sum over strings; repeated + would copy the whole prefix at every
// value, quadratic work in one step).
func builtinSum(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var seq starlark.Iterable
	var start starlark.Value = starlark.MakeInt(0)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "iterable", &seq, "start?", &start); err != nil {
		return nil, err
	}
	what := func() string { return "sum() over " + strconv.FormatUint(lenOf(seq), 10) + " values" }
	if err := charge(thread, lenOf(seq), what); err != nil {
		return nil, err
	}
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	switch acc := start.(type) {
	case starlark.String:
		var sb strings.Builder
		sb.WriteString(string(acc))
		for it.Next(&x) {
			s, ok := x.(starlark.String)
			if !ok {
				return nil, fmt.Errorf("sum: unknown binary op: string + %s", x.Type())
			}
			if err := charge(thread, uint64(len(s))/bytesPerStep, what); err != nil {
				return nil, err
			}
			if sb.Len()+len(s) > maxOutputDefault*16 {
				return nil, fmt.Errorf("sum: result too large (more than %d bytes)", maxOutputDefault*16)
			}
			sb.WriteString(string(s))
		}
		return starlark.String(sb.String()), nil
	case *starlark.List:
		out := append([]starlark.Value(nil), listElems(acc)...)
		for it.Next(&x) {
			l, ok := x.(*starlark.List)
			if !ok {
				return nil, fmt.Errorf("sum: unknown binary op: list + %s", x.Type())
			}
			if err := charge(thread, uint64(l.Len()), what); err != nil {
				return nil, err
			}
			out = append(out, listElems(l)...)
		}
		return starlark.NewList(out), nil
	}
	acc := start
	for i := 0; it.Next(&x); i++ {
		if xi, ok := x.(starlark.Int); ok {
			if _, small := xi.Int64(); !small {
				if err := charge(thread, uint64(xi.BigInt().BitLen())/64, what); err != nil {
					return nil, err
				}
			}
		}
		if i&1023 == 1023 {
			if err := checkCancel(thread); err != nil {
				return nil, err
			}
		}
		var err error
		acc, err = starlark.Binary(syntax.PLUS, acc, x)
		if err != nil {
			return nil, fmt.Errorf("sum: %v", err)
		}
	}
	return acc, nil
}

func listElems(l *starlark.List) []starlark.Value {
	out := make([]starlark.Value, l.Len())
	for i := range out {
		out[i] = l.Index(i)
	}
	return out
}

// words is the size of an int in 64-bit words.
func words(x starlark.Int) uint64 { return uint64(x.BigInt().BitLen())/64 + 1 }

// mulCost is the cost of multiplying integers of a and b words (schoolbook
// for small ones, Karatsuba-like growth for big ones: measured, 5k words ×
// 5k words ≈ 2 ms).
func mulCost(a, b uint64) uint64 {
	if a < 32 || b < 32 {
		return 1 + satMul(a, b)/64
	}
	m := max(a, b)
	return 1 + uint64(math.Pow(float64(m), 1.6)/4)
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
		what := func() string {
			return fmt.Sprintf("pow() of a %d-bit int to a %d-bit power", xi.BigInt().BitLen(), yi.BigInt().BitLen())
		}
		if m, ok := mod.(starlark.Int); ok {
			if m.Sign() == 0 {
				return nil, fmt.Errorf("pow: modulus is zero")
			}
			// one squaring and one multiplication modulo m per bit of y
			w := words(m)
			cost := satMul(uint64(yi.BigInt().BitLen())+1, 2*mulCost(w, w)+satMul(w, w)/16)
			if err := charge(thread, cost, what); err != nil {
				return nil, err
			}
			return starlark.MakeBigInt(new(big.Int).Exp(xi.BigInt(), yi.BigInt(), m.BigInt())), nil
		}
		// Bound the result size: |x|^y has about y*log2|x| bits.
		bitsX := xi.BigInt().BitLen()
		e, ok := yi.Int64()
		if !ok || (bitsX > 1 && float64(e)*float64(bitsX) > 1<<20) {
			return nil, fmt.Errorf("pow: result too large (%s ** %s)", x, y)
		}
		if bitsX > 1 {
			w := uint64(float64(e)*float64(bitsX))/64 + 1
			if err := charge(thread, mulCost(w, w), what); err != nil {
				return nil, err
			}
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
	xi, ok1 := x.(starlark.Int)
	yi, ok2 := y.(starlark.Int)
	if ok1 && ok2 {
		if err := charge(thread, 2*mulCost(words(xi), words(yi)), func() string { return "divmod() of big ints" }); err != nil {
			return nil, err
		}
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

// compiled is a pattern with the size of its RE2 program: matching costs
// at most about program size × input length (RE2's guarantee), and that is
// what a call is charged (reCost).
type compiled struct {
	re   *regexp.Regexp
	prog uint64
}

// reCache keeps compiled patterns: most environments use a few fixed ones on
// every call. Some build a pattern per instance (regex_matching does), so
// the cache is bounded: past maxCachedRes patterns it starts over, which
// keeps a long-lived worker's memory flat.
var (
	reMu    sync.Mutex
	reCache = map[string]compiled{}
)

const maxCachedRes = 512

func compileRe(thread *starlark.Thread, fn, pattern string) (compiled, error) {
	reMu.Lock()
	c, ok := reCache[pattern]
	reMu.Unlock()
	if ok {
		return c, nil
	}
	if len(pattern) > maxPattern {
		return c, fmt.Errorf("%s: pattern longer than %d bytes", fn, maxPattern)
	}
	// Compiling is linear in the pattern, with RE2's own bound on repetition.
	if err := charge(thread, 1+uint64(len(pattern))*4, func() string { return fn + " compiling a pattern" }); err != nil {
		return c, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return c, fmt.Errorf("%s: bad pattern (RE2 syntax; no lookaround or backreferences): %v", fn, err)
	}
	c = compiled{re: re, prog: uint64(len(pattern))}
	if tree, err := resyntax.Parse(pattern, resyntax.Perl); err == nil {
		if p, err := resyntax.Compile(tree.Simplify()); err == nil {
			c.prog = uint64(len(p.Inst))
		}
	}
	reMu.Lock()
	if len(reCache) >= maxCachedRes {
		clear(reCache)
	}
	reCache[pattern] = c
	reMu.Unlock()
	return c, nil
}

// reCost charges a match of c over s: program size × input length, the
// bound of RE2's matchers, at 16 instruction-bytes a step. That is exact
// for the NFA's worst case (measured: a 300-fold alternation over 100 KB,
// ≈ 4.5 s) to within the CPU-time limit's margin, and pessimistic for the
// anchored, one-pass patterns verifiers use, which stay far below a
// budget even over a 16 KB answer.
func reCost(thread *starlark.Thread, fn string, c compiled, s string) error {
	n := satMul(c.prog, uint64(len(s))+1) / 16
	return charge(thread, 1+n, func() string {
		return fmt.Sprintf("%s with a %d-instruction program over %d bytes", fn, c.prog, len(s))
	})
}

func reMatch(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
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
	c, err := compileRe(thread, b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	if err := reCost(thread, b.Name(), c, s); err != nil {
		return nil, err
	}
	loc := c.re.FindStringSubmatchIndex(s)
	if loc == nil {
		return starlark.None, nil
	}
	return &matchObject{s: s, loc: loc}, nil
}

func reFindall(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pattern, &s); err != nil {
		return nil, err
	}
	c, err := compileRe(thread, b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	if err := reCost(thread, b.Name(), c, s); err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, m := range c.re.FindAllStringSubmatch(s, -1) {
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
	if err := charge(thread, uint64(len(out)), func() string { return b.Name() + " results" }); err != nil {
		return nil, err
	}
	return starlark.NewList(out), nil
}

var pyGroupRef = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

func reSub(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, repl, s string
	count := 0
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "repl", &repl, "string", &s, "count?", &count); err != nil {
		return nil, err
	}
	c, err := compileRe(thread, b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	if err := reCost(thread, b.Name(), c, s); err != nil {
		return nil, err
	}
	re := c.re
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

func reSplit(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	maxsplit := 0
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "string", &s, "maxsplit?", &maxsplit); err != nil {
		return nil, err
	}
	c, err := compileRe(thread, b.Name(), pattern)
	if err != nil {
		return nil, err
	}
	if err := reCost(thread, b.Name(), c, s); err != nil {
		return nil, err
	}
	re := c.re
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

// ---- json ----------------------------------------------------------------

// jsonModule is go.starlark.net/lib/json with bounds: nesting deeper than
// maxDepth is refused (the library recurses in Go, so a deeply nested
// document would take the worker's stack), and every call is charged for
// the bytes it reads or writes and for the decimal conversion of big
// integers.
var jsonModule = &starlarkstruct.Module{
	Name: "json",
	Members: starlark.StringDict{
		"encode": starlark.NewBuiltin("json.encode", jsonEncode),
		"decode": starlark.NewBuiltin("json.decode", jsonText),
		"indent": starlark.NewBuiltin("json.indent", jsonText),
	},
}

func jsonLib(name string) *starlark.Builtin {
	return starjson.Module.Members[name].(*starlark.Builtin)
}

func jsonEncode(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 1 {
		n := sizeOf(args[0], remaining(thread), true)
		if err := charge(thread, n, func() string { return fmt.Sprintf("%s of a value of size %d", b.Name(), n) }); err != nil {
			return nil, err
		}
		if d := depthOf(args[0], maxDepth+1); d > maxDepth {
			return nil, fmt.Errorf("%s: the value is nested more than %d levels deep", b.Name(), maxDepth)
		}
	}
	return jsonLib("encode").CallInternal(thread, args, kwargs)
}

// jsonText is json.decode and json.indent: the text is scanned first for
// its nesting depth and its longest number.
func jsonText(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		if s, ok := args[0].(starlark.String); ok {
			depth, digits := scanJSON(string(s))
			if depth > maxDepth {
				return nil, fmt.Errorf("%s: the document is nested more than %d levels deep", b.Name(), maxDepth)
			}
			n := satAdd(1+uint64(len(s))/16, decimalCost(uint64(digits)))
			if err := charge(thread, n, func() string { return fmt.Sprintf("%s of %d bytes", b.Name(), len(s)) }); err != nil {
				return nil, err
			}
		}
	}
	name := strings.TrimPrefix(b.Name(), "json.")
	return jsonLib(name).CallInternal(thread, args, kwargs)
}

// scanJSON returns the deepest nesting of arrays and objects in a JSON text
// and the longest run of digits outside strings.
func scanJSON(s string) (depth, digits int) {
	d, run, inStr := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		if c >= '0' && c <= '9' {
			run++
			digits = max(digits, run)
			continue
		}
		run = 0
		switch c {
		case '"':
			inStr = true
		case '[', '{':
			d++
			depth = max(depth, d)
		case ']', '}':
			d--
		}
	}
	return depth, digits
}

// depthOf is the nesting depth of v's lists, tuples and dicts, counted up
// to stop (a cyclic value is deeper than any stop).
func depthOf(v starlark.Value, stop int) int {
	type item struct {
		v starlark.Value
		d int
	}
	deepest := 0
	stack := []item{{v, 0}}
	for n := 0; len(stack) > 0 && n < 1<<22; n++ {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.d > deepest {
			deepest = x.d
			if deepest >= stop {
				return deepest
			}
		}
		switch c := x.v.(type) {
		case *starlark.List:
			for i := 0; i < c.Len(); i++ {
				stack = append(stack, item{c.Index(i), x.d + 1})
			}
		case starlark.Tuple:
			for _, e := range c {
				stack = append(stack, item{e, x.d + 1})
			}
		case *starlark.Dict:
			for _, kv := range c.Items() {
				stack = append(stack, item{kv[1], x.d + 1})
			}
		}
	}
	return deepest
}
