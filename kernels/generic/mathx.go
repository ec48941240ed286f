package generic

import "math"

// softplus returns log(1+eˣ) without overflow: max(x,0) + log1p(e^−|x|).
func softplus(x float64) float64 {
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

// sigmoid returns 1/(1+e^−x) without overflow, from e^−|x| on both sides.
func sigmoid(x float64) float64 {
	e := math.Exp(-math.Abs(x))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}

// onlineStep folds z into a running maximum m and sum s = Σ exp(zᵢ − m),
// rescaling s whenever the maximum grows (online softmax). A −inf element
// adds nothing; it must not form −inf − (−inf).
func onlineStep(m, s, z float64) (float64, float64) {
	if z > m {
		return z, s*math.Exp(m-z) + 1
	}
	if z != math.Inf(-1) {
		s += math.Exp(z - m)
	}
	return m, s
}

// sign is −1, 0 or 1, and NaN for NaN.
func sign(d float64) float64 {
	switch {
	case d > 0:
		return 1
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	return d
}
