// Package generic holds the pure-Go kernels: the fallback on every platform,
// the only backend under the purego build tag, and the baseline the assembly
// backends are measured against.
//
// The kernels are generic over float32 and float64. They compute in float64
// internally, so float32 results are rounded once at the end. Go has no
// float32 exp or log, and the math package's are calls the loop cannot
// overlap (math.Log1p is slow pure Go): the kernels use table-driven exp,
// log and log1p of their own (fastmath.go, within 2–3 ULP of the math
// package in float64) in loop form over blocks of 64 values, so that the
// CPU runs several elements' dependent chains at once. Loops reslice their
// inputs up front, or advance every slice together, so that the compiler
// drops the bounds checks; the terms that depend on the sign of random data
// (L1, Huber, the sigmoid pair) select rather than branch.
package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Impl returns the table of generic kernels for T.
func Impl[T args.Float]() *args.Impl[T] {
	return &args.Impl[T]{
		CrossEntropy: CrossEntropy[T],
		Binary:       Binary[T],
		Regression:   Regression[T],
		Softmax:      Softmax[T],
		LogSoftmax:   LogSoftmax[T],
		LogSumExp:    LogSumExp[T],
		Sigmoid:      Sigmoid[T],
		LogSigmoid:   LogSigmoid[T],
		Softplus:     Softplus[T],
		RowStats:     RowStats[T],
		RowExp:       RowExp[T],
		OutsideUnit:  OutsideUnit[T],
		Weights:      Weights[T],
	}
}

// Weights reports whether every weight is finite and ≥ 0 and, when sum is
// set, returns their Neumaier sum.
func Weights[T args.Float](w []T, sum bool) (float64, bool) {
	if !sum {
		for _, v := range w {
			if !(v >= 0 && float64(v) <= math.MaxFloat64) {
				return 0, false
			}
		}
		return 0, true
	}
	var s, c float64
	for _, v := range w {
		if !(v >= 0 && float64(v) <= math.MaxFloat64) {
			return 0, false
		}
		x := float64(v)
		t := s + x
		if s >= x { // both ≥ 0
			c += (s - t) + x
		} else {
			c += (x - t) + s
		}
		s = t
	}
	return s + c, true
}

// OutsideUnit reports whether some value of s lies outside [0, 1] (NaN
// aside), testing four values per branch.
func OutsideUnit[T args.Float](s []T) bool {
	args.Took("generic/outside-unit")
	i := 0
	for ; i+4 <= len(s); i += 4 {
		v := s[i : i+4 : i+4]
		if v[0] < 0 || v[0] > 1 || v[1] < 0 || v[1] > 1 || v[2] < 0 || v[2] > 1 || v[3] < 0 || v[3] > 1 {
			return true
		}
	}
	for _, v := range s[i:] {
		if v < 0 || v > 1 {
			return true
		}
	}
	return false
}
