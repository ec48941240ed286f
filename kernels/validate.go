package kernels

import (
	"fmt"
	"math"
)

func wrap(sentinel error, msg string) error { return fmt.Errorf("%w: %s", sentinel, msg) }

func wrapf(sentinel error, format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...)
}

// The checks below are small enough to inline into the entry points, so
// that a valid call pays a comparison or two a rule; the errors are built
// out of line.

// checkShape validates N and K and returns N×K.
func checkShape(n, k int) (int, error) {
	if n <= 0 || k <= 0 || k > math.MaxInt32 || n > math.MaxInt/k {
		return 0, shapeErr(n, k)
	}
	return n * k, nil
}

//go:noinline
func shapeErr(n, k int) error {
	if n <= 0 || k <= 0 {
		return wrapf(ErrShape, "n=%d, k=%d: both must be positive", n, k)
	}
	return wrapf(ErrShape, "n=%d × k=%d overflows", n, k)
}

// rules collects the first broken rule of a call, in the order the rules
// are given. Its methods inline, so that a valid call pays a comparison or
// two a rule; the errors are built out of line.
type rules struct{ err error }

// length checks a required slice's length.
func (r *rules) length(name string, got, want int) {
	if got != want && r.err == nil {
		r.err = lengthErr(name, got, want, "")
	}
}

// optLength checks an optional slice: nil or exactly want long.
func (r *rules) optLength(name string, isNil bool, got, want int) {
	if !isNil && got != want && r.err == nil {
		r.err = lengthErr(name, got, want, " (or nil)")
	}
}

// inRange checks an option that must lie in [lo, hi] (NaN does not).
func (r *rules) inRange(name string, v, lo, hi float64) {
	if !(v >= lo && v <= hi) && r.err == nil {
		r.err = rangeErr(name, v, lo, hi)
	}
}

// reduction checks the reduction and, for None, the per-item buffer.
func (r *rules) reduction(red Reduction, perItem int, buf int, name string) {
	if (red > None || red == None && buf != perItem) && r.err == nil {
		r.err = reductionErr(red, perItem, buf, name)
	}
}

// emptyMean checks the EmptyMean policy.
func (r *rules) emptyMean(e EmptyMean) {
	if e > EmptyMeanZero && r.err == nil {
		r.err = emptyMeanErr(e)
	}
}

// checkLen validates a required slice's length on its own.
func checkLen[T any](name string, s []T, want int) error {
	var r rules
	r.length(name, len(s), want)
	return r.err
}

//go:noinline
func lengthErr(name string, got, want int, or string) error {
	return wrapf(ErrLength, "len(%s)=%d, want %d%s", name, got, want, or)
}

// checkWeights rejects weights that are negative, NaN or infinite: a NaN
// weight would silently turn the whole mean into NaN.
func checkWeights[T Float](name string, w []T) error {
	_, err := checkWeightSum(name, w, false)
	return err
}

// checkWeightsOn is checkWeights with the scan spread over r's workers.
func checkWeightsOn[T Float](r *Runner, name string, w []T) error {
	if r.parallel(len(w)) && !scan(r, w, true) {
		return nil
	}
	return checkWeights(name, w) // small, or bad: the serial scan finds the index for the message
}

// checkWeightSum is checkWeights that also returns the weights' sum (when
// sum is set), which a weighted mean divides by. The backend's scan
// decides; the index for the message is found only on error.
func checkWeightSum[T Float](name string, w []T, sum bool) (float64, error) {
	if len(w) == 0 {
		return 0, nil
	}
	total, ok := impl[T]().Weights(w, sum)
	if ok {
		if !(total <= math.MaxFloat64) {
			// Finite weights whose sum overflows: the compensated sums
			// give NaN (∞ − ∞ in the correction), the sum is +Inf.
			total = math.Inf(1)
		}
		return total, nil
	}
	for i, v := range w {
		if !(v >= 0 && float64(v) <= math.MaxFloat64) {
			return 0, wrapf(ErrWeight, "%s[%d]=%v: weights must be finite and ≥ 0", name, i, float64(v))
		}
	}
	return 0, wrapf(ErrWeight, "%s: the weights' check failed but no weight is bad (a backend bug)", name)
}

// checkUnit rejects values outside [0, 1] (NaN passes and propagates):
// binary targets, and the probabilities BCE and FocalProbs take. The
// backend's scan decides; the index for the message is found only then.
func checkUnit[T Float](name string, s []T) error { return checkUnitOn(nil, name, s) }

// checkUnitOn is checkUnit with the scan spread over r's workers.
func checkUnitOn[T Float](r *Runner, name string, s []T) error {
	if !scan(r, s, false) {
		return nil
	}
	for i, v := range s {
		if v < 0 || v > 1 {
			return wrapf(ErrTarget, "%s[%d]=%v outside [0, 1]", name, i, float64(v))
		}
	}
	return nil
}

//go:noinline
func emptyMeanErr(e EmptyMean) error {
	return wrapf(ErrOption, "EmptyMean %d is not EmptyMeanNaN or EmptyMeanZero", e)
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

//go:noinline
func rangeErr(name string, v, lo, hi float64) error {
	var want string
	switch {
	case hi == math.MaxFloat64:
		want = fmt.Sprintf("must be finite and ≥ %v", lo)
	case math.IsInf(lo, -1):
		want = fmt.Sprintf("must be ≤ %v", hi)
	default:
		want = fmt.Sprintf("must be in [%v, %v]", lo, hi)
	}
	return wrapf(ErrOption, "%s=%v: %s", name, v, want)
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
	if norm == 0 {
		// NaN, as PyTorch: 0/0 for a batch that is all ignored, and for a
		// zero total weight also x/0 with x > 0 (label smoothing), which
		// PyTorch adds to a 0/0. The gradient scale NaN makes every counted
		// row's gradient NaN; ignored rows stay exactly 0.
		return math.NaN(), math.NaN()
	}
	return sum / norm, 1 / norm
}

// scaleFor returns the gradient scale a mean will use, before the kernel runs.
func scaleFor(r Reduction, empty EmptyMean, norm float64) float64 {
	_, s := reduce(r, empty, 0, norm)
	return s
}

//go:noinline
func reductionErr(r Reduction, perItem int, buf int, name string) error {
	if r > None {
		return wrapf(ErrOption, "reduction %d is not Mean, Sum or None", r)
	}
	return wrapf(ErrLength, "reduction None needs %s of length %d, got %d", name, perItem, buf)
}
