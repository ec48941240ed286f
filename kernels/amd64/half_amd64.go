//go:build !purego

package amd64

// The 16-bit conversions (asmgen/amd64/half.go): the kernels take whole
// vectors; the last n mod lanes elements go through a one-vector buffer on
// the stack, converted by the same kernel.

func (s isa) lanes() int {
	if s == avx512 {
		return 16
	}
	return 8
}

func (s isa) bf16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	full := len(src) &^ (s.lanes() - 1)
	if full > 0 {
		if s == avx512 {
			bf16ToF32AVX512(&dst[0], &src[0], full)
		} else {
			bf16ToF32AVX2(&dst[0], &src[0], full)
		}
	}
	if full < len(src) {
		var in [16]uint16
		var out [16]float32
		copy(in[:], src[full:])
		if s == avx512 {
			bf16ToF32AVX512(&out[0], &in[0], 16)
		} else {
			bf16ToF32AVX2(&out[0], &in[0], 8)
		}
		copy(dst[full:], out[:])
	}
}

func (s isa) f16ToF32(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	full := len(src) &^ (s.lanes() - 1)
	if full > 0 {
		if s == avx512 {
			f16ToF32AVX512(&dst[0], &src[0], full)
		} else {
			f16ToF32AVX2(&dst[0], &src[0], full)
		}
	}
	if full < len(src) {
		var in [16]uint16
		var out [16]float32
		copy(in[:], src[full:])
		if s == avx512 {
			f16ToF32AVX512(&out[0], &in[0], 16)
		} else {
			f16ToF32AVX2(&out[0], &in[0], 8)
		}
		copy(dst[full:], out[:])
	}
}

func (s isa) f32ToBF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	full := len(src) &^ 15 // two vectors per iteration on AVX2
	if full > 0 {
		if s == avx512 {
			f32ToBF16AVX512(&dst[0], &src[0], full)
		} else {
			f32ToBF16AVX2(&dst[0], &src[0], full)
		}
	}
	if full < len(src) {
		var in [16]float32
		var out [16]uint16
		copy(in[:], src[full:])
		if s == avx512 {
			f32ToBF16AVX512(&out[0], &in[0], 16)
		} else {
			f32ToBF16AVX2(&out[0], &in[0], 16)
		}
		copy(dst[full:], out[:])
	}
}

func (s isa) f32ToF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	full := len(src) &^ (s.lanes() - 1)
	if full > 0 {
		if s == avx512 {
			f32ToF16AVX512(&dst[0], &src[0], full)
		} else {
			f32ToF16AVX2(&dst[0], &src[0], full)
		}
	}
	if full < len(src) {
		var in [16]float32
		var out [16]uint16
		copy(in[:], src[full:])
		if s == avx512 {
			f32ToF16AVX512(&out[0], &in[0], 16)
		} else {
			f32ToF16AVX2(&out[0], &in[0], 8)
		}
		copy(dst[full:], out[:])
	}
}
