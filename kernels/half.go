package kernels

import (
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/internal/half"
)

// BF16 is a bfloat16 value: the top 16 bits of a float32 (sign, 8 exponent
// bits, 7 significand bits). Go has no 16-bit float type, so tensors of
// them are []uint16 in most Go code; []BF16 is the same memory (convert
// with unsafe.Slice, or declare the type).
type BF16 uint16

// F16 is an IEEE 754 binary16 value (sign, 5 exponent bits, 10 significand
// bits; largest finite value 65504).
type F16 uint16

// Float32 returns h as a float32 (exact).
func (h BF16) Float32() float32 { return half.BF16ToF32(uint16(h)) }

// Float32 returns h as a float32: exact, subnormals included; a NaN comes
// out quiet, with its payload.
func (h F16) Float32() float32 { return half.F16ToF32(uint16(h)) }

// BF16FromFloat32 rounds f to the nearest bfloat16, ties to even. ±Inf
// stay ±Inf and finite values beyond the largest bfloat16 round to ±Inf
// (IEEE's rule); float32 subnormals round to bfloat16 subnormals; a NaN
// becomes a quiet NaN of the same sign with the top of its payload.
func BF16FromFloat32(f float32) BF16 { return BF16(half.F32ToBF16(f)) }

// F16FromFloat32 rounds f to the nearest binary16, ties to even: values of
// magnitude 65520 and above become ±Inf, those below 2^−14 binary16
// subnormals (or ±0 at 2^−25 and below); a NaN becomes a quiet NaN of the
// same sign with the top of its payload.
func F16FromFloat32(f float32) F16 { return F16(half.F32ToF16(f)) }

// BF16ToFloat32 widens src into dst (exact). The slices must have the same
// length and must not share memory; otherwise the error wraps ErrLength or
// ErrOverlap and dst is untouched. Like every conversion below it is
// vectorised on each backend and does not allocate.
func BF16ToFloat32(dst []float32, src []BF16) error {
	if err := checkConvert(len(dst), len(src), spanOf(dst), spanOf(src)); err != nil {
		return err
	}
	impl[float32]().BF16ToF32(dst, bits(src))
	return nil
}

// Float32ToBF16 rounds src into dst as BF16FromFloat32 does each value.
func Float32ToBF16(dst []BF16, src []float32) error {
	if err := checkConvert(len(dst), len(src), spanOf(dst), spanOf(src)); err != nil {
		return err
	}
	impl[float32]().F32ToBF16(bits(dst), src)
	return nil
}

// F16ToFloat32 widens src into dst as F16.Float32 does each value.
func F16ToFloat32(dst []float32, src []F16) error {
	if err := checkConvert(len(dst), len(src), spanOf(dst), spanOf(src)); err != nil {
		return err
	}
	impl[float32]().F16ToF32(dst, bits(src))
	return nil
}

// Float32ToF16 rounds src into dst as F16FromFloat32 does each value.
func Float32ToF16(dst []F16, src []float32) error {
	if err := checkConvert(len(dst), len(src), spanOf(dst), spanOf(src)); err != nil {
		return err
	}
	impl[float32]().F32ToF16(bits(dst), src)
	return nil
}

// bits views a slice of 16-bit floats as their raw bits, the backends'
// element type.
func bits[H BF16 | F16](s []H) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

var convertNames = &bufferNames{out: [3]string{"dst"}, in: [4]string{"src"}}

// checkConvert validates a conversion: equal lengths and no shared byte (a
// 16-bit and a 32-bit slice can never be exactly the same memory, so no
// in-place form exists).
func checkConvert(nDst, nSrc int, dst, src span) error {
	if configErr != nil {
		return configErr
	}
	if nDst != nSrc {
		return lengthErr("dst", nDst, nSrc, " (len(src))")
	}
	if dst.overlaps(src) {
		bs := &buffers{out: [3]span{dst}, in: [4]span{src}, names: convertNames}
		return bs.check()
	}
	return nil
}
