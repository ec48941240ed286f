package kernels

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// NLLOptions configures NLL. The zero value is PyTorch's nll_loss default:
// mean over non-ignored rows, no class weights, ignore index −100.
type NLLOptions[T Float] struct {
	Reduction Reduction
	// Weight holds one non-negative weight per class (length K), or nil.
	Weight []T
	// Ignore marks rows to skip; the zero value skips targets equal to −100.
	Ignore Ignore
	// EmptyMean chooses the mean of a batch with nothing to average.
	EmptyMean EmptyMean
	// Normalizer > 0 replaces the mean's denominator (see
	// CrossEntropyOptions.Normalizer).
	Normalizer float64
	// RowLoss, when non-nil, receives the per-row losses (length N); it is
	// required with Reduction None.
	RowLoss []T
	// Runner, when non-nil, spreads a large call over its goroutines.
	Runner *Runner
}

// NLL computes PyTorch's nll_loss on N rows of K log-probabilities (any
// real values: they are not checked to be log-probabilities) and integer
// targets,
//
//	l_i = −w[y_i]·x[i, y_i],
//
// 0 for ignored rows, and, when grad is non-nil, the gradient of the
// returned loss: −w[y_i]·s at (i, y_i) and 0 elsewhere, s the mean's
// 1/Σ w[y_i] over non-ignored rows (1 for Sum and None). grad may be
// logProbs itself. Every row ignored (or every target weight 0) under Mean
// is NaN, as in PyTorch, unless EmptyMean says otherwise.
func NLL[T Float](logProbs []T, targets []int32, n, k int, grad []T, o *NLLOptions[T]) (T, error) {
	if o == nil {
		o = &NLLOptions[T]{}
	}
	ceo := CrossEntropyOptions[T]{Reduction: o.Reduction, Weight: o.Weight, Ignore: o.Ignore, EmptyMean: o.EmptyMean,
		Normalizer: o.Normalizer, RowLoss: o.RowLoss, Runner: o.Runner}
	var a args.CE[T]
	if err := ceCommon(&a, logProbs, n, k, grad, &ceo, "Weight"); err != nil {
		return 0, err
	}
	if err := checkLen("targets", targets, n); err != nil {
		return 0, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := classTargets(targets, k, ignore, hasIgnore, o.Weight)
	if err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss)},
		in:      [4]span{spanOf(logProbs), spanOf(targets), spanOf(o.Weight)},
		inPlace: 1, names: nllNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a.Targets, a.Ignore, a.HasIgnore = targets, ignore, hasIgnore
	return ceRunWith(impl[T]().NLL, &a, &ceo, norm)
}
