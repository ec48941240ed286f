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
			{"mse", "d²", "d (the caller folds the factor 2 into scale: 2d overflows where 2d/n does not)"},
			{"l1", "|d|", "sign(d)"},
			{"huber", "½d² if |d| < p, else p·(|d| − ½p)", "d, else p·sign(d)"},
			{"smoothL1", "½d²/p if |d| < p, else |d| − ½p", "d/p, else sign(d)"},
		} {
			c := c
			name := c.name + suffix(a)
			doc := name + " is, for each i < len(grad), with d = x[i] − y[i]:\n\n\tloss[i] = w[i]·(" + c.e + ")\n\tgrad[i] = w[i]·(" + c.g + ")·scale\n\tsum += float64(loss[i])\n\nand returns sum (sign(NaN) is NaN, sign(0) is 0). All slices have at least\nlen(grad) elements; grad or loss may be x."
			ks = append(ks, kernel{signature{name, []param{x("grad"), x("loss"), x("x"), x("y"), x("w"), v("p"), v("scale")}, f64, doc},
				a, func(f *fn) { genRegression(f, c.name) }})
		}
	}
	return ks
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
			f.FMUL(a, g, g, W[i])
			f.FMUL(a, g, g, scale)
			f.accumulate(acc, e, t, i)
		}
	})
	f.reduceWide(acc)
	f.storeRet(acc[0])
	f.Op("RET")
}
