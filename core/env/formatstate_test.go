package env

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFormatState(t *testing.T) {
	long := `{"xs":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35],"grid":[[1,0,1],[0,1,0]],"name":"<answer> here","edges":[{"a":1,"b":2},{"a":2,"b":3}],"empty":[],"obj":{}}`
	for _, tc := range []struct {
		name, in string
		width    int
		want     string
	}{
		{"fits on a line", `{"n": 3, "s": "x"}`, 40, `{"n": 3, "s": "x"}`},
		{"keys keep their order", `{"z":1,"a":2}`, 40, `{"z": 1, "a": 2}`},
		{"numbers as written", `{"f":1.50,"e":1e3}`, 40, `{"f": 1.50, "e": 1e3}`},
		{"not JSON", `not json`, 40, `not json`},
		{"two values", `1 2`, 40, `1 2`},
		{"a long list is packed", long, 40, `{
  "xs": [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    12, 13, 14, 15, 16, 17, 18, 19, 20,
    21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31, 32, 33, 34, 35
  ],
  "grid": [[1, 0, 1], [0, 1, 0]],
  "name": "<answer> here",
  "edges": [
    {"a": 1, "b": 2},
    {"a": 2, "b": 3}
  ],
  "empty": [],
  "obj": {}
}`},
		{"a board's rows stay one a line", `{"rows":["#####","#S.G#","#####"],"words":["ab","cde","f","gh","ijk","lm","no","pqr","st"]}`, 24, `{
  "rows": [
    "#####",
    "#S.G#",
    "#####"
  ],
  "words": [
    "ab", "cde", "f",
    "gh", "ijk", "lm",
    "no", "pqr", "st"
  ]
}`},
		{"nested lists break per item", `{"rows":[[1,2,3,4,5,6,7,8,9,10],[11,12,13,14,15,16,17,18,19,20]]}`, 30, `{
  "rows": [
    [
      1, 2, 3, 4, 5, 6, 7, 8,
      9, 10
    ],
    [
      11, 12, 13, 14, 15, 16,
      17, 18, 19, 20
    ]
  ]
}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FormatState([]byte(tc.in), tc.width)
			if got != tc.want {
				t.Fatalf("FormatState(%s, %d) =\n%s\nwant\n%s", tc.in, tc.width, got, tc.want)
			}
			for _, l := range strings.Split(got, "\n") {
				if len(l) > tc.width {
					t.Errorf("line %q is longer than %d", l, tc.width)
				}
			}
			if json.Valid([]byte(tc.in)) && !sameJSON(t, tc.in, got) {
				t.Errorf("the layout is not the same JSON:\n%s", got)
			}
		})
	}
}

// FuzzFormatState: whatever the state, the layout is the same JSON, and no
// line of packed numbers passes the width.
func FuzzFormatState(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,3]}`, `[[1],[2,[3,{"b":null}]]]`, `"x"`, `{"k\"":"<&>"}`, `[]`, `{"a":{"b":{"c":[true,false,1.5e-3]}}}`} {
		f.Add(s, 30)
	}
	f.Fuzz(func(t *testing.T, in string, width int) {
		width = width%200 + 1
		got := FormatState([]byte(in), width)
		if !json.Valid([]byte(in)) {
			if got != in {
				t.Fatalf("non-JSON %q came back as %q", in, got)
			}
			return
		}
		if !sameJSON(t, in, got) {
			t.Fatalf("FormatState(%q) = %q: not the same JSON", in, got)
		}
	})
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	ca, cb := canon(a), canon(b)
	return ca != "" && ca == cb
}

// canon is a JSON text in one canonical line, keys in their order.
func canon(s string) string {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return ""
	}
	return compact(v)
}
