package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Regression computes MSE, L1, Huber or SmoothL1 element-wise, with
// optional per-element weights; it writes per-element losses and the
// gradient (times GradScale) when asked and returns the weighted sum.
func Regression[T args.Float](a args.Regression[T]) float64 {
	n := len(a.X)
	y := a.Y[:n]
	var w, grad, loss []T
	if a.Weight != nil {
		w = a.Weight[:n]
	}
	if a.Grad != nil {
		grad = a.Grad[:n]
	}
	if a.Loss != nil {
		loss = a.Loss[:n]
	}
	p, scale := float64(a.Param), float64(a.GradScale)
	var sum float64
	for i, xv := range a.X {
		d := float64(xv) - float64(y[i])
		e, g := regressionTerm(a.Kind, d, p)
		if w != nil {
			e *= float64(w[i])
			g *= float64(w[i])
		}
		sum += e
		if loss != nil {
			loss[i] = T(e)
		}
		if grad != nil {
			grad[i] = T(g * scale)
		}
	}
	return sum
}

// regressionTerm returns the loss of a residual d and its derivative.
func regressionTerm(kind args.RegressionKind, d, p float64) (e, g float64) {
	switch kind {
	case args.MSE:
		return d * d, 2 * d
	case args.L1:
		return math.Abs(d), sign(d)
	case args.Huber: // ½d² inside δ, δ·(|d| − ½δ) outside
		if ad := math.Abs(d); ad < p {
			return 0.5 * d * d, d
		} else {
			return p * (ad - 0.5*p), p * sign(d)
		}
	default: // SmoothL1: ½d²/β inside β, |d| − ½β outside
		if ad := math.Abs(d); ad < p {
			return 0.5 * d * d / p, d / p
		} else {
			return ad - 0.5*p, sign(d)
		}
	}
}
