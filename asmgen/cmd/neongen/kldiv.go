package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// kl_div, float32 and float64, the math of asmgen/amd64's klDiv (and of
// generic.KLDiv): with p the target probability,
//
//	loss = p·(log p − x)   (klDiv), p = y
//	loss = p·(t − x)       (klDivLog), t = y, p = e^t
//
// 0 where p = 0 unless x is NaN, gradient −p·scale, Σ loss in float64.
// Both kernels read every input of a vector before they write its
// outputs, so grad may be x. Lanes past the end are x = 0, y = 0, whose
// loss is 0 in both forms (p = 0; p = e^0 = 1 times 0 − 0).
func klDivKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		t, sk := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, sk} }
		v := func(n string) param { return param{n, t} }
		sfx := suffix(a)
		ps := []param{x("grad"), x("loss"), x("x"), x("y"), v("scale")}
		ks = append(ks,
			kernel{signature{"klDiv" + sfx, ps, f64,
				"klDiv" + sfx + " is kl_div with probability targets: for each i < len(grad),\nwith p = y[i] ∈ [0, 1] (or NaN),\n\n" +
					"\tloss[i] = p·(log p − x[i]), 0 where p = 0 and x[i] is not NaN\n" +
					"\tgrad[i] = −p·scale\n\tsum += float64(loss[i])\n\n" +
					"and returns sum; log p is exact in form for subnormal p. All slices have\nat least len(grad) elements; grad may be x."}, a, genKLDiv},
			kernel{signature{"klDivLog" + sfx, ps, f64,
				"klDivLog" + sfx + " is kl_div with log targets: for each i < len(grad), with\nt = y[i] ≤ 0 (or −Inf, NaN) and p = e^t, raised to the least subnormal\nwhere t is finite and e^t underflows,\n\n" +
					"\tloss[i] = p·(t − x[i]), 0 where p = 0 (t = −Inf) and x[i] is not NaN\n" +
					"\tgrad[i] = −p·scale\n\tsum += float64(loss[i])\n\n" +
					"and returns sum. All slices have at least len(grad) elements; grad may\nbe x."}, a, genKLDivLog},
		)
	}
	return ks
}

// logSubN replaces each register of xs (≥ 0, or NaN) by log x, a
// subnormal x scaled by 2^mant first and k corrected (logCore takes normal
// inputs only: mant = 23 brings float32's least subnormal 2^−149 to the
// least normal 2^−126, mant = 52 float64's 2^−1074 to 2^−1022). 0 and NaN
// give finite garbage, which callers replace. t, u, w, m are scratch, one
// per element; float64 also needs f.extra (logCore64).
func (f *fn) logSubN(xs, t, u, w, m []neon.V) {
	a := f.arr
	minNorm, scale, shift := f.logSubConsts()
	each := func(g func(i int)) {
		for i := range xs {
			g(i)
		}
	}
	each(func(i int) { f.FCMGT(a, m[i], minNorm, xs[i]) }) // subnormal or 0
	each(func(i int) { f.FMUL(a, t[i], xs[i], scale) })
	each(func(i int) { f.bit(xs[i], t[i], m[i]) })
	each(func(i int) { f.and(m[i], m[i], shift) }) // mant where scaled, else 0
	f.logCore(xs, t, u, w, m)
}

// logSubConsts loads the constants of logSubN (the names logProbConsts
// gives the same values).
func (f *fn) logSubConsts() (minNorm, scale, shift neon.V) {
	f.logConsts()
	return f.kbits("minnorm", 0x00800000, 0x0010000000000000),
		f.k("subscale", 0x1p23, 0x1p52), f.kbits("subshift", 23, 52)
}

// klDivTail is the end both kernels share: l holds log p − x or t − x,
// p the target probability. It leaves the loss in l, the gradient in p,
// and adds the loss to acc; s, c and r are scratch.
//
// Float32 losses are widened and added to four float64 accumulators
// (accumulate). Float64 losses go through TwoSum into acc[0] with the
// rounding errors gathered in acc[1] (klDivReduce adds them at the end):
// a plain float64 sum over thousands of terms drifts by tens of units in
// the last place (the golden kldiv cases at K = 4099 catch ~57u).
func (f *fn) klDivTail(x, p, l, s, c, r []neon.V, acc []neon.V) {
	a := f.arr
	zero, ns := f.consts["zero"], f.consts["nscale"]
	each := func(g func(i int)) {
		for i := range x {
			g(i)
		}
	}
	each(func(i int) { f.FMUL(a, l[i], p[i], l[i]) })
	each(func(i int) { f.FCMEQZ(a, s[i], p[i]) })
	each(func(i int) { f.FCMEQ(a, c[i], x[i], x[i]) }) // false only for NaN
	each(func(i int) { f.and(s[i], s[i], c[i]) })
	each(func(i int) { f.bit(l[i], zero, s[i]) }) // p = 0, x not NaN: 0 (not 0·(−Inf))
	each(func(i int) { f.FMUL(a, p[i], p[i], ns) })
	if a == neon.D2 {
		each(func(i int) { f.twoSumAcc(acc[0], acc[1], l[i], s[i], c[i], r[i]) })
		return
	}
	each(func(i int) { f.accumulate(acc, l[i], s[i], i) })
}

// twoSumAcc adds v to sum exactly in two parts (Knuth's TwoSum): sum
// becomes the rounded sum, comp gains its rounding error. s, b, e are
// scratch. Once sum is ±Inf or NaN, comp may be NaN; klDivReduce drops it
// there.
func (f *fn) twoSumAcc(sum, comp, v, s, b, e neon.V) {
	a := f.arr
	f.FADD(a, s, sum, v)
	f.FSUB(a, b, s, sum) // the part of v that went in
	f.FSUB(a, e, s, b)   // the part of sum that stayed
	f.FSUB(a, e, sum, e) // sum's error
	f.FSUB(a, b, v, b)   // v's error
	f.FADD(a, e, e, b)
	f.FADD(a, comp, comp, e)
	f.mov(sum, s)
}

// klDivReduce leaves the float64 total of the accumulators in lane 0 of
// acc[0]: for float64 lanes sum + comp per lane (comp dropped where sum is
// not finite), then the two lanes added.
func (f *fn) klDivReduce(acc []neon.V, t neon.V) {
	if f.arr == neon.D2 {
		f.FSUB(neon.D2, t, acc[0], acc[0]) // 0, or NaN for ±Inf and NaN
		f.FCMEQZ(neon.D2, t, t)
		f.and(acc[1], acc[1], t)
	}
	f.reduceWide(acc)
}

// klDivSetup loads the frame and the scalars both kernels share, and
// zeroes the accumulators.
func (f *fn) klDivSetup(acc []neon.V) {
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	ns := f.alloc("nscale")
	f.loadScalar("scale", ns)
	f.FNEG(f.arr, ns, ns) // −scale: p·(−scale) = −(p·scale) exactly
	f.k("zero", 0, 0)
	for _, r := range acc {
		f.zero(r)
	}
}

// genKLDiv: two vectors per iteration; float64 reads its log polynomial
// from memory (with logCore64's two extra registers per vector the
// constants do not fit beside it).
func genKLDiv(f *fn) {
	a := f.arr
	const u = 2
	nacc := 4
	if a == neon.D2 {
		f.memCoefs = true
		nacc = 2
	}
	X, P, L, T, U, W, M := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, u), f.vs(5*u, u), f.vs(6*u, u)
	acc := f.vs(7*u, nacc)
	if a == neon.D2 {
		f.extra = f.vs(7*u+nacc, 2*u)
	}
	f.klDivSetup(acc)
	f.logSubConsts()
	ins := []stream{{ptr: "R0", regs: X}, {ptr: "R5", regs: P}}
	outs := []stream{{ptr: "R2", regs: P}, {ptr: "R4", regs: L}}
	f.loop(u, ins, outs, func(n int) {
		X, P, L, T, U, W, M := X[:n], P[:n], L[:n], T[:n], U[:n], W[:n], M[:n]
		if a == neon.D2 {
			f.extra = append(append([]neon.V{}, f.vs(7*u+nacc, n)...), f.vs(7*u+nacc+u, n)...)
		}
		for i := range L {
			f.mov(L[i], P[i])
		}
		f.logSubN(L, T, U, W, M)
		for i := range L {
			f.FSUB(a, L[i], L[i], X[i]) // log p − x
		}
		f.klDivTail(X, P, L, T, U, W, acc)
	})
	f.klDivReduce(acc, X[0])
	f.storeRet(acc[0])
	f.Op("RET")
}

// genKLDivLog: p = e^t by the exp block (subnormal results rounded once,
// 0 below the clamp, NaN kept), then raised to the least subnormal where
// t ≥ −MaxFloat (finite, as generic's positive and amd64's
// floorUnderflow): beside x = −Inf such a term is +Inf, not 0. Two vectors
// per iteration.
func genKLDivLog(f *fn) {
	a := f.arr
	const u = 2
	nacc := 4
	if a == neon.D2 {
		nacc = 2
	}
	X, Y, P, T, H := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, 2*u)
	acc := f.vs(6*u, nacc)
	f.klDivSetup(acc)
	f.expConsts()
	least := f.kbits("least", 1, 1)
	negMax := f.kbits("negmax", 0xff7fffff, 0xffefffffffffffff)
	ins := []stream{{ptr: "R0", regs: X}, {ptr: "R5", regs: Y}}
	outs := []stream{{ptr: "R2", regs: P}, {ptr: "R4", regs: Y}}
	f.loop(u, ins, outs, func(n int) {
		X, Y, P, T := X[:n], Y[:n], P[:n], T[:n]
		H0, H1 := H[:n], H[u:u+n]
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.mov(P[i], Y[i]) })
		f.exp(P, T, append(append([]neon.V{}, H0...), H1...))
		each(func(i int) { f.FCMGE(a, T[i], Y[i], negMax) }) // t finite (false for NaN, −Inf)
		each(func(i int) { f.FMAX(a, H0[i], P[i], least) })
		each(func(i int) { f.bit(P[i], H0[i], T[i]) })
		each(func(i int) { f.FSUB(a, Y[i], Y[i], X[i]) }) // t − x
		f.klDivTail(X, P, Y, T, H0, H1, acc)
	})
	f.klDivReduce(acc, X[0])
	f.storeRet(acc[0])
	f.Op("RET")
}
