package main

import (
	"strings"
	"testing"
)

// TestParseDType: --dtype takes safetensors' names in any case and the
// fp32/fp16 spellings; anything else is refused naming the flag.
func TestParseDType(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"F32", "F32"}, {"f32", "F32"}, {"fp32", "F32"}, {"float32", "F32"},
		{"BF16", "BF16"}, {"bf16", "BF16"}, {"bfloat16", "BF16"},
		{"F16", "F16"}, {"fp16", "F16"}, {" f16 ", "F16"},
	} {
		got, err := parseDType(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("parseDType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "int8", "F64", "bf"} {
		if _, err := parseDType(in); err == nil || !strings.Contains(err.Error(), "--dtype") {
			t.Errorf("parseDType(%q): %v; want an error naming --dtype", in, err)
		}
	}
}
