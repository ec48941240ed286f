package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// RowStats is pass 1 of the row kernels (args.RowPass) in float64: the
// row's true maximum, log Σ exp(z − m) and the weighted sum Σ w·(z − m).
func RowStats[T args.Float](a args.RowPass[T]) {
	args.Took("generic/shard-pass1")
	k, capv := a.K, float64(a.SoftCap)
	var w []T
	if a.Weight != nil {
		w = a.Weight[:k]
	}
	for i := range a.N {
		m, s, d := RowStatsExact(a.X[i*k:i*k+k], w, capv, a.Dot != nil, a.DotScale)
		a.M[i], a.LS[i] = T(m), T(math.Log(s))
		if a.Dot != nil {
			a.Dot[i] = d
		}
	}
}

// RowStatsExact returns a row's maximum m of the (capped) logits z, s =
// Σ exp(z − m) and, when dot is set, Σ (scale·w)·(z − m) (w nil: 1; w = 0
// terms count 0; scaled term by term, so that huge weights overflow only
// where the scaled sum does), with IEEE meaning where m is not finite: a NaN anywhere gives
// NaN for all three; m = +Inf gives s = the count of +Inf logits (so that
// m + log s = +Inf); a row of −Inf gives s = 0 and a dot of 0.
func RowStatsExact[T args.Float](x, w []T, capv float64, dot bool, scale float64) (m, s, d float64) {
	if capv == 0 {
		var argmax int
		m, argmax = rowMax(x)
		if m-m == 0 && !dot { // a finite maximum: the exponentials in blocks
			return m, 1 + sumExpRow(x, m, argmax, nil), 0
		}
	} else {
		m = math.Inf(-1)
		for _, v := range x {
			m = max(m, capped(float64(v), capv))
		}
	}
	switch {
	case m != m: // max keeps a NaN
		return m, m, m
	case math.IsInf(m, 1):
		for _, v := range x {
			if math.IsInf(float64(v), 1) {
				s++
			}
		}
		return m, s, math.NaN()
	case math.IsInf(m, -1):
		return m, 0, 0
	}
	if dot && w != nil {
		w = w[:len(x)] // so that has(w, j) below is w != nil
	}
	for j, v := range x {
		z := capped(float64(v), capv) - m
		s += math.Exp(z)
		if !dot {
			continue
		}
		sw := scale
		if has(w, j) {
			sw *= float64(w[j])
		}
		if sw != 0 { // a weight that is 0 (or scales to 0) drops its term, −Inf logit included
			d += sw * z
		}
	}
	return m, s, d
}

// RowDot is RowStatsExact's dot for a row whose maximum m is finite:
// Σ (scale·w_j)·(z_j − m) scaled term by term. The vector backends scale
// their sum instead (fewer multiplications) and call this for a row where
// that sum is not finite, so that a weight times a logit beyond the
// largest float (w = 2.7e154 beside z − m = −2.7e154, ε/K = 0.05: the row's
// dot is −3.7e307) overflows only where the scaled sum does.
func RowDot[T args.Float](x, w []T, capv, m, scale float64) float64 {
	if w != nil {
		w = w[:len(x)] // so that has(w, j) below is w != nil
	}
	var d float64
	for j, v := range x {
		sw := scale
		if has(w, j) {
			sw *= float64(w[j])
		}
		if sw != 0 { // as in RowStatsExact
			d += sw * (capped(float64(v), capv) - m)
		}
	}
	return d
}

// RowExp is pass 2 of the row kernels (args.RowPass) in float64.
func RowExp[T args.Float](a args.RowPass[T]) {
	args.Took("generic/shard-pass2")
	k := a.K
	var w []T
	if a.Weight != nil {
		w = a.Weight[:k]
	}
	for i := range a.N {
		ExpAffineRow(a.X[i*k:i*k+k], a.Dst[i*k:i*k+k], w, float64(a.M[i]), float64(a.LS[i]),
			float64(a.Coef[i]), float64(a.Bias[i]), 1, float64(a.SoftCap))
	}
}

// ExpAffineRow writes dst_j = (coef·exp((z_j − m) − ls) − scale·(bias·w_j))·∂z_j/∂x_j
// for one row in float64 (w nil: 1); dst may be x. The shard pass calls it
// for a row whose factors coef or scale·bias fall outside the element
// type's normal range; it then keeps the scale apart from bias·w_j, as the
// reference forms scale·c_j (a subnormal scale·bias keeps too few bits).
func ExpAffineRow[T args.Float](x, dst, w []T, m, ls, coef, bias, scale, capv float64) {
	dst = dst[:len(x)]
	if w != nil {
		w = w[:len(x)]
	}
	if capv == 0 { // the exponentials in blocks, as sumExpRow
		var buf [sumExpBlock]float64
		for lo := 0; lo < len(x); lo += sumExpBlock {
			xs := x[lo:min(lo+sumExpBlock, len(x))]
			e, d := buf[:len(xs)], dst[lo:][:len(xs)]
			for j, v := range xs {
				e[j] = (float64(v) - m) - ls
			}
			expIntoT[T](e, e)
			if w == nil {
				for j, v := range e {
					d[j] = T(coef*v - scale*bias)
				}
				continue
			}
			ws := w[lo:][:len(xs)]
			for j, v := range e {
				d[j] = T(coef*v - scale*(bias*float64(ws[j])))
			}
		}
		return
	}
	for j, v := range x {
		xv := float64(v)
		z := capped(xv, capv)
		b := bias
		if has(w, j) {
			b *= float64(w[j])
		}
		g := coef*math.Exp((z-m)-ls) - scale*b
		if capv > 0 {
			g *= sech2(xv / capv)
		}
		dst[j] = T(g)
	}
}
