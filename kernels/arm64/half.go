//go:build arm64 && !purego

package arm64

// The 16-bit conversions (asmgen/cmd/neongen/half.go): the kernels take
// multiples of 8 elements; the last len mod 8 go through a buffer on the
// stack, converted by the same kernel.

func bf16ToF32Slice(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	full := len(src) &^ 7
	bf16ToF32(dst[:full], src[:full])
	if full < len(src) {
		var in [8]uint16
		var out [8]float32
		copy(in[:], src[full:])
		bf16ToF32(out[:], in[:])
		copy(dst[full:], out[:])
	}
}

func f16ToF32Slice(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	full := len(src) &^ 7
	f16ToF32(dst[:full], src[:full])
	if full < len(src) {
		var in [8]uint16
		var out [8]float32
		copy(in[:], src[full:])
		f16ToF32(out[:], in[:])
		copy(dst[full:], out[:])
	}
}

func f32ToBF16Slice(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	full := len(src) &^ 7
	f32ToBF16(dst[:full], src[:full])
	if full < len(src) {
		var in [8]float32
		var out [8]uint16
		copy(in[:], src[full:])
		f32ToBF16(out[:], in[:])
		copy(dst[full:], out[:])
	}
}

func f32ToF16Slice(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	full := len(src) &^ 7
	f32ToF16(dst[:full], src[:full])
	if full < len(src) {
		var in [8]float32
		var out [8]uint16
		copy(in[:], src[full:])
		f32ToF16(out[:], in[:])
		copy(dst[full:], out[:])
	}
}
