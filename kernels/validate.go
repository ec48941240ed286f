package kernels

import (
	"fmt"
	"math"
)

func wrap(sentinel error, msg string) error { return fmt.Errorf("%w: %s", sentinel, msg) }

func wrapf(sentinel error, format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)
}

// checkShape validates N and K and returns N×K.
func checkShape(n, k int) (int, error) {
	if n <= 0 || k <= 0 {
		return 0, wrapf(ErrShape, "n=%d, k=%d: both must be positive", n, k)
	}
	if n > math.MaxInt/k || k > math.MaxInt32 {
		return 0, wrapf(ErrShape, "n=%d × k=%d overflows", n, k)
	}
	return n * k, nil
}

// checkLen validates a required slice's length.
func checkLen[T any](name string, s []T, want int) error {
	if len(s) != want {
		return wrapf(ErrLength, "len(%s)=%d, want %d", name, len(s), want)
	}
	return nil
}

// checkOptLen validates an optional slice: nil or exactly want long.
func checkOptLen[T any](name string, s []T, want int) error {
	if s != nil && len(s) != want {
		return wrapf(ErrLength, "len(%s)=%d, want %d (or nil)", name, len(s), want)
	}
	return nil
}

// checkWeights rejects negative weights (NaN passes and propagates) and
// returns their sum, which a weighted mean divides by.
func checkWeights[T Float](name string, w []T) (float64, error) {
	var sum compensated
	for i, v := range w {
		if v < 0 {
			return 0, wrapf(ErrWeight, "%s[%d]=%v is negative", name, i, float64(v))
		}
		sum.add(float64(v))
	}
	return sum.value(), nil
}

// compensated is a Neumaier sum: a normaliser over millions of weights must
// not carry n·u of relative error into every gradient element.
type compensated struct{ s, c float64 }

func (k *compensated) add(v float64) {
	t := k.s + v
	if math.Abs(k.s) >= math.Abs(v) {
		k.c += (k.s - t) + v
	} else {
		k.c += (v - t) + k.s
	}
	k.s = t
}

func (k *compensated) value() float64 {
	if math.IsInf(k.s, 0) || k.s != k.s {
		return k.s // the correction of an infinite sum is NaN
	}
	return k.s + k.c
}

// checkScalar validates an option that must lie in [lo, hi].
func checkRange(name string, v, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return wrapf(ErrOption, "%s=%v outside [%v, %v]", name, v, lo, hi)
	}
	return nil
}

// reduce turns a sum of losses and its normaliser into the returned loss and
// the gradient scale, following the EmptyMean policy.
func reduce(r Reduction, empty EmptyMean, sum, norm float64) (loss, gradScale float64) {
	if r != Mean {
		return sum, 1
	}
	if norm == 0 && empty == EmptyMeanZero {
		return 0, 0
	}
	return sum / norm, 1 / norm
}

// scaleFor returns the gradient scale a mean will use, before the kernel runs.
func scaleFor(r Reduction, empty EmptyMean, norm float64) float64 {
	_, s := reduce(r, empty, 0, norm)
	return s
}

func checkReduction(r Reduction, perItem int, buf int, name string) error {
	if r > None {
		return wrapf(ErrOption, "reduction %d is not Mean, Sum or None", r)
	}
	if r == None && buf != perItem {
		return wrapf(ErrLength, "reduction None needs %s of length %d, got %d", name, perItem, buf)
	}
	return nil
}
