package main

import (
	"math"

	"github.com/lossfuse/lossfuse/asmgen/neon"
)

// Kernels for cross-entropy against probability targets t: the target
// coefficients are c_j = w_j·(b·t_j + c) with b = 1 − ε, c = ε/K.
func probsKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		a := a
		t, s := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, s} }
		v := func(n string) param { return param{n, t} }
		sfx := suffix(a)
		ks = append(ks,
			kernel{signature{"dotSub3" + sfx, []param{x("x"), x("t"), x("w"), v("z")}, f64,
				"dotSub3" + sfx + " is Σ t[i]·w[i]·(x[i] − z), summed in float64, where a zero\nt[i]·w[i] contributes 0 even if x[i] is infinite. len(t), len(w) ≥ len(x)."}, a, genDotSub3},
			kernel{signature{"affineT" + sfx, []param{x("dst"), x("e"), x("t"), v("a"), v("b"), v("c")}, none,
				"affineT" + sfx + " is dst[i] = a·e[i] − (b·t[i] + c). len(e), len(t) ≥ len(dst);\ndst may be e."}, a, func(f *fn) { genAffineT(f, false) }},
			kernel{signature{"affineWT" + sfx, []param{x("dst"), x("e"), x("t"), x("w"), v("a"), v("b"), v("c")}, none,
				"affineWT" + sfx + " is dst[i] = a·e[i] − w[i]·(b·t[i] + c). len(e), len(t), len(w) ≥\nlen(dst); dst may be e."}, a, func(f *fn) { genAffineT(f, true) }},
		)
	}
	return ks
}

func genDotSub3(f *fn) {
	f.loadSlice("x", "R0", "R1")
	f.loadSlice("t", "R3", "")
	f.loadSlice("w", "R5", "")
	z := f.alloc("z")
	f.loadScalar("z", z)
	zero := f.k("zero", 0, 0)
	tiny := f.k("tiny", math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat64)
	x, t, w, acc, pos := f.vs(0, 4), f.vs(4, 4), f.vs(8, 4), f.vs(12, 4), f.vs(16, 4)
	for _, r := range acc {
		f.zero(r)
	}
	// Lanes past the end: x = z, t = w = 0 contribute exactly 0.
	f.loop(4, []stream{{ptr: "R0", regs: x, fill: z, hasFill: true}, {ptr: "R3", regs: t}, {ptr: "R5", regs: w}}, nil, func(n int) {
		// The coefficient t·w, raised to the smallest subnormal where it
		// underflowed to 0 but t, w > 0: only a true 0 drops the term
		// (a −Inf logit under a subnormal target gives +Inf).
		for i := 0; i < n; i++ {
			f.FMIN(f.arr, pos[i], t[i], w[i])
		}
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, t[i], t[i], w[i])
		}
		for i := 0; i < n; i++ {
			f.FCMGTZ(f.arr, pos[i], pos[i])
		}
		for i := 0; i < n; i++ {
			f.and(pos[i], pos[i], tiny)
		}
		for i := 0; i < n; i++ {
			f.FMAX(f.arr, t[i], t[i], pos[i])
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, x[i], x[i], z)
		}
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, x[i], x[i], t[i])
		}
		for i := 0; i < n; i++ {
			f.FCMEQZ(f.arr, w[i], t[i])
		}
		for i := 0; i < n; i++ {
			f.bit(x[i], zero, w[i]) // 0·±Inf = NaN would poison the sum
		}
		for i := 0; i < n; i++ {
			f.accumulate(acc, x[i], w[i], i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}

func genAffineT(f *fn, weighted bool) {
	f.loadSlice("dst", "R2", "R1")
	f.loadSlice("e", "R0", "")
	f.loadSlice("t", "R3", "")
	ins := []stream{{ptr: "R0", regs: f.vs(0, 4)}, {ptr: "R3", regs: f.vs(4, 4)}}
	if weighted {
		f.loadSlice("w", "R5", "")
		ins = append(ins, stream{ptr: "R5", regs: f.vs(8, 4)})
	}
	a, b, c := f.alloc("a"), f.alloc("b"), f.alloc("c")
	f.loadScalar("a", a)
	f.loadScalar("b", b)
	f.loadScalar("c", c)
	e, t := ins[0].regs, ins[1].regs
	u := f.vs(12, 4)
	f.loop(4, ins, []stream{{ptr: "R2", regs: e}}, func(n int) {
		if weighted {
			// w·(b·t + c) as c·w + b·(t·w): t·w is exact unless the true
			// product is subnormal, whereas b·t first (b carries the
			// gradient's 1/N) drops a subnormal target's bits before a
			// large weight scales them back up.
			w := ins[2].regs
			for i := 0; i < n; i++ {
				f.FMUL(f.arr, u[i], w[i], c)
			}
			for i := 0; i < n; i++ {
				f.FMUL(f.arr, t[i], t[i], w[i])
			}
		} else {
			for i := 0; i < n; i++ {
				f.mov(u[i], c)
			}
		}
		for i := 0; i < n; i++ {
			f.fmla(u[i], t[i], b) // b·t + c, or b·(t·w) + c·w
		}
		for i := 0; i < n; i++ {
			f.FMUL(f.arr, e[i], e[i], a)
		}
		for i := 0; i < n; i++ {
			f.FSUB(f.arr, e[i], e[i], u[i])
		}
	})
	f.Op("RET")
}
