package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Logit soft-capping, z = cap·tanh(x/cap), and the cross-entropy passes
// over capped logits. The Go side (kernels/arm64) writes z into the
// gradient (cap) and runs the usual row passes over it, then turns the
// stored z into the gradient with the cap's derivative 1 − (z/cap)²
// (expAffineZ); a call without a gradient sums exp(z − m) straight from
// the logits (sumExpCap) and takes its other sums over z in stack chunks.

// tanhConsts loads the constants of tanh besides exp's.
func (f *fn) tanhConsts() {
	f.expConsts()
	f.k("m2", -2, -2)
	f.k("m40", -40, -40)
	f.k("two", 2, 2)
	f.kbits("signbit", 0x80000000, 0x8000000000000000)
}

// tanh replaces x by tanh x with one formula for every |x|, as the amd64
// float64 tanh: tanh |x| = −E/(2 + E) with E = expm1(−2|x|) = 2^n·P +
// (2^n − 1), where −2|x| = n·ln2 + r and P = e^r − 1 = r + r²·q(r) is exp's
// polynomial before its 1 is added; for n = 0, E = P keeps small |x|
// accurate (1 − 2/(e^{2|x|} + 1) would cancel there). −2|x| is clamped at
// −40, where tanh rounds to 1 in either type, which keeps 2^n normal. x's
// sign is copied back bit for bit (±0 stay); ±Inf give ±1, NaN stays NaN.
// t, n, p, q are scratch.
func (f *fn) tanh(x, t, n, p, q neon.V) {
	a := f.arr
	c := f.expConsts()
	m2, m40, two, sign := f.consts["m2"], f.consts["m40"], f.consts["two"], f.consts["signbit"]
	shift := 23
	if a == neon.D2 {
		shift = 52
	}
	f.FABS(a, t, x)
	f.FMUL(a, t, t, m2)
	f.FMAX(a, t, t, m40) // NaN stays NaN
	f.FMUL(a, n, t, c.log2e)
	f.FRINTN(a, n, n)
	f.fmls(t, n, c.hi)
	f.fmls(t, n, c.lo)
	f.FCVTZS(a, n, n) // r in t, n as an integer
	top := len(c.coef) - 1
	f.coefBegin(c.coef)
	f.dup(p, c.coef[top])
	cur, nxt := p, q
	for j := top - 1; j >= 0; j-- {
		f.dup(nxt, c.coef[j])
		f.fmla(nxt, cur, t)
		cur, nxt = nxt, cur
	}
	f.FMUL(a, nxt, t, t)
	f.fmla(t, nxt, cur) // P = r + r²·q(r)
	f.SHL(a, n, n, shift)
	f.iadd(n, n, c.one) // 2^n
	f.FSUB(a, p, n, c.one)
	f.fmla(p, n, t) // E = 2^n·P + (2^n − 1)
	f.FADD(a, q, p, two)
	f.FDIV(a, p, p, q)
	f.FABS(a, p, p) // tanh |x|
	f.mov(q, sign)
	f.bsl(q, x, p) // x's sign bit, |tanh| elsewhere
	f.mov(x, q)
}

func softCapKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		x := func(n string) param { return param{n, sl(laneKind(a))} }
		v := func(n string) param { return param{n, laneKind(a)} }
		sfx := suffix(a)
		ks = append(ks,
			kernel{signature{"cap" + sfx, []param{x("dst"), x("x"), v("cap"), v("inv")}, none,
				"cap" + sfx + " is dst[i] = cap·tanh(x[i]·inv), inv = 1/cap. len(x) ≥ len(dst); dst may be x."}, a, genCap},
			kernel{signature{"sumExpCap" + sfx, []param{x("x"), v("m"), v("cap"), v("inv")}, f64,
				"sumExpCap" + sfx + " is sumExp" + sfx + " over the capped logits z = cap·tanh(x·inv):\nΣ exp(z[i] − m) − 1, the terms equal to 1 counted, not added."}, a,
				func(f *fn) { sumExpLikeCapped(f, false, true) }},
			kernel{signature{"expAffineZ" + sfx, []param{x("dst"), x("z"), v("m"), v("a"), v("b"), v("inv")}, none,
				"expAffineZ" + sfx + " is dst[i] = (a·exp(z[i] − m) − b)·(1 − (z[i]·inv)²): pass 2 over\ncapped logits z = cap·tanh(x/cap), times the cap's derivative. len(z) ≥ len(dst);\ndst may be z."}, a,
				func(f *fn) { genExpAffineZ(f, false, false) }},
			kernel{signature{"expAffineWZ" + sfx, []param{x("dst"), x("z"), x("w"), v("m"), v("a"), v("b"), v("inv")}, none,
				"expAffineWZ" + sfx + " is expAffineZ" + sfx + " with b·w[i] for b. len(z), len(w) ≥ len(dst);\ndst may be z."}, a,
				func(f *fn) { genExpAffineZ(f, true, false) }},
			kernel{signature{"expAffineTZ" + sfx, []param{x("dst"), x("z"), x("t"), v("m"), v("a"), v("b"), v("c"), v("inv")}, none,
				"expAffineTZ" + sfx + " is expAffineZ" + sfx + " with b·t[i] + c for b (probability targets t).\nlen(z), len(t) ≥ len(dst); dst may be z."}, a,
				func(f *fn) { genExpAffineZ(f, false, true) }},
			kernel{signature{"expAffineWTZ" + sfx, []param{x("dst"), x("z"), x("t"), x("w"), v("m"), v("a"), v("b"), v("c"), v("inv")}, none,
				"expAffineWTZ" + sfx + " is expAffineZ" + sfx + " with (b·t[i] + c)·w[i] for b. len(z), len(t),\nlen(w) ≥ len(dst); dst may be z."}, a,
				func(f *fn) { genExpAffineZ(f, true, true) }},
		)
	}
	return ks
}

func genCap(f *fn) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	capK, inv := f.alloc("cap"), f.alloc("inv")
	f.loadScalar("cap", capK)
	f.loadScalar("inv", inv)
	if f.arr == neon.D2 {
		f.memCoefs = true
	}
	f.tanhConsts()
	const u = 2
	x, t, n, p, q := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, u)
	f.loop(u, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(k int) {
		for i := 0; i < k; i++ {
			f.FMUL(f.arr, x[i], x[i], inv)
			f.tanh(x[i], t[i], n[i], p[i], q[i])
			f.FMUL(f.arr, x[i], x[i], capK)
		}
	})
	f.Op("RET")
}

// genExpAffineZ: dst = (a·exp(z − m) − B)·(1 − (z·inv)²) with B = b, b·w,
// b·t + c or (b·t + c)·w. Lanes past the end hold 0 and are not stored.
func genExpAffineZ(f *fn, weighted, probs bool) {
	a := f.arr
	const u = 2 // two vectors: the factor, B and exp's scratch fill the rest
	if a == neon.D2 {
		f.memCoefs = true
	}
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("z", "R0", "")
	ins := []stream{{ptr: "R0", regs: f.vs(0, u)}}
	next := u
	var tr, wr []neon.V
	if probs {
		f.loadSlice("t", "R3", "")
		tr = f.vs(next, u)
		ins = append(ins, stream{ptr: "R3", regs: tr})
		next += u
	}
	if weighted {
		f.loadSlice("w", "R5", "")
		wr = f.vs(next, u)
		ins = append(ins, stream{ptr: "R5", regs: wr})
		next += u
	}
	names := []string{"m", "a", "b", "inv"}
	if probs {
		names = append(names, "c")
	}
	ps := map[string]neon.V{}
	for _, nm := range names {
		ps[nm] = f.alloc(nm)
		f.loadScalar(nm, ps[nm])
	}
	one := f.k("one", 1, 1)
	f.expConsts()
	z := ins[0].regs
	e, t, h, fac := f.vs(next, u), f.vs(next+u, u), f.vs(next+2*u, 2*u), f.vs(next+4*u, u)
	f.loop(u, ins, []stream{{ptr: "R2", regs: e}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FMUL(a, fac[i], z[i], ps["inv"])
			f.mov(t[i], one)
			f.fmls(t[i], fac[i], fac[i]) // 1 − (z·inv)²
			f.mov(fac[i], t[i])
			f.FSUB(a, e[i], z[i], ps["m"])
		}
		f.exp(e[:n], t[:n], append(h[:n:n], h[u:u+n]...))
		for i := 0; i < n; i++ {
			// B into t: b, b·w, b·t + c or (b·t + c)·w, the last as
			// c·w + b·(t·w) (see genAffineT).
			switch {
			case probs && weighted:
				f.FMUL(a, t[i], wr[i], ps["c"])
				f.FMUL(a, tr[i], tr[i], wr[i])
				f.fmla(t[i], tr[i], ps["b"])
			case probs:
				f.mov(t[i], ps["c"])
				f.fmla(t[i], tr[i], ps["b"])
			case weighted:
				f.FMUL(a, t[i], wr[i], ps["b"])
			default:
				f.mov(t[i], ps["b"])
			}
			f.FMUL(a, e[i], e[i], ps["a"])
			f.FSUB(a, e[i], e[i], t[i])
			f.FMUL(a, e[i], e[i], fac[i])
		}
	})
	f.Op("RET")
}
