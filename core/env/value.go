package env

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"go.starlark.net/starlark"
)

// toJSON writes a Starlark value as canonical JSON: dict insertion order is
// kept, integral floats keep a ".0" so that they come back as floats, and
// anything that is not JSON-like (functions, sets, non-string dict keys,
// NaN/Inf) is an error naming the path to the offending value. The output is
// capped at max bytes.
func toJSON(v starlark.Value, max int) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v, "state", 0, max); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}

const maxDepth = 200

func writeJSON(buf *bytes.Buffer, v starlark.Value, path string, depth, max int) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: nested more than %d levels deep", path, maxDepth)
	}
	if buf.Len() > max {
		return &sizeError{max}
	}
	switch x := v.(type) {
	case starlark.NoneType:
		buf.WriteString("null")
	case starlark.Bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case starlark.Int:
		buf.WriteString(x.String())
	case starlark.Float:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %v is not representable in JSON", path, f)
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !bytes.ContainsAny([]byte(s), ".eE") {
			s += ".0"
		}
		buf.WriteString(s)
	case starlark.String:
		b, _ := json.Marshal(string(x))
		buf.Write(b)
	case *starlark.List:
		return writeSeq(buf, x, path, depth, max)
	case starlark.Tuple:
		return writeSeq(buf, x, path, depth, max)
	case *starlark.Dict:
		buf.WriteByte('{')
		for i, item := range x.Items() {
			k, ok := item[0].(starlark.String)
			if !ok {
				return fmt.Errorf("%s: dict key %s is a %s; state dict keys must be strings (JSON objects)", path, item[0].String(), item[0].Type())
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			b, _ := json.Marshal(string(k))
			buf.Write(b)
			buf.WriteByte(':')
			if err := writeJSON(buf, item[1], path+"["+strconv.Quote(string(k))+"]", depth+1, max); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("%s: a %s is not JSON-like (use dicts with string keys, lists, str, int, float, bool, None)", path, v.Type())
	}
	return nil
}

func writeSeq(buf *bytes.Buffer, seq starlark.Indexable, path string, depth, max int) error {
	buf.WriteByte('[')
	for i := 0; i < seq.Len(); i++ {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := writeJSON(buf, seq.Index(i), path+"["+strconv.Itoa(i)+"]", depth+1, max); err != nil {
			return err
		}
	}
	buf.WriteByte(']')
	return nil
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
	b []byte
	i int
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
		d.i++
		var elems []starlark.Value
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return starlark.NewList(elems), nil
		}
		for {
			d.space()
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			elems = append(elems, v)
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
				return starlark.NewList(elems), nil
			}
			return nil, d.errf("want , or ] in array")
		}
	case c == '{':
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
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	return nil, d.errf("unexpected character %q", d.b[d.i])
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
