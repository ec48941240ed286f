package kernels

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// RegressionOptions configures the regression losses. The zero value (or a
// nil pointer) is PyTorch's default: mean over all elements, no weights.
type RegressionOptions[T Float] struct {
	Reduction Reduction
	// Weight holds one non-negative weight per element, or nil. The weighted
	// mean is Σ w·e / Σ w.
	Weight []T
	// EmptyMean chooses the weighted mean's value when the weights sum to 0.
	EmptyMean EmptyMean
	// Loss, when non-nil, receives the per-element losses; it is required
	// with Reduction None.
	Loss []T

	// Runner, when non-nil, spreads a large call over its goroutines
	// (see Runner: the results do not depend on their number).
	Runner *Runner
}

// MSE computes the mean squared error (pred−target)² and its gradient
// 2·(pred−target) (scaled by the reduction) when grad is non-nil.
func MSE[T Float](pred, target, grad []T, o *RegressionOptions[T]) (T, error) {
	return regression(args.MSE, pred, target, grad, o, 1, "")
}

// L1 computes the mean absolute error |pred−target| and its gradient
// sign(pred−target) (0 where they are equal, as PyTorch's l1_loss).
func L1[T Float](pred, target, grad []T, o *RegressionOptions[T]) (T, error) {
	return regression(args.L1, pred, target, grad, o, 1, "")
}

// HuberOptions configures Huber. The zero value (or a nil pointer) is
// PyTorch's default: δ = 1, mean over all elements, no weights.
type HuberOptions[T Float] struct {
	RegressionOptions[T]
	// Delta > 0 is where the loss turns from quadratic to linear; 0 means
	// PyTorch's default, 1.
	Delta float64
}

// SmoothL1Options configures SmoothL1. The zero value (or a nil pointer) is
// PyTorch's default: β = 1, mean over all elements, no weights.
type SmoothL1Options[T Float] struct {
	RegressionOptions[T]
	// Beta > 0 is where the loss turns from quadratic to linear; 0 means
	// PyTorch's default, 1. (PyTorch also takes β = 0, which is L1: call L1.)
	Beta float64
}

// Huber computes PyTorch's huber_loss with threshold δ = o.Delta:
// ½d² for |d| < δ, δ·(|d| − ½δ) otherwise, with d = pred−target.
func Huber[T Float](pred, target, grad []T, o *HuberOptions[T]) (T, error) {
	if o == nil {
		o = &HuberOptions[T]{}
	}
	return regression(args.Huber, pred, target, grad, &o.RegressionOptions, orDefault(o.Delta), "Delta")
}

// SmoothL1 computes PyTorch's smooth_l1_loss with β = o.Beta:
// ½d²/β for |d| < β, |d| − ½β otherwise.
func SmoothL1[T Float](pred, target, grad []T, o *SmoothL1Options[T]) (T, error) {
	if o == nil {
		o = &SmoothL1Options[T]{}
	}
	return regression(args.SmoothL1, pred, target, grad, &o.RegressionOptions, orDefault(o.Beta), "Beta")
}

// orDefault is a threshold option with 0 standing for PyTorch's default 1.
func orDefault(v float64) float64 {
	if v == 0 {
		return 1
	}
	return v
}

func regression[T Float](kind args.RegressionKind, x, y, grad []T, o *RegressionOptions[T], param float64, paramName string) (T, error) {
	if configErr != nil {
		return 0, configErr
	}
	if o == nil {
		o = &RegressionOptions[T]{}
	}
	n := len(x)
	if n == 0 {
		return 0, wrap(ErrShape, "no elements")
	}
	var r rules
	r.length("target", len(y), n)
	r.optLength("grad", grad == nil, len(grad), n)
	r.optLength("Weight", o.Weight == nil, len(o.Weight), n)
	r.optLength("Loss", o.Loss == nil, len(o.Loss), n)
	r.reduction(o.Reduction, n, len(o.Loss), "Loss")
	r.emptyMean(o.EmptyMean)
	if r.err != nil {
		return 0, r.err
	}
	if paramName != "" && !(param > 0 && param <= math.MaxFloat64) {
		return 0, wrapf(ErrOption, "%s=%v must be positive and finite", paramName, param)
	}
	norm := float64(n)
	if o.Weight != nil {
		sum, err := checkWeightSum("Weight", o.Weight, true)
		if err != nil {
			return 0, err
		}
		norm = sum
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.Loss)},
		in:      [4]span{spanOf(x), spanOf(y), spanOf(o.Weight)},
		inPlace: 3, names: regNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a := args.Regression[T]{
		Kind: kind, X: x, Y: y, Weight: o.Weight, Param: T(param),
		GradScale: T(scaleFor(o.Reduction, o.EmptyMean, norm)),
		Grad:      grad, Loss: o.Loss,
	}
	sum := runRegression(o.Runner, a)
	loss, _ := reduce(o.Reduction, o.EmptyMean, sum, norm)
	return T(loss), nil
}
