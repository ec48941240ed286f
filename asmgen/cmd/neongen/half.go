package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// halfKernels are the 16-bit conversions (issue 18), with the rounding of
// kernels/internal/half. Each converts len(src) elements, a multiple of 8
// (one 16-byte vector of 16-bit values, two of float32); the Go driver
// runs the last len mod 8 through a buffer. R0 = src, R2 = dst, R1 = count.
//
//   - bfloat16 → float32: ZIP1/ZIP2 with a zero vector put each 16-bit
//     value in the high half of a 32-bit lane.
//   - float32 → bfloat16: integer round to nearest even (+0x7fff plus the
//     lowest kept bit), NaN lanes (FCMEQ x, x false) take x with the quiet
//     bit set instead; UZP2 gathers the high halves. No ARMv8.6 BF16
//     instructions are needed.
//   - binary16 ⇄ float32: FCVTL/FCVTL2 and FCVTN/FCVTN2 (ARMv8.0 Advanced
//     SIMD), rounding to nearest even under Go's FPCR; NaNs come out quiet
//     with the payload's top bits, as package half does.
func halfKernels() []kernel {
	to32 := []param{{"dst", slice32}, {"src", slice16}}
	to16 := []param{{"dst", slice16}, {"src", slice32}}
	return []kernel{
		{signature{"bf16ToF32", to32, none, "bf16ToF32 widens the bfloat16 values of src into dst (len(src) a multiple of 8, len(dst) ≥ len(src))."}, neon.S4, genBF16ToF32},
		{signature{"f16ToF32", to32, none, "f16ToF32 widens the binary16 values of src into dst (len(src) a multiple of 8, len(dst) ≥ len(src))."}, neon.S4, genF16ToF32},
		{signature{"f32ToBF16", to16, none, "f32ToBF16 rounds src to bfloat16 in dst, ties to even (len(src) a multiple of 8, len(dst) ≥ len(src))."}, neon.S4, genF32ToBF16},
		{signature{"f32ToF16", to16, none, "f32ToF16 rounds src to binary16 in dst, ties to even (len(src) a multiple of 8, len(dst) ≥ len(src))."}, neon.S4, genF32ToF16},
	}
}

// halfLoop emits the loop over R1 elements, 8 per iteration.
func (f *fn) halfLoop(body func()) {
	f.loadSlice("dst", "R2", "")
	f.loadSlice("src", "R0", "R1")
	loop, done := f.label("loop"), f.label("done")
	f.Op("CBZ R1, %s", done)
	f.Label(loop)
	start := f.Count()
	body()
	f.Op("SUBS $8, R1, R1")
	f.Op("BNE %s", loop)
	loops = append(loops, loopInfo{name: f.sig.name, insts: f.Count() - start, vecs: 2, dtype: "f32"})
	f.Label(done)
	f.Op("RET")
}

func genBF16ToF32(f *fn) {
	f.zero(31)
	f.halfLoop(func() {
		f.Op("VLD1.P 16(R0), [V0.H8]")
		f.Op("VZIP1 V0.H8, V31.H8, V1.H8") // (0, h0, 0, h1, …): h << 16 in 32-bit lanes
		f.Op("VZIP2 V0.H8, V31.H8, V2.H8")
		f.Op("VST1.P [V1.S4, V2.S4], 32(R2)")
	})
}

func genF16ToF32(f *fn) {
	f.halfLoop(func() {
		f.Op("VLD1.P 16(R0), [V0.H8]")
		f.FCVTL16(1, 0)
		f.FCVTL216(2, 0)
		f.Op("VST1.P [V1.S4, V2.S4], 32(R2)")
	})
}

func genF32ToF16(f *fn) {
	f.halfLoop(func() {
		f.Op("VLD1.P 32(R0), [V0.S4, V1.S4]")
		f.FCVTN16(2, 0)
		f.FCVTN216(2, 1)
		f.Op("VST1.P [V2.H8], 16(R2)")
	})
}

func genF32ToBF16(f *fn) {
	one, round, quiet := neon.V(31), neon.V(30), neon.V(29)
	f.constant(one, 1)
	f.constant(round, 0x7fff)
	f.constant(quiet, 0x00400000)
	f.halfLoop(func() {
		f.Op("VLD1.P 32(R0), [V0.S4, V1.S4]")
		for i := neon.V(0); i < 2; i++ {
			x, t, m := i, 2+i, 4+i
			f.USHR(neon.S4, t, x, 16) // the kept half
			f.and(t, t, one)          // its lowest bit
			f.iadd(t, t, round)
			f.iadd(t, t, x)                                     // rounded in the high half
			f.FCMEQ(neon.S4, m, x, x)                           // not NaN
			f.Op("VORR V%d.B16, V%d.B16, V%d.B16", quiet, x, x) // NaN: x made quiet
			f.bit(x, t, m)
		}
		f.Op("VUZP2 V1.H8, V0.H8, V6.H8") // the high halves, in order
		f.Op("VST1.P [V6.H8], 16(R2)")
	})
}
