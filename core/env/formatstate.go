package env

import (
	"bytes"
	"encoding/json"
	"strings"
)

// FormatState lays a state's JSON out for people, in lines of at most
// width cells where the values allow: a value that fits on the rest of its
// line stays on one line; a longer list of numbers or strings is packed
// into as few lines as fit (a grid is one row a line); otherwise one item
// or key a line, indented by two; strings of one length (a board's rows)
// are one a line, as they are drawn. Keys keep their order. Text that is not
// JSON comes back unchanged.
//
// json.Indent (and tidwall/pretty, which only keeps a list on one line
// when all of it fits) put every number of a long list on its own line: a
// state of 100 numbers took 100 lines, where this takes a few.
func FormatState(state []byte, width int) string {
	if !json.Valid(state) {
		return string(state)
	}
	dec := json.NewDecoder(bytes.NewReader(state))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return string(state)
	}
	var b strings.Builder
	layout(&b, v, 0, 0, 0, max(width, 20))
	return b.String()
}

// ordered is a JSON object with its keys in order.
type ordered struct {
	keys []string
	vals []any
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &ordered{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k.(string))
				o.vals = append(o.vals, v)
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			var a []any
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if a == nil {
				a = []any{}
			}
			_, err := dec.Token() // ']'
			return a, err
		}
	}
	return t, nil
}

// compact is a value on one line, with a space after each comma and colon.
func compact(v any) string {
	switch v := v.(type) {
	case *ordered:
		parts := make([]string, len(v.keys))
		for i, k := range v.keys {
			parts[i] = scalar(k) + ": " + compact(v.vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = compact(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return scalar(v)
}

func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case json.Number:
		return v.String()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<answer>" reads as itself
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// layout writes v starting at column col (the cursor is already there),
// its continuation lines indented by indent; tail cells (a comma) follow it.
func layout(b *strings.Builder, v any, col, indent, tail, width int) {
	if c := compact(v); col+len(c)+tail <= width {
		b.WriteString(c)
		return
	}
	pad := strings.Repeat(" ", indent+2)
	switch v := v.(type) {
	case *ordered:
		b.WriteString("{")
		for i, k := range v.keys {
			b.WriteString("\n" + pad + scalar(k) + ": ")
			layout(b, v.vals[i], indent+2+len(scalar(k))+2, indent+2, comma(i, len(v.keys)), width)
			if i < len(v.keys)-1 {
				b.WriteString(",")
			}
		}
		b.WriteString("\n" + pad[:indent] + "}")
	case []any:
		if allScalars(v) && !looksLikeGrid(v) {
			// Packed: as many items a line as fit.
			b.WriteString("[")
			at := width // start a new line for the first item
			for i, x := range v {
				s := scalar(x)
				if i < len(v)-1 {
					s += ","
				}
				if at+1+len(s) > width && at > indent+2 {
					b.WriteString("\n" + pad)
					at = indent + 2
				} else {
					b.WriteString(" ")
					at++
				}
				b.WriteString(s)
				at += len(s)
			}
			b.WriteString("\n" + pad[:indent] + "]")
			return
		}
		b.WriteString("[")
		for i, x := range v {
			b.WriteString("\n" + pad)
			layout(b, x, indent+2, indent+2, comma(i, len(v)), width)
			if i < len(v)-1 {
				b.WriteString(",")
			}
		}
		b.WriteString("\n" + pad[:indent] + "]")
	default:
		b.WriteString(scalar(v)) // a long string: it cannot be broken
	}
}

// comma is the cells after item i of n: a comma but after the last.
func comma(i, n int) int {
	if i < n-1 {
		return 1
	}
	return 0
}

// looksLikeGrid: strings all of one length (the rows of a maze or a
// board) read best one a line, as they are drawn.
func looksLikeGrid(a []any) bool {
	n := -1
	for _, x := range a {
		s, ok := x.(string)
		if !ok || (n >= 0 && len(s) != n) {
			return false
		}
		n = len(s)
	}
	return len(a) > 1 && n > 1
}

func allScalars(a []any) bool {
	for _, x := range a {
		switch x.(type) {
		case *ordered, []any:
			return false
		}
	}
	return true
}
