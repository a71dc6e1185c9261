package env

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// fromJSON decodes canonical JSON into fresh, mutable Starlark values. Numbers
// without a fraction or exponent become ints (arbitrary precision), the rest
// floats; object key order is kept.
func fromJSON(data []byte) (starlark.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("state JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("state JSON: trailing data after the value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (starlark.Value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested more than %d levels deep", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(t), nil
	case string:
		return starlark.String(t), nil
	case json.Number:
		s := string(t)
		if !bytes.ContainsAny([]byte(s), ".eE") {
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
	case json.Delim:
		switch t {
		case '[':
			var elems []starlark.Value
			for dec.More() {
				e, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				elems = append(elems, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return starlark.NewList(elems), nil
		case '{':
			d := starlark.NewDict(8)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				if err := d.SetKey(starlark.String(k), v); err != nil {
					return nil, err
				}
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
