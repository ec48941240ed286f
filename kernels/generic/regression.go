package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Regression computes MSE, L1, Huber or SmoothL1 element-wise, with
// optional per-element weights; it writes per-element losses and the
// gradient (times GradScale) when asked and returns the weighted sum.
func Regression[T args.Float](a args.Regression[T]) float64 {
	args.Took("generic/regression")
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
	// Blocks of residuals go through one tight loop per kind (so the term
	// inlines, with no per-element switch), then through one shared loop for
	// weights and outputs.
	var e, g [256]float64
	var sum float64
	for lo := 0; lo < n; lo += len(e) {
		x, y := a.X[lo:min(lo+len(e), n)], y[lo:min(lo+len(e), n)]
		e, g := e[:len(x)], g[:len(x)]
		y = y[:len(x)]
		switch a.Kind {
		case args.MSE:
			for i, xv := range x {
				d := float64(xv) - float64(y[i])
				e[i], g[i] = d*d, 2*d
			}
		case args.L1:
			for i, xv := range x {
				d := float64(xv) - float64(y[i])
				e[i], g[i] = math.Abs(d), sign(d)
			}
		case args.Huber:
			for i, xv := range x {
				e[i], g[i] = huber(float64(xv)-float64(y[i]), p)
			}
		default:
			for i, xv := range x {
				e[i], g[i] = smoothL1(float64(xv)-float64(y[i]), p)
			}
		}
		for i := range e {
			wi := 1.0
			if w != nil {
				wi = float64(w[lo+i])
				e[i] *= wi
			}
			sum += e[i]
			if loss != nil {
				loss[lo+i] = T(e[i])
			}
			if grad != nil {
				grad[lo+i] = T(scaled(g[i], wi, scale))
			}
		}
	}
	return sum
}

// huber is ½d² inside δ and δ·(|d| − ½δ) outside, with its derivative.
func huber(d, delta float64) (e, g float64) {
	if ad := math.Abs(d); ad < delta {
		return 0.5 * d * d, d
	} else {
		return delta * (ad - 0.5*delta), delta * sign(d)
	}
}

// smoothL1 is ½d²/β inside β and |d| − ½β outside, with its derivative.
func smoothL1(d, beta float64) (e, g float64) {
	if ad := math.Abs(d); ad < beta {
		// ½d·(d/β): |d/β| < 1, so no intermediate overflows (d·d does for
		// |d| > 1.3e154 < β) or passes through a subnormal needlessly.
		g = d / beta
		return 0.5 * d * g, g
	} else {
		return ad - 0.5*beta, sign(d)
	}
}
