package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// References for the primitives' backward passes and SoftplusBeta (Out is
// dx, or dst). The formulas are PyTorch's, evaluated in float64 on the T
// inputs. Tolerances follow the contract: Slack·u per rounding step,
// InputSlack·u·|argument| for an exp/log argument, sums of K terms as the
// row kernels' sums (sumErr). A value whose intermediate term overflows T
// (which a backend computing in T cannot avoid) gets an infinite tolerance.

// sumErr bounds the error of Σ t_j over a row of k terms with Σ|t_j| = abs
// as a backend may add them: float32 lanes flushed to float64 every
// SumBlock32 terms, float64 lanes over at least SumLanes64 partial sums.
func (r *Result) sumErr(k int, abs float64) float64 {
	terms := k / SumLanes64
	if r.Dtype == "float32" {
		terms = min(k, SumBlock32)
	}
	return float64(terms+2)*r.U*abs + float64(k)*r.tiny
}

// unconstrained marks, in a row's tolerances, a value whose intermediate
// terms overflow T (it becomes +Inf once the row is done).
const unconstrained = -1

func rowsBackward[T kernels.Float](dy, saved, lse []T, n, k int, perRow bool, fill func(r *Result, i int, out, tol []float64)) (*Result, error) {
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	dyLen := nk
	if perRow {
		dyLen = n
	}
	rules := []lengthRule{need("saved", len(saved), nk), need("dy", len(dy), dyLen)}
	if perRow {
		rules = append(rules, need("lse", len(lse), n))
	}
	if err := lengths(rules...); err != nil {
		return nil, err
	}
	r := newResult[T](k)
	r.Out, r.OutTol = make([]float64, nk), make([]float64, nk)
	for i := 0; i < n; i++ {
		out, tol := r.Out[i*k:i*k+k], r.OutTol[i*k:i*k+k]
		fill(r, i, out, tol)
		for j := range tol {
			if tol[j] == unconstrained {
				tol[j] = math.Inf(1) // even where float64 overflowed too
				continue
			}
			tol[j] = finiteTol(out[j], tol[j]+Slack*r.tiny) // a non-finite value is exact
		}
	}
	return r, nil
}

// SoftmaxBackward is the reference for kernels.SoftmaxBackward: dx = y ⊙
// (dy − Σ y·dy).
func SoftmaxBackward[T kernels.Float](dy, y []T, n, k int) (*Result, error) {
	return rowsBackward(dy, y, nil, n, k, false, func(r *Result, i int, out, tol []float64) {
		ys, gs := y[i*k:i*k+k], dy[i*k:i*k+k]
		sv, abs, free := r.rowSum(k, func(j int) (float64, bool) {
			a, b := float64(ys[j]), float64(gs[j])
			return a * b, finite(a, b)
		})
		sErr := r.sumErr(k, abs)
		for j := range ys {
			yv, g := float64(ys[j]), float64(gs[j])
			d := g - sv
			out[j] = yv * d
			tol[j] = math.Abs(yv)*(sErr+Slack*r.U*(math.Abs(g)+math.Abs(sv))) + Slack*r.U*math.Abs(out[j])
			// An infinite y times a difference whose sign the sum's error
			// bound leaves open is ±Inf or NaN by the order of additions.
			if free || finite(yv, g, sv) && (math.Abs(d) > r.max || math.Abs(yv*g) > r.max || math.Abs(yv*sv) > r.max) ||
				math.IsInf(yv, 0) && finite(d) && math.Abs(d) <= sErr+Slack*r.U*math.Abs(g) {
				tol[j] = unconstrained
			}
		}
	})
}

// LogSoftmaxBackward is the reference for kernels.LogSoftmaxBackward: dx =
// dy − exp(y)·Σ dy.
func LogSoftmaxBackward[T kernels.Float](dy, y []T, n, k int) (*Result, error) {
	return rowsBackward(dy, y, nil, n, k, false, func(r *Result, i int, out, tol []float64) {
		ys, gs := y[i*k:i*k+k], dy[i*k:i*k+k]
		sv, abs, free := r.rowSum(k, func(j int) (float64, bool) { return float64(gs[j]), finite(float64(gs[j])) })
		sErr := r.sumErr(k, abs)
		for j := range ys {
			yv, g := float64(ys[j]), float64(gs[j])
			e := positive(yv, expFull(yv))
			out[j] = g - e*sv
			tol[j] = e*sErr + Slack*r.U*(math.Abs(g)+math.Abs(out[j])) + (e+r.tiny)*math.Abs(sv)*(Slack*r.U+InputSlack*r.U*math.Abs(yv))
			// exp(y) within its tolerance, or its product with the sum,
			// may overflow T: unconstrained.
			// So is an infinite e^y times a sum whose sign its error bound
			// leaves open (±Inf or NaN by the order of the additions).
			if free || r.expOverflows(yv, e, Slack*r.U+InputSlack*r.U*math.Abs(yv)) || finite(e, sv) && e*math.Abs(sv) > r.max ||
				math.IsInf(e, 1) && finite(sv) && math.Abs(sv) <= sErr {
				tol[j] = unconstrained
			}
		}
	})
}

// rowSum is Σ_j term(j) over a row as exact arithmetic defines it: the
// compensated sum of the terms formed from finite inputs (fin), or the
// infinity (NaN for both signs, or a NaN term) the other terms force. abs
// is Σ|terms from finite inputs|; free is set when that passes T's range
// (a product of finite inputs may even pass float64's), where a backend's
// partial sums in T overflow in an order of its choosing (to either
// infinity, or NaN beside an infinite term): the row is then unconstrained.
func (r *Result) rowSum(k int, term func(j int) (v float64, fin bool)) (sv, abs float64, free bool) {
	var s, a sum
	posInf, negInf, nan := false, false, false
	for j := range k {
		v, fin := term(j)
		switch {
		case fin:
			s.add(v)
			a.add(math.Abs(v))
		case math.IsNaN(v):
			nan = true
		case math.IsInf(v, 1):
			posInf = true
		case math.IsInf(v, -1):
			negInf = true
		}
	}
	abs = a.value()
	switch {
	case nan || posInf && negInf:
		sv = math.NaN()
	case posInf:
		sv = math.Inf(1)
	case negInf:
		sv = math.Inf(-1)
	default:
		sv = s.value()
	}
	return sv, abs, abs > r.max // +Inf when float64 overflowed too
}

// finite reports whether every value is finite.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if v-v != 0 {
			return false
		}
	}
	return true
}

// LogSumExpBackward is the reference for kernels.LogSumExpBackward: dx_ij =
// dy_i·exp(x_ij − lse_i), the difference rounded to T as a backend forms it.
func LogSumExpBackward[T kernels.Float](dy, x, lse []T, n, k int) (*Result, error) {
	return rowsBackward(dy, x, lse, n, k, true, func(r *Result, i int, out, tol []float64) {
		xs, g, l := x[i*k:i*k+k], float64(dy[i]), lse[i]
		for j, xv := range xs {
			d := float64(xv - l)
			e := positive(d, expFull(d))
			out[j] = g * e
			tol[j] = (math.Abs(out[j]) + math.Abs(g)*r.tiny) * (Slack*r.U + InputSlack*r.U*math.Abs(d))
			if r.overflows(math.Abs(d)) || r.expOverflows(d, e, Slack*r.U+InputSlack*r.U*math.Abs(d)) {
				tol[j] = unconstrained
			}
		}
	})
}

// elementwiseBackward is dx = dy·f(saved) with f's tolerance ftol (absolute,
// at f's value) and free reporting an intermediate overflow.
func elementwiseBackward[T kernels.Float](dy, saved []T, f func(r *Result, v float64) (fv, ftol float64, free bool)) (*Result, error) {
	if err := lengths(need("dy", len(dy), len(saved))); err != nil {
		return nil, err
	}
	r := newResult[T](1)
	r.Out, r.OutTol = make([]float64, len(saved)), make([]float64, len(saved))
	for i, sv := range saved {
		g := float64(dy[i])
		fv, ftol, free := f(r, float64(sv))
		out := g * fv
		r.Out[i] = out
		// f is formed in T, where below the smallest normal its spacing is
		// tiny·2u, which dy then scales (σ(−x) for x near 100 in float32).
		t := math.Abs(g)*(ftol+Slack*r.U*r.tiny) + Slack*r.U*math.Abs(out) + Slack*r.tiny
		t = finiteTol(out, t) // a non-finite value (dy = ±Inf, say) is exact
		if free || r.overflows(math.Abs(out)) {
			t = math.Inf(1)
		}
		r.OutTol[i] = t
	}
	return r, nil
}

// SigmoidBackward is the reference for kernels.SigmoidBackward: dx =
// dy·y·(1 − y). A backend may form y·(1 − y) or dy·(1 − y) first: either
// overflowing T leaves the element unconstrained.
func SigmoidBackward[T kernels.Float](dy, y []T) (*Result, error) {
	r, err := elementwiseBackward(dy, y, func(r *Result, v float64) (float64, float64, bool) {
		f := v * (1 - v)
		return f, Slack * r.U * math.Abs(f), r.overflows(math.Abs(f))
	})
	if err != nil {
		return nil, err
	}
	for i := range r.Out {
		if r.overflows(math.Abs(float64(dy[i]) * (1 - float64(y[i])))) {
			r.OutTol[i] = math.Inf(1)
		}
	}
	return r, nil
}

// LogSigmoidBackward is the reference for kernels.LogSigmoidBackward: dx =
// dy·σ(−x).
func LogSigmoidBackward[T kernels.Float](dy, x []T) (*Result, error) {
	return sigmoidGrad(dy, x, -1, T(math.Inf(1)))
}

// SoftplusBackward is the reference for kernels.SoftplusBackward: dx =
// dy·σ(x).
func SoftplusBackward[T kernels.Float](dy, x []T) (*Result, error) {
	return sigmoidGrad(dy, x, 1, T(math.Inf(1)))
}

// SoftplusBetaBackward is the reference for kernels.SoftplusBetaBackward:
// dx = dy·σ(βx), dy where βx > threshold (βx rounded to T).
func SoftplusBetaBackward[T kernels.Float](dy, x []T, beta, threshold T) (*Result, error) {
	return sigmoidGrad(dy, x, beta, threshold)
}

func sigmoidGrad[T kernels.Float](dy, x []T, beta, threshold T) (*Result, error) {
	return elementwiseBackward(dy, x, func(r *Result, v float64) (float64, float64, bool) {
		t := T(v) * beta
		if t > threshold {
			return 1, 0, false
		}
		tv := float64(t)
		s := positive(tv, sigmoid(tv))
		return s, sigmoidPert(r, tv, s), false
	})
}

// sigmoidPert is σ's change under the contract's perturbation of its
// argument, plus a rounding step.
func sigmoidPert(r *Result, t, s float64) float64 {
	p := Slack * r.U * s
	if !math.IsNaN(t) && !math.IsInf(t, 0) && t != 0 {
		for _, sg := range []float64{-1, 1} {
			p = maxDiff(p, sigmoid(t*(1+sg*InputSlack*r.U)), s)
		}
	}
	return p
}

// SoftplusBeta is the reference for kernels.SoftplusBeta: (1/β)·log(1 +
// exp(βx)), x where βx > threshold (βx rounded to T, as the comparison).
func SoftplusBeta[T kernels.Float](x []T, beta, threshold T) (*Result, error) {
	r := newResult[T](1)
	r.Out, r.OutTol = make([]float64, len(x)), make([]float64, len(x))
	b := float64(beta)
	f := func(t float64) float64 { return softplus(t) / b }
	for i, xv := range x {
		t := xv * beta
		if t > threshold {
			r.Out[i] = float64(xv)
			continue
		}
		tv := float64(t)
		y := f(tv)
		var pert float64
		if !math.IsNaN(tv) && !math.IsInf(tv, 0) && tv != 0 {
			for _, s := range []float64{-1, 1} {
				pert = maxDiff(pert, f(tv*(1+s*InputSlack*r.U)), y)
			}
		}
		r.Out[i] = y
		r.OutTol[i] = finiteTol(y, Slack*r.U*math.Abs(y)+pert+Slack*r.tiny/math.Min(1, math.Abs(b)))
	}
	return r, nil
}

// expFull is eˣ, finite up to the true overflow threshold: math.Exp returns
// +Inf from 709.78271289338397 on, a hair below where e^x passes
// MaxFloat64, and a backend's exp may not.
func expFull(x float64) float64 {
	if r := math.Exp(x); !math.IsInf(r, 1) || math.IsInf(x, 1) {
		return r
	}
	return math.Exp(x-1) * math.E
}

// expOverflows reports whether e = exp(t) of a finite t, off by the
// relative tolerance rel, may exceed T's largest finite value (e may be
// +Inf: the exact value is finite, a backend's e may be either).
func (r *Result) expOverflows(t, e, rel float64) bool {
	return finite(t) && e > r.max/(1+rel)
}

// positive is f(t) for an f (exp, σ) that is positive at every finite t
// (and +Inf): where float64 underflows to 0 it is the smallest subnormal
// instead, so that dy = ±Inf times it is ±Inf, as in exact arithmetic, not
// NaN.
func positive(t, v float64) float64 {
	if v == 0 && t >= -math.MaxFloat64 {
		return math.SmallestNonzeroFloat64
	}
	return v
}
