package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// halfKernels emits the 16-bit conversions for the float32 ISA s (AVX2 or
// AVX512), with the rounding of kernels/internal/half:
//
//   - bfloat16 → float32: zero-extend and shift left by 16.
//   - float32 → bfloat16: integer round to nearest even (add 0x7fff plus
//     the lowest kept bit, shift right by 16), NaN lanes replaced by the
//     truncated bits with the quiet bit set. VCVTNEPS2BF16 (AVX512-BF16)
//     is not used: it treats subnormal inputs as zero whatever MXCSR says
//     (measured on Zen 5: every subnormal input gave ±0, normal inputs and
//     NaNs gave exactly these results), which would flush bfloat16's
//     subnormals; the integer path is exact for every input.
//   - float16 ⇄ float32: F16C's VCVTPH2PS and VCVTPS2PH with immediate 0
//     (round to nearest even whatever MXCSR says); both make NaNs quiet
//     and keep the payload's top bits, as package half does.
//
// Each function converts n elements, n a multiple of the vector width (of
// 16 for f32ToBF16, which takes two vectors per iteration on AVX2): the Go
// driver runs a tail through a buffer of 16 (there are no 16-bit masked
// moves on AVX2, and one code path keeps the two ISAs alike).
func halfKernels(s *x86.ISA) {
	halfLoop(s, "bf16ToF32", "func(dst *float32, src *uint16, n int)",
		"%s widens n bfloat16 values (n a multiple of the vector width).", 2, 4, s.Lanes, nil,
		func(in, out Mem) {
			v := s.Vec()
			VPMOVZXWD(in, v)
			VPSLLD(Imm(16), v, v)
			VMOVUPS(v, out)
		})
	halfLoop(s, "f16ToF32", "func(dst *float32, src *uint16, n int)",
		"%s widens n IEEE binary16 values (n a multiple of the vector width).", 2, 4, s.Lanes, nil,
		func(in, out Mem) {
			v := s.Vec()
			VCVTPH2PS(in, v)
			VMOVUPS(v, out)
		})
	halfLoop(s, "f32ToF16", "func(dst *uint16, src *float32, n int)",
		"%s rounds n float32 values to IEEE binary16, ties to even (n a multiple of the vector width).", 4, 2, s.Lanes, nil,
		func(in, out Mem) {
			v := s.Vec()
			VMOVUPS(in, v)
			VCVTPS2PH(Imm(0), v, out) // imm 0: round to nearest even
		})
	// round leaves in a register the 32-bit lanes of x rounded to bfloat16
	// (in the low 16 bits of each lane).
	round := func(in Mem) reg.VecVirtual {
		v := s.Vec()
		VMOVUPS(in, v)
		return roundBF16(s, v)
	}
	if s.ZMM {
		halfLoop(s, "f32ToBF16", "func(dst *uint16, src *float32, n int)",
			"%s rounds n float32 values to bfloat16, ties to even (n a multiple of 16).", 4, 2, 16, bf16Consts,
			func(in, out Mem) { VPMOVDW(round(in), out) })
		return
	}
	// AVX2 has no VPMOVDW: two vectors a, b per iteration, packed by
	// VPACKUSDW per 128-bit lane (a0-3 b0-3 | a4-7 b4-7; the values fit
	// 16 bits unsigned) and put in order by VPERMQ.
	halfLoop(s, "f32ToBF16", "func(dst *uint16, src *float32, n int)",
		"%s rounds n float32 values to bfloat16, ties to even (n a multiple of 16).", 4, 2, 16, bf16Consts,
		func(in, out Mem) {
			a := round(in)
			b := round(in.Offset(32))
			VPACKUSDW(b, a, a)
			VPERMQ(Imm(0xd8), a, a)
			VMOVDQU(a, out)
		})
}

// roundBF16 returns the 32-bit lanes of v rounded to bfloat16 (in the low
// 16 bits of each lane): integer round to nearest even, NaN lanes the
// truncated bits with the quiet bit set.
func roundBF16(s *x86.ISA, v reg.VecVirtual) reg.VecVirtual {
	t, r, a := s.Vec(), s.Vec(), s.Vec()
	VPSRLD(Imm(16), v, t)           // the kept half
	s.Op(vpand(s), s.U(1), t, r)    // its lowest bit
	s.Op(VPADDD, s.U(0x7fff), v, a) // + 0x7fff
	VPADDD(r, a, r)
	VPSRLD(Imm(16), r, r) // rounded
	if s.ZMM {
		s.Op(VPANDD, s.U(0x7fffffff), v, a) // |x|
		k := K()
		VPCMPGTD(s.U(0x7f800000), a, k) // NaN lanes
		VPORD(s.U(0x40), t, k, r)       // truncated, quiet
		return r
	}
	m := s.Vec()
	VCMPPS(Imm(x86.UNORD), v, v, m) // NaN lanes
	VPOR(s.U(0x40), t, t)           // truncated, quiet
	VPBLENDVB(m, t, r, r)
	return r
}

// roundBF16Widened is roundBF16 for values computed from widened bfloat16
// inputs, as the cross-entropy gradient of bfloat16 logits: a NaN there is
// an input's (whose low 16 bits are 0) or the hardware's default NaN
// (0x7fc00000), since arithmetic passes a NaN operand's payload on or
// makes the default one. Adding 0x7fff plus the kept lowest bit to low
// bits of 0 carries nothing, so NaN and ±Inf come out as their kept half
// and no NaN path is needed (four instructions of twelve on AVX2).
func roundBF16Widened(s *x86.ISA, v reg.VecVirtual) reg.VecVirtual {
	t, r := s.Vec(), s.Vec()
	VPSRLD(Imm(16), v, t)        // the kept half
	s.Op(vpand(s), s.U(1), t, r) // its lowest bit
	VPADDD(v, r, r)
	s.Op(VPADDD, s.U(0x7fff), r, r) // + 0x7fff
	VPSRLD(Imm(16), r, r)           // rounded
	return r
}

// vpand is the AND of the ISA's integer lanes: VPANDD on AVX-512 (whose
// embedded-broadcast form x86.ISA.Op picks for a constant), VPAND on AVX2.
func vpand(s *x86.ISA) func(...Op) {
	if s.ZMM {
		return VPANDD
	}
	return func(ops ...Op) { VPAND(ops[0], ops[1], ops[2]) }
}

// halfLoop emits name (with the ISA's suffix) as a loop over n elements,
// per at a time: body converts the per elements at in (of inSize bytes
// each) to out (outSize bytes each). consts are integer lane constants, kept in
// registers on AVX-512.
func halfLoop(s *x86.ISA, name, sig, doc string, inSize, outSize, per int, consts []uint32, body func(in, out Mem)) {
	name += suffix(s)
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	docf(name, doc)
	s.Begin()
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	src := Load(Param("src"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	for _, c := range consts {
		s.Preload(math.Float32frombits(c))
	}
	j := GP64()
	loop, done := x86.NewLabel("loop"), x86.NewLabel("done")
	XORQ(j, j)
	Label(loop)
	CMPQ(j, n)
	JAE(LabelRef(done))
	body(Mem{Base: src, Index: j, Scale: uint8(inSize)}, Mem{Base: dst, Index: j, Scale: uint8(outSize)})
	ADDQ(Imm(uint64(per)), j)
	JMP(LabelRef(loop))
	Label(done)
	s.End()
}
