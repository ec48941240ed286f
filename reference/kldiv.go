package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// KLDiv is the reference for kernels.KLDiv: l = p·(log p − x) (p = e^t with
// LogTarget), 0 where p = 0 unless x is NaN, gradient −p·Scale.
func KLDiv[T kernels.Float](input, target []T, n, k int, o *kernels.KLDivOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.KLDivOptions[T]{}
	}
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	if err := lengths(need("input", len(input), nk), need("target", len(target), nk), opt("Loss", o.Loss, nk)); err != nil {
		return nil, err
	}
	if o.Reduction != kernels.BatchMean {
		if err := reductionOK(o.Reduction, nk, len(o.Loss), "Loss"); err != nil {
			return nil, err
		}
	}
	for i, t := range target {
		if o.LogTarget && t > 0 || !o.LogTarget && (t < 0 || t > 1) {
			return nil, errf(kernels.ErrTarget, "target[%d]=%v", i, t)
		}
	}
	r := newResult[T](k)
	red := o.Reduction
	norm := 1.0
	switch red {
	case kernels.Mean:
		norm = float64(nk)
	case kernels.BatchMean:
		norm, red = float64(n), kernels.Mean
	}
	r.setScale(red, kernels.EmptyMeanNaN, norm)
	scale := float64(T(r.Scale)) // the kernels scale by it rounded to T
	r.Items, r.ItemTol = make([]float64, nk), make([]float64, nk)
	r.Grad, r.GradTol = make([]float64, nk), make([]float64, nk)
	for i, tv := range target {
		t, x := float64(tv), float64(input[i])
		p := t
		var v, tol float64
		if o.LogTarget {
			p = positive(t, math.Exp(t))
			v = p * (t - x)
			tol = p * (Slack*r.U*(math.Abs(t)+math.Abs(x)) + InputSlack*r.U*math.Abs(t)*math.Abs(t-x))
		} else if p != 0 { // NaN propagates
			lp := math.Log(p)
			v = p * (lp - x)
			tol = p * Slack * r.U * (math.Abs(lp) + math.Abs(x) + 1)
		}
		if p == 0 { // a zero target contributes nothing; a NaN input is still NaN
			v, tol = 0, 0
			if x != x {
				v = x
			}
		}
		r.Items[i] = v
		r.ItemTol[i] = finiteTol(v, tol+Slack*r.U*math.Abs(v)+Slack*r.tiny)
		g := -float64(T(p)) * scale
		r.Grad[i] = g
		gt := Slack * r.U * math.Abs(g)
		if o.LogTarget { // e^t: its argument's rounding as in exp's other uses
			gt += InputSlack * r.U * math.Abs(t) * math.Abs(g)
		}
		r.GradTol[i] = finiteTol(g, gt+Slack*r.tiny)
	}
	r.finish()
	return r, nil
}
