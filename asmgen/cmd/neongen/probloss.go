package main

import (
	"math"

	"github.com/lossfuse/lossfuse/asmgen/neon"
)

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
	minNorm, _, _, _, _ := f.logProbConsts()
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
		f.dup(P, scale)
		f.weightGrad(G, W, P, minNorm, M, H1)
		f.accumulate(acc, T, E, 0)
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

// pk is one lane of packConsts: a float parameter of the frame by name, or
// a constant.
type pk struct {
	param   string
	v32     float32
	v64     float64
	bits    bool // v32/v64 hold raw bits (integer lanes)
	b32     uint32
	b64     uint64
	isConst bool
}

func kv(v32 float32, v64 float64) pk { return pk{v32: v32, v64: v64, isConst: true} }
func kb(b32 uint32, b64 uint64) pk   { return pk{b32: b32, b64: b64, bits: true, isConst: true} }
func kp(name string) pk              { return pk{param: name} }

// packConsts is packScalars for a mix of parameters and constants: the
// kernels with both a log and an exp have no register to spare for each
// scalar, so they share registers lane by lane and are taken with VDUP by
// element where needed.
func (f *fn) packConsts(items ...pk) []lane {
	var out []lane
	var r neon.V
	for i, it := range items {
		j := i % f.lanes()
		if j == 0 {
			r = f.alloc("pack" + itoa(i))
		}
		var bits uint64
		switch {
		case !it.isConst:
			_, off := f.param(it.param)
			if f.arr == neon.S4 {
				f.Op("MOVWU %s+%d(FP), R9", it.param, off)
			} else {
				f.Op("MOVD %s+%d(FP), R9", it.param, off)
			}
		case it.bits && f.arr == neon.S4:
			bits = uint64(it.b32)
		case it.bits:
			bits = it.b64
		case f.arr == neon.S4:
			bits = uint64(math.Float32bits(it.v32))
		default:
			bits = math.Float64bits(it.v64)
		}
		if it.isConst {
			if f.arr == neon.S4 {
				f.Op("MOVW $0x%08x, R9", uint32(bits))
			} else {
				f.Op("MOVD $0x%016x, R9", bits)
			}
		}
		if f.arr == neon.S4 {
			f.Op("VMOV R9, V%d.S[%d]", r, j)
		} else {
			f.Op("VMOV R9, V%d.D[%d]", r, j)
		}
		out = append(out, lane{r: r, i: j})
	}
	return out
}

// focalProbKernels: FocalProbs, as generic.focalProb, for γ = 0, 1, 2 and
// any γ (mod = exp(γ·log q)), with PyTorch-style clamps or Clip.
func focalProbKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		x := func(n string) param { return param{n, sl(laneKind(a))} }
		v := func(n string) param { return param{n, laneKind(a)} }
		for _, clip := range []bool{false, true} {
			for _, mode := range []int{0, 1, 2, -1} {
				name := "focalProb"
				if clip {
					name += "Clip"
				}
				if mode >= 0 {
					name += "G" + itoa(mode)
				}
				name += suffix(a)
				ps := []param{x("grad"), x("loss"), x("x"), x("y"), x("w"), v("gamma"), v("a0"), v("a1")}
				if clip {
					ps = append(ps, v("lo"), v("hi"))
				}
				ps = append(ps, v("scale"))
				doc := name + " is, for each i < len(grad), with p = x[i], y = y[i], α_t = a0 + a1·y,\n" +
					"p_t = y·p + (1−y)·(1−p) and q = 1 − p_t (each formed directly)"
				if mode >= 0 {
					doc += ", γ = " + itoa(mode)
				}
				doc += ":\n\n\tloss[i] = −w[i]·α_t·q^γ·log p_t\n" +
					"\tgrad[i] = w[i]·α_t·(2y−1)·(γ·q^(γ−1)·log p_t − q^γ/max(p_t, 1e-12))·scale\n" +
					"\tsum += float64(loss[i])\n\n"
				if clip {
					doc += "with p and 1−p clipped to [lo, 1−lo] first (p < lo, or p > hi or 1−p < lo)\nand a zero gradient for p outside [lo, hi],"
				} else {
					doc += "with log p_t clamped at −100,"
				}
				doc += " and returns sum. All slices have at least\nlen(grad) elements; grad or loss may be x."
				mode, clip := mode, clip
				ks = append(ks, kernel{signature{name, ps, f64, doc}, a, func(f *fn) { genFocalProb(f, mode, clip) }})
			}
		}
	}
	return ks
}

// genFocalProb: one vector per iteration. Registers run short with both a
// log and an exp (γ other than 0, 1, 2), so every scalar, parameter or
// constant, shares a packed register (packConsts) and is taken with VDUP
// into the temporary P where needed.
func genFocalProb(f *fn, mode int, clip bool) {
	a := f.arr
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("w", "R7", "")
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	X, Y, W, PT, Q, LP, E, PC, T, H1, H2, M, U := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11), v(12)
	next := 13
	P := X // no clip: p is dead once p_t and q exist
	if clip {
		P = v(next)
		next++
	}
	nacc := 2 // float32 sums widen into two float64 accumulators
	if a == neon.D2 {
		nacc = 1
	}
	acc := f.vs(next, nacc)
	next += nacc
	if a == neon.D2 {
		f.memCoefs = true
		f.extra = f.vs(next, 2)
	} else if mode < 0 {
		f.memCoefs = true
	}
	items := []pk{kp("a0"), kp("a1"), kp("scale"), kv(1e-12, 1e-12), kv(0.5, 0.5),
		kb(0x00800000, 0x0010000000000000), kv(0x1p23, 0x1p52), kb(23, 52)}
	if mode < 0 {
		items = append(items, kp("gamma"))
	}
	items = append(items, kv(float32(math.Inf(-1)), math.Inf(-1)))
	if clip {
		items = append(items, kp("lo"), kp("hi"))
	} else {
		items = append(items, kv(-100, -100))
	}
	ks := f.packConsts(items...)
	a0, a1, scale, eps, half, minNorm, subScale, subShift := ks[0], ks[1], ks[2], ks[3], ks[4], ks[5], ks[6], ks[7]
	rest := ks[8:]
	var gamma, lo, hi, m100, ninf lane
	if mode < 0 {
		gamma, rest = rest[0], rest[1:]
	}
	ninf, rest = rest[0], rest[1:]
	if clip {
		lo, hi = rest[0], rest[1]
	} else {
		m100 = rest[0]
	}
	f.logConsts()
	if mode < 0 {
		f.expConsts()
	}
	one := f.k("one", 1, 1)
	for _, r := range acc {
		f.zero(r)
	}
	sub := subLanes{minNorm, subScale, subShift}
	logSub := func(d, s, t, u, w, m neon.V) { f.logSub(d, s, t, u, w, m, P, sub) }
	ins := []stream{{ptr: "R0", regs: []neon.V{X}}, {ptr: "R5", regs: []neon.V{Y}}, {ptr: "R7", regs: []neon.V{W}}}
	outs := []stream{{ptr: "R2", regs: []neon.V{T}}, {ptr: "R4", regs: []neon.V{E}}}
	f.loop(1, ins, outs, func(int) {
		// 1. p and 1 − p, clipped to [lo, 1 − lo] each (as generic).
		f.FSUB(a, E, one, X)
		pc := X
		if clip {
			pc = PC
			f.mov(PC, X)
			f.mov(H1, X) // p, or 2 where 1 − p < lo: then clipped high
			f.dup(U, lo)
			f.FCMGT(a, M, U, E)
			f.dup(P, half)
			f.FADD(a, P, P, P) // 1
			f.FADD(a, P, P, P) // 2
			f.bit(H1, P, M)
			f.FCMGT(a, M, U, X)  // p < lo
			f.FSUB(a, T, one, U) // 1 − lo
			f.bit(PC, U, M)
			f.bit(E, T, M)
			f.dup(P, hi)
			f.FCMGT(a, M, H1, P) // clipped high
			f.bit(PC, T, M)
			f.bit(E, U, M)
		}
		// 2. p_t = y·p + (1−y)·(1−p) and q = y·(1−p) + (1−y)·p.
		f.FSUB(a, H2, one, Y)
		f.FMUL(a, PT, E, H2)
		f.fmla(PT, Y, pc)
		f.FMUL(a, Q, pc, H2)
		f.fmla(Q, Y, E)
		// 3. log p_t as log(u) + c/u: u = 1 − q rounded and c its rounding
		// error where q < ½ (log1p(−q), accurate for small q); u = p_t and
		// c = 0 elsewhere (p_t small, 1 − q would have lost its digits).
		f.dup(P, half)
		f.FCMGT(a, M, P, Q)
		f.FSUB(a, U, one, Q)
		f.FSUB(a, T, U, one) // u − 1, exact
		f.FNEG(a, H1, Q)
		f.FSUB(a, T, H1, T) // c
		f.and(T, T, M)
		f.bif(U, PT, M)
		f.FDIV(a, T, T, U) // c/u (NaN where p_t = 0: replaced below)
		logSub(LP, U, H1, H2, E, M)
		f.FADD(a, LP, LP, T)
		// log 0 (a clipped p_t is 0 only if lo is subnormal: y·lo underflows)
		f.FCMEQZ(a, M, PT)
		f.dup(P, ninf)
		f.bit(LP, P, M)
		if !clip {
			f.dup(P, m100)
			f.FMAX(a, LP, LP, P) // PyTorch's clamp (NaN stays NaN)
		}
		// 4. mod = q^γ and d = γ·q^(γ−1)·log p_t − mod/max(p_t, 1e-12).
		f.dup(P, eps)
		f.FMAX(a, H2, PT, P)
		mod := neon.V(255) // none for γ = 0
		switch mode {
		case 0:
			f.FDIV(a, T, one, H2)
			f.FNEG(a, T, T)
		case 1:
			mod = Q
			f.FDIV(a, T, Q, H2)
			f.FSUB(a, T, LP, T)
		case 2:
			mod = PC
			f.FMUL(a, PC, Q, Q)
			f.FDIV(a, T, PC, H2)
			f.FADD(a, H1, Q, Q)
			f.FMUL(a, H1, H1, LP)
			f.FSUB(a, T, H1, T)
		default:
			mod = H1
			logSub(H1, Q, PC, E, U, M)
			f.FCMEQZ(a, M, Q)
			f.dup(P, ninf)
			f.bit(H1, P, M) // log 0: mod = 0
			f.dup(P, gamma)
			f.FMUL(a, H1, H1, P)
			f.exp([]neon.V{H1}, []neon.V{PC}, []neon.V{E, U})
			// γ·q^(γ−1)·log p_t as γ·mod·(log p_t / q): q^(γ−1) overflows
			// for tiny q and γ < 1 where the product does not; 0 at q = 0.
			f.FDIV(a, T, LP, Q)
			f.FCMEQZ(a, M, Q)
			f.zero(E)
			f.bit(T, E, M)
			f.FMUL(a, T, T, H1)
			f.dup(P, gamma)
			f.FMUL(a, T, T, P)
			f.FDIV(a, E, H1, H2)
			f.FSUB(a, T, T, E)
		}
		// 5. α_t, loss and gradient.
		f.dup(U, a0)
		f.dup(E, a1)
		f.fmla(U, E, Y) // α_t
		f.FMUL(a, E, U, LP)
		if mode != 0 {
			f.FMUL(a, E, E, mod)
		}
		f.FNEG(a, E, E) // loss
		f.FMUL(a, T, T, U)
		f.FADD(a, M, Y, Y)
		f.FSUB(a, M, M, one)
		f.FMUL(a, T, T, M) // gradient
		f.FCMEQ(a, M, PT, PT)
		f.bif(E, PT, M) // NaN p or y: NaN loss and gradient
		f.bif(T, PT, M)
		if clip { // no gradient outside [lo, hi], even for a NaN y
			f.zero(H2)
			f.dup(P, lo)
			f.FCMGT(a, M, P, X)
			f.bit(T, H2, M)
			f.dup(P, hi)
			f.FCMGT(a, M, X, P)
			f.bit(T, H2, M)
		}
		f.FMUL(a, E, E, W)
		f.dup(P, scale)
		f.dup(U, minNorm)
		f.weightGrad(T, W, P, U, M, H2)
		f.accumulate(acc, E, H2, 0)
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

// subLanes are the packed constants of logSub: the smallest normal, 2^mant
// and mant (integer lanes).
type subLanes struct{ minNorm, scale, shift lane }

// logSub sets d = log s for s ≥ 0 normal or subnormal (s is rescaled by
// 2^mant first); s = 0 gives garbage, which callers replace. t, u, w, m
// are scratch, p the temporary for packed constants.
func (f *fn) logSub(d, s, t, u, w, m, p neon.V, c subLanes) {
	a := f.arr
	f.mov(d, s)
	f.dup(p, c.minNorm)
	f.FCMGT(a, m, p, s)
	f.dup(p, c.scale)
	f.FMUL(a, t, s, p)
	f.bit(d, t, m)
	f.dup(p, c.shift)
	f.and(m, m, p)
	f.logCore([]neon.V{d}, []neon.V{t}, []neon.V{u}, []neon.V{w}, []neon.V{m})
}
