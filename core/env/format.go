package env

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// format(value, spec) is Python's builtin of that name: the format-spec
// mini-language [[fill]align][sign][#][0][width][,|_][.precision][type],
// with types s, d, b, o, x, X, c, n, e, E, f, F, g, G and %. Starlark's %
// operator takes no width or precision ("%5.2f" is an "unknown
// conversion"), and str.format takes no spec at all; LLM-written
// environments reach for both, so the host offers the Python spelling that
// does the same: format(x, ".2f"), format(n, ">5"), format(i, "03d").

// maxFormatWidth bounds a spec's width and precision: a spec is tiny text
// that could otherwise ask for gigabytes.
const maxFormatWidth = 4096

type formatSpec struct {
	fill      rune
	align     byte // '<', '>', '^', '=' or 0
	sign      byte // '+', '-', ' ' or 0
	alt       bool
	zero      bool
	width     int
	group     byte // ',', '_' or 0
	precision int  // -1: none
	typ       byte // 0: none
}

func parseFormatSpec(spec string) (formatSpec, error) {
	f := formatSpec{fill: ' ', precision: -1}
	s := spec
	isAlign := func(c byte) bool { return c == '<' || c == '>' || c == '^' || c == '=' }
	if r, n := utf8.DecodeRuneInString(s); n > 0 && len(s) > n && isAlign(s[n]) {
		f.fill, f.align, s = r, s[n], s[n+1:]
	} else if len(s) > 0 && isAlign(s[0]) {
		f.align, s = s[0], s[1:]
	}
	if len(s) > 0 && (s[0] == '+' || s[0] == '-' || s[0] == ' ') {
		f.sign, s = s[0], s[1:]
	}
	if len(s) > 0 && s[0] == '#' {
		f.alt, s = true, s[1:]
	}
	if len(s) > 0 && s[0] == '0' {
		f.zero, s = true, s[1:]
	}
	num := func() (int, bool, error) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false, nil
		}
		n, err := strconv.Atoi(s[:i])
		s = s[i:]
		if err != nil || n > maxFormatWidth {
			return 0, false, fmt.Errorf("format: %q asks for more than %d characters", spec, maxFormatWidth)
		}
		return n, true, nil
	}
	var err error
	if f.width, _, err = num(); err != nil {
		return f, err
	}
	if len(s) > 0 && (s[0] == ',' || s[0] == '_') {
		f.group, s = s[0], s[1:]
	}
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
		var ok bool
		if f.precision, ok, err = num(); err != nil {
			return f, err
		}
		if !ok {
			return f, fmt.Errorf("format: %q: a '.' must be followed by the precision", spec)
		}
	}
	if len(s) == 1 && strings.IndexByte("sdboxXcneEfFgG%", s[0]) >= 0 {
		f.typ, s = s[0], ""
	}
	if s != "" {
		return f, fmt.Errorf("format: invalid format specifier %q (Python's mini-language: [[fill]align][sign][#][0][width][,][.precision][type])", spec)
	}
	return f, nil
}

func builtinFormat(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var v starlark.Value
	spec := ""
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &v, &spec); err != nil {
		return nil, err
	}
	f, err := parseFormatSpec(spec)
	if err != nil {
		return nil, err
	}
	cost := 1 + uint64(f.width+max(f.precision, 0))/bytesPerStep
	if i, ok := v.(starlark.Int); ok {
		cost += bigIntCost(i)
	} else if s, ok := v.(starlark.String); ok {
		cost += uint64(len(s)) / bytesPerStep
	}
	if err := charge(thread, cost, func() string { return "format()" }); err != nil {
		return nil, err
	}
	out, err := formatValue(v, f)
	if err != nil {
		return nil, fmt.Errorf("format: %v", err)
	}
	return starlark.String(out), nil
}

func formatValue(v starlark.Value, f formatSpec) (string, error) {
	if bv, ok := v.(starlark.Bool); ok {
		if f.typ == 0 || f.typ == 's' {
			return pad(bv.String(), f, '<'), nil
		}
		v = starlark.MakeInt(map[bool]int{false: 0, true: 1}[bool(bv)])
	}
	switch x := v.(type) {
	case starlark.String:
		if f.typ != 0 && f.typ != 's' {
			return "", fmt.Errorf("unknown format code '%c' for a string", f.typ)
		}
		if f.sign != 0 || f.alt || f.group != 0 || f.align == '=' {
			return "", fmt.Errorf("sign, '#', grouping and '=' are not allowed with a string")
		}
		s := string(x)
		if f.precision >= 0 && utf8.RuneCountInString(s) > f.precision {
			s = string([]rune(s)[:f.precision])
		}
		return pad(s, f, '<'), nil
	case starlark.Int:
		switch f.typ {
		case 'e', 'E', 'f', 'F', 'g', 'G', '%':
			fl, ok := starlark.AsFloat(x)
			if !ok {
				return "", fmt.Errorf("int too large to convert to float")
			}
			return formatFloat(fl, f)
		case 's':
			return "", fmt.Errorf("unknown format code 's' for an int")
		}
		if f.precision >= 0 {
			return "", fmt.Errorf("precision not allowed in integer format specifier")
		}
		return formatInt(x, f)
	case starlark.Float:
		if f.typ == 's' || f.typ == 'd' || f.typ == 'b' || f.typ == 'o' || f.typ == 'x' || f.typ == 'X' || f.typ == 'c' {
			return "", fmt.Errorf("unknown format code '%c' for a float", f.typ)
		}
		return formatFloat(float64(x), f)
	case starlark.NoneType:
		if f.typ != 0 && f.typ != 's' {
			return "", fmt.Errorf("unknown format code '%c' for None", f.typ)
		}
		return pad("None", f, '<'), nil
	}
	return "", fmt.Errorf("cannot format a %s (want an int, float, string, bool or None)", v.Type())
}

func formatInt(x starlark.Int, f formatSpec) (string, error) {
	bi := x.BigInt()
	neg := bi.Sign() < 0
	mag := bi.Abs(bi)
	var digits, prefix string
	groupEvery := 3
	switch f.typ {
	case 0, 'd', 'n':
		digits = mag.String()
	case 'b':
		digits, prefix, groupEvery = mag.Text(2), "0b", 4
	case 'o':
		digits, prefix, groupEvery = mag.Text(8), "0o", 4
	case 'x':
		digits, prefix, groupEvery = mag.Text(16), "0x", 4
	case 'X':
		digits, prefix, groupEvery = strings.ToUpper(mag.Text(16)), "0X", 4
	case 'c':
		if neg || !mag.IsInt64() || mag.Int64() > utf8.MaxRune {
			return "", fmt.Errorf("%%c arg not in range(0x110000)")
		}
		return pad(string(rune(mag.Int64())), f, '<'), nil
	}
	if !f.alt {
		prefix = ""
	}
	if f.group != 0 {
		if f.group == ',' && groupEvery != 3 {
			return "", fmt.Errorf("cannot specify ',' with '%c'", f.typ)
		}
		digits = group(digits, groupEvery, f.group)
	}
	return padNumber(signOf(neg, f.sign)+prefix, digits, f), nil
}

func formatFloat(x float64, f formatSpec) (string, error) {
	neg := math.Signbit(x) && !math.IsNaN(x)
	a := math.Abs(x)
	prec := f.precision
	var body string
	switch {
	case math.IsInf(a, 0):
		body = "inf"
		if f.typ == 'E' || f.typ == 'F' || f.typ == 'G' {
			body = "INF"
		}
		if f.typ == '%' {
			body += "%"
		}
	case math.IsNaN(a):
		body = "nan"
		if f.typ == 'E' || f.typ == 'F' || f.typ == 'G' {
			body = "NAN"
		}
	default:
		if prec < 0 {
			prec = 6
		}
		switch f.typ {
		case 'f', 'F':
			body = strconv.FormatFloat(a, 'f', prec, 64)
		case 'e', 'E':
			body = strconv.FormatFloat(a, 'e', prec, 64)
		case '%':
			body = strconv.FormatFloat(a*100, 'f', prec, 64) + "%"
		case 'g', 'G', 'n':
			body = pyGeneral(a, max(prec, 1), f.alt)
		case 0:
			if f.precision < 0 {
				body = strings.TrimPrefix(starlark.Float(a).String(), "+")
			} else {
				body = pyGeneral(a, max(prec, 1), f.alt)
				if !strings.ContainsAny(body, ".e") {
					body += ".0"
				}
			}
		}
		if f.typ == 'E' || f.typ == 'G' {
			body = strings.ToUpper(body)
		}
	}
	if f.group != 0 {
		intPart, rest := body, ""
		if i := strings.IndexAny(body, ".eE%"); i >= 0 {
			intPart, rest = body[:i], body[i:]
		}
		body = group(intPart, 3, f.group) + rest
	}
	return padNumber(signOf(neg, f.sign), body, f), nil
}

// pyGeneral is Python's 'g': p significant digits, scientific notation when
// the exponent is below -4 or at least p, trailing zeros dropped unless alt.
func pyGeneral(a float64, p int, alt bool) string {
	if a == 0 {
		if alt {
			return "0." + strings.Repeat("0", p-1)
		}
		return "0"
	}
	e := strconv.FormatFloat(a, 'e', p-1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	var s string
	if exp < -4 || exp >= p {
		s = e
		if !alt {
			mant, tail, _ := strings.Cut(e, "e")
			if strings.Contains(mant, ".") {
				mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
			}
			s = mant + "e" + tail
		}
		return s
	}
	s = strconv.FormatFloat(a, 'f', max(p-1-exp, 0), 64)
	if !alt && strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func signOf(neg bool, sign byte) string {
	switch {
	case neg:
		return "-"
	case sign == '+':
		return "+"
	case sign == ' ':
		return " "
	}
	return ""
}

func group(digits string, every int, sep byte) string {
	if len(digits) <= every {
		return digits
	}
	var b strings.Builder
	first := len(digits) % every
	if first == 0 {
		first = every
	}
	b.WriteString(digits[:first])
	for i := first; i < len(digits); i += every {
		b.WriteByte(sep)
		b.WriteString(digits[i : i+every])
	}
	return b.String()
}

// padNumber pads a number's sign and body to the width: right-aligned by
// default, and with '0' (or '=') between the sign and the digits.
func padNumber(sign, body string, f formatSpec) string {
	if f.zero && f.align == 0 {
		f.fill, f.align = '0', '='
	}
	if f.align == '=' {
		n := f.width - utf8.RuneCountInString(sign) - utf8.RuneCountInString(body)
		if n > 0 {
			return sign + strings.Repeat(string(f.fill), n) + body
		}
		return sign + body
	}
	return pad(sign+body, f, '>')
}

func pad(s string, f formatSpec, defaultAlign byte) string {
	n := f.width - utf8.RuneCountInString(s)
	if n <= 0 {
		return s
	}
	fill := string(f.fill)
	align := f.align
	if align == 0 || align == '=' {
		align = defaultAlign
	}
	switch align {
	case '<':
		return s + strings.Repeat(fill, n)
	case '^':
		return strings.Repeat(fill, n/2) + s + strings.Repeat(fill, n-n/2)
	}
	return strings.Repeat(fill, n) + s
}
