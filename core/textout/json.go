package textout

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// WriteJSON writes v to w as every --json output is printed (docs/json.md):
// indented, with <, > and & as themselves (not \u003c: grep finds them),
// also inside JSON the store kept as it was written (reports, configs).
func WriteJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(UnescapeHTML(buf.Bytes()))
	return err
}

// UnescapeHTML turns the escapes \u003c, \u003e and \u0026 of valid JSON
// back into <, > and &, which JSON strings may hold as they are. An escape
// is one whose backslash is not itself escaped (preceded by an even number
// of backslashes).
func UnescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' {
			var c byte
			switch string(b[i+4 : i+6]) {
			case "3c", "3C":
				c = '<'
			case "3e", "3E":
				c = '>'
			case "26":
				c = '&'
			}
			if c != 0 {
				out = append(out, c)
				i += 5
				continue
			}
		}
		out = append(out, b[i])
		if b[i] == '\\' && i+1 < len(b) { // an escape: copy what it escapes
			i++
			out = append(out, b[i])
		}
	}
	return out
}

// SplitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
