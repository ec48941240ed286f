package main

import (
	"math"

	"github.com/lossfuse/lossfuse/asmgen/neon"
)

// vs returns n consecutive work registers from first, and records the
// highest so that main can check they stay below the constants.
func (f *fn) vs(first, n int) []neon.V {
	if first+n-1 > f.maxWork {
		f.maxWork = first + n - 1
	}
	r := make([]neon.V, n)
	for i := range r {
		r[i] = neon.V(first + i)
	}
	return r
}

func sl(k kind) kind { // the slice kind of a lane kind
	if k == f64 {
		return slice64
	}
	return slice32
}

func laneKind(a neon.Arr) kind {
	if a == neon.D2 {
		return f64
	}
	return f32
}

func suffix(a neon.Arr) string {
	if a == neon.D2 {
		return "F64"
	}
	return "F32"
}

// negInf is −Inf in the lane type.
func (f *fn) negInf() neon.V { return f.k("neginf", float32(math.Inf(-1)), math.Inf(-1)) }

// unroll is the number of vectors per main-loop iteration for kernels that
// evaluate exp: four float32 vectors fit the registers beside the exp
// constants; float64 has more constants, so two.
func expUnroll(a neon.Arr) int {
	if a == neon.D2 {
		return 2
	}
	return 4
}

// reduceAdd sums the accumulators and leaves the total in lane 0 of acc[0].
func (f *fn) reduceAdd(acc []neon.V) {
	for n := len(acc); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			f.FADD(f.arr, acc[i], acc[i], acc[i+n/2])
		}
	}
	if f.arr == neon.S4 {
		f.FADDP(f.arr, acc[0], acc[0], acc[0])
	}
	f.FADDPScalar(f.arr, acc[0], acc[0])
}

// reduceMax leaves the maximum of the accumulators in lane 0 of acc[0].
func (f *fn) reduceMax(acc []neon.V) {
	for n := len(acc); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			f.FMAX(f.arr, acc[i], acc[i], acc[i+n/2])
		}
	}
	if f.arr == neon.S4 {
		f.FMAXV(acc[0], acc[0])
	} else {
		f.FMAXPScalar(f.arr, acc[0], acc[0])
	}
}

// kernel describes one generated function.
type kernel struct {
	sig  signature
	arr  neon.Arr
	body func(f *fn)
}

func kernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		a := a
		t, s := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, s} }
		v := func(n string) param { return param{n, t} }
		sfx := suffix(a)
		ks = append(ks,
			kernel{signature{"exp" + sfx, []param{x("dst"), x("x")}, none,
				"exp" + sfx + " is\n\n\tfor i := range dst {\n\t\tdst[i] = exp(x[i])\n\t}\n\nlen(x) ≥ len(dst); dst may be x."}, a, genExp},
			kernel{signature{"max" + sfx, []param{x("x")}, t,
				"max" + sfx + " is the largest element of x (−Inf if x is empty; NaN if any is NaN)."}, a, genMax},
			kernel{signature{"sumExp" + sfx, []param{x("x"), v("m")}, f64,
				"sumExp" + sfx + " is Σ exp(x[i] − m) − 1, summed in float64 without the terms that\nround to 1 (counted instead), so that it keeps its low digits when m is\nthe row maximum (see expStoreSum)."}, a, genSumExp},
			kernel{signature{"expStoreSum" + sfx, []param{x("dst"), x("x"), v("m")}, f64,
				"expStoreSum" + sfx + " is\n\n\tsum := -1.0\n\tfor i := range dst {\n\t\tdst[i] = exp(x[i] − m)\n\t\tsum += float64(dst[i])\n\t}\n\nwith the terms equal to 1 counted, not added, so that the sum keeps the\nother terms' digits. len(x) ≥ len(dst); dst may be x."}, a, genExpStoreSum},
			kernel{signature{"affine" + sfx, []param{x("dst"), x("x"), v("a"), v("b")}, none,
				"affine" + sfx + " is dst[i] = a·x[i] − b. len(x) ≥ len(dst); dst may be x."}, a, genAffine},
			kernel{signature{"sub2" + sfx, []param{x("dst"), x("x"), v("b"), v("c")}, none,
				"sub2" + sfx + " is dst[i] = (x[i] − b) − c: with b + c a value split into its\nrounded part b and remainder c, x − (b + c) without rounding b + c first.\nlen(x) ≥ len(dst); dst may be x."}, a, genSub2},
			kernel{signature{"affineW" + sfx, []param{x("dst"), x("x"), x("w"), v("a"), v("b")}, none,
				"affineW" + sfx + " is dst[i] = a·x[i] − b·w[i]. len(x), len(w) ≥ len(dst); dst may be x."}, a, genAffineW},
			kernel{signature{"dotSub" + sfx, []param{x("x"), x("w"), v("z")}, f64,
				"dotSub" + sfx + " is Σ w[i]·(x[i] − z), summed in float64, where a zero w[i]\ncontributes 0 even if x[i] is infinite. len(w) ≥ len(x)."}, a, genDotSub},
			kernel{signature{"sumSub" + sfx, []param{x("x"), v("z")}, f64,
				"sumSub" + sfx + " is Σ (x[i] − z), summed in float64."}, a, genSumSub},
		)
	}
	ks = append(ks,
		kernel{signature{"logF32", []param{{"dst", slice32}, {"x", slice32}}, none,
			"logF32 is\n\n\tfor i := range dst {\n\t\tdst[i] = log(x[i])\n\t}\n\nwith log(0) = −Inf, log(x < 0) = NaN, log(+Inf) = +Inf. len(x) ≥ len(dst); dst may be x."}, neon.S4, genLog},
	)
	ks = append(ks, elementwiseKernels()...)
	ks = append(ks, regressionKernels()...)
	ks = append(ks, focalKernels()...)
	ks = append(ks, focalSoftKernels()...)
	ks = append(ks, softCapKernels()...)
	ks = append(ks, probLossKernels()...)
	ks = append(ks, focalProbKernels()...)
	ks = append(ks, backwardKernels()...)
	ks = append(ks, klDivKernels()...)
	ks = append(ks, distillKernels()...)
	return append(ks, probsKernels()...)
}

// Register plan: R0 = x, R2 = dst, R3 = w, R1 = element count (of dst
// when there is one). Work vectors from V0 up, constants from V31 down.

func genExp(f *fn) {
	u := expUnroll(f.arr)
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	f.expConsts()
	xs := f.vs(0, u)
	f.loop(u, []stream{{ptr: "R0", regs: xs}}, []stream{{ptr: "R2", regs: xs}}, func(n int) {
		f.exp(xs[:n], f.vs(u, n), append(f.vs(2*u, n), f.vs(3*u, n)...))
	})
	f.Op("RET")
}

func genMax(f *fn) {
	f.loadSlice("x", "R0", "R1")
	ninf := f.negInf()
	x, acc := f.vs(0, 4), f.vs(4, 4)
	for _, r := range acc {
		f.mov(r, ninf)
	}
	f.loop(4, []stream{{ptr: "R0", regs: x, fill: ninf, hasFill: true}}, nil, func(n int) {
		for i := 0; i < n; i++ {
			f.FMAX(f.arr, acc[i], acc[i], x[i])
		}
	})
	f.reduceMax(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

// sumExpLike is the body shared by sumExp and expStoreSum: x −= m, exp,
// accumulate r = Σ exp(x − m) − 1. Lanes past the end are −Inf and add
// exp(−Inf) = 0. The exponentials equal to 1 (the maximum, and anything
// within rounding of it) are counted in an integer vector instead of added,
// so that the float64 sum of the others is not absorbed by the 1s: a
// saturated row's r stays e^−40-sized instead of rounding to 0, and
// log1p(r) gives its loss. Float32 exponentials are widened and summed in
// float64 (FCVTL, FCVTL2).
func sumExpLike(f *fn, store bool) { sumExpLikeCapped(f, store, false) }

// sumExpLikeCapped is sumExpLike; capped, the logits are soft-capped first
// (z = cap·tanh(x·inv)), one vector per iteration (tanh's scratch and
// constants leave no room for more), and the lanes past the end are
// filled with NaN, which no logit of the vector path is (a row holding NaN
// has a NaN maximum and takes the generic row), and set to −Inf after the
// cap: −Inf itself would be capped to −cap and add exp(−cap − m).
func sumExpLikeCapped(f *fn, store, capped bool) {
	u := expUnroll(f.arr)
	if capped {
		u = 1
	}
	if store {
		f.loadSlice("dst", "R2", "R1")
		f.loadSlice("x", "R0", "")
	} else {
		f.loadSlice("x", "R0", "R1")
	}
	m := f.alloc("m")
	f.loadScalar("m", m)
	var capK, invK neon.V
	if capped {
		capK, invK = f.alloc("cap"), f.alloc("inv")
		f.loadScalar("cap", capK)
		f.loadScalar("inv", invK)
		f.tanhConsts()
	}
	ninf := f.negInf()
	c := f.expConsts()
	nacc := 2
	if f.arr == neon.S4 {
		nacc = 4
	}
	xs, acc, cnt := f.vs(0, u), f.vs(4*u, nacc), f.vs(4*u+nacc, 1)[0]
	spare := f.vs(4*u+nacc+1, 1)[0]
	for _, r := range acc {
		f.zero(r)
	}
	f.zero(cnt)
	var outs []stream
	if store {
		outs = []stream{{ptr: "R2", regs: xs}}
	}
	fill := ninf
	if capped {
		fill = f.kbits("nan", 0x7fc00000, 0x7ff8000000000000)
	}
	f.loop(u, []stream{{ptr: "R0", regs: xs, fill: fill, hasFill: true}}, outs, func(n int) {
		if capped {
			t, h := f.vs(u, 1)[0], f.vs(2*u, 2)
			f.FMUL(f.arr, xs[0], xs[0], invK)
			f.tanh(xs[0], t, h[0], h[1], spare)
			f.FMUL(f.arr, xs[0], xs[0], capK)
			f.FCMEQ(f.arr, t, xs[0], xs[0])
			f.bif(xs[0], ninf, t) // the NaN fill: past the end
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, xs[i], xs[i], m)
		}
		t, h := f.vs(u, n), f.vs(2*u, n)
		f.exp(xs[:n], t, append(h, f.vs(3*u, n)...))
		for i := 0; i < n; i++ {
			f.FCMEQ(f.arr, t[i], xs[i], c.one)
		}
		for i := 0; i < n; i++ {
			f.isub(cnt, cnt, t[i]) // a true lane is −1
		}
		for i := 0; i < n; i++ {
			f.and(t[i], t[i], c.one)
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, h[i], xs[i], t[i]) // the exponential, or 0 where it is 1
		}
		for i := 0; i < n; i++ {
			f.accumulate(acc, h[i], t[i], i)
		}
	})
	// r = Σ + (count − 1): the count's 1 goes first, or it would absorb Σ.
	f.reduceWide(acc)
	f.SCVTF(f.arr, cnt, cnt)
	if f.arr == neon.S4 {
		f.FCVTL(xs[0], cnt)
		f.FCVTL2(spare, cnt)
		f.FADD(neon.D2, cnt, xs[0], spare)
	}
	f.FADDPScalar(neon.D2, cnt, cnt)
	f.Op("FMOVD $1.0, F%d", xs[0])
	f.Op("FSUBD F%d, F%d, F%d", xs[0], cnt, cnt)
	f.Op("FADDD F%d, F%d, F%d", cnt, acc[0], acc[0])
	f.storeRet(acc[0])
	f.Op("RET")
}

func genSumExp(f *fn)      { sumExpLike(f, false) }
func genExpStoreSum(f *fn) { sumExpLike(f, true) }

func genAffine(f *fn) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	a, b := f.alloc("a"), f.alloc("b")
	f.loadScalar("a", a)
	f.loadScalar("b", b)
	x := f.vs(0, 4)
	f.loop(4, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, x[i], x[i], a)
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], b)
		}
	})
	f.Op("RET")
}

func genSub2(f *fn) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	b, c := f.alloc("b"), f.alloc("c")
	f.loadScalar("b", b)
	f.loadScalar("c", c)
	x := f.vs(0, 4)
	f.loop(4, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], b)
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], c)
		}
	})
	f.Op("RET")
}

func genAffineW(f *fn) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	f.loadSlice("w", "R3", "")
	a, b := f.alloc("a"), f.alloc("b")
	f.loadScalar("a", a)
	f.loadScalar("b", b)
	x, w := f.vs(0, 4), f.vs(4, 4)
	f.loop(4, []stream{{ptr: "R0", regs: x}, {ptr: "R3", regs: w}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, x[i], x[i], a)
		}
		for i := 0; i < n; i++ {
			f.fmls(x[i], w[i], b)
		}
	})
	f.Op("RET")
}

// accumulate adds the vector v (the i-th of an unrolled block) into the
// accumulators: float64 lanes directly (acc[i%2]); float32 lanes widened
// to float64 (FCVTL, FCVTL2 into tmp) and added to acc[2·(i%2)] and
// acc[2·(i%2)+1], so that float32 sums carry no float32 rounding.
func (f *fn) accumulate(acc []neon.V, v, tmp neon.V, i int) {
	if f.arr == neon.D2 {
		f.FADD(neon.D2, acc[i%2], acc[i%2], v)
		return
	}
	f.FCVTL(tmp, v)
	f.FADD(neon.D2, acc[2*(i%2)], acc[2*(i%2)], tmp)
	f.FCVTL2(tmp, v)
	f.FADD(neon.D2, acc[2*(i%2)+1], acc[2*(i%2)+1], tmp)
}

// reduceWide sums the accumulators of accumulate into lane 0 of acc[0].
func (f *fn) reduceWide(acc []neon.V) {
	a := f.arr
	f.arr = neon.D2
	f.reduceAdd(acc)
	f.arr = a
}

func genDotSub(f *fn) {
	f.loadSlice("x", "R0", "R1")
	f.loadSlice("w", "R3", "")
	z := f.alloc("z")
	f.loadScalar("z", z)
	zero := f.k("zero", 0, 0)
	x, w, t, acc := f.vs(0, 4), f.vs(4, 4), f.vs(8, 4), f.vs(12, 4)
	for _, r := range acc {
		f.zero(r)
	}
	// Lanes past the end: x = z and w = 0 contribute exactly 0.
	f.loop(4, []stream{{ptr: "R0", regs: x, fill: z, hasFill: true}, {ptr: "R3", regs: w}}, nil, func(n int) {
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], z)
		}
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, x[i], x[i], w[i])
		}
		for i := 0; i < n; i++ {
			f.FCMEQZ(f.arr, t[i], w[i])
		}
		for i := 0; i < n; i++ {
			f.bit(x[i], zero, t[i]) // 0·±Inf = NaN would poison the sum
		}
		for i := 0; i < n; i++ {
			f.accumulate(acc, x[i], t[i], i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

func genSumSub(f *fn) {
	f.loadSlice("x", "R0", "R1")
	z := f.alloc("z")
	f.loadScalar("z", z)
	x, t, acc := f.vs(0, 4), f.vs(4, 4), f.vs(8, 4)
	for _, r := range acc {
		f.zero(r)
	}
	f.loop(4, []stream{{ptr: "R0", regs: x, fill: z, hasFill: true}}, nil, func(n int) {
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], z)
		}
		for i := 0; i < n; i++ {
			f.accumulate(acc, x[i], t[i], i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

// genLog is the full float32 log: subnormal inputs are scaled by 2^23
// first (and k corrected), and the special values are selected at the end.
func genLog(f *fn) {
	const u = 2
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("x", "R0", "")
	f.logConsts()
	minNorm := f.kbits("minnorm", 0x00800000, 0)
	two23 := f.k("two23", 1<<23, 0)
	k23 := f.kbits("int23", 23, 0)
	inf := f.k("inf", float32(math.Inf(1)), 0)
	ninf := f.negInf()
	nan := f.kbits("nan", 0x7fc00000, 0)
	x, x0, t, uu, w, m := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, u), f.vs(5*u, u)
	f.loop(u, []stream{{ptr: "R0", regs: x}}, []stream{{ptr: "R2", regs: x}}, func(n int) {
		each := func(g func(i int)) {
			for i := 0; i < n; i++ {
				g(i)
			}
		}
		each(func(i int) { f.mov(x0[i], x[i]) })
		each(func(i int) { f.FCMGT(f.arr, m[i], minNorm, x[i]) }) // x < 2^−126 (or ≤ 0)
		each(func(i int) { f.FMUL(f.arr, t[i], x[i], two23) })
		each(func(i int) { f.bit(x[i], t[i], m[i]) })
		each(func(i int) { f.and(m[i], m[i], k23) })
		f.logCore(x[:n], t[:n], uu[:n], w[:n], m[:n])
		// Special values: +Inf → +Inf, 0 → −Inf, negative or NaN → NaN.
		each(func(i int) { f.FCMEQ(f.arr, t[i], x0[i], inf) })
		each(func(i int) { f.bit(x[i], inf, t[i]) })
		each(func(i int) { f.FCMEQZ(f.arr, uu[i], x0[i]) })
		each(func(i int) { f.bsl(uu[i], ninf, nan) })
		each(func(i int) { f.FCMGTZ(f.arr, t[i], x0[i]) })
		each(func(i int) { f.bif(x[i], uu[i], t[i]) })
	})
	f.Op("RET")
}
