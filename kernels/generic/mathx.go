package generic

import "math"

// softplus returns log(1+eˣ) without overflow: max(x,0) + log1p(e^−|x|).
func softplus(x float64) float64 {
	return max(x, 0) + log1pFast(expFast(-math.Abs(x)))
}

// sigmoid returns 1/(1+e^−x) without overflow, from e^−|x| on both sides.
func sigmoid(x float64) float64 {
	e := expFast(-math.Abs(x))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}

// sigmoids returns σ(x) and σ(−x) from e = e^−|x|. The sign of x is
// random in a loss, so the two are swapped as bits (a conditional move),
// not by a branch.
func sigmoids(x, e float64) (sp, sm float64) {
	a := 1 / (1 + e) // σ(|x|)
	pa, pb := math.Float64bits(a), math.Float64bits(e*a)
	if x < 0 {
		pa, pb = pb, pa
	}
	return math.Float64frombits(pa), math.Float64frombits(pb)
}

// powGamma is b^γ for b ≥ 0, with the focal exponents users pick most
// (0, 1, 2) as products.
func powGamma(b, gam float64) float64 {
	switch gam {
	case 0:
		return 1
	case 1:
		return b
	case 2:
		return b * b
	}
	return powSub(b, gam)
}

// onlineStep folds z into a running maximum m and r = Σ exp(zᵢ − m) − 1,
// the sum of exponentials without the maximum's own 1 (online softmax). The
// sum is kept without that 1 so that lse = m + log1p(r) and the target's
// p − 1 = expm1(z − lse) keep their relative accuracy when one logit
// dominates (a loss of e^−40 must not round to 0). Start from m = −inf,
// r = −1 (an empty sum); a −inf element adds nothing and must not form
// −inf − (−inf).
func onlineStep(m, r, z float64) (float64, float64) {
	switch {
	case z > m:
		return z, (r + 1) * math.Exp(m-z)
	case z == math.Inf(-1):
	case z == m: // exp(0), and +Inf twice is +Inf, not exp(inf − inf)
		r++
	default:
		r += math.Exp(z - m)
	}
	return m, r
}

// sign is −1, 0 or 1, and NaN for NaN. It selects bits rather than
// branching on the sign, which is random for residuals.
func sign(d float64) float64 {
	b := math.Float64bits(d)
	var s uint64 // +0
	if b<<1 != 0 {
		s = b&(1<<63) | 0x3FF0000000000000 // ±1
	}
	if d != d {
		return d
	}
	return math.Float64frombits(s)
}

// scaled is the gradient g·w·scale: g·(w·scale) where w·scale is a
// positive normal number (always, but for extreme weights), and otherwise
// from the factors' mantissas and exponents, so that a weight near
// MaxFloat64 or a subnormal one does not overflow or flush an
// intermediate product whose final value is finite.
func scaled(g, w, scale float64) float64 {
	if t := w * scale; t >= 0x1p-1022 && t <= math.MaxFloat64 {
		return g * t
	}
	fg, eg := math.Frexp(g)
	fw, ew := math.Frexp(w)
	fs, es := math.Frexp(scale)
	return math.Ldexp(fg*fw*fs, eg+ew+es)
}

// logSub is math.Log, correct for subnormal x too: Go's amd64 math.Log
// (assembly) reads a subnormal as if it were 2^−1022·(1.m), so that
// log(5e-324) = −709.09 instead of −744.44 (golang/go#56600). x is scaled
// into the normals first.
func logSub(x float64) float64 {
	if x > 0 && x < 0x1p-1022 {
		return math.Log(x*0x1p54) - 54*math.Ln2
	}
	return math.Log(x)
}

// powSub is math.Pow(b, y) for b ≥ 0, correct for subnormal b too
// (math.Pow takes a fractional power through math.Log).
func powSub(b, y float64) float64 {
	if b > 0 && b < 0x1p-1022 {
		return math.Pow(b*0x1p54, y) * math.Pow(2, -54*y)
	}
	return math.Pow(b, y)
}

// ln 2 in three parts, as exp's Cody–Waite reduction: ln2Hi has its low 21
// bits clear, ln2Lo holds the rest of math.Ln2 and ln 2's next digits.
var (
	ln2Hi = math.Float64frombits(math.Float64bits(math.Ln2) &^ (1<<21 - 1))
	ln2Lo = (math.Ln2 - ln2Hi) + 2.319046813846299558e-17
)

// expScaled is e^t·2^k, for a t whose e^t alone underflows.
func expScaled(t float64, k int) float64 {
	return math.Exp((t + float64(k)*ln2Hi) + float64(k)*ln2Lo)
}
