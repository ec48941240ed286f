// Package poly holds the constants of the vector exp and log used by every
// generated kernel (amd64 AVX2/AVX-512 and arm64 NEON), derived once here.
//
// exp(x) = 2^n · p(r) with n = round(x·Log2E) and the two-constant
// (Cody–Waite) reduction r = (x − n·Ln2Hi) − n·Ln2Lo, done with two fused
// multiply-adds. Ln2Hi is ln 2 rounded to float32, so n·Ln2Hi is exact for
// |n| ≤ 150 and x − n·Ln2Hi is exact; Ln2Lo carries the next 24 bits.
// |r| ≤ ln2/2 and
//
//	p(r) = 1 + r + r²·(Exp[0] + Exp[1]·r + … + Exp[4]·r⁴)
//
// is the minimax polynomial for relative error (Remez, see remez.go and
// TestDerivation): 3.1e-9 relative, far below float32 rounding, so the error
// is dominated by the float32 evaluation (measured ≤ 2 ULP, see
// kernels/amd64/ulp_test.go). Inputs are clamped to [ExpMin, ExpMax] first,
// which keeps n·Ln2 exact and makes the result overflow to +Inf above
// ln(MaxFloat32) and round to 0 below the smallest subnormal; NaN survives
// the clamp (the clamps are ordered so that x is the operand returned when
// unordered).
//
// log(x) = k·ln2 + log(1+f) with x = 2^k·m, m ∈ [√½, √2), f = m − 1 and
//
//	log(1+f) = f − f²/2 + f³·(Log[0] + Log[1]·f + … + Log[6]·f⁶)
//
// minimax for relative error on [√½−1, √2−1] (3.5e-8
// relative). log1p(e) for e ≥ 0 uses u = 1+e rounded, the log above of u,
// and the correction (e − (u−1))/u for the rounding of u.
package poly

import "math"

// Cody–Waite split of ln 2 for float32 (Ln2Hi = float32(ln 2)).
var (
	Log2E = float32(math.Log2E)
	Ln2Hi = float32(math.Ln2)
	Ln2Lo = float32(math.Ln2 - float64(float32(math.Ln2)))
)

// Clamp range of the exp argument: above ExpMax the result is +Inf, below
// ExpMin it is 0 (e^−104 is below half the smallest subnormal, 2^−150).
const (
	ExpMax = 88.8
	ExpMin = -104.0
)

// Exp are the coefficients of (e^r − 1 − r)/r² on [−ln2/2, ln2/2], lowest
// degree first, minimax for relative error of e^r (Remez degree 4).
var Exp = [5]float64{
	0.49999993451700919,
	0.16666520689846143,
	0.041668387362780147,
	0.0083687098229730146,
	0.001381461318534049,
}

// Log are the coefficients of (log(1+f) − f + f²/2)/f³ on [√½−1, √2−1],
// lowest degree first, minimax for relative error of log(1+f) (Remez
// degree 6).
var Log = [7]float64{
	0.33334039624383616,
	-0.2500077009801967,
	0.19957139761564768,
	-0.16594789722777159,
	0.15002525541546033,
	-0.1414649689696944,
	0.082621331921426192,
}

// Log1pUnit are the coefficients of (log(1+e) − e)/e² on [0, 1], lowest
// degree first, minimax for relative error of log(1+e) (Remez degree 8,
// levelled 5.1e-9): log1p(e) = e + e²·q(e) for the e = exp(−|x|) of
// softplus, 10 instructions where the reduction-based Log1p takes 24.
var Log1pUnit = [9]float64{
	-0.49999932763986948,
	0.33330511329493617,
	-0.24958587505744256,
	0.19695400936991539,
	-0.15355397400022644,
	0.10680557335567049,
	-0.057664462075020607,
	0.020204594409178434,
	-0.0033184746488730873,
}

// F32 rounds coefficients to float32, the form the float32 kernels store.
func F32(c []float64) []float32 {
	r := make([]float32, len(c))
	for i, v := range c {
		r[i] = float32(v)
	}
	return r
}

// Sqrt1_2 is the lower end of the mantissa range the log reduces to: m is
// scaled into [√½, √2) so that |f| ≤ 0.415.
var Sqrt1_2 = float32(math.Sqrt2 / 2)

// TanhSmall is where tanh switches from its polynomial to the exp form:
// for |u| < TanhSmall, tanh u = u + u³·(Tanh[0] + Tanh[1]·u² + … + Tanh[4]·u⁸)
// (minimax for relative error in s = u², Remez degree 4: 4.4e-9); above,
// tanh |u| = 1 − 2/(e^{2|u|} + 1), which no longer cancels there.
const TanhSmall = 0.625

// Tanh are the coefficients of (tanh u − u)/u³ as a polynomial in u².
var Tanh = [5]float64{
	-0.33333281942021536,
	0.13331442198483018,
	-0.053739715115582606,
	0.020639087353354801,
	-0.0057049871252528922,
}
