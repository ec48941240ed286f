package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// The primitives' backward passes and Softplus with PyTorch's β and
// threshold, float32 and float64, the same math as asmgen/amd64/backward.go.
// Each element-wise kernel reads an element of every input before it writes
// that element, so dx may be x or dy. The row passes are split in two: a
// sum over the row (dot, or sumSub with z = 0), then an element-wise kernel
// that takes the sum as a scalar; package kernels/arm64 runs them row by
// row, so the whole row is read before any of it is written.
func backwardKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		t, s := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, s} }
		v := func(n string) param { return param{n, t} }
		sfx := suffix(a)
		ks = append(ks,
			kernel{signature{"softplusBeta" + sfx, []param{x("dst"), x("x"), v("beta"), v("thr")}, none,
				"softplusBeta" + sfx + " is, with t = beta·x[i] rounded,\n\n\tdst[i] = (max(t, 0) + log1p(exp(−|t|)))/beta, or x[i] where t > thr\n\nlen(x) ≥ len(dst); dst may be x."}, a, genSoftplusBeta},
			kernel{signature{"sigmoidBackward" + sfx, []param{x("dx"), x("y"), x("dy")}, none,
				"sigmoidBackward" + sfx + " is dx[i] = dy[i]·(1 − y[i])·y[i] (y: the sigmoid's output).\nlen(y), len(dy) ≥ len(dx); dx may be y or dy."}, a, genSigmoidBackward},
			kernel{signature{"sigmoidGradBeta" + sfx, []param{x("dx"), x("x"), x("dy"), v("beta"), v("thr")}, none,
				"sigmoidGradBeta" + sfx + " is, with t = beta·x[i] rounded,\n\n\tdx[i] = dy[i]·σ(t), or dy[i] where t > thr\n\nand dy[i] where that product is NaN but t > −Inf (σ(t) > 0 underflowed).\nSoftplus's backward pass, and LogSigmoid's with beta = −1, thr = +Inf.\nlen(x), len(dy) ≥ len(dx); dx may be x or dy."}, a, genSigmoidGradBeta},
			kernel{signature{"dot" + sfx, []param{x("x"), x("y")}, f64,
				"dot" + sfx + " is Σ x[i]·y[i], the products rounded, summed in float64.\nlen(y) ≥ len(x)."}, a, genDot},
			kernel{signature{"mulDiff" + sfx, []param{x("dst"), x("y"), x("dy"), v("s")}, none,
				"mulDiff" + sfx + " is dst[i] = y[i]·(dy[i] − s): SoftmaxBackward's second pass.\nlen(y), len(dy) ≥ len(dst); dst may be y or dy."}, a, genMulDiff},
			kernel{signature{"subExpMul" + sfx, []param{x("dst"), x("y"), x("dy"), v("s")}, none,
				"subExpMul" + sfx + " is dst[i] = dy[i] − exp(y[i])·s: LogSoftmaxBackward's second\npass. len(y), len(dy) ≥ len(dst); dst may be y or dy."}, a, genSubExpMul},
			kernel{signature{"expDiffScale" + sfx, []param{x("dst"), x("x"), v("m"), v("c")}, none,
				"expDiffScale" + sfx + " is dst[i] = c·exp(x[i] − m), the difference rounded, and c\nwhere that product is NaN but the difference finite: LogSumExpBackward's\nrow. len(x) ≥ len(dst); dst may be x."}, a, genExpDiffScale},
		)
	}
	return ks
}

// genSoftplusBeta: t = β·x; (max(t, 0) + log1p(exp(−|t|)))/β, the real
// division (1/β rounded would put its error in every result), x where
// t > thr. Two vectors per iteration: with β, thr and the exp and log
// constants, float64 has no room for its polynomials in registers and
// reads them from memory.
func genSoftplusBeta(f *fn) {
	a := f.arr
	const u = 2
	if a == neon.D2 {
		f.memCoefs = true
	}
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	beta, thr := f.alloc("beta"), f.alloc("thr")
	f.loadScalar("beta", beta)
	f.loadScalar("thr", thr)
	f.expConsts()
	f.logConsts()
	zero := f.k("zero", 0, 0)
	x, bx, e, s, h, lp, r := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, 2*u), f.vs(6*u, u), f.vs(7*u, u)
	if a == neon.D2 {
		f.extra = f.vs(8*u, 2*u)
	}
	f.loop(u, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: r}}, func(n int) {
		x, bx, e, s, lp, r := x[:n], bx[:n], e[:n], s[:n], lp[:n], r[:n]
		h := append(append([]neon.V{}, h[:n]...), h[u:u+n]...)
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.FMUL(a, bx[i], x[i], beta) })
		f.expNegAbs(bx, e, s, h)
		f.log1pFromE(e, lp, r, s, h[:n], h[n:])
		each(func(i int) { f.FMAX(a, r[i], bx[i], zero) }) // NaN: FMAX returns it
		each(func(i int) { f.FADD(a, r[i], r[i], lp[i]) })
		each(func(i int) { f.FDIV(a, r[i], r[i], beta) })
		each(func(i int) { f.FCMGT(a, s[i], bx[i], thr) })
		each(func(i int) { f.bit(r[i], x[i], s[i]) }) // x above the threshold
	})
	f.Op("RET")
}

// genSigmoidBackward: (1 − y)·y, in which 1 − y is exact for y ≥ ½ where
// y − y² would cancel, then times dy. (An FMLS y − y·y would also be
// accurate, but gives NaN for y = ±Inf where generic gives −Inf·dy.)
func genSigmoidBackward(f *fn) {
	a := f.arr
	const u = 4
	f.loadSlice("dx", "R2", "R1")
	f.loadSlice("y", "R0", "")
	f.loadSlice("dy", "R3", "")
	one := f.k("one", 1, 1)
	y, dy, t := f.vs(0, u), f.vs(u, u), f.vs(2*u, u)
	f.loop(u, []stream{{ptr: "R0", regs: y}, {ptr: "R3", regs: dy}}, []stream{{ptr: "R2", regs: t}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FSUB(a, t[i], one, y[i])
		}
		for i := 0; i < n; i++ {
			f.FMUL(a, t[i], t[i], y[i])
		}
		for i := 0; i < n; i++ {
			f.FMUL(a, t[i], t[i], dy[i])
		}
	})
	f.Op("RET")
}

// genSigmoidGradBeta: t = β·x, e = exp(−|t|) (never overflows),
// q = e/(1+e) = σ(−|t|) and σ(|t|) = 1 − q (one division; 1 − q ≥ ½ loses
// nothing), picked by the sign of t; a NaN t fails the compare and takes q,
// which is NaN. Then dy·σ(t), or dy where t > thr. σ(t) > 0 for every
// t > −Inf, so where the product is NaN there (dy = ±Inf times a σ that
// underflowed in T, below −104 in float32; or dy NaN) the result is dy.
func genSigmoidGradBeta(f *fn) {
	a := f.arr
	const u = 2 // x, dy and exp's scratch per vector, beside exp's constants
	f.loadSlice("dx", "R2", "R1")
	f.loadSlice("x", "R0", "")
	f.loadSlice("dy", "R3", "")
	beta, thr := f.alloc("beta"), f.alloc("thr")
	f.loadScalar("beta", beta)
	f.loadScalar("thr", thr)
	f.expConsts()
	one := f.k("one", 1, 1)
	zero, ninf := f.k("zero", 0, 0), f.negInf()
	x, dy, e, s, h := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, 2*u)
	f.loop(u, []stream{{ptr: "R0", regs: x}, {ptr: "R3", regs: dy}}, []stream{{ptr: "R2", regs: h}}, func(n int) {
		x, dy, e, s := x[:n], dy[:n], e[:n], s[:n]
		hh := append(append([]neon.V{}, h[:n]...), h[u:u+n]...)
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.FMUL(a, x[i], x[i], beta) }) // t; x is not needed again
		f.expNegAbs(x, e, s, hh)
		each(func(i int) { f.FADD(a, s[i], e[i], one) })
		each(func(i int) { f.FDIV(a, e[i], e[i], s[i]) }) // σ(−|t|)
		each(func(i int) { f.FSUB(a, s[i], one, e[i]) })  // σ(|t|)
		each(func(i int) { f.FCMGEZ(a, h[i], x[i]) })
		each(func(i int) { f.bsl(h[i], s[i], e[i]) }) // σ(t)
		each(func(i int) { f.FMUL(a, h[i], h[i], dy[i]) })
		each(func(i int) { f.FCMEQ(a, e[i], h[i], h[i]) }) // false: a NaN product
		each(func(i int) { f.FCMGT(a, s[i], x[i], ninf) })
		each(func(i int) { f.bit(s[i], zero, e[i]) }) // t > −Inf and the product NaN
		each(func(i int) { f.bit(h[i], dy[i], s[i]) })
		each(func(i int) { f.FCMGT(a, s[i], x[i], thr) })
		each(func(i int) { f.bit(h[i], dy[i], s[i]) }) // dy above the threshold
	})
	f.Op("RET")
}

// genDot: products in the lane type, each vector of them widened and added
// to float64 accumulators (accumulate), so a float32 sum rounds in float64
// only. Lanes past the end are 0·0.
func genDot(f *fn) {
	f.loadSlice("x", "R0", "R1")
	f.loadSlice("y", "R3", "")
	x, y, t, acc := f.vs(0, 4), f.vs(4, 4), f.vs(8, 4), f.vs(12, 4)
	for _, r := range acc {
		f.zero(r)
	}
	f.loop(4, []stream{{ptr: "R0", regs: x}, {ptr: "R3", regs: y}}, nil, func(n int) {
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, x[i], x[i], y[i])
		}
		for i := 0; i < n; i++ {
			f.accumulate(acc, x[i], t[i], i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

func genMulDiff(f *fn) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("y", "R0", "")
	f.loadSlice("dy", "R3", "")
	s := f.alloc("s")
	f.loadScalar("s", s)
	y, dy := f.vs(0, 4), f.vs(4, 4)
	f.loop(4, []stream{{ptr: "R0", regs: y}, {ptr: "R3", regs: dy}}, []stream{{ptr: "R2", regs: y}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, dy[i], dy[i], s)
		}
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, y[i], y[i], dy[i])
		}
	})
	f.Op("RET")
}

// genSubExpMul: dy − exp(y)·s with one rounding (FMLS).
func genSubExpMul(f *fn) {
	u := expUnroll(f.arr)
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("y", "R0", "")
	f.loadSlice("dy", "R3", "")
	s := f.alloc("s")
	f.loadScalar("s", s)
	f.expConsts()
	y, dy := f.vs(0, u), f.vs(u, u)
	f.loop(u, []stream{{ptr: "R0", regs: y}, {ptr: "R3", regs: dy}}, []stream{{ptr: "R2", regs: dy}}, func(n int) {
		f.exp(y[:n], f.vs(2*u, n), append(f.vs(3*u, n), f.vs(4*u, n)...))
		for i := 0; i < n; i++ {
			f.fmls(dy[i], y[i], s)
		}
	})
	f.Op("RET")
}

// genExpDiffScale: c·exp(d), d = x − m; exp gives +Inf past its range, 0
// below and NaN for NaN, so a non-finite x keeps its IEEE meaning. For a
// finite d, exp(d) is positive and finite in exact arithmetic, so a NaN
// product there (c = ±Inf times an exp that underflowed in T, c = 0 times
// one that overflowed, or c NaN) is c.
func genExpDiffScale(f *fn) {
	a := f.arr
	u := expUnroll(a)
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	m, c := f.alloc("m"), f.alloc("c") // not "g": the assembler's name for R28
	f.loadScalar("m", m)
	f.loadScalar("c", c)
	f.expConsts()
	zero := f.k("zero", 0, 0)
	x, t, fin := f.vs(0, u), f.vs(u, u), f.vs(4*u, u)
	f.loop(u, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.FSUB(a, x[i], x[i], m) })
		each(func(i int) { f.FSUB(a, fin[i], x[i], x[i]) }) // 0, or NaN for ±Inf and NaN
		each(func(i int) { f.FCMEQZ(a, fin[i], fin[i]) })
		f.exp(x[:n], t[:n], append(f.vs(2*u, n), f.vs(3*u, n)...))
		each(func(i int) { f.FMUL(a, x[i], x[i], c) })
		each(func(i int) { f.FCMEQ(a, t[i], x[i], x[i]) })
		each(func(i int) { f.bit(fin[i], zero, t[i]) }) // d finite and the product NaN
		each(func(i int) { f.bit(x[i], c, fin[i]) })
	})
	f.Op("RET")
}
