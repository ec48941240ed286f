package generic

import (
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/internal/half"
)

// The 16-bit conversions: the scalar functions of package half, inlined
// (conditional moves for the rounding, overflow and NaN cases; a branch
// only around the float arithmetic of binary16's subnormals, rare in real
// data), in loops whose bounds checks are dropped by reslicing dst to
// src's length up front.

// BF16ToF32 widens bfloat16 bits into dst (len(dst) == len(src)).
func BF16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = half.BF16ToF32(h)
	}
}

// F32ToBF16 rounds src to bfloat16 bits in dst.
func F32ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, b := range asBits(src) {
		dst[i] = half.BitsToBF16(b)
	}
}

// asBits views float32s as their bits (the integer rounding then needs no
// move out of a float register per element).
func asBits(s []float32) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// F16ToF32 widens IEEE binary16 bits into dst.
func F16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	for i, h := range src {
		dst[i] = half.F16ToF32(h)
	}
}

// F32ToF16 rounds src to IEEE binary16 bits in dst.
func F32ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = half.F32ToF16(f)
	}
}
