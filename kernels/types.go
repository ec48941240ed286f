package kernels

import (
	"errors"
	"fmt"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Float is the element type every kernel accepts: float32 or float64 (or a
// named type with one of them underneath).
type Float = args.Float

// Reduction says how per-row (or per-element) losses become the returned loss.
// The zero value is Mean, PyTorch's default.
type Reduction uint8

const (
	// Mean divides the sum of losses by the loss's normaliser: the sum of
	// the target-class weights of non-ignored rows for cross-entropy with
	// integer targets, the sum of weights for weighted regression, the row
	// or element count otherwise (see the package documentation).
	Mean Reduction = iota
	// Sum adds the losses.
	Sum
	// None keeps one loss per row (or element) in the caller's buffer; the
	// returned value is their sum and the gradient is the sum's gradient,
	// as PyTorch's backward with an upstream gradient of ones.
	None
	// BatchMean divides the sum by N, the rows (KLDiv only: PyTorch's
	// "batchmean", the KL divergence of the math; its Mean divides by N·K).
	BatchMean
)

func (r Reduction) String() string {
	switch r {
	case Mean:
		return "mean"
	case Sum:
		return "sum"
	case None:
		return "none"
	case BatchMean:
		return "batchmean"
	}
	return fmt.Sprintf("Reduction(%d)", uint8(r))
}

// EmptyMean says what a mean returns when its normaliser is zero, as when
// every target of a batch is ignored (a padding-only batch). The zero value
// is PyTorch's behaviour.
type EmptyMean uint8

const (
	// EmptyMeanNaN returns 0/0 = NaN, as PyTorch does. The gradient is zero
	// at ignored rows; non-ignored rows whose class weights are all zero
	// get NaN, again as in PyTorch.
	EmptyMeanNaN EmptyMean = iota
	// EmptyMeanZero returns a loss of 0 and an all-zero gradient.
	EmptyMeanZero
)

// DefaultIgnoreIndex is PyTorch's default ignore_index.
const DefaultIgnoreIndex = -100

// Ignore names the target value that marks a row to leave out of the loss.
// Its zero value is PyTorch's default, -100, which can never collide with a
// real class; IgnoreIndex picks another value and NoIgnore turns it off.
type Ignore struct {
	offset   int32 // index − DefaultIgnoreIndex, so that the zero value means −100
	disabled bool
}

// IgnoreIndex returns an Ignore that skips rows whose target is i.
func IgnoreIndex(i int32) Ignore { return Ignore{offset: i - DefaultIgnoreIndex} }

// NoIgnore returns an Ignore that skips no row: every target must be a class.
func NoIgnore() Ignore { return Ignore{disabled: true} }

// Index reports the ignored target value, and false when none is ignored.
func (g Ignore) Index() (int32, bool) {
	if g.disabled {
		return 0, false
	}
	return g.offset + DefaultIgnoreIndex, true
}

// Errors returned by the kernels, wrapped with detail; test with errors.Is.
var (
	ErrShape   = errors.New("lossfuse: invalid shape")         // N or K ≤ 0, or N×K overflows
	ErrLength  = errors.New("lossfuse: slice length mismatch") // a slice does not match the shape
	ErrTarget  = errors.New("lossfuse: target out of range")   // class index outside [0, K) and not ignored
	ErrWeight  = errors.New("lossfuse: invalid weight")        // negative weight or pos_weight
	ErrOption  = errors.New("lossfuse: invalid option")        // a scalar option outside its domain
	ErrOverlap = errors.New("lossfuse: buffers overlap")       // an output overlaps an input other than exactly
	ErrBackend = errors.New("lossfuse: unknown or unsupported backend")
)
