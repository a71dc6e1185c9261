package safetensors

import (
	"math"
	"math/big"
	"testing"
)

// roundToBits rounds x to a binary float with mant explicit mantissa bits
// and the given exponent range using math/big (round to nearest even), as an
// independent reference for the bit-twiddling conversions.
func refRound(x float32, prec uint, minExp int) float64 {
	f := new(big.Float).SetFloat64(float64(x))
	// Below the normal range the precision shrinks: subnormal spacing is 2^(minExp-prec).
	if x != 0 {
		e := f.MantExp(nil) - 1 // x = m × 2^e with 1 ≤ |m| < 2
		if e < minExp {
			p := int(prec) - (minExp - e)
			if p <= 0 {
				// Round to 0 or to the smallest subnormal: scale and round to integer.
				q := new(big.Float).SetMantExp(f, -(minExp - int(prec) + 1))
				i, _ := q.Float64()
				r := math.RoundToEven(i)
				return math.Ldexp(r, minExp-int(prec)+1)
			}
			prec = uint(p)
		}
	}
	f.SetMode(big.ToNearestEven).SetPrec(prec)
	v, _ := f.Float64()
	return v
}

func TestBF16RoundTripsEveryPattern(t *testing.T) {
	for h := range 1 << 16 {
		f := BF16ToFloat32(uint16(h))
		got := Float32ToBF16(f)
		if f != f { // NaN stays NaN
			if BF16ToFloat32(got) == BF16ToFloat32(got) {
				t.Fatalf("bf16 NaN %#04x came back as non-NaN %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, got)
		}
	}
}

func TestF16RoundTripsEveryPattern(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToFloat32(uint16(h))
		got := Float32ToF16(f)
		if f != f {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("f16 NaN %#04x came back as %#04x", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, got)
		}
	}
}

// TestNarrowingRoundsToNearestEven compares against math/big on a sweep of
// float32 bit patterns that includes every tie and near-tie region.
func TestNarrowingRoundsToNearestEven(t *testing.T) {
	check := func(b uint32) {
		x := math.Float32frombits(b)
		if x != x || math.IsInf(float64(x), 0) {
			return
		}
		// bf16: 8 mantissa bits of precision, float32's exponent range.
		want := refRound(x, 8, -126)
		if math.Abs(want) > math.MaxFloat32 {
			want = math.Copysign(math.Inf(1), want)
		}
		if got := float64(BF16ToFloat32(Float32ToBF16(x))); got != want && !(got == 0 && want == 0) {
			t.Fatalf("bf16(%v [%#08x]) = %v, want %v", x, b, got, want)
		}
		// f16: 11 bits of precision, exponents down to -14, max 65504.
		want = refRound(x, 11, -14)
		if math.Abs(want) > 65504 {
			want = math.Copysign(math.Inf(1), want)
		}
		if got := float64(F16ToFloat32(Float32ToF16(x))); got != want && !(got == 0 && want == 0) {
			t.Fatalf("f16(%v [%#08x]) = %v, want %v", x, b, got, want)
		}
	}
	for hi := uint32(0); hi < 1<<9; hi++ { // every sign+exponent
		for _, lo := range []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001,
			0x18000, 0x17fff, 0x7fffff, 0x7fe000, 0x7ff000, 0x7fefff, 0x3ff000, 0x401000} {
			check(hi<<23 | lo)
		}
	}
	for b := uint32(0); b < 1<<32-1<<20; b += 0x1003 { // a dense stride over everything
		check(b)
	}
}

func TestNarrowingSpecialValues(t *testing.T) {
	cases := []struct {
		in   float32
		bf16 uint16
		f16  uint16
	}{
		{0, 0, 0},
		{float32(math.Copysign(0, -1)), 0x8000, 0x8000},
		{1, 0x3f80, 0x3c00},
		{-2, 0xc000, 0xc000},
		{65504, 0x477f /* 65280 rounds up to 65536? */, 0x7bff},
		{65520, 0x4780, 0x7c00}, // f16: tie at the top rounds to Inf
		{float32(math.Inf(1)), 0x7f80, 0x7c00},
		{float32(math.Inf(-1)), 0xff80, 0xfc00},
		{5.960464477539063e-08, 0x3380, 0x0001},  // 2^-24, smallest f16 subnormal
		{2.9802322387695312e-08, 0x3300, 0x0000}, // 2^-25 ties to even (zero)
		{math.MaxFloat32, 0x7f80, 0x7c00},        // bf16 rounds up to Inf
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.f16 {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", c.in, got, c.f16)
		}
		if c.in == 65504 { // bf16 spacing near 2^16 is 256: 65504 rounds to 65536
			if got := BF16ToFloat32(Float32ToBF16(c.in)); got != 65536 {
				t.Errorf("bf16(65504) = %v, want 65536", got)
			}
			continue
		}
		if got := Float32ToBF16(c.in); got != c.bf16 {
			t.Errorf("Float32ToBF16(%v) = %#04x, want %#04x", c.in, got, c.bf16)
		}
	}
	nan := float32(math.NaN())
	if v := BF16ToFloat32(Float32ToBF16(nan)); v == v {
		t.Error("bf16 lost NaN")
	}
	if v := F16ToFloat32(Float32ToF16(nan)); v == v {
		t.Error("f16 lost NaN")
	}
	// A NaN whose payload lives only in the low 16 bits must not become Inf.
	if v := BF16ToFloat32(Float32ToBF16(math.Float32frombits(0x7f800001))); v == v {
		t.Error("bf16 turned a low-payload NaN into a number")
	}
}
