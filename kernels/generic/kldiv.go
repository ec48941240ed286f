package generic

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// KLDiv is kl_div: l = p·(log p − x), or e^t·(t − x) with log targets
// (p = e^t), 0 where p = 0 unless x is NaN; the gradient −p·GradScale. The
// target's log or exp is taken in blocks (logIntoT, expIntoT), the terms
// formed in a loop of their own per target kind, and the outputs written
// by loops that run only when asked for. With log targets, a finite t
// whose e^t underflows float64 keeps the least subnormal (positive):
// beside x = −Inf the term is +Inf, not 0.
func KLDiv[T args.Float](a args.Regression[T]) float64 {
	args.Took("generic/kldiv")
	x := a.X
	y := a.Y[:len(x)]
	logTarget := a.Kind == args.KLDivLogTarget
	var fb, pb [sumExpBlock]float64
	// Terms of both signs: a plain float64 sum lost 370u over 8198 of them.
	var sum compSum
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		ys := y[lo:][:len(xs)]
		f, p := fb[:len(xs)], pb[:len(xs)]
		for i, t := range ys {
			f[i] = float64(t)
		}
		if logTarget {
			expIntoT[T](p, f)
			for i, xv := range xs {
				t, xf := f[i], float64(xv)
				pv := positive(t, p[i])
				p[i] = pv
				f[i] = zeroTarget(pv, xf, pv*(t-xf))
			}
		} else {
			logIntoT[T](f, f) // log p
			for i, xv := range xs {
				t, xf := float64(ys[i]), float64(xv)
				p[i] = t
				f[i] = zeroTarget(t, xf, t*(f[i]-xf))
			}
		}
		sum.add(f)
		if a.Loss != nil {
			l := a.Loss[lo:][:len(f)]
			for i, v := range f {
				l[i] = T(v)
			}
		}
		if a.Grad != nil {
			g := a.Grad[lo:][:len(p)]
			for i, v := range p {
				g[i] = -T(v) * a.GradScale
			}
		}
	}
	return sum.total()
}

// zeroTarget is the term v, or 0 where the target p is 0 and x is not
// NaN: a zero target contributes nothing, even beside x = −Inf.
func zeroTarget(p, x, v float64) float64 {
	if p == 0 && x == x {
		return 0
	}
	return v
}
