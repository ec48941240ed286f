package kernels

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Asymmetric weights the two kinds of error of a binary loss differently,
// as the seed article's asymmetric BCE does: the positive term
// (a false negative when the prediction is low) is scaled by FalseNegative,
// the negative term by FalsePositive. Both must be ≥ 0.
type Asymmetric struct {
	FalseNegative, FalsePositive float64
}

// BinaryOptions configures the element-wise binary losses. The zero value
// (or a nil pointer) is PyTorch's default: mean over all elements, no
// weights.
type BinaryOptions[T Float] struct {
	Reduction Reduction
	// Weight holds one non-negative weight per element (N×K), or nil. As in
	// PyTorch the mean still divides by the element count.
	Weight []T
	// ClassWeight holds one non-negative weight per class (length K),
	// broadcast over the rows as PyTorch broadcasts a weight of shape [K];
	// RowWeight holds one per row (length N), PyTorch's weight of shape
	// [N, 1]. Neither is copied per element. At most one of Weight,
	// ClassWeight and RowWeight may be set; the mean divides by N·K all
	// the same.
	ClassWeight, RowWeight []T
	// PosWeight scales the positive term, one non-negative value per class
	// (length K), broadcast over rows along the last dimension as PyTorch's
	// pos_weight is. BCEWithLogits only.
	PosWeight []T
	// Asymmetric, when non-nil, weights false negatives and false positives.
	Asymmetric *Asymmetric
	// Clip > 0 clips probabilities to [Clip, 1−Clip] before the log (the seed
	// article's ε-clipping, for example 1e-7); 0 keeps PyTorch's clamp of each
	// log at −100. Probability inputs only (BCE, FocalProbs).
	Clip float64
	// Loss, when non-nil, receives the per-element losses (N×K); it is
	// required with Reduction None.
	Loss []T

	// Runner, when non-nil, spreads a large call over its goroutines
	// (see Runner: the results do not depend on their number).
	Runner *Runner
}

// FocalOptions configures SigmoidFocal and FocalProbs. Its zero value is
// γ = 0 without α weighting (plain BCE); torchvision's defaults, α = 0.25 and
// γ = 2, are DefaultFocal (and a nil pointer).
type FocalOptions[T Float] struct {
	BinaryOptions[T]
	// Alpha ∈ (0, 1] weights positives by α and negatives by 1−α. The zero
	// value, like a negative Alpha (torchvision's α < 0), means no α
	// weighting: a zero value never drops a term of the loss. (torchvision's
	// degenerate α = 0, which keeps only the negative terms, is a per-element
	// Weight of 1−y.)
	Alpha float64
	// Gamma ≥ 0 is the focusing parameter.
	Gamma float64
}

// DefaultFocal returns torchvision's sigmoid_focal_loss defaults, α = 0.25
// and γ = 2, with mean reduction.
func DefaultFocal[T Float]() FocalOptions[T] { return FocalOptions[T]{Alpha: 0.25, Gamma: 2} }

// BCEWithLogits computes binary cross-entropy on logits x against targets
// y ∈ [0, 1] (N rows of K; pass n=1 for a flat vector),
//
//	l = w·( pw·fn·y·softplus(−x) + fp·(1−y)·softplus(x) ),
//
// stable for every logit (±Inf included), and the gradient
// w·((pw·fn·y + fp·(1−y))·σ(x) − pw·fn·y) when grad is non-nil (grad may be x).
func BCEWithLogits[T Float](x, y []T, n, k int, grad []T, o *BinaryOptions[T]) (T, error) {
	return binary(args.BCEWithLogits, x, y, n, k, grad, o, -1, 0)
}

// BCE computes binary cross-entropy on probabilities p ∈ [0, 1],
//
//	l = −w·( fn·y·log p + fp·(1−y)·log(1−p) ),
//
// with each log clamped at −100 and the gradient's denominator p·(1−p)
// guarded below by 1e-12, as PyTorch does; or, with o.Clip > 0, p clipped
// to [Clip, 1−Clip] first (where the gradient is zero outside the range).
func BCE[T Float](p, y []T, n, k int, grad []T, o *BinaryOptions[T]) (T, error) {
	return binary(args.BCEProb, p, y, n, k, grad, o, -1, 0)
}

// SigmoidFocal computes torchvision's sigmoid_focal_loss on logits,
//
//	l = α_t·(1−p_t)^γ·BCEWithLogits(x, y),   p_t = σ(x)·y + (1−σ(x))·(1−y),
//
// using, for targets exactly 0 or 1, the closed form
// α_t·softplus(z)·exp(−γ·softplus(−z)) with z = (1−2y)·x, whose gradient
// stays finite at saturation for every γ ≥ 0 (torchvision's autograd gives
// NaN there for γ < 1).
func SigmoidFocal[T Float](x, y []T, n, k int, grad []T, o *FocalOptions[T]) (T, error) {
	if o == nil {
		d := DefaultFocal[T]()
		o = &d
	}
	return binary(args.SigmoidFocal, x, y, n, k, grad, &o.BinaryOptions, focalAlpha(o.Alpha), o.Gamma)
}

// FocalProbs computes focal loss on probabilities as the seed article writes
// it, l = −α_t·(1−p_t)^γ·log p_t, with p clipped by o.Clip (or each log
// clamped at −100 when Clip is 0), and its gradient with respect to p.
func FocalProbs[T Float](p, y []T, n, k int, grad []T, o *FocalOptions[T]) (T, error) {
	if o == nil {
		d := DefaultFocal[T]()
		o = &d
	}
	return binary(args.FocalProb, p, y, n, k, grad, &o.BinaryOptions, focalAlpha(o.Alpha), o.Gamma)
}

// focalAlpha maps FocalOptions.Alpha to the kernels' α, where < 0 means no
// α weighting: so does the zero value (NaN stays, to be rejected).
func focalAlpha(a float64) float64 {
	if a == 0 {
		return -1
	}
	return a
}

func binary[T Float](kind args.BinaryKind, x, y []T, n, k int, grad []T, o *BinaryOptions[T], alpha, gamma float64) (T, error) {
	if o == nil {
		o = &BinaryOptions[T]{}
	}
	var c binaryCall[T]
	if err := c.check(kind, len(x), len(y), n, k, grad == nil, len(grad), o, alpha, gamma); err != nil {
		return 0, err
	}
	if err := checkUnitOn(o.Runner, "y", y); err != nil {
		return 0, err
	}
	if kind == args.BCEProb || kind == args.FocalProb {
		if err := checkUnitOn(o.Runner, "x", x); err != nil {
			return 0, err
		}
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.Loss)},
		in:      [4]span{spanOf(x), spanOf(y), spanOf(c.weight), spanOf(o.PosWeight)},
		inPlace: 3, names: c.names,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a := c.args(kind, n, k, o, alpha, gamma)
	a.X, a.Y, a.Grad = x, y, grad
	sum := runBinary(o.Runner, a, o.ClassWeight, o.RowWeight)
	loss, _ := reduce(o.Reduction, EmptyMeanNaN, sum, c.norm)
	return T(loss), nil
}

// binaryCall is what the validation of a binary loss's call learns.
type binaryCall[T Float] struct {
	fn, fp float64
	weight []T // the weights set (Weight, ClassWeight or RowWeight), or nil
	names  *bufferNames
	norm   float64
}

// check validates a binary loss's shape, lengths, options and weights (not
// the values of x and y, nor overlaps, which depend on their types).
func (c *binaryCall[T]) check(kind args.BinaryKind, nx, ny, n, k int, gradNil bool, ngrad int, o *BinaryOptions[T], alpha, gamma float64) error {
	if configErr != nil {
		return configErr
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return err
	}
	c.fn, c.fp = 1.0, 1.0
	if o.Asymmetric != nil {
		c.fn, c.fp = o.Asymmetric.FalseNegative, o.Asymmetric.FalsePositive
	}
	var r rules
	r.length("x", nx, nk)
	r.length("y", ny, nk)
	r.optLength("grad", gradNil, ngrad, nk)
	r.optLength("Weight", o.Weight == nil, len(o.Weight), nk)
	r.optLength("ClassWeight", o.ClassWeight == nil, len(o.ClassWeight), k)
	r.optLength("RowWeight", o.RowWeight == nil, len(o.RowWeight), n)
	r.optLength("PosWeight", o.PosWeight == nil, len(o.PosWeight), k)
	r.optLength("Loss", o.Loss == nil, len(o.Loss), nk)
	r.reduction(o.Reduction, nk, len(o.Loss), "Loss")
	r.inRange("Asymmetric.FalseNegative", c.fn, 0, math.MaxFloat64)
	r.inRange("Asymmetric.FalsePositive", c.fp, 0, math.MaxFloat64)
	r.inRange("Clip", o.Clip, 0, 0.5)
	r.inRange("Gamma", gamma, 0, math.MaxFloat64)
	r.inRange("Alpha", alpha, math.Inf(-1), 1)
	if r.err != nil {
		return r.err
	}
	c.weight, c.names = o.Weight, binaryNames
	switch {
	case (o.Weight != nil) && (o.ClassWeight != nil || o.RowWeight != nil) || o.ClassWeight != nil && o.RowWeight != nil:
		return wrap(ErrOption, "set at most one of Weight, ClassWeight and RowWeight")
	case o.ClassWeight != nil:
		c.weight, c.names = o.ClassWeight, binaryClassNames
	case o.RowWeight != nil:
		c.weight, c.names = o.RowWeight, binaryRowNames
	}
	if o.PosWeight != nil && kind != args.BCEWithLogits {
		return wrap(ErrOption, "PosWeight applies to BCEWithLogits only")
	}
	if o.Asymmetric != nil && (kind == args.SigmoidFocal || kind == args.FocalProb) {
		return wrap(ErrOption, "Asymmetric applies to the BCE losses only (focal has Alpha)")
	}
	if o.Clip != 0 && (kind == args.BCEWithLogits || kind == args.SigmoidFocal) {
		return wrap(ErrOption, "Clip applies to probability inputs only")
	}
	if err := checkWeightsOn(o.Runner, c.names.in[2], c.weight); err != nil {
		return err
	}
	if err := checkWeights("PosWeight", o.PosWeight); err != nil {
		return err
	}
	c.norm = float64(nk)
	return nil
}

// args is the call's argument block without X, Y and Grad.
func (c *binaryCall[T]) args(kind args.BinaryKind, n, k int, o *BinaryOptions[T], alpha, gamma float64) args.Binary[T] {
	return args.Binary[T]{
		Kind: kind, N: n, K: k,
		Weight: o.Weight, PosWeight: o.PosWeight,
		FNWeight: T(c.fn), FPWeight: T(c.fp), Clip: T(o.Clip),
		Alpha: T(alpha), Gamma: T(gamma),
		GradScale: T(scaleFor(o.Reduction, EmptyMeanNaN, c.norm)),
		Loss:      o.Loss,
	}
}
