package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Distillation (generic.Distill), float32 and float64: the two vector
// passes over one row of student logits s and teacher logits t, with
// z = s·τ and v = t·τ each one multiply in the lane type (bit-identical to
// the generic kernel's rounded products). Package kernels/arm64 runs the
// row loop, the maxima (maxF32/maxF64), the rows whose maxima are not
// finite, ignored rows and the per-row scalars; it calls
//
//   - distillSums: Σ e^{z−mz}, Σ e^{v−mv} and Σ e^{v−mv}·(v − z), all in
//     float64 (float32 exponentials and products widened before they are
//     added, as accumulate), into sums[0 … 2];
//   - distillGrad: dst = a·e^{z−mz} − b·e^{v−mv}, with a = c/Σe^{z−mz} and
//     b = c/Σe^{v−mv} (the gradient c·(Q − P)).
//
// Both read every input of a vector before they write its output, so dst
// may be s (in place).
func distillKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		t, sk := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, sk} }
		v := func(n string) param { return param{n, t} }
		sfx := suffix(a)
		ks = append(ks,
			kernel{signature{"distillSums" + sfx, []param{{"sums", slice64}, x("s"), x("t"), v("tau"), v("mz"), v("mv")}, none,
				"distillSums" + sfx + " is, over i < len(s), with z = s[i]·tau and v = t[i]·tau (each\nrounded), ez = exp(z − mz) and ev = exp(v − mv):\n\n" +
					"\tsums[0] = Σ ez\n\tsums[1] = Σ ev\n\tsums[2] = Σ ev'·(v − z), 0 where v = −Inf\n\n" +
					"all in float64 (float32 values widened, v − z formed in float64), where\nev' is ev raised to the least subnormal where v > −Inf (beside z = −Inf\n" +
					"the term is +Inf even where ev underflowed). mz and mv are the finite\nmaxima of z and v. len(t) ≥ len(s), len(sums) ≥ 3."}, a, genDistillSums},
			kernel{signature{"distillGrad" + sfx, []param{x("dst"), x("s"), x("t"), v("tau"), v("mz"), v("mv"), v("a"), v("b")}, none,
				"distillGrad" + sfx + " is, with z = s[i]·tau and v = t[i]·tau (each rounded),\n\n" +
					"\tdst[i] = a·exp(z − mz) − b·exp(v − mv)\n\n" +
					"(the second product fused into the subtraction). len(s), len(t) ≥\nlen(dst); dst may be s or t."}, a, genDistillGrad},
		)
	}
	return ks
}

// genDistillSums: one vector of s and t per iteration, their two
// exponentials interleaved (exp over [z − mz, v − mv]). Lanes past the end
// are s = t = −Inf: ez = ev = 0, and v = −Inf zeroes the term.
//
// Registers: float32 has 13 constants (τ, mz, mv, −Inf, the least
// subnormal, exp's), 11 work registers and two float64 accumulators per
// sum; float64 has exp's polynomial in six registers and one accumulator
// per sum.
func genDistillSums(f *fn) {
	a := f.arr
	f.loadSlice("s", "R0", "R1")
	f.loadSlice("t", "R3", "")
	f.loadSlice("sums", "R4", "")
	tau, mz, mv := f.alloc("tau"), f.alloc("mz"), f.alloc("mv")
	f.loadScalar("tau", tau)
	f.loadScalar("mz", mz)
	f.loadScalar("mv", mv)
	ninf := f.negInf()
	least := f.kbits("least", 1, 1)
	f.expConsts()
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	Z, V, M, EZ, EV := v(0), v(1), v(2), v(3), v(4)
	T, U := f.vs(5, 2), f.vs(7, 4)
	nacc := 2 // accumulate: float32 lanes widen into two float64 accumulators
	if a == neon.D2 {
		nacc = 1
	}
	accZ, accV, accD := f.vs(11, nacc), f.vs(11+nacc, nacc), f.vs(11+2*nacc, nacc)
	for _, r := range append(append(append([]neon.V{}, accZ...), accV...), accD...) {
		f.zero(r)
	}
	ins := []stream{{ptr: "R0", regs: []neon.V{Z}, fill: ninf, hasFill: true}, {ptr: "R3", regs: []neon.V{V}, fill: ninf, hasFill: true}}
	f.loop(1, ins, nil, func(int) {
		f.FMUL(a, Z, Z, tau) // z
		f.FMUL(a, V, V, tau) // v
		f.FSUB(a, EZ, Z, mz)
		f.FSUB(a, EV, V, mv)
		f.FCMGT(a, M, V, ninf) // v > −Inf (v is never NaN or +Inf here)
		f.exp([]neon.V{EZ, EV}, T, U)
		f.accumulate(accZ, EZ, T[0], 0)
		f.accumulate(accV, EV, T[1], 0)
		// ev' = max(ev, least) where v > −Inf, as klDivLog: beside z = −Inf
		// the term is then +Inf, not 0·∞.
		f.FMAX(a, T[0], EV, least)
		f.bit(EV, T[0], M)
		// v = −Inf: z and v both 0, so the term is 0·0 (not 0·(−Inf) or
		// 0·NaN).
		f.and(Z, Z, M)
		f.and(V, V, M)
		if a == neon.D2 {
			f.FSUB(a, V, V, Z)
			f.FMUL(a, V, V, EV)
			f.FADD(a, accD[0], accD[0], V)
			return
		}
		// Float32: v − z and the product in float64, half a vector at a
		// time: no overflow of v − z, no rounding of either to float32.
		for h := 0; h < 2; h++ {
			cvt := f.FCVTL
			if h == 1 {
				cvt = f.FCVTL2
			}
			cvt(T[0], Z)
			cvt(T[1], V)
			f.FSUB(neon.D2, T[1], T[1], T[0])
			cvt(T[0], EV)
			f.FMUL(neon.D2, T[0], T[0], T[1])
			f.FADD(neon.D2, accD[h], accD[h], T[0])
		}
	})
	f.reduceWide(accZ)
	f.reduceWide(accV)
	f.reduceWide(accD)
	f.Op("FMOVD F%d, (R4)", accZ[0])
	f.Op("FMOVD F%d, 8(R4)", accV[0])
	f.Op("FMOVD F%d, 16(R4)", accD[0])
	f.Op("RET")
}

// genDistillGrad: float32 two vectors per iteration, float64 one (its exp
// polynomial takes six registers); the exponentials of z − mz and v − mv
// of all of them go through one interleaved exp.
func genDistillGrad(f *fn) {
	a := f.arr
	u := 2
	if a == neon.D2 {
		u = 1
	}
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("s", "R0", "")
	f.loadSlice("t", "R3", "")
	tau, mz, mv, ka, kb := f.alloc("tau"), f.alloc("mz"), f.alloc("mv"), f.alloc("a"), f.alloc("b")
	f.loadScalar("tau", tau)
	f.loadScalar("mz", mz)
	f.loadScalar("mv", mv)
	f.loadScalar("a", ka)
	f.loadScalar("b", kb)
	f.expConsts()
	S, T := f.vs(0, u), f.vs(u, u)
	X, H := f.vs(2*u, 2*u), f.vs(4*u, 4*u)
	ins := []stream{{ptr: "R0", regs: S}, {ptr: "R3", regs: T}}
	outs := []stream{{ptr: "R2", regs: S}}
	f.loop(u, ins, outs, func(n int) {
		S, T := S[:n], T[:n]
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.FMUL(a, S[i], S[i], tau) })
		each(func(i int) { f.FMUL(a, T[i], T[i], tau) })
		each(func(i int) { f.FSUB(a, S[i], S[i], mz) })
		each(func(i int) { f.FSUB(a, T[i], T[i], mv) })
		xs := append(append([]neon.V{}, S...), T...)
		f.exp(xs, X[:2*n], append(append([]neon.V{}, H[:2*n]...), H[2*u:2*u+2*n]...))
		each(func(i int) { f.FMUL(a, S[i], S[i], ka) })
		each(func(i int) { f.fmls(S[i], T[i], kb) })
	})
	f.Op("RET")
}
