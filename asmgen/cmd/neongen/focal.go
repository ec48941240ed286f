package main

import (
	"math"

	"github.com/lossfuse/lossfuse/asmgen/neon"
)

// Sigmoid focal loss, float32, hard labels (y ∈ {0, 1}); the caller sends
// soft labels to the generic kernel. With s = 1 − 2y and z = s·x (so that
// −log p_t = softplus(z)), as in the generic kernel:
//
//	mod   = (1 − p_t)^γ = exp(−γ·softplus(−z))   (σ(z)^γ for γ = 0, 1, 2)
//	loss  = α_t·softplus(z)·mod
//	grad  = s·α_t·mod·(σ(z) + γ·σ(−z)·softplus(z))
//
// with one e = exp(−|x|) for σ and softplus, and a second exp only for a
// general γ. α_t = a0 + a1·y.
func focalKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		ks = append(ks, focalKernelsOf(a)...)
	}
	return ks
}

func focalKernelsOf(arr neon.Arr) []kernel {
	x := func(n string) param { return param{n, sl(laneKind(arr))} }
	v := func(n string) param { return param{n, laneKind(arr)} }
	sfx := suffix(arr)
	var ks []kernel
	for _, g := range []struct {
		name string
		mode int
	}{{"focalG0" + sfx, 0}, {"focalG1" + sfx, 1}, {"focalG2" + sfx, 2}, {"focal" + sfx, -1}} {
		g := g
		doc := g.name + " is, for each i < len(grad), with y[i] ∈ {0, 1}, s = 1 − 2y[i], z = s·x[i],\nα_t = a0 + a1·y[i] and mod = exp(−γ·softplus(−z))"
		if g.mode >= 0 {
			doc += " (γ = " + itoa(g.mode) + " here)"
		}
		doc += ":\n\n\tloss[i] = w[i]·α_t·softplus(z)·mod\n\tgrad[i] = w[i]·s·α_t·mod·(σ(z) + γ·σ(−z)·softplus(z))·scale\n\tsum += float64(loss[i])\n\nand returns sum. All slices have at least len(grad) elements; grad or loss\nmay be x."
		ks = append(ks, kernel{signature{g.name, []param{x("grad"), x("loss"), x("x"), x("y"), x("w"), v("gamma"), v("a0"), v("a1"), v("scale")}, f64, doc},
			arr, func(f *fn) { genFocal(f, g.mode) }})
	}
	return ks
}

// packScalars puts scalar arguments into the lanes of as few constant
// registers as they need, to be taken with VDUP by element where needed
// (the exp and log1p constants leave no room for one register each).
func (f *fn) packScalars(names ...string) []lane {
	var out []lane
	var r neon.V
	for i, n := range names {
		j := i % f.lanes()
		if j == 0 {
			r = f.alloc("params" + itoa(i))
		}
		_, off := f.param(n)
		if f.arr == neon.S4 {
			f.Op("MOVWU %s+%d(FP), R9", n, off)
			f.Op("VMOV R9, V%d.S[%d]", r, j)
		} else {
			f.Op("MOVD %s+%d(FP), R9", n, off)
			f.Op("VMOV R9, V%d.D[%d]", r, j)
		}
		out = append(out, lane{r: r, i: j})
	}
	return out
}

func genFocal(f *fn, mode int) {
	a := f.arr
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("w", "R7", "")
	if a == neon.D2 {
		f.memCoefs = true // the float64 constants fill the registers
		f.extra = f.vs(16, 2)
	}
	ps := f.packScalars("gamma", "a0", "a1", "scale")
	gamma, a0, a1, scale := ps[0], ps[1], ps[2], ps[3]
	f.expConsts()
	f.logConsts()
	zero := f.k("zero", 0, 0)
	two := f.k("two", 2, 2)
	one := f.k("one", 1, 1)
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	X, Y, W, E, T, H0, H1, LP, R, EC, S, Z, SZ, SMZ := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11), v(12), v(13)
	acc := f.vs(14, 2)
	f.zero(acc[0])
	f.zero(acc[1])
	ins := []stream{{ptr: "R0", regs: []neon.V{X}}, {ptr: "R5", regs: []neon.V{Y}}, {ptr: "R7", regs: []neon.V{W}}}
	outs := []stream{{ptr: "R2", regs: []neon.V{LP}}, {ptr: "R4", regs: []neon.V{T}}}
	f.loop(1, ins, outs, func(int) {
		f.expNegAbs([]neon.V{X}, []neon.V{E}, []neon.V{T}, []neon.V{H0, H1}) // exp(−|z|) = exp(−|x|)
		f.mov(EC, E)
		f.log1pFromE([]neon.V{E}, []neon.V{LP}, []neon.V{R}, []neon.V{T}, []neon.V{H0}, []neon.V{H1})
		f.FMUL(a, EC, EC, R) // σ(−|x|)
		f.FMUL(a, S, Y, two)
		f.FSUB(a, S, one, S) // s = 1 − 2y
		f.FMUL(a, Z, S, X)
		f.FCMGEZ(a, SZ, Z)
		f.mov(SMZ, SZ)
		f.bsl(SZ, R, EC)  // σ(z)
		f.bsl(SMZ, EC, R) // σ(−z)
		f.FMAX(a, T, Z, zero)
		f.FADD(a, T, T, LP) // softplus(z) = −log p_t
		mod := one
		switch mode {
		case 1:
			mod = SZ
		case 2:
			f.FMUL(a, H0, SZ, SZ)
			mod = H0
		case -1:
			f.FNEG(a, H1, Z)
			f.FMAX(a, H1, H1, zero)
			f.FADD(a, H1, H1, LP) // softplus(−z)
			f.dup(H0, gamma)
			f.FMUL(a, H1, H1, H0)
			f.FNEG(a, H1, H1)
			f.exp([]neon.V{H1}, []neon.V{E}, []neon.V{R, EC})
			mod = H1
		}
		// inner = σ(z) + γ·σ(−z)·softplus(z); σ(−z) = 0 drops the term
		// (softplus(z) is +Inf there).
		if mode == 0 {
			f.mov(LP, SZ)
		} else {
			f.FMUL(a, LP, SMZ, T)
			f.FCMEQZ(a, EC, SMZ)
			f.bit(LP, zero, EC)
			if mode != 1 {
				f.dup(EC, gamma)
				f.FMUL(a, LP, LP, EC)
			}
			f.FADD(a, LP, LP, SZ)
		}
		f.dup(EC, a0)
		f.dup(R, a1)
		f.fmla(EC, R, Y) // α_t
		f.FMUL(a, T, T, EC)
		if mode != 0 {
			f.FMUL(a, T, T, mod)
			f.FCMEQZ(a, R, mod)
			f.bit(T, zero, R) // mod = 0: the loss is 0 even if softplus(z) is not finite
			f.FMUL(a, LP, LP, mod)
		}
		f.FMUL(a, LP, LP, EC)
		f.FMUL(a, LP, LP, S)
		f.FMUL(a, T, T, W) // loss
		f.dup(R, scale)
		// The smallest normal number, set per vector: float32 has no
		// register left for the constant.
		f.minNormIn(S)
		f.weightGrad(LP, W, R, S, EC, Z) // gradient
		f.accumulate(acc, T, E, 0)
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

// focalSoftKernels: sigmoid focal loss for any label y ∈ [0, 1]
// (torchvision's form, generic.sigmoidFocal's soft branch): with
// ce = y·softplus(−x) + (1−y)·softplus(x) and m = 1 − p_t =
// y·σ(−x) + (1−y)·σ(x),
//
//	loss = α_t·m^γ·ce
//	grad = α_t·(m^γ·(p − y) + γ·m^γ·(dm/m)·ce),   dm = (1−2y)·σ(x)·σ(−x)
//
// m and p − y = (1−y)·σ(x) − y·σ(−x) are sums of one-signed terms, dm/m
// is at most 2 in magnitude (m^(γ−1) is never formed), and a term whose
// coefficient is 0 is left out (ce at x = ±Inf; the dm term where dm = 0),
// so hard labels in the same call are exact too.
func focalSoftKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		x := func(n string) param { return param{n, sl(laneKind(a))} }
		v := func(n string) param { return param{n, laneKind(a)} }
		for _, mode := range []int{0, 1, 2, -1} {
			name := "focalSoft"
			if mode >= 0 {
				name += "G" + itoa(mode)
			}
			name += suffix(a)
			doc := name + " is, for each i < len(grad), with labels y = y[i] ∈ [0, 1], α_t = a0 + a1·y,\n" +
				"ce = y·softplus(−x) + (1−y)·softplus(x), m = y·σ(−x) + (1−y)·σ(x) and\ndm = (1−2y)·σ(x)·σ(−x)"
			if mode >= 0 {
				doc += " (γ = " + itoa(mode) + " here)"
			}
			doc += ":\n\n\tloss[i] = w[i]·α_t·m^γ·ce\n\tgrad[i] = w[i]·α_t·(m^γ·(σ(x) − y) + γ·m^γ·(dm/m)·ce)·scale\n" +
				"\tsum += float64(loss[i])\n\nand returns sum; loss is +Inf where ce is. All slices have at least\nlen(grad) elements; grad or loss may be x."
			mode := mode
			ks = append(ks, kernel{signature{name, []param{x("grad"), x("loss"), x("x"), x("y"), x("w"), v("gamma"), v("a0"), v("a1"), v("scale")}, f64, doc},
				a, func(f *fn) { genFocalSoft(f, mode) }})
		}
	}
	return ks
}

// The soft-label kernel raises γ·log m by shift·ln 2 below shiftAt, so that
// m^γ·2^shift stays normal where m^γ would not (as asmgen/amd64).
const (
	focalShift32, focalShiftAt32 = 96, -80
	focalShift64, focalShiftAt64 = 1000, -700
)

func genFocalSoft(f *fn, mode int) {
	a := f.arr
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("w", "R7", "")
	v := func(i int) neon.V { return f.vs(i, 1)[0] }
	X, Y, W, E, T, H0, H1, LP, R, EC, SP, SN, P := v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9), v(10), v(11), v(12)
	nacc := 2
	if a == neon.D2 {
		nacc = 1
	}
	acc := f.vs(13, nacc)
	if a == neon.D2 {
		f.memCoefs = true
		f.extra = f.vs(13+nacc, 2)
	}
	items := []pk{kp("a0"), kp("a1"), kp("scale"), kv(float32(math.Inf(1)), math.Inf(1)),
		kb(0x00800000, 0x0010000000000000)} // the smallest normal number
	if mode < 0 {
		items = append(items, kp("gamma"), kv(float32(math.Inf(-1)), math.Inf(-1)),
			kv(0x1p23, 0x1p52), kb(23, 52),
			kv(focalShift32, focalShift64), kv(focalShiftAt32, focalShiftAt64),
			kv(0x1p-96, 0x1p-1000))
	}
	ks := f.packConsts(items...)
	a0, a1, scale, inf, minNorm := ks[0], ks[1], ks[2], ks[3], ks[4]
	f.expConsts()
	f.logConsts()
	zero := f.k("zero", 0, 0)
	one := f.k("one", 1, 1)
	for _, r := range acc {
		f.zero(r)
	}
	G := EC
	if mode == 0 {
		G = H0
	}
	ins := []stream{{ptr: "R0", regs: []neon.V{X}}, {ptr: "R5", regs: []neon.V{Y}}, {ptr: "R7", regs: []neon.V{W}}}
	outs := []stream{{ptr: "R2", regs: []neon.V{G}}, {ptr: "R4", regs: []neon.V{T}}}
	f.loop(1, ins, outs, func(int) {
		// σ(±x) and softplus(±x) from e = exp(−|x|).
		f.expNegAbs([]neon.V{X}, []neon.V{E}, []neon.V{T}, []neon.V{H0, H1})
		f.mov(EC, E)
		f.log1pFromE([]neon.V{E}, []neon.V{LP}, []neon.V{R}, []neon.V{T}, []neon.V{H0}, []neon.V{H1})
		f.FMUL(a, EC, EC, R) // σ(−|x|)
		f.FCMGEZ(a, SP, X)
		f.mov(SN, SP)
		f.bsl(SP, R, EC) // σ(x)
		f.bsl(SN, EC, R) // σ(−x)
		// ce, each term only where its coefficient is not 0.
		f.FSUB(a, H0, one, Y) // 1 − y
		f.FNEG(a, T, X)
		f.FMAX(a, T, T, zero)
		f.FADD(a, T, T, LP) // softplus(−x)
		f.FMUL(a, T, T, Y)
		f.FCMEQZ(a, R, Y)
		f.bit(T, zero, R)
		f.FMAX(a, H1, X, zero)
		f.FADD(a, LP, H1, LP) // softplus(x)
		f.FMUL(a, LP, LP, H0)
		f.FCMEQZ(a, R, H0)
		f.bit(LP, zero, R)
		f.FADD(a, LP, LP, T) // ce
		f.FCMEQ(a, R, X, X)
		f.bif(LP, X, R) // a NaN logit stays NaN
		// m = (1−y)·σ(x) + y·σ(−x) and d = p − y = (1−y)·σ(x) − y·σ(−x).
		f.FMUL(a, T, Y, SN)
		f.mov(E, T)
		f.fmla(E, H0, SP) // m
		f.mov(H1, T)
		f.fmls(H1, H0, SP)
		f.FNEG(a, H0, H1) // d
		f.dup(R, a0)
		f.dup(EC, a1)
		f.fmla(R, EC, Y) // α_t
		f.FMUL(a, T, R, LP)
		if mode == 0 {
			f.FMUL(a, H0, H0, R)
		} else {
			f.FADD(a, H1, Y, Y)
			f.FSUB(a, H1, one, H1)
			f.FMUL(a, H1, H1, SP)
			f.FMUL(a, H1, H1, SN) // dm
			var mg neon.V
			mgl := neon.V(255) // pairs with the loss as scaled; mg unless set
			switch mode {
			case 1:
				mg = E
				f.FMUL(a, EC, LP, H1)
			case 2:
				mg = SP
				f.FMUL(a, SP, E, E)
				f.FMUL(a, EC, LP, H1)
				f.FMUL(a, EC, EC, E)
				f.FADD(a, EC, EC, EC)
				// The loss as (α_t·ce·m)·m: m² alone underflows where
				// m²·ce does not (x → −∞: m ≈ y, ce ≈ y·|x|).
				f.FMUL(a, T, T, E)
				mgl = E
			default:
				gamma, ninf := ks[5], ks[6]
				mg = SP
				f.logSub(SP, E, X, Y, SN, EC, P, subLanes{minNorm, ks[7], ks[8]})
				f.FCMEQZ(a, X, E)
				f.dup(P, ninf)
				f.bit(SP, P, X) // log 0: m^γ = 0
				f.dup(P, gamma)
				f.FMUL(a, SP, SP, P) // γ·log m
				// As amd64's focalSoft: below shiftAt, m^γ would underflow
				// where m^γ·ce does not; the exponent is raised by
				// shift·ln 2 (Cody–Waite) and ce scaled by 2^−shift.
				sh, shAt, fac := ks[9], ks[10], ks[11]
				c := f.expConsts()
				f.dup(P, shAt)
				f.FCMGT(a, X, P, SP)
				f.dup(P, sh)
				f.and(Y, P, X) // shift, or 0
				f.fmla(SP, Y, c.hi)
				f.fmla(SP, Y, c.lo)
				f.exp([]neon.V{SP}, []neon.V{X}, []neon.V{EC, SN}) // m^γ·2^shift
				f.FCMEQZ(a, X, Y)
				f.dup(Y, fac)
				f.bit(Y, one, X)     // 2^−shift, or 1
				f.FMUL(a, T, T, Y)   // α_t·ce·2^−shift
				f.FMUL(a, SN, SP, Y) // m^γ
				mgl, mg = SP, SN
				f.FDIV(a, EC, H1, E) // dm/m
				f.FMUL(a, EC, EC, LP)
				f.FMUL(a, EC, EC, Y)
				f.FMUL(a, EC, EC, SP)
				f.dup(P, gamma)
				f.FMUL(a, EC, EC, P)
			}
			if mgl == 255 {
				mgl = mg
			}
			f.FCMEQZ(a, X, H1)
			f.bit(EC, zero, X) // dm = 0: the term's limit is 0
			// ce = +Inf needs the infinite side's coefficient, and m ≥ that
			// coefficient > 0: the loss is +Inf even where m^γ underflows.
			f.mov(Y, mgl)
			f.dup(P, inf)
			f.FCMEQ(a, X, LP, P)
			f.bit(Y, one, X)
			f.FMUL(a, T, T, Y)
			f.fmla(EC, H0, mg) // m^γ·(p − y) + term
			f.FMUL(a, EC, EC, R)
		}
		f.FMUL(a, T, T, W)
		f.dup(P, scale)
		f.dup(SN, minNorm)
		f.weightGrad(G, W, P, SN, X, Y)
		f.accumulate(acc, T, E, 0)
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}
