package generic

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// KLDiv is kl_div: l = p·(log p − x), or e^t·(t − x) with log targets
// (p = e^t), 0 where p = 0 unless x is NaN; the gradient −p·GradScale. The
// target's log or exp is taken in blocks (logInto, expInto). With log
// targets, a finite t whose e^t underflows float64 keeps the least
// subnormal (positive): beside x = −Inf the term is +Inf, not 0.
func KLDiv[T args.Float](a args.Regression[T]) float64 {
	args.Took("generic/kldiv")
	x := a.X
	y := a.Y[:len(x)]
	logTarget := a.Kind == args.KLDivLogTarget
	var buf [sumExpBlock]float64
	// Terms of both signs: a plain float64 sum lost 370u over 8198 of them.
	var sum, comp float64
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		ys := y[lo:][:len(xs)]
		f := buf[:len(xs)]
		for i, t := range ys {
			f[i] = float64(t)
		}
		if logTarget {
			expIntoT[T](f, f) // p
		} else {
			logIntoT[T](f, f) // log p
		}
		for i, xv := range xs {
			t, xf := float64(ys[i]), float64(xv)
			p, v := t, t*(f[i]-xf)
			if logTarget {
				p = positive(t, f[i])
				v = p * (t - xf)
			}
			if p == 0 && xf == xf {
				v = 0 // a zero target contributes nothing, even beside x = −Inf
			}
			sum, comp = neumaier(sum, comp, v)
			if a.Loss != nil {
				a.Loss[lo+i] = T(v)
			}
			if a.Grad != nil {
				a.Grad[lo+i] = -T(p) * a.GradScale
			}
		}
	}
	if sum-sum != 0 {
		return sum // an infinite or NaN sum: the compensation is meaningless
	}
	return sum + comp
}
