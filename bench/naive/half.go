package naive

import "math"

// The 16-bit conversions as a Go programmer writes them by hand: one
// branchy scalar function per element, called in a plain loop. They round
// to nearest even like the kernels (NaN made quiet), so that the benchmark
// compares equal work.

// BF16ToFloat32 widens bfloat16 bits.
func BF16ToFloat32(dst []float32, src []uint16) {
	for i := range src {
		dst[i] = math.Float32frombits(uint32(src[i]) << 16)
	}
}

// Float32ToBF16 rounds to bfloat16 bits.
func Float32ToBF16(dst []uint16, src []float32) {
	for i := range src {
		dst[i] = toBF16(src[i])
	}
}

func toBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToFloat32 widens binary16 bits.
func F16ToFloat32(dst []float32, src []uint16) {
	for i := range src {
		dst[i] = fromF16(src[i])
	}
}

func fromF16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f:
		if mant != 0 {
			return math.Float32frombits(sign | 0x7fc00000 | mant<<13)
		}
		return math.Float32frombits(sign | 0x7f800000)
	case 0:
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp+112)<<23 | mant<<13)
}

// Float32ToF16 rounds to binary16 bits.
func Float32ToF16(dst []uint16, src []float32) {
	for i := range src {
		dst[i] = toF16(src[i])
	}
}

func toF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff && mant != 0:
		return sign | 0x7e00 | uint16(mant>>13)&0x1ff
	case exp == 0xff || exp > 142:
		return sign | 0x7c00
	case exp >= 113: // normal binary16
		v := uint32(exp-112)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && v&1 == 1 {
			v++ // may carry into the exponent, up to Inf
		}
		return sign | uint16(v)
	case exp >= 102: // subnormal binary16, or rounds to the least one
		m := mant | 0x800000
		shift := uint(126 - exp)
		v := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && v&1 == 1 {
			v++
		}
		return sign | uint16(v)
	}
	return sign
}
