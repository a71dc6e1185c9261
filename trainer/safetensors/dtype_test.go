package safetensors

import (
	"strings"
	"testing"
)

func TestParseFloatDType(t *testing.T) {
	for in, want := range map[string]DType{
		"F32": F32, "f32": F32, "fp32": F32, " float32 ": F32, " f16 ": F16, "bf16": BF16, "BFloat16": BF16, "F16": F16, "fp16": F16, "float16": F16,
	} {
		if got, err := ParseFloatDType(in); err != nil || got != want {
			t.Errorf("ParseFloatDType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "int8", "F64", "I8", "fp8", "bf", "bf 16"} {
		if _, err := ParseFloatDType(in); err == nil || !strings.Contains(err.Error(), "want F32, BF16 or F16") {
			t.Errorf("ParseFloatDType(%q): %v, want a refusal", in, err)
		}
	}
}
