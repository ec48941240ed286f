package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// Regression kernels, float32 and float64: d = x − y, the loss e(d) and derivative
// g(d), each times w, the gradient also times scale; the loss summed in
// float64.
func regressionKernels() []kernel {
	var ks []kernel
	for _, a := range []neon.Arr{neon.S4, neon.D2} {
		a := a
		t, sk := laneKind(a), sl(laneKind(a))
		x := func(n string) param { return param{n, sk} }
		v := func(n string) param { return param{n, t} }
		for _, c := range []struct{ name, e, g string }{
			{"mse", "d²", "d"},
			{"l1", "|d|", "sign(d)"},
			{"huber", "½d² if |d| < p, else p·(|d| − ½p)", "d, else p·sign(d)"},
			{"smoothL1", "½d²/p if |d| < p, else |d| − ½p", "d/p, else sign(d)"},
		} {
			c := c
			name := c.name + suffix(a)
			grad := "w[i]·(" + c.g + ")·scale"
			if c.name == "mse" {
				// 2d overflows where 2d/n does not, and w·2 where 2·d·w is finite.
				grad = "2·(d·w[i]·scale), the factor 2 last"
			}
			doc := name + " is, for each i < len(grad), with d = x[i] − y[i]:\n\n\tloss[i] = w[i]·(" + c.e + ")\n\tgrad[i] = " + grad + "\n\tsum += float64(loss[i])\n\nand returns sum (sign(NaN) is NaN, sign(0) is 0). The gradient is formed as\ng·(w[i]·scale), or as (w[i]·g)·scale where w[i]·scale is below the normal\nrange. All slices have at least len(grad) elements; grad or loss may be x."
			ks = append(ks, kernel{signature{name, []param{x("grad"), x("loss"), x("x"), x("y"), x("w"), v("p"), v("scale")}, f64, doc},
				a, func(f *fn) { genRegression(f, c.name) }})
		}
	}
	return ks
}

// weightGrad sets g = w·g·scale: g·(w·scale), or (w·g)·scale in the lanes
// where w·scale is below minNorm (the smallest normal number), so that no
// partial product underflows where the gradient is a normal number (as
// asmgen/amd64's weightedGrad). w·g alone underflows for a small residual
// and weight under a mean over a small Σw (float32 Huber d = 1e-30,
// w = 4.6e-20: 0 where w·g·scale is 2.4e-34), w·scale alone for a w tiny
// beside Σw and a large g. The scales are 1/Σw, 1/n or 1, so neither order
// overflows where the gradient does not. c and t are scratch; a NaN
// w·scale keeps g·c.
func (f *fn) weightGrad(g, w, scale, minNorm, c, t neon.V) {
	a := f.arr
	f.FMUL(a, c, w, scale)
	f.FMUL(a, t, w, g)
	f.FMUL(a, t, t, scale)
	f.FMUL(a, g, g, c)
	f.FCMGT(a, c, minNorm, c) // w·scale < minNorm
	f.bit(g, t, c)
}

// minNorm is the constant register holding the smallest normal number.
func (f *fn) minNorm() neon.V { return f.kbits("minnorm", 0x00800000, 0x0010000000000000) }

// minNormIn sets v to the smallest normal number, for a kernel that has no
// register to spare for the constant (two instructions).
func (f *fn) minNormIn(v neon.V) {
	if f.arr == neon.S4 {
		f.constant(v, 0x00800000)
	} else {
		f.constant(v, 0x0010000000000000)
	}
}

// sign sets g = sign(d): 1, −1, 0 for ±0, NaN for NaN. t is scratch.
func (f *fn) sign(g, d, t neon.V) {
	a := f.arr
	one := f.k("one", 1, 1)
	f.FCMGTZ(a, g, d)
	f.and(g, g, one)
	f.FCMLTZ(a, t, d)
	f.and(t, t, one)
	f.FSUB(a, g, g, t)
	f.FCMEQ(a, t, d, d) // false only for NaN
	f.bif(g, d, t)
}

func genRegression(f *fn, name string) {
	a := f.arr
	f.loadSlice("grad", "R2", "R1")
	f.loadSlice("loss", "R4", "")
	f.loadSlice("x", "R0", "")
	f.loadSlice("y", "R5", "")
	f.loadSlice("w", "R7", "")
	p, scale := f.alloc("p"), f.alloc("scale")
	f.loadScalar("p", p)
	f.loadScalar("scale", scale)
	half := f.k("half", 0.5, 0.5)
	f.k("one", 1, 1)       // for sign
	hp := f.alloc("halfp") // ½p
	f.FMUL(a, hp, p, half)
	minNorm := f.minNorm()
	const u = 2
	X, Y, W, E, G, T, S := f.vs(0, u), f.vs(u, u), f.vs(2*u, u), f.vs(3*u, u), f.vs(4*u, u), f.vs(5*u, u), f.vs(6*u, u)
	acc := f.vs(7*u, 4)
	for _, r := range acc {
		f.zero(r)
	}
	ins := []stream{{ptr: "R0", regs: X}, {ptr: "R5", regs: Y}, {ptr: "R7", regs: W}}
	outs := []stream{{ptr: "R2", regs: G}, {ptr: "R4", regs: E}}
	f.loop(u, ins, outs, func(n int) {
		for i := 0; i < n; i++ {
			d, e, g, t, s := X[i], E[i], G[i], T[i], S[i]
			f.FSUB(a, d, d, Y[i])
			switch name {
			case "mse":
				f.FMUL(a, e, d, d)
				f.mov(g, d)
			case "l1":
				f.FABS(a, e, d)
				f.sign(g, d, t)
			default:
				// Outside: |d| − ½p and sign(d) (SmoothL1), times p (Huber).
				f.FABS(a, t, d)
				f.FCMGT(a, s, p, t) // inside: |d| < p (false for NaN)
				f.FSUB(a, e, t, hp)
				f.sign(g, d, t)
				if name == "huber" {
					f.FMUL(a, e, e, p)
					f.FMUL(a, g, g, p)
				}
				// Inside: ½d² and d (Huber), divided by p (SmoothL1).
				f.FMUL(a, t, d, d)
				f.FMUL(a, t, t, half)
				if name == "smoothL1" {
					f.FDIV(a, t, t, p)
					f.FDIV(a, d, d, p)
				}
				f.bit(e, t, s)
				f.bit(g, d, s)
			}
			f.FMUL(a, e, e, W[i])
			f.weightGrad(g, W[i], scale, minNorm, s, t)
			if name == "mse" {
				f.FADD(a, g, g, g) // the factor 2, last
			}
			f.accumulate(acc, e, t, i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}
