package reference

import "math"

// sum is a Neumaier (improved Kahan) compensated sum.
type sum struct{ s, c float64 }

func (a *sum) add(v float64) {
	t := a.s + v
	if math.Abs(a.s) >= math.Abs(v) {
		a.c += (a.s - t) + v
	} else {
		a.c += (v - t) + a.s
	}
	a.s = t
}

func (a *sum) value() float64 {
	if math.IsInf(a.s, 0) || math.IsNaN(a.s) {
		return a.s // the compensation of an infinite sum is NaN, not meaningful
	}
	return a.s + a.c
}

// sigmoid is 1/(1+e^−x), evaluated on the side where the exponential cannot
// overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is log(1+eˣ) = max(x, 0) + log1p(e^−|x|).
func softplus(x float64) float64 {
	if math.IsNaN(x) {
		return x
	}
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

// mul0 is a·b except that a zero coefficient times an infinity is 0: the
// term is absent, not 0·∞ (BCE's y·softplus(−x) at y = 0, x = −∞). A NaN
// still propagates.
func mul0(a, b float64) float64 {
	if a == 0 && math.IsInf(b, 0) {
		return 0
	}
	return a * b
}

// rowKind classifies a row of (capped) logits for the log-sum-exp.
type rowKind uint8

const (
	rowFinite  rowKind = iota // finite maximum: every quantity is well defined
	rowNaN                    // a NaN: everything NaN
	rowPosInf                 // a +Inf and no NaN: lse = +Inf, the rest NaN (as PyTorch)
	rowNegInfs                // every element −Inf: lse = −Inf, the rest NaN (as PyTorch)
)

// lseRow is the two-pass log-sum-exp of z: the maximum m first, then
// s = Σ exp(z_j − m) with a compensated sum; lse = m + log s, with log s
// formed as log1p(s − 1) (the maximum's term left out of the sum).
type lseRow struct {
	kind rowKind
	m    float64 // the maximum (finite rows)
	logS float64 // log Σ exp(z_j − m), in [0, log K]
	lse  float64
}

func logSumExp(z []float64) lseRow {
	m := math.Inf(-1)
	posInf := false
	for _, v := range z {
		if math.IsNaN(v) {
			return lseRow{kind: rowNaN, lse: math.NaN()}
		}
		if math.IsInf(v, 1) {
			posInf = true
		}
		m = math.Max(m, v)
	}
	switch {
	case posInf:
		return lseRow{kind: rowPosInf, lse: math.Inf(1)}
	case math.IsInf(m, -1):
		return lseRow{kind: rowNegInfs, lse: math.Inf(-1)}
	}
	// log Σ exp(z_j − m) as log1p of the sum without the maximum's own 1:
	// where one logit dominates, lse − m (and −log p of that class) is
	// tiny but not 0, which an infinite coefficient must see (∞·ε is +Inf,
	// ∞·0 NaN).
	var s sum
	skipped := false
	for _, v := range z {
		if v == m && !skipped {
			skipped = true
			continue
		}
		s.add(math.Exp(v - m))
	}
	logS := math.Log1p(s.value())
	return lseRow{kind: rowFinite, m: m, logS: logS, lse: m + logS}
}

// logp is log softmax(z)_j of a finite row, formed as (z_j − m) − log s so
// that a large m does not cost accuracy.
func (r lseRow) logp(zj float64) float64 { return (zj - r.m) - r.logS }

// nll is c·(−log p_j) = c·((m − z_j) + log s) for a coefficient |c| ≤ 1
// or larger, formed without the overflow of m − z_j (m = MaxFloat64,
// z_j = −1e300: the difference is +Inf, c times it is not): a term that is
// finite stays finite. A zero coefficient is not special here.
func (r lseRow) nll(c, zj float64) float64 {
	v := (r.m - zj) + r.logS
	if !math.IsInf(v, 1) || math.IsInf(zj, -1) {
		return c * v
	}
	return 2 * (c * ((r.m/2 - zj/2) + r.logS/2))
}

// lseTol is the contract's bound on the error of a row's log-sum-exp: the
// maximum and the result are rounded (Slack·u·(|m|+|lse|+1)) and the sum of
// K positive terms may lose SumTerms(K)·u relative, which log turns into
// an absolute error.
func (r lseRow) lseTol(u float64, k int) float64 {
	return u * (Slack*(math.Abs(r.m)+math.Abs(r.lse)+1) + sumTerms(u, k))
}

// sumTerms is the contract's S_T(K): the relative error, in units of u,
// that a backend's sum of K positive terms in T may have. In float32 a
// partial sum holds at most B = SumBlock32 terms before it is added into
// float64, so it loses at most (B − 1)·u; the float64 level and the final
// rounding to float32 add 0.5u and a few 2⁻⁵³, so S_32(K) = min(K, B) (a
// row of up to 16 terms summed in one float32 accumulator loses (K − 1)·u).
// In float64 a sum spread over L = SumLanes64 partial sums of ⌈K/L⌉
// terms each, then added in a tree, loses at most (⌈K/L⌉ − 1 + log₂ L)·u,
// and S_64(K) = min(K, 16 + ⌈K/L⌉) = K.
func sumTerms(u float64, k int) float64 {
	if u > u64 {
		return float64(min(k, SumBlock32))
	}
	l := SumLanes64
	return float64(min(k, 16+(k+l-1)/l))
}

// prod3 is a·b·c rounded once more than the exact product, with no
// intermediate overflow or underflow: the gradient scale·w·g of a weight
// near MaxFloat64 (or a subnormal one) is finite where either pairwise
// product is not. Specials follow IEEE: 0·∞ is NaN.
func prod3(a, b, c float64) float64 {
	fa, ea := math.Frexp(a)
	fb, eb := math.Frexp(b)
	fc, ec := math.Frexp(c)
	return math.Ldexp(fa*fb*fc, ea+eb+ec)
}
