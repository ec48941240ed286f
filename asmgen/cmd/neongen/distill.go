package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Distillation (generic.Distill), float32 and float64: the vector passes
// over one row of student logits s and teacher logits t, with
// z = s·τ and v = t·τ each one multiply in the lane type (bit-identical to
// the generic kernel's rounded products). Package kernels/arm64 runs the
// row loop, the maxima (maxF32/maxF64), the rows whose maxima are not
// finite, ignored rows and the per-row scalars; it calls
//
//   - distillSums: Σ e^{z−mz}, Σ e^{v−mv} and Σ e^{v−mv}·(v − z), all in
//     float64 (float32 exponentials and products widened before they are
//     added, as accumulate), into sums[0 … 2];
//   - distillGrad: dst = a·e^{z−mz} − b·e^{v−mv}, with a = c/Σe^{z−mz} and
//     b = c/Σe^{v−mv} (the gradient c·(Q − P));
//   - reverseKLGrad: ReverseKL's gradient c·Q·((z − v) − D) after
//     distillSums with s and t swapped (its dot product is then
//     Σ e^{z−mz}·(z − v), so D = dot/Σe^{z−mz});
//   - jsdSums and jsdGrad: JSD's KL(P‖M), KL(Q‖M) and gradient, each
//     element's log M formed in the log domain (jsdLogM) after
//     distillSums has given the log-sum-exps.
//
// All read every input of a vector before they write its output, so dst
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
			kernel{signature{"reverseKLGrad" + sfx, []param{x("dst"), x("s"), x("t"), v("tau"), v("mz"), v("d"), v("a")}, none,
				"reverseKLGrad" + sfx + " is, with z = s[i]·tau and v = t[i]·tau (each rounded) and\ne = exp(z − mz),\n\n" +
					"\tdst[i] = a·(e·((z − v) − d))\n\n" +
					"and a·(e·0) where e = 0 (z = −Inf, or z − mz below exp's range: no\nterm, whatever v is). len(s), len(t) ≥ len(dst); dst may be s or t."}, a, genReverseKLGrad},
			kernel{signature{"jsdSums" + sfx, []param{{"sums", slice64}, x("s"), x("t"), v("tau"), v("mz"), v("lsz"), v("mv"), v("lsv"), v("lb"), v("lb1")}, none,
				"jsdSums" + sfx + " is, over i < len(s), with z = s[i]·tau and v = t[i]·tau (each\nrounded), b = (z − mz) − lsz, a = (v − mv) − lsv (log Q and log P),\n" +
					"lm = max(a + lb, b + lb1) + log1p(exp(−|(a + lb) − (b + lb1)|)) (log M),\nP = exp(a) and Q = exp(b):\n\n" +
					"\tsums[0] = Σ P·(a − lm), no term where P = 0\n\tsums[1] = Σ Q·(b − lm), no term where Q = 0\n\n" +
					"in float64 (float32 terms widened before they are added). lb, lb1 are\nlog β and log(1 − β); len(t) ≥ len(s), len(sums) ≥ 2."}, a, genJSDSums},
			kernel{signature{"jsdGrad" + sfx, []param{x("dst"), x("s"), x("t"), v("tau"), v("mz"), v("lsz"), v("mv"), v("lsv"), v("lb"), v("lb1"), v("c"), v("kq")}, none,
				"jsdGrad" + sfx + " is, with b, lm and Q as for jsdSums" + sfx + ",\n\n" +
					"\tdst[i] = c·(Q·((b − lm) − kq))\n\n" +
					"and c·(Q·0) where Q = 0. len(s), len(t) ≥ len(dst); dst may be s or t."}, a, genJSDGrad},
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

// genReverseKLGrad: the reverse divergence's gradient c·Q·((z − v) − D)
// with c·Q = a·e^{z−mz} (a = c/Σe^{z−mz}, as distillGrad's factors). The
// difference is zeroed before the products where e = 0, so that a z = −Inf
// (z − v NaN or ±Inf) gives a·(0·0), generic's c·0 with c's sign. Two
// vectors per iteration.
func genReverseKLGrad(f *fn) {
	a := f.arr
	const u = 2
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("s", "R0", "")
	f.loadSlice("t", "R3", "")
	tau, mz, d, ka := f.alloc("tau"), f.alloc("mz"), f.alloc("d"), f.alloc("a")
	f.loadScalar("tau", tau)
	f.loadScalar("mz", mz)
	f.loadScalar("d", d)
	f.loadScalar("a", ka)
	f.expConsts()
	S, T, X, H := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, 2*u)
	ins := []stream{{ptr: "R0", regs: S}, {ptr: "R3", regs: T}}
	outs := []stream{{ptr: "R2", regs: S}}
	f.loop(u, ins, outs, func(n int) {
		S, T, X := S[:n], T[:n], X[:n]
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.FMUL(a, S[i], S[i], tau) })  // z
		each(func(i int) { f.FMUL(a, T[i], T[i], tau) })  // v
		each(func(i int) { f.FSUB(a, T[i], S[i], T[i]) }) // z − v
		each(func(i int) { f.FSUB(a, T[i], T[i], d) })
		each(func(i int) { f.FSUB(a, S[i], S[i], mz) })
		f.exp(S, X, append(append([]neon.V{}, H[:n]...), H[u:u+n]...))
		each(func(i int) { f.FCMGTZ(a, X[i], S[i]) }) // e > 0
		each(func(i int) { f.and(T[i], T[i], X[i]) })
		each(func(i int) { f.FMUL(a, S[i], S[i], T[i]) })
		each(func(i int) { f.FMUL(a, S[i], S[i], ka) })
	})
	f.Op("RET")
}

// jsdK are the scalars of the JSD kernels: the maxima and the logs of the
// shifted sums (log P = (v − mv) − lsv keeps v − mv exact-sized instead of
// subtracting a rounded log-sum-exp of the size of the logits) and the
// logs of the mixing weights.
type jsdK struct{ tau, mz, lsz, mv, lsv, lb, lb1 neon.V }

// jsdSetup loads the JSD kernels' shared scalars and the exp and log
// constants.
func (f *fn) jsdSetup() jsdK {
	var k jsdK
	for _, p := range []struct {
		name string
		r    *neon.V
	}{{"tau", &k.tau}, {"mz", &k.mz}, {"lsz", &k.lsz}, {"mv", &k.mv}, {"lsv", &k.lsv}, {"lb", &k.lb}, {"lb1", &k.lb1}} {
		*p.r = f.alloc(p.name)
		f.loadScalar(p.name, *p.r)
	}
	f.expConsts()
	f.logConsts()
	return k
}

// jsdLogM is generic's jsdBlock for one vector: it replaces the student
// and teacher logits s and t by b = log Q and a = log P and sets
// lm = log M = max(la, lb) + log1p(e^−|la−lb|), la = a + log β,
// lb = b + log(1−β), so that no probability's underflow reaches log M.
// log1p is log1pFromE: log u, u = 1 + e rounded, plus the part of e that
// u lost, (e − (u − 1))/u, so that it stays accurate relative to
// log1p(e) for small e, where log u alone would be off by up to 2^-24
// (2^-53) absolute. Measured through softplusBeta (β = 1: the same exp
// and log1pFromE) at 2^20 points x ∈ [−40, 0] against float64's
// math.Log1p(math.Exp(x)): log1p(exp(x)) within 2.2 ulp in float32 and
// 3 ulp in float64 (the reference's own error included), at most
// 1.3·2^-24 and 2·2^-53 absolute; lm adds one rounding of its own size.
// Where a = b = −Inf (P = Q = 0) lm is NaN: callers drop those terms. la, lb, e, t, h1, h2 are scratch; float64
// also uses f.extra (logCore64).
func (f *fn) jsdLogM(k jsdK, s, t, lm, la, lb, e, x, h1, h2 neon.V) {
	a := f.arr
	f.FMUL(a, s, s, k.tau) // z
	f.FMUL(a, t, t, k.tau) // v
	f.FSUB(a, s, s, k.mz)
	f.FSUB(a, t, t, k.mv)
	f.FSUB(a, s, s, k.lsz) // b
	f.FSUB(a, t, t, k.lsv) // a
	f.FADD(a, la, t, k.lb)
	f.FADD(a, lb, s, k.lb1)
	f.FMAX(a, lm, la, lb)
	f.FABD(a, e, la, lb)
	f.FNEG(a, e, e)
	f.exp([]neon.V{e}, []neon.V{x}, []neon.V{h1, h2})
	f.log1pFromE([]neon.V{e}, []neon.V{la}, []neon.V{lb}, []neon.V{x}, []neon.V{h1}, []neon.V{h2})
	f.FADD(a, lm, lm, la)
}

// wideAdd adds the vector v into the float64 accumulator acc: float32
// lanes widened half by half through tmp, so that the sum carries no
// float32 rounding (one accumulator per sum, where accumulate uses two:
// the JSD kernels have no registers to spare).
func (f *fn) wideAdd(acc, v, tmp neon.V) {
	if f.arr == neon.D2 {
		f.FADD(neon.D2, acc, acc, v)
		return
	}
	f.FCVTL(tmp, v)
	f.FADD(neon.D2, acc, acc, tmp)
	f.FCVTL2(tmp, v)
	f.FADD(neon.D2, acc, acc, tmp)
}

// genJSDSums: one vector per iteration: log M (jsdLogM), then P and Q
// one after the other (two interleaved exponentials would need two more
// registers). Lanes past the end are s = t = −Inf: P = Q = 0, no terms. A
// zero probability's term is dropped by a mask (P > 0), not multiplied
// out: a − lm is NaN where both are −Inf.
//
// Registers: float32 keeps its 21 constants (seven scalars, −Inf, exp's
// and log's with their polynomials) in V11–V31 and works in V0–V10;
// float64 reads both polynomials from memory.
func genJSDSums(f *fn) {
	a := f.arr
	if a == neon.D2 {
		f.memCoefs = true
		f.extra = f.vs(11, 2)
	}
	f.loadSlice("s", "R0", "R1")
	f.loadSlice("t", "R3", "")
	f.loadSlice("sums", "R4", "")
	k := f.jsdSetup()
	ninf := f.negInf()
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	S, T, DA, DB, X0, X1, H0, H1, H2, accP, accQ := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10)
	f.zero(accP)
	f.zero(accQ)
	ins := []stream{{ptr: "R0", regs: []neon.V{S}, fill: ninf, hasFill: true}, {ptr: "R3", regs: []neon.V{T}, fill: ninf, hasFill: true}}
	f.loop(1, ins, nil, func(int) {
		LM, E := DA, DB
		f.jsdLogM(k, S, T, LM, X0, X1, E, H0, H1, H2)
		f.FSUB(a, DB, S, LM) // b − lm (DB was E, dead)
		f.FSUB(a, DA, T, LM) // a − lm
		for _, p := range []struct{ x, d, acc neon.V }{{T, DA, accP}, {S, DB, accQ}} {
			f.exp([]neon.V{p.x}, []neon.V{X0}, []neon.V{H0, H1}) // P, then Q
			f.FCMGTZ(a, X1, p.x)
			f.FMUL(a, p.d, p.d, p.x)
			f.and(p.d, p.d, X1)
			f.wideAdd(p.acc, p.d, X0)
		}
	})
	f.reduceWide([]neon.V{accP})
	f.reduceWide([]neon.V{accQ})
	f.Op("FMOVD F%d, (R4)", accP)
	f.Op("FMOVD F%d, 8(R4)", accQ)
	f.Op("RET")
}

// genJSDGrad: one vector per iteration, jsdLogM then Q = e^b; as in
// genReverseKLGrad the factor (b − lm) − kq is zeroed where Q = 0 before
// the products. Float32 keeps 22 constants (nine scalars) in registers
// and works in V0–V9; float64 reads its polynomials from memory.
func genJSDGrad(f *fn) {
	a := f.arr
	if a == neon.D2 {
		f.memCoefs = true
		f.extra = f.vs(9, 2)
	}
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("s", "R0", "")
	f.loadSlice("t", "R3", "")
	k := f.jsdSetup()
	c, kq := f.alloc("c"), f.alloc("kq")
	f.loadScalar("c", c)
	f.loadScalar("kq", kq)
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	S, T, LM, E, LA, LB, X, H1, H2 := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8)
	ins := []stream{{ptr: "R0", regs: []neon.V{S}}, {ptr: "R3", regs: []neon.V{T}}}
	outs := []stream{{ptr: "R2", regs: []neon.V{S}}}
	f.loop(1, ins, outs, func(int) {
		f.jsdLogM(k, S, T, LM, LA, LB, E, X, H1, H2)
		f.FSUB(a, LM, S, LM) // b − lm
		f.FSUB(a, LM, LM, kq)
		f.exp([]neon.V{S}, []neon.V{X}, []neon.V{H1, H2}) // Q
		f.FCMGTZ(a, E, S)
		f.and(LM, LM, E)
		f.FMUL(a, S, S, LM)
		f.FMUL(a, S, S, c)
	})
	f.Op("RET")
}
