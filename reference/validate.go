package reference

import (
	"fmt"
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// The reference validates its arguments on its own, from the documented
// rules, so that a differential test can check that a backend rejects
// exactly the calls the reference rejects. Overlap between buffers is the
// one rule it cannot see (it writes no buffers). When a call breaks several
// rules the reference may name a different one than package kernels.

func errf(class error, format string, a ...any) error {
	return fmt.Errorf("reference: %w: %s", class, fmt.Sprintf(format, a...))
}

func shapeNK(n, k int) (int, error) {
	if n <= 0 || k <= 0 {
		return 0, errf(kernels.ErrShape, "n=%d, k=%d", n, k)
	}
	if k > math.MaxInt32 || n > math.MaxInt/k {
		return 0, errf(kernels.ErrShape, "n=%d × k=%d overflows", n, k)
	}
	return n * k, nil
}

// lengths checks required lengths (want ≥ 0) and optional ones (nil allowed).
type lengthRule struct {
	name     string
	got      int
	isNil    bool
	want     int
	optional bool
}

func need(name string, got, want int) lengthRule {
	return lengthRule{name: name, got: got, want: want}
}

func opt[T any](name string, s []T, want int) lengthRule {
	return lengthRule{name: name, got: len(s), isNil: s == nil, want: want, optional: true}
}

func lengths(rules ...lengthRule) error {
	for _, r := range rules {
		if r.optional && r.isNil {
			continue
		}
		if r.got != r.want {
			return errf(kernels.ErrLength, "len(%s)=%d, want %d", r.name, r.got, r.want)
		}
	}
	return nil
}

func reductionOK(red kernels.Reduction, perItem, bufLen int, bufName string) error {
	switch red {
	case kernels.Mean, kernels.Sum:
		return nil
	case kernels.None:
		if bufLen != perItem {
			return errf(kernels.ErrLength, "reduction none needs %s of length %d", bufName, perItem)
		}
		return nil
	}
	return errf(kernels.ErrOption, "reduction %d", red)
}

// inRange checks lo ≤ v ≤ hi (NaN fails).
func inRange(name string, v, lo, hi float64) error {
	if v >= lo && v <= hi {
		return nil
	}
	return errf(kernels.ErrOption, "%s=%v outside [%v, %v]", name, v, lo, hi)
}

// nonNegative checks a weight vector (every weight finite and ≥ 0) and
// returns it widened to float64 (nil stays nil).
func nonNegative[T kernels.Float](name string, w []T) ([]float64, error) {
	if w == nil {
		return nil, nil
	}
	out := make([]float64, len(w))
	for i, v := range w {
		if !(v >= 0 && float64(v) <= math.MaxFloat64) {
			return nil, errf(kernels.ErrWeight, "%s[%d]=%v", name, i, v)
		}
		out[i] = float64(v)
	}
	return out, nil
}

func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func widen[T kernels.Float](s []T) []float64 {
	if s == nil {
		return nil
	}
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

// emptyMeanOK checks the EmptyMean policy.
func emptyMeanOK(e kernels.EmptyMean) error {
	if e > kernels.EmptyMeanZero {
		return errf(kernels.ErrOption, "EmptyMean %d", e)
	}
	return nil
}

// unitValues checks that every value of s lies in [0, 1] (NaN passes and
// propagates): binary targets, and the probabilities of BCE and FocalProbs.
func unitValues[T kernels.Float](name string, s []T) error {
	for i, v := range s {
		if v < 0 || v > 1 {
			return errf(kernels.ErrTarget, "%s[%d]=%v outside [0, 1]", name, i, v)
		}
	}
	return nil
}
