package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// MSE is the reference for kernels.MSE: e = w·d², ∂e/∂x = 2·w·d with
// d = pred − target. The mean divides by the element count, or by Σw when
// weights are given (EmptyMean decides when Σw = 0).
func MSE[T kernels.Float](pred, target []T, o *kernels.RegressionOptions[T]) (*Result, error) {
	return regression(func(d float64) (float64, float64) { return d * d, 2 * d }, pred, target, o, 1, "")
}

// L1 is the reference for kernels.L1: e = w·|d|, ∂e/∂x = w·sign(d) with
// sign(0) = 0.
func L1[T kernels.Float](pred, target []T, o *kernels.RegressionOptions[T]) (*Result, error) {
	return regression(func(d float64) (float64, float64) { return math.Abs(d), sign(d) }, pred, target, o, 1, "")
}

// Huber is the reference for kernels.Huber: ½d² for |d| < δ, else
// δ·(|d| − ½δ); derivative d, else δ·sign(d). δ = o.Delta, or 1 when it
// is 0 (or o is nil).
func Huber[T kernels.Float](pred, target []T, o *kernels.HuberOptions[T]) (*Result, error) {
	delta, ro := 1.0, (*kernels.RegressionOptions[T])(nil)
	if o != nil {
		ro = &o.RegressionOptions
		if o.Delta != 0 {
			delta = o.Delta
		}
	}
	f := func(d float64) (float64, float64) {
		if math.Abs(d) < delta {
			return (d / 2) * d, d // not d·d/2, which overflows for ½d² ∈ (Max/2, Max]
		}
		return delta * (math.Abs(d) - delta/2), delta * sign(d)
	}
	return regression(f, pred, target, ro, delta, "Delta")
}

// SmoothL1 is the reference for kernels.SmoothL1: ½d²/β for |d| < β, else
// |d| − ½β; derivative d/β, else sign(d). β = o.Beta, or 1 when it is 0
// (or o is nil).
func SmoothL1[T kernels.Float](pred, target []T, o *kernels.SmoothL1Options[T]) (*Result, error) {
	beta, ro := 1.0, (*kernels.RegressionOptions[T])(nil)
	if o != nil {
		ro = &o.RegressionOptions
		if o.Beta != 0 {
			beta = o.Beta
		}
	}
	f := func(d float64) (float64, float64) {
		if math.Abs(d) < beta {
			return halfSqOver(d, beta), d / beta
		}
		return math.Abs(d) - beta/2, sign(d)
	}
	return regression(f, pred, target, ro, beta, "Beta")
}

// halfSqOver is d²/(2β) from mantissas and exponents, rounded once: d·d
// overflows (|d| = 1.7e154, β = 1e300: 1.45e8) or passes through a
// subnormal where the quotient is a normal number.
func halfSqOver(d, beta float64) float64 {
	fd, ed := math.Frexp(d)
	fb, eb := math.Frexp(beta)
	return math.Ldexp(fd*fd/(2*fb), 2*ed-eb)
}

func sign(d float64) float64 {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	}
	return d // 0 (either sign) or NaN
}

func regression[T kernels.Float](f func(d float64) (e, g float64), x, y []T, o *kernels.RegressionOptions[T], param float64, paramName string) (*Result, error) {
	if o == nil {
		o = &kernels.RegressionOptions[T]{}
	}
	n := len(x)
	if n == 0 {
		return nil, errf(kernels.ErrShape, "no elements")
	}
	if err := first(
		lengths(need("target", len(y), n), opt("Weight", o.Weight, n), opt("Loss", o.Loss, n)),
		reductionOK(o.Reduction, n, len(o.Loss), "Loss"),
		emptyMeanOK(o.EmptyMean),
	); err != nil {
		return nil, err
	}
	if paramName != "" && !(param > 0 && param <= math.MaxFloat64) {
		return nil, errf(kernels.ErrOption, "%s=%v", paramName, param)
	}
	w, err := nonNegative("Weight", o.Weight)
	if err != nil {
		return nil, err
	}
	norm := float64(n)
	if w != nil {
		var s sum
		for _, v := range w {
			s.add(v)
		}
		norm = s.value()
	}
	r := newResult[T](1)
	r.setScale(o.Reduction, o.EmptyMean, norm)
	r.Items, r.ItemTol = make([]float64, n), make([]float64, n)
	r.Grad, r.GradTol = make([]float64, n), make([]float64, n)
	u := r.U
	for i := range x {
		// d = x − y is exact in float64 for float32 inputs (and rounded
		// relatively for float64 ones), which the perturbation of d covers.
		d := float64(x[i]) - float64(y[i])
		e, g := f(d)
		var ep, gp float64
		if !math.IsNaN(d) && !math.IsInf(d, 0) && d != 0 {
			for _, s := range []float64{-1, 1} {
				e2, g2 := f(d * (1 + s*InputSlack*u))
				ep, gp = math.Max(ep, math.Abs(e2-e)), math.Max(gp, math.Abs(g2-g))
			}
		}
		we := weightOf(w, i)
		r.Items[i] = we * e
		// c·η inside: the unweighted value may be flushed below η (as binary).
		r.ItemTol[i] = finiteTol(r.Items[i], math.Abs(we)*(Slack*u*math.Abs(e)+ep+Slack*r.tiny))
		r.Grad[i] = prod3(r.Scale, we, g)
		r.GradTol[i] = finiteTol(r.Grad[i], math.Abs(prod3(r.Scale, we, Slack*u*math.Abs(g)+gp+Slack*r.tiny))+Slack*r.tiny)
		if r.overflows(math.Abs(e), math.Abs(g)) {
			r.ItemTol[i], r.GradTol[i] = math.Inf(1), math.Inf(1)
		}
	}
	r.finish()
	return r, nil
}
