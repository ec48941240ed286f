package reference

import (
	"math"
	"slices"

	"github.com/lossfuse/lossfuse/kernels"
)

// setScale fixes the mean's denominator and the gradient's factor before
// the rows are computed, as the kernels do.
func (r *Result) setScale(red kernels.Reduction, empty kernels.EmptyMean, norm float64) {
	r.red, r.empty = red, empty
	if red != kernels.Mean {
		r.Scale = 1
		return
	}
	r.Norm = norm
	if norm == 0 && empty == kernels.EmptyMeanZero {
		r.Scale = 0
		return
	}
	if norm == 0 {
		// A mean over a zero denominator is NaN and so is the gradient of
		// every counted item (PyTorch: 0/0 and x/0 summed, then NaN·0 in the
		// backward); ignored rows keep their exact 0.
		r.Scale = math.NaN()
		return
	}
	r.Scale = 1 / norm
	r.gradLoose = math.IsInf(r.Scale, 0)
}

// finish reduces the per-item losses into Loss and bounds its error: the
// items' own errors, their accumulation (in T for at most BlockT terms, then
// in float64), and the final rounding to T.
func (r *Result) finish() {
	var s sum
	var abs, absFinite, tols float64
	var pos, neg, inf bool // finite items of either sign, infinite items
	for i, v := range r.Items {
		s.add(v)
		abs += math.Abs(v)
		tols += r.ItemTol[i]
		if v-v != 0 {
			inf = true
			continue
		}
		absFinite += math.Abs(v)
		pos, neg = pos || v > 0, neg || v < 0
	}
	r.Sum = s.value()
	m := float64(len(r.Items))
	acc := (r.U*math.Min(m, BlockT) + u64*m) * abs
	tol := tols + acc
	free := false
	switch {
	case r.red != kernels.Mean:
		r.Loss = r.Sum
	case r.Norm == 0 && r.empty == kernels.EmptyMeanZero:
		r.Loss, tol = 0, 0
	case r.Norm == 0:
		r.Loss, tol = math.NaN(), 0
	default:
		r.Loss = r.Sum / r.Norm
		// A finite sum whose mean overflows (Σw[y] = 3.7e-215 under a sum
		// of 1.4e176): the mean is +Inf, but where the sum's own bound
		// reaches down to a sum whose mean is finite, a kernel within the
		// contract may return that finite mean (F64). Unconstrained, as
		// where any term of a bound overflows T.
		free = math.IsInf(r.Loss, 0) && r.Sum-r.Sum == 0 && (math.Abs(r.Sum)-tol)/math.Abs(r.Norm) <= r.max
		tol /= math.Abs(r.Norm)
	}
	r.LossTol = finiteTol(r.Loss, tol+Slack*r.U*math.Abs(r.Loss))
	// Finite items of both signs (or beside an infinite one) whose
	// magnitudes add up past T's range: a backend's partial sums (in T for
	// up to BlockT terms) overflow in an order of its choosing, to either
	// infinity (or NaN beside an infinite item): unconstrained, as where
	// any term overflows T. Items of one sign overflow to that infinity:
	// rule 1 admits it where the sum itself overflows, and so does
	// partialOverflow where only a partial sum can (BlockT items whose
	// magnitudes add past T's range, under a mean that brings the total
	// back).
	if absFinite > r.max && (pos && neg || inf) {
		free = true
	}
	r.partialOverflow = absFinite > r.max && largestSum(r.Items, BlockT) > r.max
	// An unconstrained item (a backend may return any value for it,
	// ±Inf or NaN included) leaves the sum free too, also where the sum is
	// infinite (beside an infinite item, F69, or from finite items whose
	// sum overflows, F73): ±Inf plus −Inf is NaN (Distill: rows whose
	// terms overflow T).
	if tols == math.Inf(1) {
		free = true
	}
	if free {
		r.LossTol = math.Inf(1)
	}
	if r.red == kernels.Mean && r.Norm == 0 && r.empty == kernels.EmptyMeanZero {
		r.LossTol = 0 // exactly 0
	}
}

// overflows reports whether a term a value is formed from exceeds the
// largest finite T: a backend computing in T cannot form the value, which
// the contract then leaves unconstrained (a T kernel may return ±Inf or,
// after 0·∞, NaN where the float64 reference is finite).
func (r *Result) overflows(terms ...float64) bool {
	for _, t := range terms {
		if t > r.max && !math.IsInf(t, 1) {
			return true
		}
	}
	return false
}

// largestSum is the sum of the n largest finite magnitudes in items: the
// largest partial sum of at most n of them.
func largestSum(items []float64, n int) float64 {
	mags := make([]float64, 0, len(items))
	for _, v := range items {
		if v-v == 0 {
			mags = append(mags, math.Abs(v))
		}
	}
	slices.Sort(mags)
	var s float64
	for _, v := range mags[max(0, len(mags)-n):] {
		s += v
	}
	return s
}
