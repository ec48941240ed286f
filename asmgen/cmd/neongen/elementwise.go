package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Element-wise kernels built on e = exp(−|x|), which never overflows:
// σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) below, softplus(x) =
// max(x, 0) + log1p(e). Float32 only (log1p has float32 constants).

// (sigmoid also has float64 lanes: it needs exp only.)

// expNegAbs sets e[i] = exp(−|x[i]|); t, h are exp's scratch (h two per
// element).
func (f *fn) expNegAbs(x, e, t, h []neon.V) {
	for i := range x {
		f.FABS(f.arr, e[i], x[i])
	}
	for i := range x {
		f.FNEG(f.arr, e[i], e[i])
	}
	f.exp(e, t, h)
}

// log1pFromE sets lp[i] = log1p(e[i]) for e ∈ [0, 1] and r[i] = 1/(1+e):
// u = 1 + e rounded, log(u) by logCore, plus the rounding error of u,
// (e − (u − 1))·r. lp, r and the scratch t, h1, h2 are distinct from e.
func (f *fn) log1pFromE(e, lp, r, t, h1, h2 []neon.V) {
	a := f.arr
	one := f.k("one", 1, 1)
	for i := range e {
		f.FADD(a, lp[i], e[i], one) // u
	}
	for i := range e {
		f.FDIV(a, r[i], one, lp[i]) // 1/u
	}
	for i := range e {
		f.FSUB(a, t[i], lp[i], one) // u − 1, exact
	}
	for i := range e {
		f.FSUB(a, t[i], e[i], t[i]) // the part of e lost in u
	}
	for i := range e {
		f.FMUL(a, h1[i], t[i], r[i]) // its log: c/u
	}
	// logCore clobbers its scratch; keep c/u in e, which is dead once u exists
	// (callers that need e afterwards pass a copy).
	for i := range e {
		f.mov(e[i], h1[i])
	}
	f.logCore(lp, t, h1, h2, nil)
	for i := range e {
		f.FADD(a, lp[i], lp[i], e[i])
	}
}

func elementwiseKernels() []kernel {
	x := func(n string) param { return param{n, slice32} }
	v := func(n string) param { return param{n, f32} }
	loopDoc := func(name, expr string) string {
		return name + " is\n\n\tfor i := range dst {\n\t\tdst[i] = " + expr + "\n\t}\n\nlen(x) ≥ len(dst); dst may be x."
	}
	return []kernel{
		{signature{"sigmoidF32", []param{x("dst"), x("x")}, none, loopDoc("sigmoidF32", "1 / (1 + exp(−x[i]))")}, neon.S4, func(f *fn) { genUnary(f, "sigmoid") }},
		{signature{"sigmoidF64", []param{{"dst", slice64}, {"x", slice64}}, none, loopDoc("sigmoidF64", "1 / (1 + exp(−x[i]))")}, neon.D2, func(f *fn) { genUnary(f, "sigmoid") }},
		{signature{"softplusF32", []param{x("dst"), x("x")}, none, loopDoc("softplusF32", "log(1 + exp(x[i]))")}, neon.S4, func(f *fn) { genUnary(f, "softplus") }},
		{signature{"softplusF64", []param{{"dst", slice64}, {"x", slice64}}, none, loopDoc("softplusF64", "log(1 + exp(x[i]))")}, neon.D2, func(f *fn) { genUnary(f, "softplus") }},
		{signature{"logSigmoidF64", []param{{"dst", slice64}, {"x", slice64}}, none, loopDoc("logSigmoidF64", "−log(1 + exp(−x[i]))")}, neon.D2, func(f *fn) { genUnary(f, "logsigmoid") }},
		{signature{"logSigmoidF32", []param{x("dst"), x("x")}, none, loopDoc("logSigmoidF32", "−log(1 + exp(−x[i]))")}, neon.S4, func(f *fn) { genUnary(f, "logsigmoid") }},
		{signature{"bceLogitsF32", []param{x("grad"), x("loss"), x("x"), x("y"), x("pw"), x("w"), v("fn"), v("fp"), v("scale")}, f64,
			`bceLogitsF32 is, for each i < len(grad), with cp = fn·pw[i]·y[i] and
cn = fp·(1 − y[i]):

	loss[i] = w[i]·(cp·softplus(−x[i]) + cn·softplus(x[i]))  (a term with a zero coefficient is 0)
	grad[i] = w[i]·((cp + cn)·σ(x[i]) − cp)·scale
	sum += float64(loss[i])

and returns sum. The gradient is g·(w[i]·scale), or (w[i]·g)·scale where
w[i]·scale is below the normal range. All slices have at least len(grad)
elements; grad or loss may be x.`}, neon.S4, genBCELogits},
		{signature{"bceLogitsF64", []param{{"grad", slice64}, {"loss", slice64}, {"x", slice64}, {"y", slice64}, {"pw", slice64}, {"w", slice64}, {"fn", f64}, {"fp", f64}, {"scale", f64}}, f64,
			"bceLogitsF64 is bceLogitsF32 for float64."}, neon.D2, genBCELogits},
	}
}

// genUnary emits sigmoid, softplus or log-sigmoid.
func genUnary(f *fn, op string) {
	u := 2
	if f.arr == neon.D2 && op != "sigmoid" {
		u = 1 // the float64 exp and log constants leave room for one vector
	}
	a := f.arr
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	f.expConsts()
	var zero neon.V
	if op != "sigmoid" {
		f.logConsts()
		zero = f.k("zero", 0, 0)
	}
	one := f.k("one", 1, 1)
	x, e, t, h, lp, r := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, 2*u), f.vs(5*u, u), f.vs(6*u, u)
	if a == neon.D2 {
		f.extra = f.vs(7*u, 2*u)
	}
	f.loop(u, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		x, e, t, lp, r := x[:n], e[:n], t[:n], lp[:n], r[:n]
		h := append(append([]neon.V{}, h[:n]...), h[u:u+n]...)
		f.expNegAbs(x, e, t, h)
		if op == "sigmoid" {
			for i := range x {
				f.FADD(a, t[i], e[i], one)
			}
			for i := range x {
				f.FDIV(a, r[i], one, t[i]) // 1/(1+e): σ(|x|)
			}
			for i := range x {
				f.FDIV(a, e[i], e[i], t[i]) // e/(1+e): σ(−|x|), one rounding
			}
			for i := range x {
				f.FCMGEZ(a, t[i], x[i])
			}
			for i := range x {
				f.bsl(t[i], r[i], e[i]) // NaN: the compare fails, e is NaN
			}
			for i := range x {
				f.mov(x[i], t[i])
			}
			return
		}
		f.log1pFromE(e, lp, r, t, h[:n], h[n:])
		for i := range x {
			if op == "softplus" {
				f.FMAX(a, x[i], x[i], zero)
			} else {
				f.FMIN(a, x[i], x[i], zero)
			}
		}
		for i := range x {
			if op == "softplus" {
				f.FADD(a, x[i], x[i], lp[i])
			} else {
				f.FSUB(a, x[i], x[i], lp[i])
			}
		}
	})
	f.Op("RET")
}

// genBCELogits: one vector per iteration (the inputs, the exp and log1p
// scratch and their constants fill the register file).
func genBCELogits(f *fn) {
	a := f.arr
	if a == neon.D2 {
		f.memCoefs = true // 24 float64 constants: the polynomials come from memory
		f.extra = f.vs(15, 2)
	}
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("pw", "R6", "")
	f.loadSlice("w", "R7", "")
	fnr, fpr, scale := f.alloc("fn"), f.alloc("fp"), f.alloc("scale")
	f.loadScalar("fn", fnr)
	f.loadScalar("fp", fpr)
	f.loadScalar("scale", scale)
	f.expConsts()
	f.logConsts()
	zero := f.k("zero", 0, 0)
	one := f.k("one", 1, 1)
	// x y pw w | e t h0 h1 lp r | acc0 acc1
	X, Y, PW, W := f.vs(0, 1), f.vs(1, 1), f.vs(2, 1), f.vs(3, 1)
	E, T, H, LP, R := f.vs(4, 1), f.vs(5, 1), f.vs(6, 2), f.vs(8, 1), f.vs(9, 1)
	acc := f.vs(10, 2)
	f.zero(acc[0])
	f.zero(acc[1])
	ins := []stream{{ptr: "R0", regs: X}, {ptr: "R5", regs: Y}, {ptr: "R6", regs: PW}, {ptr: "R7", regs: W}}
	// Results: the gradient ends in T, the loss in Y.
	outs := []stream{{ptr: "R2", regs: T}, {ptr: "R4", regs: Y}}
	ec, sg, sn := f.vs(12, 1)[0], f.vs(13, 1)[0], f.vs(14, 1)[0]
	f.loop(1, ins, outs, func(int) {
		x, y, pw, w, e, t, h0, h1, lp, r := X[0], Y[0], PW[0], W[0], E[0], T[0], H[0], H[1], LP[0], R[0]
		f.expNegAbs(X, E, T, H)
		f.mov(ec, e)
		f.log1pFromE(E, LP, R, T, H[:1], H[1:])
		f.FMUL(a, ec, ec, r) // σ(−|x|)
		f.FCMGEZ(a, sg, x)
		f.mov(sn, sg)
		f.bsl(sg, r, ec) // σ(x)
		f.bsl(sn, ec, r) // σ(−x)
		f.FMAX(a, h0, x, zero)
		f.FADD(a, h0, h0, lp) // softplus(x)
		f.FNEG(a, h1, x)
		f.FMAX(a, h1, h1, zero)
		f.FADD(a, h1, h1, lp) // softplus(−x)
		f.FMUL(a, pw, pw, y)
		f.FMUL(a, pw, pw, fnr) // cp
		f.FSUB(a, y, one, y)
		f.FMUL(a, y, y, fpr) // cn
		f.FMUL(a, h1, h1, pw)
		f.FCMEQZ(a, t, pw)
		f.bit(h1, zero, t) // 0·∞ would be NaN: a zero coefficient drops the term
		f.FMUL(a, h0, h0, y)
		f.FCMEQZ(a, t, y)
		f.bit(h0, zero, t)
		f.FADD(a, lp, h0, h1)
		f.FCMEQ(a, t, x, x)
		f.bif(lp, x, t) // both terms dropped: a NaN logit stays NaN
		// (cp + cn)·σ(x) − cp as cn·σ(x) − cp·σ(−x): no cancellation when
		// one coefficient is 0 (hard labels), where σ(x) − 1 would round to 0.
		f.FMUL(a, t, y, sg)
		f.fmls(t, pw, sn)
		f.FMUL(a, lp, lp, w)
		// The smallest normal number, set per vector: float32 has no
		// register left for the constant.
		f.minNormIn(ec)
		f.weightGrad(t, w, scale, ec, sg, sn) // gradient
		f.mov(y, lp)                          // loss
		f.accumulate(acc, lp, h0, 0)
	})
	f.arr = neon.D2
	f.reduceAdd(acc)
	f.arr = a
	f.storeRet(acc[0])
	f.Op("RET")
}
