package generic

import (
	"math"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Single-grade exp, log and log1p: the same tables and float64 arithmetic
// as fastmath.go, with the polynomials cut to what a float32 result needs.
// Their relative error stays below 2⁻³⁴ (TestFastMath32), a thousandth of
// a float32 ULP, so float32 results still round the float64 value as
// before, to within that margin: the float32 kernels keep an accuracy far
// beyond the assembly backends' (which compute in float32), and the
// float64 kernels keep the full forms. They save a third of the exp's
// arithmetic and half of the log's polynomial.
//
// exp: the reduction x − n·ln2/64 takes one constant (n·(ln2/64) rounds
// to within 2⁻⁴⁴ of x's scale for |n| < 2¹⁶), and eʳ − 1 three terms
// (truncation r⁴/24 < 2⁻³⁴ for |r| ≤ ln2/128).
// log: four terms of log(1 + r) for |r| < 2⁻⁸ (truncation r⁵/5, below
// 2⁻³⁴ of r), and k·ln2 in one product.

// single reports whether T is float32, whose kernels take the single-grade
// forms. The size is a constant of each instantiation's shape, so the
// choice compiles away.
func single[T args.Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// expIntoT is expInto, in the single grade for float32 kernels.
func expIntoT[T args.Float](dst, src []float64) {
	if single[T]() {
		expInto32(dst, src)
		return
	}
	expInto(dst, src)
}

// logIntoT is logInto, in the single grade for float32 kernels.
func logIntoT[T args.Float](dst, src []float64) {
	if single[T]() {
		logInto32(dst, src)
		return
	}
	logInto(dst, src)
}

// log1pIntoT is log1pInto, in the single grade for float32 kernels.
func log1pIntoT[T args.Float](dst, src []float64) {
	if single[T]() {
		log1pInto32(dst, src)
		return
	}
	log1pInto(dst, src)
}

// expInto32 writes dst[i] = e^src[i] within 2⁻³⁴ relative (dst may be src).
func expInto32(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		if !(x > expMinFast && x < expMaxFast) {
			dst[i] = expEdge(x)
			continue
		}
		kf := x*expInvLn2 + expShift
		n := int64(math.Float64bits(kf) - math.Float64bits(expShift))
		kf -= expShift
		r := x - kf*(math.Ln2/64)
		s := r + r*r*(1.0/2+r*(1.0/6))
		t := expTab[n&63]
		dst[i] = (t + t*s) * math.Float64frombits(uint64(n>>6+1023)<<52)
	}
}

// logTail32 is k·ln2 + log cᵢ + log(1 + r) in the single grade.
func logTail32(kf, logc, r float64) float64 {
	q := r * r * ((-1.0/2 + r*(1.0/3)) + r*r*(-1.0/4))
	return (kf*math.Ln2 + logc) + (r + q)
}

// logInto32 writes dst[i] = log src[i] within 2⁻³⁴ relative (dst may be src).
func logInto32(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		if !(x >= 0x1p-1022 && x <= math.MaxFloat64) {
			dst[i] = logSub(x)
			continue
		}
		kf, logc, r, _ := logBin(x)
		dst[i] = logTail32(kf, logc, r)
	}
}

// log1pInto32 writes dst[i] = log(1 + src[i]) within 2⁻³⁴ relative (dst
// may be src); the rounding of 1 + x is recovered as in log1pFast.
func log1pInto32(dst, src []float64) {
	dst = dst[:len(src)]
	for i, x := range src {
		u := 1 + x
		if !(x > -1 && u <= math.MaxFloat64) || x == 0 {
			dst[i] = math.Log1p(x)
			continue
		}
		d := x - (u - 1)
		kf, logc, r, ds := logBin(u)
		dst[i] = logTail32(kf, logc, r) + d*ds
	}
}
