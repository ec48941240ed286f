package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Losses on probabilities p ∈ [0, 1] (validated by the caller; NaN
// allowed): BCE, as generic.bceProb, with either PyTorch's clamp of each
// log at −100 and of p·(1−p) at 1e-12, or Clip. Both need log p for any p,
// subnormal included, and log(1 − p) without losing small p.

func probLossKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		x := func(n string) param { return param{n, sl(laneKind(a))} }
		v := func(n string) param { return param{n, laneKind(a)} }
		sfx := suffix(a)
		slices := []param{x("grad"), x("loss"), x("x"), x("y"), x("w")}
		ks = append(ks,
			kernel{signature{"bceProb" + sfx, append(slices, v("fn"), v("fp"), v("scale")), f64,
				"bceProb" + sfx + " is, for each i < len(grad), with p = x[i], cp = fn·y[i], cn = fp·(1−y[i]):\n\n" +
					"\tloss[i] = −w[i]·(cp·max(log p, −100) + cn·max(log(1−p), −100))\n" +
					"\tgrad[i] = w[i]·(cn·p − cp·(1−p))/max(p·(1−p), 1e-12)·scale\n" +
					"\tsum += float64(loss[i])\n\nand returns sum. All slices have at least len(grad) elements; grad or loss\nmay be x."},
				a, func(f *fn) { genBCEProb(f, false) }},
			kernel{signature{"bceProbClip" + sfx, append(slices, v("fn"), v("fp"), v("lo"), v("hi"), v("loglo"), v("loghi"), v("scale")), f64,
				"bceProbClip" + sfx + " is bceProb" + sfx + " with p and 1−p clipped to [lo, 1−lo] instead of the\n" +
					"clamps: loglo = log lo, loghi = log(1−lo); p < lo takes (loglo, loghi) as\n" +
					"(log p, log(1−p)), p > hi or 1−p < lo takes (loghi, loglo); the gradient\n" +
					"is w[i]·(cn/(1−p) − cp/p)·scale for p in [lo, hi] and 0 outside. It\nreturns Σ loss."},
				a, func(f *fn) { genBCEProb(f, true) }},
		)
	}
	return ks
}

// logProb sets lp = log p for p ≥ 0 (subnormal p scaled by 2^mant first;
// log 0 = −Inf; NaN p gives garbage, which callers replace) and lq =
// log(1 − p) through log1pFromE(−p) (−Inf for p = 1), r = 1/(1 − p).
// Scratch: e, t, h1, h2, m. logProbConsts loads its constants before the
// loop.
func (f *fn) logProb(p, lp, lq, r, e, t, h1, h2, m neon.V) {
	a := f.arr
	minNorm, subScale, subShift, ninf, one := f.logProbConsts()
	f.mov(lp, p)
	f.FCMGT(a, m, minNorm, p) // subnormal or 0
	f.FMUL(a, t, p, subScale)
	f.bit(lp, t, m)
	f.and(m, m, subShift)
	f.logCore([]neon.V{lp}, []neon.V{t}, []neon.V{h1}, []neon.V{h2}, []neon.V{m})
	f.FCMEQZ(a, t, p)
	f.bit(lp, ninf, t) // log 0
	f.FNEG(a, e, p)
	f.log1pFromE([]neon.V{e}, []neon.V{lq}, []neon.V{r}, []neon.V{t}, []neon.V{h1}, []neon.V{h2})
	f.FCMEQ(a, t, p, one)
	f.bit(lq, ninf, t) // log(1 − 1)
}

func (f *fn) logProbConsts() (minNorm, subScale, subShift, ninf, one neon.V) {
	f.logConsts()
	return f.kbits("minnorm", 0x00800000, 0x0010000000000000), f.k("subscale", 0x1p23, 0x1p52),
		f.kbits("subshift", 23, 52), f.negInf(), f.k("one", 1, 1)
}

// genBCEProb: one vector per iteration.
func genBCEProb(f *fn, clip bool) {
	a := f.arr
	if a == neon.D2 {
		f.memCoefs = true
		f.extra = f.vs(14, 2)
	}
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("w", "R7", "")
	names := []string{"fn", "fp", "scale"}
	if clip {
		names = []string{"fn", "fp", "scale", "lo", "hi", "loglo", "loghi"}
	}
	ps := f.packScalars(names...)
	pfn, pfp, scale := ps[0], ps[1], ps[2]
	f.logProbConsts()
	one := f.k("one", 1, 1)
	zero := f.k("zero", 0, 0)
	var two, m100, eps neon.V
	if clip {
		two = f.k("two", 2, 2)
	} else {
		m100 = f.k("m100", -100, -100)
		eps = f.k("eps", 1e-12, 1e-12)
	}
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	X, Y, W, LP, E, LQ, R, T, H1, H2, M, P := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11)
	acc := f.vs(12, 2)
	f.zero(acc[0])
	f.zero(acc[1])
	G := LP // the gradient's register
	if clip {
		G = LQ
	}
	ins := []stream{{ptr: "R0", regs: []neon.V{X}}, {ptr: "R5", regs: []neon.V{Y}}, {ptr: "R7", regs: []neon.V{W}}}
	outs := []stream{{ptr: "R2", regs: []neon.V{G}}, {ptr: "R4", regs: []neon.V{T}}}
	f.loop(1, ins, outs, func(int) {
		f.logProb(X, LP, LQ, R, E, T, H1, H2, M)
		f.FSUB(a, E, one, X) // q = 1 − p
		if clip {
			lo, hi, llo, lhi := ps[3], ps[4], ps[5], ps[6]
			// p is clipped high where p > hi or 1 − p < lo: hi may round
			// to 1 while 1 − p = 0 (p = 1), which then gives −log lo.
			f.mov(H1, X)
			f.dup(P, lo)
			f.FCMGT(a, T, P, E)
			f.bit(H1, two, T)   // ph
			f.FCMGT(a, M, P, X) // p < lo
			f.dup(P, llo)
			f.dup(H2, lhi)
			f.bit(LP, P, M)
			f.bit(LQ, H2, M)
			f.dup(T, hi)
			f.FCMGT(a, M, H1, T) // ph > hi
			f.bit(LP, H2, M)
			f.bit(LQ, P, M)
		} else {
			f.FMAX(a, LP, LP, m100) // NaN stays NaN (replaced below anyway)
			f.FMAX(a, LQ, LQ, m100)
		}
		f.dup(P, pfn)
		f.FMUL(a, H1, Y, P) // cp
		f.FSUB(a, H2, one, Y)
		f.dup(P, pfp)
		f.FMUL(a, H2, H2, P) // cn
		f.FMUL(a, T, H1, LP)
		f.fmla(T, H2, LQ)
		f.FNEG(a, T, T) // loss
		if clip {
			// cn/(1−p) − cp/p: p ≥ lo may be subnormal, and p·(1−p) with it.
			f.FDIV(a, LP, H1, X)
			f.FMUL(a, LQ, H2, R)
			f.FSUB(a, G, LQ, LP)
			lo, hi := ps[3], ps[4]
			f.dup(P, lo)
			f.FCMGT(a, M, P, X)
			f.bit(G, zero, M)
			f.dup(P, hi)
			f.FCMGT(a, M, X, P)
			f.bit(G, zero, M)
		} else {
			// r = 1/max(p·(1−p), 1e-12) ≤ 1e12: p·r and (1−p)·r are finite,
			// and cn·p or cp·(1−p) are not formed (they underflow for
			// subnormal p where the gradient does not).
			f.FMUL(a, M, X, E)
			f.FMAX(a, M, M, eps)
			f.FDIV(a, M, one, M)
			f.FMUL(a, LP, X, M)
			f.FMUL(a, LQ, E, M)
			f.FMUL(a, G, H2, LP)
			f.fmls(G, H1, LQ)
		}
		f.FCMEQ(a, M, X, X)
		f.bif(T, X, M) // NaN p: NaN loss and gradient
		f.bif(G, X, M)
		f.FMUL(a, T, T, W)
		f.FMUL(a, G, G, W)
		f.dup(P, scale)
		f.FMUL(a, G, G, P)
		f.accumulate(acc, T, E, 0)
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}
