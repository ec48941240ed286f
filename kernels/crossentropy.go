package kernels

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// CrossEntropyOptions configures CrossEntropy and CrossEntropyProbs. The zero
// value (or a nil pointer) is PyTorch's CrossEntropyLoss with default
// arguments: mean reduction, no class weights, ignore index −100, no label
// smoothing.
type CrossEntropyOptions[T Float] struct {
	Reduction Reduction
	// Weight holds one non-negative weight per class (length K), or nil.
	Weight []T
	// Ignore marks rows to skip (integer targets only). The zero value skips
	// targets equal to −100, as PyTorch does.
	Ignore Ignore
	// LabelSmoothing ε ∈ [0, 1] mixes the target with the uniform distribution.
	LabelSmoothing float64
	// ZLoss adds ZLoss·lse² per row (PaLM's auxiliary loss), scaled by the
	// row's weight like the rest of the row's loss. ≥ 0.
	ZLoss float64
	// SoftCap > 0 replaces each logit x by SoftCap·tanh(x/SoftCap) first
	// (Gemma 2's logit soft-capping); the gradient includes its chain rule.
	SoftCap float64
	// EmptyMean chooses the mean of a batch with nothing to average.
	EmptyMean EmptyMean
	// Normalizer > 0 replaces the mean's denominator (for gradient
	// accumulation over micro-batches, where the true token count is known
	// in advance). Ignored unless Reduction is Mean.
	Normalizer float64

	// RowLoss, when non-nil, receives the per-row losses (length N); it is
	// required with Reduction None.
	RowLoss []T
	// RowLSE, when non-nil, receives each row's log-sum-exp of the (capped)
	// logits (length N); rows that are ignored get it too.
	RowLSE []T

	// Runner, when non-nil, spreads a large call over its goroutines
	// (see Runner: the results do not depend on their number).
	Runner *Runner
}

// CrossEntropy computes softmax cross-entropy between N rows of K logits
// and integer class targets, and, when grad is non-nil, the gradient of the
// returned loss with respect to the logits (len N×K). grad may be logits
// itself: the gradient then overwrites the logits in place.
//
// Row i with target y = targets[i] (not ignored) has loss
//
//	l_i = (1−ε)·w[y]·(lse − z_y) + (ε/K)·Σ_c w[c]·(lse − z_c) + w[y]·ζ·lse²
//
// where z is the (soft-capped) row, lse = log Σ_c exp(z_c), ε the label
// smoothing and ζ the z-loss coefficient; ignored rows have loss 0. The mean
// divides by Σ w[y_i] over non-ignored rows, as PyTorch does.
func CrossEntropy[T Float](logits []T, targets []int32, n, k int, grad []T, o *CrossEntropyOptions[T]) (T, error) {
	if o == nil {
		o = &CrossEntropyOptions[T]{}
	}
	var a args.CE[T]
	if err := ceCommon(&a, logits, n, k, grad, o, "Weight"); err != nil {
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
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss), spanOf(o.RowLSE)},
		in:      [4]span{spanOf(logits), spanOf(targets), spanOf(o.Weight)},
		inPlace: 1, names: ceNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a.Targets, a.Ignore, a.HasIgnore = targets, ignore, hasIgnore
	return ceRun(&a, o, norm)
}

// classTargets validates integer targets (each a class in [0, k) or the
// ignore index) in one pass and returns the mean's denominator: the count of
// rows not ignored, or Σ w[y] over them (compensated: a normaliser over
// millions of rows must not carry n·u of relative error into every gradient
// element). Unweighted, the pass is one unsigned comparison a row, with no
// floating-point chain (at 4096×10 it was a quarter of a call's time), and
// where the ignore index is not a class, one comparison per four rows (at
// 1024×2 the row-by-row pass was 16% of a call on AMD Zen 5).
func classTargets[T Float](targets []int32, k int, ignore int32, hasIgnore bool, w []T) (float64, error) {
	kk := uint32(k) // k ≤ MaxInt32 (checkShape)
	if w == nil && hasIgnore && uint32(ignore) < kk {
		n, err := countRows(targets, 0, k, ignore, hasIgnore)
		return float64(n), err
	}
	if w == nil {
		// The ignore index, if any, is not a class: four targets whose
		// unsigned maximum is a class are four counted rows. A group that
		// fails (an ignored row, or a bad target) is decided one by one.
		n, i := 0, 0
		for ; i+4 <= len(targets); i += 4 {
			t := targets[i : i+4 : i+4]
			if max(uint32(t[0]), uint32(t[1]), uint32(t[2]), uint32(t[3])) < kk {
				n += 4
				continue
			}
			c, err := countRows(t, i, k, ignore, hasIgnore)
			if err != nil {
				return 0, err
			}
			n += c
		}
		c, err := countRows(targets[i:], i, k, ignore, hasIgnore)
		return float64(n + c), err
	}
	w = w[:k]
	var norm compensated
	for i, y := range targets {
		if hasIgnore && y == ignore {
			continue
		}
		if uint32(y) >= kk {
			return 0, targetErr(i, y, k)
		}
		norm.add(float64(w[y]))
	}
	return norm.value(), nil
}

// countRows validates targets (the call's from index off on) one by one
// and counts the rows not ignored.
func countRows(targets []int32, off, k int, ignore int32, hasIgnore bool) (int, error) {
	kk := uint32(k)
	n := 0
	for i, y := range targets {
		if hasIgnore && y == ignore {
			continue
		}
		if uint32(y) >= kk {
			return 0, targetErr(off+i, y, k)
		}
		n++
	}
	return n, nil
}

//go:noinline
func targetErr(i int, y int32, k int) error {
	return wrapf(ErrTarget, "targets[%d]=%d not in [0, %d) and not the ignore index", i, y, k)
}

// CrossEntropyProbs computes softmax cross-entropy against probability
// (soft) targets, N×K like the logits, and its gradient when grad is non-nil
// (grad may be logits itself). Row i has loss
//
//	l_i = −Σ_c w[c]·t_c·log softmax(z)_c + ζ·lse²,   t = (1−ε)·target + ε/K
//
// As in PyTorch the mean divides by N even with class weights (the integer
// target path divides by Σ w[y_i] instead), and there is no ignore index
// (o.Ignore is not used). The z-loss term ζ·lse² is added to every row
// unweighted. Every target must lie in [0, 1] (NaN propagates); PyTorch
// extends the formula to any value, ±Inf included.
func CrossEntropyProbs[T Float](logits, probs []T, n, k int, grad []T, o *CrossEntropyOptions[T]) (T, error) {
	if o == nil {
		o = &CrossEntropyOptions[T]{}
	}
	var a args.CE[T]
	if err := ceCommon(&a, logits, n, k, grad, o, "Weight"); err != nil {
		return 0, err
	}
	if err := checkLen("probs", probs, n*k); err != nil {
		return 0, err
	}
	if err := checkUnitOn(o.Runner, "probs", probs); err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss), spanOf(o.RowLSE)},
		in:      [4]span{spanOf(logits), spanOf(probs), spanOf(o.Weight)},
		inPlace: 1, names: ceProbsNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a.Probs = probs
	return ceRun(&a, o, float64(n))
}

// ceCommon validates what the cross-entropy entry points share and fills
// a (in place: the struct is large, and a call's fixed cost counts).
// weightName names o.Weight in errors ("Alpha" for SoftmaxFocal).
func ceCommon[T Float](a *args.CE[T], logits []T, n, k int, grad []T, o *CrossEntropyOptions[T], weightName string) error {
	var r rules
	if err := ceShape(&r, len(logits), grad == nil, len(grad), n, k, o, weightName); err != nil {
		return err
	}
	a.X, a.N, a.K, a.Weight = logits, n, k, o.Weight
	a.Smoothing, a.ZLoss, a.SoftCap = T(o.LabelSmoothing), T(o.ZLoss), T(o.SoftCap)
	a.Grad, a.RowLoss, a.RowLSE = grad, o.RowLoss, o.RowLSE
	return nil
}

// ceShape adds to r (after the caller's own rules) the checks of the
// shape, of the logits' and gradient's lengths and of o, whatever the
// logits' element type, and validates the class weights.
func ceShape[T Float](r *rules, nLogits int, gradNil bool, nGrad, n, k int, o *CrossEntropyOptions[T], weightName string) error {
	if configErr != nil {
		return configErr
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return err
	}
	r.length("logits", nLogits, nk)
	r.optLength("grad", gradNil, nGrad, nk)
	return ceOptions(r, o, n, k, weightName)
}

// ceOptions adds the checks of o for n rows of k classes to r (after the
// caller's own) and validates the class weights; weightName names o.Weight.
func ceOptions[T Float](r *rules, o *CrossEntropyOptions[T], n, k int, weightName string) error {
	r.optLength(weightName, o.Weight == nil, len(o.Weight), k)
	r.optLength("RowLoss", o.RowLoss == nil, len(o.RowLoss), n)
	r.optLength("RowLSE", o.RowLSE == nil, len(o.RowLSE), n)
	r.reduction(o.Reduction, n, len(o.RowLoss), "RowLoss")
	r.inRange("LabelSmoothing", o.LabelSmoothing, 0, 1)
	r.inRange("ZLoss", o.ZLoss, 0, math.MaxFloat64)
	r.inRange("SoftCap", o.SoftCap, 0, math.MaxFloat64)
	r.inRange("Normalizer", o.Normalizer, 0, math.MaxFloat64)
	r.emptyMean(o.EmptyMean)
	if r.err != nil {
		return r.err
	}
	return checkWeights(weightName, o.Weight)
}

func ceRun[T Float](a *args.CE[T], o *CrossEntropyOptions[T], norm float64) (T, error) {
	return ceRunWith(nil, a, o, norm)
}

// ceRunWith is ceRun with the row kernel run (nil for CrossEntropy's, or
// NLL's).
func ceRunWith[T Float](run func(args.CE[T]) float64, a *args.CE[T], o *CrossEntropyOptions[T], norm float64) (T, error) {
	if o.Normalizer > 0 {
		norm = o.Normalizer
	}
	a.GradScale = T(scaleFor(o.Reduction, o.EmptyMean, norm))
	sum := runCEWith(o.Runner, run, a)
	loss, _ := reduce(o.Reduction, o.EmptyMean, sum, norm)
	return T(loss), nil
}

// SoftmaxFocalOptions configures SoftmaxFocal. The zero value is γ = 0 (plain
// cross-entropy), no α, mean over non-ignored rows, ignore index −100.
type SoftmaxFocalOptions[T Float] struct {
	Reduction Reduction
	// Gamma ≥ 0 is the focusing parameter γ.
	Gamma float64
	// Alpha holds one non-negative factor per class (length K), or nil for 1.
	Alpha     []T
	Ignore    Ignore
	EmptyMean EmptyMean
	RowLoss   []T // per-row losses, required with Reduction None

	// Runner, when non-nil, spreads a large call over its goroutines
	// (see Runner: the results do not depend on their number).
	Runner *Runner
}

// SoftmaxFocal computes multiclass focal loss from logits,
//
//	l_i = −α[y]·(1−p)^γ·log p,   p = softmax(x_i)_y,
//
// and its gradient α[y]·g·(softmax − onehot(y)) with the per-row factor
// g = (1−p)^γ·(1 − γ·p·log p/(1−p)), which is finite for every γ ≥ 0. The
// mean divides by the number of non-ignored rows (α scales losses, as in
// torchvision's sigmoid focal loss, and does not renormalise).
func SoftmaxFocal[T Float](logits []T, targets []int32, n, k int, grad []T, o *SoftmaxFocalOptions[T]) (T, error) {
	if o == nil {
		o = &SoftmaxFocalOptions[T]{}
	}
	ceo := CrossEntropyOptions[T]{Reduction: o.Reduction, Weight: o.Alpha, Ignore: o.Ignore, EmptyMean: o.EmptyMean, RowLoss: o.RowLoss, Runner: o.Runner}
	var a args.CE[T]
	if err := ceCommon(&a, logits, n, k, grad, &ceo, "Alpha"); err != nil {
		return 0, err
	}
	var r rules
	r.length("targets", len(targets), n)
	r.inRange("Gamma", o.Gamma, 0, math.MaxFloat64)
	if r.err != nil {
		return 0, r.err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := classTargets[T](targets, k, ignore, hasIgnore, nil) // α scales losses, the mean counts rows
	if err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss)},
		in:      [4]span{spanOf(logits), spanOf(targets), spanOf(o.Alpha)},
		inPlace: 1, names: focalNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	a.Targets, a.Ignore, a.HasIgnore = targets, ignore, hasIgnore
	a.Focal, a.FocalGamma = true, T(o.Gamma)
	return ceRun(&a, &ceo, norm)
}
