package poly

import (
	"math"
	"math/big"
)

// float64 constants. The float32 constants above come from a Remez exchange
// run in float64; for float64 targets (relative error ≲ 2⁻⁵⁸) that exchange
// drowns in its own rounding noise, so the float64 polynomials are
// truncated Taylor series whose remainder is bounded in closed form
// (TestTruncation64): two or three terms longer than minimax would need,
// but exactly reproducible.
//
// exp(x) = 2^n · p(r), n = round(x·log2 e), r = (x − n·Ln2Hi64) − n·Ln2Lo64
// (|r| ≤ ln2/2), with
//
//	p(r) = 1 + r + r²·(Exp64[0] + Exp64[1]·r + … + Exp64[11]·r¹¹),  Exp64[i] = 1/(i+2)!
//
// a degree-13 Taylor polynomial whose remainder is below
// (ln2/2)¹⁴/14!·e^(ln2/2)/e^(−ln2/2) ≈ 8.3e-18 relative (0.07 ULP).
// Ln2Hi64 is ln 2 with its low 21 bits cleared (fdlibm's split) so that
// n·Ln2Hi64 is exact for |n| < 2^21 and x − n·Ln2Hi64 is exact.
//
// log(x) = k·ln2 + log(1+f), x = 2^k·m, m ∈ [√½, √2), f = m − 1,
// s = f/(2+f) (|s| ≤ 0.1716, z = s² ≤ 0.02944), and
//
//	log(1+f) = 2·atanh s = f − (f²/2 − s·(f²/2 + R)),  R = z·(Log64[0] + Log64[1]·z + … + Log64[9]·z⁹)
//
// with Log64[k] = 2/(2k+3), the atanh series to s²¹ (fdlibm's arrangement,
// which keeps the rounding of the small terms away from f). The remainder
// is below z¹¹/23/(1−z) ≈ 6.5e-19 relative to 2s (0.006 ULP).
var (
	Log2E64 = math.Log2E
	Ln2Hi64 = math.Float64frombits(math.Float64bits(math.Ln2) &^ (1<<21 - 1))
	// Ln2Lo64 is ln 2 − Ln2Hi64 from ln 2 to 110 digits: math.Ln2 − Ln2Hi64
	// would drop the bits of ln 2 beyond float64, an error of n·2⁻⁵⁴ in r
	// (4e-14 relative at n = 1024).
	Ln2Lo64 = func() float64 {
		l, _, err := big.ParseFloat(ln2Digits, 10, 400, big.ToNearestEven)
		if err != nil {
			panic(err)
		}
		f, _ := l.Sub(l, big.NewFloat(Ln2Hi64)).Float64()
		return f
	}()
)

const ln2Digits = "0.69314718055994530941723212145817656807550013436025525412068000949339362196969471560586332699641868754200148102"

// Clamp range of the float64 exp argument: above ExpMax64 the result is
// +Inf (ln MaxFloat64 = 709.78), below ExpMin64 it rounds to 0
// (e^−745.2 is below half the smallest subnormal, 2^−1075 = e^−745.13).
const (
	ExpMax64 = 709.8
	ExpMin64 = -745.2
)

// Exp64 are the coefficients of (e^r − 1 − r)/r², 1/(i+2)!.
var Exp64 = func() (c [12]float64) {
	f := 1.0
	for i := range c {
		f *= float64(i + 2)
		c[i] = 1 / f
	}
	return c
}()

// Log64 are the coefficients of (2·atanh s − 2s)/s³ as a polynomial in s², 2/(2k+3).
var Log64 = func() (c [10]float64) {
	for k := range c {
		c[k] = 2 / float64(2*k+3)
	}
	return c
}()

// Sqrt1_2Bits64 is √½ as float64 bits: the log scales m into [√½, √2).
const Sqrt1_2Bits64 = 0x3fe6a09e667f3bcd
