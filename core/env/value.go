package env

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
)

// toJSON writes a Starlark value as canonical JSON: dict insertion order is
// kept, integral floats keep a ".0" so that they come back as floats, and
// anything that is not JSON-like (functions, sets, non-string dict keys,
// NaN/Inf) is an error naming the path to the offending value. The output is
// capped at max bytes. Strings are written exactly as encoding/json writes
// them (HTML-safe escapes, invalid UTF-8 as U+FFFD).
//
// It runs once per generated instance, so it avoids per-value allocation: the
// path to the current value is kept as a stack and only spelled out for an
// error, and plain strings and small ints are appended directly.
func toJSON(v starlark.Value, max int) (json.RawMessage, error) {
	e := jsonEncoder{max: max, buf: make([]byte, 0, 512), path: make([]pathElem, 0, 8)}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	if len(e.buf) > max {
		return nil, &sizeError{max} // the last value written was the one too many
	}
	return json.RawMessage(e.buf), nil
}

const maxDepth = 200

type jsonEncoder struct {
	buf  []byte
	max  int
	path []pathElem // from the root to the value being written
}

// pathElem is one step of a path: a dict key, or a list index when key is
// not set.
type pathElem struct {
	key    string
	index  int
	hasKey bool
}

// where spells out the path to the value being written, e.g.
// state["edges"][3].
func (e *jsonEncoder) where() string {
	var b strings.Builder
	b.WriteString("state")
	for _, p := range e.path {
		if p.hasKey {
			b.WriteString("[" + strconv.Quote(p.key) + "]")
		} else {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		}
	}
	return b.String()
}

func (e *jsonEncoder) value(v starlark.Value, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: nested more than %d levels deep", e.where(), maxDepth)
	}
	if len(e.buf) > e.max {
		return &sizeError{e.max}
	}
	switch x := v.(type) {
	case starlark.NoneType:
		e.buf = append(e.buf, "null"...)
	case starlark.Bool:
		if x {
			e.buf = append(e.buf, "true"...)
		} else {
			e.buf = append(e.buf, "false"...)
		}
	case starlark.Int:
		if i, ok := x.Int64(); ok {
			e.buf = strconv.AppendInt(e.buf, i, 10)
		} else {
			e.buf = append(e.buf, x.String()...)
		}
	case starlark.Float:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %v is not representable in JSON", e.where(), f)
		}
		start := len(e.buf)
		e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, 64)
		if !bytes.ContainsAny(e.buf[start:], ".eE") {
			e.buf = append(e.buf, ".0"...)
		}
	case starlark.String:
		e.str(string(x))
	case *starlark.List:
		return e.seq(x, depth)
	case starlark.Tuple:
		return e.seq(x, depth)
	case *starlark.Dict:
		e.buf = append(e.buf, '{')
		// Items is two allocations per dict; a range over Entries would put
		// this frame's variables on the heap for every value written.
		for i, item := range x.Items() {
			k, val := item[0], item[1]
			ks, ok := k.(starlark.String)
			if !ok {
				return fmt.Errorf("%s: dict key %s is a %s; state dict keys must be strings (JSON objects)", e.where(), k.String(), k.Type())
			}
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.str(string(ks))
			e.buf = append(e.buf, ':')
			e.path = append(e.path, pathElem{key: string(ks), hasKey: true})
			if err := e.value(val, depth+1); err != nil {
				return err
			}
			e.path = e.path[:len(e.path)-1]
		}
		e.buf = append(e.buf, '}')
	default:
		return fmt.Errorf("%s: a %s is not JSON-like (use dicts with string keys, lists, str, int, float, bool, None)", e.where(), v.Type())
	}
	return nil
}

func (e *jsonEncoder) seq(seq starlark.Indexable, depth int) error {
	e.buf = append(e.buf, '[')
	for i := 0; i < seq.Len(); i++ {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.path = append(e.path, pathElem{index: i})
		if err := e.value(seq.Index(i), depth+1); err != nil {
			return err
		}
		e.path = e.path[:len(e.path)-1]
	}
	e.buf = append(e.buf, ']')
	return nil
}

// str writes s as a JSON string, byte for byte as json.Marshal does: plain
// printable ASCII directly, anything else through encoding/json.
func (e *jsonEncoder) str(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			e.buf = append(e.buf, b...)
			return
		}
	}
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, '"')
}

type sizeError struct{ max int }

func (e *sizeError) Error() string {
	return fmt.Sprintf("state is larger than %d bytes as JSON", e.max)
}

// fromJSON decodes JSON into fresh, mutable Starlark values. Numbers
// without a fraction or exponent become ints (arbitrary precision), the rest
// floats; object key order is kept.
//
// Hand-written rather than json.Decoder's token stream: every render,
// verify and solve call decodes the state afresh (so a function that mutates
// its state cannot affect the next call), and the token API made decoding a
// third of the runtime's CPU time (BenchmarkLocal in core/envbench).
func fromJSON(data []byte) (starlark.Value, error) {
	d := jsonDecoder{b: data}
	d.space()
	v, err := d.value(0)
	if err != nil {
		return nil, fmt.Errorf("state JSON: %w", err)
	}
	d.space()
	if d.i != len(d.b) {
		return nil, fmt.Errorf("state JSON: trailing data at byte %d", d.i)
	}
	return v, nil
}

type jsonDecoder struct {
	b     []byte
	i     int
	stack []starlark.Value // elements of the arrays being read
}

func (d *jsonDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) errf(format string, args ...any) error {
	return fmt.Errorf("byte %d: "+format, append([]any{d.i}, args...)...)
}

func (d *jsonDecoder) lit(word string, v starlark.Value) (starlark.Value, error) {
	if !bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		return nil, d.errf("invalid literal")
	}
	d.i += len(word)
	return v, nil
}

func (d *jsonDecoder) value(depth int) (starlark.Value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
	}
	if d.i >= len(d.b) {
		return nil, d.errf("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == 'n':
		return d.lit("null", starlark.None)
	case c == 't':
		return d.lit("true", starlark.True)
	case c == 'f':
		return d.lit("false", starlark.False)
	case c == '"':
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		return starlark.String(s), nil
	case c == '[':
		return d.array(depth)
	case c == '{':
		return d.object(depth)
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.errf("unexpected character %q", d.b[d.i])
}

// array reads a JSON array at d.i (on its '[').
func (d *jsonDecoder) array(depth int) (starlark.Value, error) {
	d.i++
	d.space()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return starlark.NewList(nil), nil
	}
	// Elements collect on a stack shared by all the arrays being read,
	// and each list gets a slice of its exact size at the end.
	mark := len(d.stack)
	for {
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d.stack = append(d.stack, v)
		d.space()
		if d.i >= len(d.b) {
			return nil, d.errf("unterminated array")
		}
		if d.b[d.i] == ',' {
			d.i++
			continue
		}
		if d.b[d.i] == ']' {
			d.i++
			elems := make([]starlark.Value, len(d.stack)-mark)
			copy(elems, d.stack[mark:])
			clear(d.stack[mark:])
			d.stack = d.stack[:mark]
			return starlark.NewList(elems), nil
		}
		return nil, d.errf("want , or ] in array")
	}
}

// object reads a JSON object at d.i (on its '{').
func (d *jsonDecoder) object(depth int) (starlark.Value, error) {
	d.i++
	dict := starlark.NewDict(8)
	d.space()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return dict, nil
	}
	for {
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.errf("want a string key")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.errf("want : after key")
		}
		d.i++
		d.space()
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := dict.SetKey(starlark.String(k), v); err != nil {
			return nil, err
		}
		d.space()
		if d.i >= len(d.b) {
			return nil, d.errf("unterminated object")
		}
		if d.b[d.i] == ',' {
			d.i++
			continue
		}
		if d.b[d.i] == '}' {
			d.i++
			return dict, nil
		}
		return nil, d.errf("want , or } in object")
	}
}

func (d *jsonDecoder) str() (string, error) {
	start := d.i
	d.i++ // opening quote
	simple := true
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			if simple {
				return string(d.b[start+1 : d.i-1]), nil
			}
			var s string
			if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
				return "", err
			}
			return s, nil
		case c == '\\':
			simple = false
			d.i += 2
		case c < 0x20:
			return "", d.errf("control character in string")
		default:
			if c >= 0x80 {
				simple = false // let encoding/json validate UTF-8
			}
			d.i++
		}
	}
	return "", d.errf("unterminated string")
}

func (d *jsonDecoder) number() (starlark.Value, error) {
	start := d.i
	isFloat := false
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '.' || c == 'e' || c == 'E' {
			isFloat = true
		} else if !(c == '-' || c == '+' || (c >= '0' && c <= '9')) {
			break
		}
		d.i++
	}
	if !isFloat {
		if i, ok := smallInt(d.b[start:d.i]); ok {
			return starlark.MakeInt64(i), nil
		}
	}
	s := string(d.b[start:d.i])
	if !isFloat {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return starlark.MakeInt64(i), nil
		}
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("bad integer %q", s)
		}
		return starlark.MakeBigInt(b), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("bad number %q", s)
	}
	return starlark.Float(f), nil
}

// smallInt parses an optional minus sign and 1 to 18 digits, without the
// allocation of strconv.ParseInt(string(b)); anything else is left to it.
func smallInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
