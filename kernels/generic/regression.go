package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Regression computes MSE, L1, Huber or SmoothL1 element-wise, with
// optional per-element weights; it writes per-element losses and the
// gradient (times GradScale) when asked and returns the weighted sum.
//
// The terms are branch-free (min, max and sign bits), since residuals of
// random sign or magnitude would mispredict a branch per element, and the
// loop keeps four partial sums so that the additions overlap.
func Regression[T args.Float](a args.Regression[T]) float64 {
	args.Took("generic/regression")
	n := len(a.X)
	x, y := a.X, a.Y[:n]
	w, grad, loss := a.Weight, a.Grad, a.Loss // nil or n long
	kind, p, scale := a.Kind, float64(a.Param), float64(a.GradScale)
	// Unweighted, the gradient's factor is the scale itself, unless it lies
	// outside the normal range, where scaled splits the product.
	plain := w == nil && scale >= 0x1p-1022 && scale <= math.MaxFloat64
	switch {
	case plain && grad == nil && loss == nil:
		return regSum(kind, x, y, p)
	case plain && loss == nil && kind == args.MSE:
		return mseGrad(x, y, grad[:n], 2*scale)
	case w != nil && grad != nil && loss == nil && kind == args.MSE:
		return mseGradWeighted(x, y, w[:n], grad[:n], scale)
	}
	// Blocks of residuals go through one tight loop per kind (its term
	// inlined, no per-element switch), then through one loop for weights
	// and outputs with four partial sums, so that the additions overlap.
	var e, g [regBlock]float64
	var s [4]float64
	for len(x) > 0 {
		m := min(len(x), regBlock)
		xb, yb := x[:m], y[:m]
		x, y = x[m:], y[m:]
		eb, gb := e[:m], g[:m]
		regTerms(kind, xb, yb, eb, gb, p)
		var wb, grb, lob []T
		if w != nil {
			wb, w = w[:m], w[m:]
		}
		if grad != nil {
			grb, grad = grad[:m], grad[m:]
		}
		if loss != nil {
			lob, loss = loss[:m], loss[m:]
		}
		if !plain {
			s[0] += regOut(eb, gb, wb, grb, lob, scale)
			continue
		}
		if grb != nil {
			grb = grb[:len(gb)]
			for i, v := range gb {
				grb[i] = T(v * scale)
			}
		}
		if lob != nil {
			lob = lob[:len(eb)]
			for i, v := range eb {
				lob[i] = T(v)
			}
		}
		addInto(&s, eb)
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

const regBlock = 64

// regSum is the sum of the unweighted losses (a call without outputs),
// with four partial sums.
func regSum[T args.Float](kind args.RegressionKind, x, y []T, p float64) float64 {
	var s0, s1, s2, s3 float64
	switch kind {
	case args.MSE:
		for len(x) >= 4 && len(y) >= 4 {
			x4, y4 := x[:4:4], y[:4:4]
			x, y = x[4:], y[4:]
			s0, s1, s2, s3 = s0+sq(x4[0], y4[0]), s1+sq(x4[1], y4[1]), s2+sq(x4[2], y4[2]), s3+sq(x4[3], y4[3])
		}
	case args.L1:
		for len(x) >= 4 && len(y) >= 4 {
			x4, y4 := x[:4:4], y[:4:4]
			x, y = x[4:], y[4:]
			s0, s1, s2, s3 = s0+absd(x4[0], y4[0]), s1+absd(x4[1], y4[1]), s2+absd(x4[2], y4[2]), s3+absd(x4[3], y4[3])
		}
	}
	// The rest (and Huber and SmoothL1, whose terms cost more than a sum).
	var e, g [regBlock]float64
	for len(x) > 0 {
		m := min(len(x), regBlock)
		eb := e[:m]
		regTerms(kind, x[:m], y[:m], eb, g[:m], p)
		x, y = x[m:], y[m:]
		for len(eb) >= 2 {
			s0, s1 = s0+eb[0], s1+eb[1]
			eb = eb[2:]
		}
		for _, v := range eb {
			s2 += v
		}
	}
	return (s0 + s1) + (s2 + s3)
}

func sq[T args.Float](x, y T) float64   { d := float64(x) - float64(y); return d * d }
func absd[T args.Float](x, y T) float64 { return math.Abs(float64(x) - float64(y)) }

// mseGrad is the unweighted MSE with its gradient g = c·(x − y), c the
// scale times 2; g may be x or y itself.
func mseGrad[T args.Float](x, y, g []T, c float64) float64 {
	var s0, s1, s2, s3 float64
	for len(x) >= 4 && len(y) >= 4 && len(g) >= 4 {
		x4, y4, g4 := x[:4:4], y[:4:4], g[:4:4]
		x, y, g = x[4:], y[4:], g[4:]
		d0, d1 := float64(x4[0])-float64(y4[0]), float64(x4[1])-float64(y4[1])
		d2, d3 := float64(x4[2])-float64(y4[2]), float64(x4[3])-float64(y4[3])
		s0, s1, s2, s3 = s0+d0*d0, s1+d1*d1, s2+d2*d2, s3+d3*d3
		g4[0], g4[1], g4[2], g4[3] = T(c*d0), T(c*d1), T(c*d2), T(c*d3)
	}
	y, g = y[:len(x)], g[:len(x)]
	for i, xv := range x {
		d := float64(xv) - float64(y[i])
		s0 += d * d
		g[i] = T(c * d)
	}
	return (s0 + s1) + (s2 + s3)
}

// mseGradWeighted is the weighted MSE with its gradient g = 2·(x − y)·(w·scale);
// g may be x or y itself. The factor w·scale is formed first where it is a
// normal number (or w is 0), else through scaled. For float32 weights
// (at most 3.4e38, at least 1.4e-45 when not 0) a scale within
// [2⁻⁸⁷⁴, 2⁸⁹⁵] makes every factor normal, and the loop has no check.
func mseGradWeighted[T args.Float](x, y, w, g []T, scale float64) float64 {
	var s0, s1 float64
	var z T
	if _, f32 := any(z).(float32); f32 && scale >= 0x1p-874 && scale <= 0x1p895 {
		var s2, s3 float64
		for len(x) >= 4 && len(y) >= 4 && len(w) >= 4 && len(g) >= 4 {
			x4, y4, w4, g4 := x[:4:4], y[:4:4], w[:4:4], g[:4:4]
			x, y, w, g = x[4:], y[4:], w[4:], g[4:]
			d0, d1 := float64(x4[0])-float64(y4[0]), float64(x4[1])-float64(y4[1])
			d2, d3 := float64(x4[2])-float64(y4[2]), float64(x4[3])-float64(y4[3])
			w0, w1, w2, w3 := float64(w4[0]), float64(w4[1]), float64(w4[2]), float64(w4[3])
			g4[0], g4[1] = T((2*d0)*(w0*scale)), T((2*d1)*(w1*scale))
			g4[2], g4[3] = T((2*d2)*(w2*scale)), T((2*d3)*(w3*scale))
			s0, s1, s2, s3 = s0+d0*d0*w0, s1+d1*d1*w1, s2+d2*d2*w2, s3+d3*d3*w3
		}
		s0, s1 = s0+s2, s1+s3
	}
	y, w, g = y[:len(x)], w[:len(x)], g[:len(x)]
	for i, xv := range x {
		d := float64(xv) - float64(y[i])
		wi := float64(w[i])
		g[i] = T(weightedGrad(2*d, wi, scale))
		s0 += d * d * wi
	}
	return s0 + s1
}

// weightedGrad is g·(w·scale), through scaled where w·scale is not a
// normal number (and w is not 0).
func weightedGrad(g, w, scale float64) float64 {
	if t := w * scale; (t >= 0x1p-1022 && t <= math.MaxFloat64) || w == 0 {
		return g * t
	}
	return scaled(g, w, scale)
}

// regTerms writes the loss e and derivative g of every residual x − y,
// one loop per kind.
func regTerms[T args.Float](kind args.RegressionKind, x, y []T, e, g []float64, p float64) {
	y, e, g = y[:len(x)], e[:len(x)], g[:len(x)]
	switch kind {
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
}

// regOut weights a block's losses e and gradients g, writes them where
// asked (w, grad and loss are nil or as long as e) and returns the
// weighted losses' sum.
func regOut[T args.Float](e, g []float64, w, grad, loss []T, scale float64) float64 {
	g = g[:len(e)]
	if len(w) == len(e) && len(grad) == len(e) && loss == nil {
		return regOutWeighted(e, g, w, grad, scale)
	}
	var sum float64
	for i := range e {
		wi := 1.0
		if len(w) == len(e) {
			wi = float64(w[i])
			e[i] *= wi
		}
		if len(loss) == len(e) {
			loss[i] = T(e[i])
		}
		if len(grad) == len(e) {
			grad[i] = T(scaled(g[i], wi, scale))
		}
		sum += e[i]
	}
	return sum
}

// regOutWeighted is regOut for the common weighted call (a gradient, no
// per-element losses): the factor w·scale inline where it is a normal
// number or w is 0 (scaled splits the product otherwise), four partial sums.
func regOutWeighted[T args.Float](e, g []float64, w, grad []T, scale float64) float64 {
	var s0, s1 float64
	g, w, grad = g[:len(e)], w[:len(e)], grad[:len(e)]
	for i, ev := range e {
		wi := float64(w[i])
		t := wi * scale
		gv := g[i] * t
		if !(t >= 0x1p-1022 && t <= math.MaxFloat64) && wi != 0 {
			gv = scaled(g[i], wi, scale)
		}
		grad[i] = T(gv)
		if i&1 == 0 {
			s0 += ev * wi
		} else {
			s1 += ev * wi
		}
	}
	return s0 + s1
}

// huber is ½d² inside δ and δ·(|d| − ½δ) outside, with its derivative
// d clamped to [−δ, δ]: both are c·(|d| − ½c) with c = min(|d|, δ).
func huber(d, delta float64) (e, g float64) {
	ad := math.Abs(d)
	c := min(ad, delta)
	return c * (ad - 0.5*c), max(-delta, min(d, delta))
}

// smoothL1 is ½d²/β inside β and |d| − ½β outside, with its derivative
// d/β clamped to [−1, 1]: both are (c/β)·(|d| − ½c) with c = min(|d|, β).
// c/β ≤ 1 comes first, so that nothing overflows (d·d does for
// |d| > 1.3e154 < β) or passes through a subnormal needlessly.
func smoothL1(d, beta float64) (e, g float64) {
	ad := math.Abs(d)
	c := min(ad, beta)
	return (c / beta) * (ad - 0.5*c), max(-1, min(d/beta, 1))
}
