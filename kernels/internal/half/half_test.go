package half

import (
	"math"
	"runtime"
	"sync"
	"testing"
)

// The oracle works on values, not bits: it decodes a 16-bit pattern from
// its fields with math.Ldexp, and rounds a float32 to a format of p
// significand bits and least exponent emin with float64 arithmetic
// (math.Frexp, math.RoundToEven), then encodes the result from its fields.
// It shares no trick with the implementation.

type format struct {
	name       string
	mant       int     // stored significand bits
	bias       int     // exponent bias
	expBits    int     // exponent field width
	overflow   float64 // the first power of two past the largest finite value
	toF32      func(uint16) float32
	fromF32    func(float32) uint16
	quietOnOut bool // NaNs come out of the widening quiet
}

var (
	bf16 = format{"bf16", 7, 127, 8, 0x1p128, BF16ToF32, F32ToBF16, false}
	f16  = format{"f16", 10, 15, 5, 0x1p16, F16ToF32, F32ToF16, true}
)

// value decodes h from its fields.
func (fm format) value(h uint16) float64 {
	sign := 1.0
	if h>>15 != 0 {
		sign = -1
	}
	e := int(h>>fm.mant) & (1<<fm.expBits - 1)
	m := int(h) & (1<<fm.mant - 1)
	switch {
	case e == 1<<fm.expBits-1 && m == 0:
		return math.Inf(int(sign))
	case e == 1<<fm.expBits-1:
		return math.NaN()
	case e == 0:
		return sign * math.Ldexp(float64(m), 1-fm.bias-fm.mant)
	}
	return sign * math.Ldexp(float64(m|1<<fm.mant), e-fm.bias-fm.mant)
}

// round is the oracle's encoding of the float32 f (not NaN).
func (fm format) round(f float32) uint16 {
	x := float64(f)
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	inf := uint16(1<<fm.expBits-1) << fm.mant
	if math.IsInf(x, 0) {
		return sign | inf
	}
	emin := 1 - fm.bias // least normal exponent
	if x < math.Ldexp(1, emin) {
		// A multiple of the subnormal step; the count is the encoding (the
		// least normal's encoding is 1 << mant, which is its count too).
		q := math.RoundToEven(math.Ldexp(x, fm.mant-emin))
		return sign | uint16(q)
	}
	fr, e := math.Frexp(x) // x = fr·2^e, fr in [½, 1)
	q := math.RoundToEven(math.Ldexp(fr, fm.mant+1))
	if q == math.Ldexp(1, fm.mant+1) { // rounded up into the next binade
		q, e = q/2, e+1
	}
	if math.Ldexp(q, e-fm.mant-1) >= fm.overflow {
		return sign | inf
	}
	return sign | uint16(e-1+fm.bias)<<fm.mant | uint16(q)&(1<<fm.mant-1)
}

func TestWidenExhaustive(t *testing.T) {
	for _, fm := range []format{bf16, f16} {
		for i := range 1 << 16 {
			h := uint16(i)
			got := fm.toF32(h)
			want := fm.value(h)
			if math.IsNaN(want) {
				gb, hb := math.Float32bits(got), uint32(h)
				payload := hb & (1<<(fm.mant-1) - 1) // below the quiet bit
				if !math.IsNaN(float64(got)) || gb>>31 != hb>>15 ||
					gb>>(23-fm.mant)&(1<<(fm.mant-1)-1) != payload ||
					fm.quietOnOut && gb&0x00400000 == 0 ||
					!fm.quietOnOut && gb != hb<<16 {
					t.Fatalf("%s %#04x: got %#08x, want a NaN of that sign and payload", fm.name, h, gb)
				}
				continue
			}
			if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
				t.Fatalf("%s %#04x: got %g, want %g", fm.name, h, got, want)
			}
		}
	}
}

// checkNarrow compares fm.fromF32 with the oracle on the float32 of bits b.
func checkNarrow(fm format, b uint32) (uint16, uint16, bool) {
	f := math.Float32frombits(b)
	got := fm.fromF32(f)
	if f != f {
		// Quiet NaN, the sign kept, the payload's top bits below the quiet bit.
		keep := uint32(fm.mant - 1)
		want := uint16(b>>16&0x8000) | uint16(1<<fm.expBits-1)<<fm.mant | 1<<(fm.mant-1) |
			uint16(b>>(22-keep)&(1<<keep-1))
		return got, want, got == want
	}
	want := fm.round(f)
	return got, want, got == want
}

// TestNarrow checks both narrowings against the value oracle: a dense
// sample by default, all 2^32 float32 patterns with ExhaustiveEnv=1.
func TestNarrow(t *testing.T) {
	for _, fm := range []format{bf16, f16} {
		t.Run(fm.name, func(t *testing.T) {
			// Split the set over the CPUs by the low bits of the pattern.
			workers := runtime.GOMAXPROCS(0)
			var mu sync.Mutex
			fails := 0
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					Patterns(Sampled(testing.Short()), w, workers, func(b uint32) {
						got, want, ok := checkNarrow(fm, b)
						if !ok {
							mu.Lock()
							if fails++; fails <= 10 {
								t.Errorf("%#08x (%g): got %#04x, want %#04x", b, math.Float32frombits(b), got, want)
							}
							mu.Unlock()
						}
					})
				}()
			}
			wg.Wait()
		})
	}
}

// Round trips: every 16-bit value survives widening and narrowing.
func TestRoundTrip(t *testing.T) {
	for _, fm := range []format{bf16, f16} {
		for i := range 1 << 16 {
			h := uint16(i)
			got := fm.fromF32(fm.toF32(h))
			want := h
			if fm.value(h) != fm.value(h) { // NaN: quiet
				want |= 1 << (fm.mant - 1)
			}
			if got != want {
				t.Fatalf("%s %#04x → %g → %#04x", fm.name, h, fm.toF32(h), got)
			}
		}
	}
}

// A few values by hand, in case oracle and implementation share a mistake.
func TestKnownValues(t *testing.T) {
	for _, c := range []struct {
		f    float32
		b, h uint16
	}{
		{1, 0x3f80, 0x3c00},
		{-2, 0xc000, 0xc000},
		{65504, 0x4780, 0x7bff},
		{65519.996, 0x4780, 0x7bff},
		{65520, 0x4780, 0x7c00},
		{0x1p-24, 0x3380, 0x0001},
		{0x1p-25, 0x3300, 0x0000},
		{0x1.000002p-25, 0x3300, 0x0001},
		{0x1.8p-24, 0x33c0, 0x0002}, // tie between 1 and 2 steps: even
		{0x1p-14, 0x3880, 0x0400},
		{float32(math.Inf(-1)), 0xff80, 0xfc00},
		{math.MaxFloat32, 0x7f80, 0x7c00},
		{0x1p-149, 0x0000, 0x0000},
		{0x1p-133, 0x0001, 0x0000},
		{1 + 0x1p-8, 0x3f80, 0x3c04}, // bf16 tie: even (down)
		{1 + 3*0x1p-8, 0x3f82, 0x3c0c},
	} {
		if got := F32ToBF16(c.f); got != c.b {
			t.Errorf("bf16(%g) = %#04x, want %#04x", c.f, got, c.b)
		}
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("f16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
}
