package kernels

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// KLDivOptions configures KLDiv. The zero value is PyTorch's kl_div
// default: Reduction Mean (over N·K elements; BatchMean is the KL
// divergence of the math), targets as probabilities.
type KLDivOptions[T Float] struct {
	// Reduction is Mean (÷ N·K), BatchMean (÷ N), Sum or None.
	Reduction Reduction
	// LogTarget says the targets are log-probabilities (PyTorch's
	// log_target=True).
	LogTarget bool
	// Loss, when non-nil, receives the pointwise losses (N×K); it is
	// required with Reduction None.
	Loss []T
	// Runner, when non-nil, spreads a large call over its goroutines.
	Runner *Runner
}

// KLDiv computes PyTorch's kl_div over N rows of K: input holds
// log-probabilities log q, target the probabilities p (or log p with
// LogTarget), and the pointwise loss is
//
//	l = p·(log p − log q),   l = e^t·(t − log q) with LogTarget,
//
// 0 where p = 0 (also beside log q = −Inf, where PyTorch's 0·(−Inf) gives
// NaN: see the deviation table), and, when grad is non-nil, the gradient
// of the returned loss with respect to input, −p·s (s = 1/(N·K) for Mean,
// 1/N for BatchMean, 1 for Sum and None). grad may be input itself. Targets
// must be probabilities in [0, 1] (log-probabilities ≤ 0 with LogTarget);
// NaN propagates.
func KLDiv[T Float](input, target []T, n, k int, grad []T, o *KLDivOptions[T]) (T, error) {
	if configErr != nil {
		return 0, configErr
	}
	if o == nil {
		o = &KLDivOptions[T]{}
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return 0, err
	}
	var r rules
	r.length("input", len(input), nk)
	r.length("target", len(target), nk)
	r.optLength("grad", grad == nil, len(grad), nk)
	r.optLength("Loss", o.Loss == nil, len(o.Loss), nk)
	if o.Reduction != BatchMean {
		r.reduction(o.Reduction, nk, len(o.Loss), "Loss")
	}
	if r.err != nil {
		return 0, r.err
	}
	if o.LogTarget {
		if err := checkLogProbs("target", target); err != nil {
			return 0, err
		}
	} else if err := checkUnitOn(o.Runner, "target", target); err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.Loss)},
		in:      [4]span{spanOf(input), spanOf(target)},
		inPlace: 1, names: klNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	norm := 1.0
	switch o.Reduction {
	case Mean:
		norm = float64(nk)
	case BatchMean:
		norm = float64(n)
	}
	kind := args.KLDiv
	if o.LogTarget {
		kind = args.KLDivLogTarget
	}
	a := args.Regression[T]{Kind: kind, X: input, Y: target, GradScale: T(1 / norm), Grad: grad, Loss: o.Loss}
	sum := runRegressionWith(o.Runner, impl[T]().KLDiv, a)
	return T(sum / norm), nil
}

// checkLogProbs checks that every value is a log-probability, ≤ 0 (NaN
// propagates).
func checkLogProbs[T Float](name string, s []T) error {
	for i, v := range s {
		if v > 0 {
			return wrapf(ErrTarget, "%s[%d]=%v above 0 (not a log-probability)", name, i, float64(v))
		}
	}
	return nil
}
