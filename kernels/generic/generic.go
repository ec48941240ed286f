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
// drops the bounds checks (TestNoBoundsChecksInLoops holds the per-element
// loops to that); the terms that depend on the sign of random data
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
		NLL:          NLL[T],
		Binary:       Binary[T],
		Regression:   Regression[T],
		KLDiv:        KLDiv[T],
		Distill:      Distill[T],
		Softmax:      Softmax[T],
		LogSoftmax:   LogSoftmax[T],
		LogSumExp:    LogSumExp[T],
		Sigmoid:      Sigmoid[T],
		LogSigmoid:   LogSigmoid[T],
		Softplus:     Softplus[T],

		SoftmaxBackward:    SoftmaxBackward[T],
		LogSoftmaxBackward: LogSoftmaxBackward[T],
		LogSumExpBackward:  LogSumExpBackward[T],
		SigmoidBackward:    SigmoidBackward[T],
		LogSigmoidBackward: LogSigmoidBackward[T],
		SoftplusBackward:   SoftplusBackward[T],

		RowStats:    RowStats[T],
		RowExp:      RowExp[T],
		OutsideUnit: OutsideUnit[T],
		Weights:     Weights[T],

		BF16ToF32: BF16ToF32,
		F32ToBF16: F32ToBF16,
		F16ToF32:  F16ToF32,
		F32ToF16:  F32ToF16,
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
	if _, f32 := any(w).([]float32); f32 {
		return weightSum32(w)
	}
	// Four Neumaier sums over every fourth weight (four dependent chains
	// instead of one, in registers), merged by three more compensated steps.
	var s0, c0, s1, c1, s2, c2, s3, c3 float64
	for len(w) >= 4 {
		w4 := w[:4:4]
		w = w[4:]
		x0, x1, x2, x3 := float64(w4[0]), float64(w4[1]), float64(w4[2]), float64(w4[3])
		if !weights4(x0, x1, x2, x3) {
			return 0, false
		}
		s0, c0 = neumaier(s0, c0, x0)
		s1, c1 = neumaier(s1, c1, x1)
		s2, c2 = neumaier(s2, c2, x2)
		s3, c3 = neumaier(s3, c3, x3)
	}
	for _, v := range w {
		if !(v >= 0 && float64(v) <= math.MaxFloat64) {
			return 0, false
		}
		s0, c0 = neumaier(s0, c0, float64(v))
	}
	s0, c0 = neumaier(s0, c0+c1, s1)
	s2, c2 = neumaier(s2, c2+c3, s3)
	s0, c0 = neumaier(s0, c0+c2, s2)
	return s0 + c0, true
}

// weightSum32 is Weights' sum for float32 weights: plain float64 sums over
// blocks of 256 (relative error below 256·2⁻⁵³, far below float32's
// 2⁻²⁴, where a gradient uses the sum), the blocks' sums compensated.
func weightSum32[T args.Float](w []T) (float64, bool) {
	var s, c float64
	for len(w) > 0 {
		b := w[:min(len(w), 256)]
		w = w[len(b):]
		var b0, b1, b2, b3 float64
		for len(b) >= 4 {
			b4 := b[:4:4]
			b = b[4:]
			x0, x1, x2, x3 := float64(b4[0]), float64(b4[1]), float64(b4[2]), float64(b4[3])
			if !weights4(x0, x1, x2, x3) {
				return 0, false
			}
			b0, b1, b2, b3 = b0+x0, b1+x1, b2+x2, b3+x3
		}
		for _, v := range b {
			if !(v >= 0 && float64(v) <= math.MaxFloat64) {
				return 0, false
			}
			b0 += float64(v)
		}
		s, c = neumaier(s, c, (b0+b1)+(b2+b3))
	}
	return s + c, true
}

// neumaier adds x to the compensated sum s + c: Knuth's TwoSum, whose
// error term needs no branch on which of s and x is larger.
func neumaier(s, c, x float64) (float64, float64) {
	t := s + x
	xv := t - s
	return t, c + ((s - (t - xv)) + (x - xv))
}

// OutsideUnit reports whether some value of s lies outside [0, 1] (NaN
// aside), testing four values per branch.
func OutsideUnit[T args.Float](s []T) bool {
	args.Took("generic/outside-unit")
	for len(s) >= 4 { // fours off the front, as rowMax
		v := s[:4:4]
		s = s[4:]
		if v[0] < 0 || v[0] > 1 || v[1] < 0 || v[1] > 1 || v[2] < 0 || v[2] > 1 || v[3] < 0 || v[3] > 1 {
			return true
		}
	}
	for _, v := range s {
		if v < 0 || v > 1 {
			return true
		}
	}
	return false
}

// weights4 reports whether four weights are all finite and ≥ 0 (NaN is not).
func weights4(x0, x1, x2, x3 float64) bool {
	return x0 >= 0 && x0 <= math.MaxFloat64 && x1 >= 0 && x1 <= math.MaxFloat64 &&
		x2 >= 0 && x2 <= math.MaxFloat64 && x3 >= 0 && x3 <= math.MaxFloat64
}

// compSum is four Neumaier sums over every fourth term (four dependent
// chains instead of one), merged by three more compensated steps.
type compSum struct{ s, c [4]float64 }

// add adds the terms b, b[i] to sum i mod 4 (the tail to sum 0).
func (a *compSum) add(b []float64) {
	s0, s1, s2, s3 := a.s[0], a.s[1], a.s[2], a.s[3]
	c0, c1, c2, c3 := a.c[0], a.c[1], a.c[2], a.c[3]
	for len(b) >= 4 {
		b4 := b[:4:4]
		b = b[4:]
		s0, c0 = neumaier(s0, c0, b4[0])
		s1, c1 = neumaier(s1, c1, b4[1])
		s2, c2 = neumaier(s2, c2, b4[2])
		s3, c3 = neumaier(s3, c3, b4[3])
	}
	for _, v := range b {
		s0, c0 = neumaier(s0, c0, v)
	}
	a.s, a.c = [4]float64{s0, s1, s2, s3}, [4]float64{c0, c1, c2, c3}
}

// total is the compensated sum, or the plain one where it is infinite or
// NaN (the compensation is then meaningless).
func (a *compSum) total() float64 {
	s0, c0 := neumaier(a.s[0], a.c[0]+a.c[1], a.s[1])
	s2, c2 := neumaier(a.s[2], a.c[2]+a.c[3], a.s[3])
	s0, c0 = neumaier(s0, c0+c2, s2)
	if s0-s0 != 0 {
		return s0
	}
	return s0 + c0
}
