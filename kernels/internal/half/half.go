// Package half holds the scalar conversions between float32 and the two
// 16-bit float formats, bfloat16 and IEEE binary16 (float16), on their raw
// bits. Package kernels re-exports them on its BF16 and F16 types; the
// generic slice kernels, the reference and the tests of every backend use
// these same functions, so there is one definition of each rounding.
//
// float32 → 16 bits rounds to nearest, ties to even. A NaN stays a NaN of
// the same sign, quiet, with the top of its payload (what fits). ±Inf are
// exact; finite values beyond the format round to ±Inf by IEEE's rule (the
// overflow threshold is the largest finite value plus half its ulp, itself
// rounding to Inf). Subnormal results are rounded correctly.
//
// 16 bits → float32 is exact: every bfloat16 and float16 value is a
// float32 value. A float16 NaN comes out quiet with its payload, as the
// hardware conversions (F16C's VCVTPH2PS, NEON's FCVTL) give it; a
// bfloat16 is the top half of a float32 and is only shifted.
package half

import "math"

const (
	f32Abs   = 0x7fffffff
	f32Inf   = 0x7f800000
	f32Quiet = 0x00400000
)

// BF16ToF32 widens a bfloat16.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to bfloat16. Adding 0x7fff plus the lowest kept bit
// carries into the kept half exactly when the dropped half is above the
// halfway point, or at it with an odd kept half; a carry out of the
// significand steps the exponent, up to Inf. NaN is the one input the
// carry would corrupt (into Inf, or across the sign): it is truncated and
// made quiet instead.
func F32ToBF16(f float32) uint16 { return BitsToBF16(math.Float32bits(f)) }

// BitsToBF16 is F32ToBF16 of the float32 with bits b: loops that read
// their input as integers skip the move from a float register.
func BitsToBF16(b uint32) uint16 {
	r := (b + 0x7fff + (b>>16)&1) >> 16
	if b&f32Abs > f32Inf {
		r = b>>16 | f32Quiet>>16
	}
	return uint16(r)
}

// F16ToF32 widens an IEEE binary16: the exponent is rebiased (15 → 127),
// a subnormal is its integer significand times 2^−24 (exact in float32),
// Inf and NaN keep their payload (NaN made quiet).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	a := uint32(h & 0x7fff)
	r := a<<13 + (127-15)<<23 // normal
	if a < 0x0400 {
		r = math.Float32bits(float32(a) * 0x1p-24)
	}
	if a >= 0x7c00 {
		r = a<<13 | f32Inf
		if a > 0x7c00 {
			r |= f32Quiet
		}
	}
	return math.Float32frombits(sign | r)
}

// F32ToF16 rounds f to IEEE binary16.
//
//   - |f| ≥ 2^−14 (binary16's normal range): the exponent is rebiased and
//     the 13 dropped bits rounded by the carry trick of F32ToBF16; a carry
//     may step to the next binade, and from 65504 up to Inf.
//   - |f| ≥ 65520 = 65504 + ½ulp: Inf. The carry gives Inf at 65520 itself
//     (the tie goes to the even encoding, Inf's); the select covers the
//     values whose rebiased exponent would run past the field.
//   - |f| < 2^−14: the float32 addition |f| + ½ rounds |f| to a multiple of
//     2^−24, binary16's subnormal step, by the FPU's own ties-to-even; the
//     low 16 bits of the sum are then the subnormal's encoding (1024 is
//     the least normal, 0x0400, as it should be).
//   - NaN: quiet, with the top 9 bits of its payload below the quiet bit.
//
// The cases are selected rather than branched to: the compiler makes the
// overflow and NaN selects conditional moves, and branches only around the
// subnormal case's float addition (rare in real data). It stays within the
// inlining budget, so the generic loop has no call per element.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	a := b & f32Abs
	r := (a - ((127-15)<<23 - 0x0fff) + a>>13&1) >> 13
	if a < 0x38800000 { // 2^−14: ½'s bits, 0x3f000000, plus the count
		r = math.Float32bits(math.Float32frombits(a) + 0.5)
	}
	if a >= 0x477ff000 { // 65520
		r = 0x7c00
	}
	if a > f32Inf {
		r = 0x7e00 | a>>13&0x01ff
	}
	return uint16(b>>16&0x8000 | r)
}
