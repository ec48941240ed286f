package reference

import "math"

// logSub is math.Log, correct for subnormal x too: Go's amd64 math.Log
// (assembly) reads a subnormal as if it were 2^−1022·(1.m), so that
// log(5e-324) = −709.09 instead of −744.44 (golang/go#56600); the pure-Go
// log of other architectures is right. x is scaled into the normals first.
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

// ln 2 in three parts: ln2Hi has its low 21 bits clear (n·ln2Hi is exact
// for |n| < 2^21), ln2Lo the rest of math.Ln2 and the next digits of ln 2.
var (
	ln2Hi = math.Float64frombits(math.Float64bits(math.Ln2) &^ (1<<21 - 1))
	ln2Lo = (math.Ln2 - ln2Hi) + 2.319046813846299558e-17
)

// expScaled is e^t·2^k for a t whose e^t alone underflows (k ≥ 0 an
// integer, t + k·ln 2 in range): the exponent is raised by k·ln 2 with
// ln 2 split, so that only t + k·ln2Hi rounds.
func expScaled(t float64, k int) float64 {
	return math.Exp((t + float64(k)*ln2Hi) + float64(k)*ln2Lo)
}
