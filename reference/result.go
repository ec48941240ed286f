package reference

import (
	"fmt"
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// Constants of the accuracy contract (see the package documentation).
const (
	// Slack is the contract's c: how many unit roundoffs of T each step of a
	// computation may lose. It covers vector exp/log/tanh of up to 4 ULP
	// (8u) chained through a few roundings, with headroom.
	Slack = 32
	// InputSlack is the relative perturbation, in units of u, applied to an
	// element-wise loss's argument (x, p_t or the residual d) to measure its
	// conditioning: a backend may be as wrong as if that argument had been
	// perturbed by InputSlack·u (range reduction in exp loses about |x|·u).
	InputSlack = 16
	// BlockT is the most terms a backend may add up in T before moving the
	// partial sum into its float64 accumulator across rows or elements.
	BlockT = 64
	// SumBlock32 is the contract's B in float32: the most of a row's
	// exponentials exp(z_j − m) a backend adds in one float32 partial sum
	// (a vector lane) before moving it into a float64 accumulator. avx2
	// and avx512 flush their float32 lanes every 16 vectors (package
	// asmgen/internal/x86, BlockSum); generic and neon add float32
	// exponentials in float64, which is better still.
	SumBlock32 = 16
	// SumLanes64 is the contract's L in float64: the fewest partial sums
	// over which a backend spreads a row's Σ exp(z_j − m); generic adds a
	// row's exponentials one by one in float64, so the sum may lose K·u.
	SumLanes64 = 1
	u64        = 0x1p-53
)

// Result is the reference's answer for one call, with the contract's
// tolerance next to every value. Tolerances are absolute; a tolerance of 0
// asks for an exact match (ignored rows, non-finite values).
type Result struct {
	Dtype string  // "float32" or "float64": the T the call was made with
	U     float64 // unit roundoff of T: 2⁻²⁴ or 2⁻⁵³
	K     int     // row length (1 for flat element-wise calls), for messages

	Loss, LossTol float64 // the returned (reduced) loss
	Sum           float64 // Σ Items, compensated
	Norm          float64 // the mean's denominator (after Normalizer); 0 when not a mean
	Scale         float64 // the factor applied to every gradient (1/Norm for a mean)

	Items, ItemTol []float64 // per-row (CE family) or per-element losses: RowLoss / Loss
	LSE, LSETol    []float64 // CE family: per-row log-sum-exp of the (capped) logits
	Grad, GradTol  []float64 // the gradient of Loss, as the kernel writes it
	Out, OutTol    []float64 // primitives: the dst buffer

	// gradLoose marks a gradient scaled by +Inf (a mean over a zero total
	// weight, EmptyMeanNaN): there only the non-finiteness of each element
	// (and of the loss) and the exact zeros of ignored rows are specified.
	gradLoose bool
	// nonNeg marks losses that cannot be negative (softmax focal): a
	// negative per-row loss or total fails whatever its tolerance.
	nonNeg bool
	// partialOverflow marks a reduced loss whose items, all of one sign,
	// include BlockT whose magnitudes add past the largest finite T: a
	// backend adding them in T before moving to float64 (as the contract
	// allows) overflows to the infinity of their sign, which the loss may
	// then be even where the reference's total is finite.
	partialOverflow bool
	tiny, max       float64 // smallest normal and largest finite value of T
	red             kernels.Reduction
	empty           kernels.EmptyMean
}

func newResult[T kernels.Float](k int) *Result {
	r := &Result{Dtype: "float64", U: u64, K: k, tiny: 0x1p-1022, max: math.MaxFloat64}
	if isFloat32[T]() {
		r.Dtype, r.U, r.tiny, r.max = "float32", 0x1p-24, 0x1p-126, math.MaxFloat32
	}
	return r
}

// isFloat32 reports whether T has float32's precision (T may be a named type).
func isFloat32[T kernels.Float]() bool {
	return float64(T(1+0x1p-30)) == 1
}

// Got is what a backend returned for one call. Nil slices are not checked;
// set CheckLoss to compare the returned loss.
type Got[T kernels.Float] struct {
	CheckLoss bool
	Loss      T
	Items     []T // RowLoss or Loss buffer
	LSE       []T // RowLSE buffer
	Grad      []T
	Out       []T // primitives' dst
}

// Check enforces the accuracy contract on every output present in g and
// returns a descriptive error for the first violation, or nil.
func Check[T kernels.Float](r *Result, g Got[T]) error {
	_, err := Budget(r, g)
	return err
}

// Budget returns the largest fraction of the contract's tolerance that g
// uses (0: exact; ≤ 1: within the contract; +Inf: a value is non-finite
// where it must not be, or the other way round) and, when it exceeds 1, a
// descriptive error for the worst value. The benchmark report prints it as
// its accuracy column.
func Budget[T kernels.Float](r *Result, g Got[T]) (float64, error) {
	var w worst
	if g.CheckLoss {
		// Over a zero denominator (EmptyMeanNaN) the loss is ±Inf or NaN
		// depending on whether a sum within tolerance of 0 is 0.
		w.see(r, "loss", -1, float64(g.Loss), r.Loss, r.LossTol, r.gradLoose)
	}
	slice(&w, r, "items", g.Items, r.Items, r.ItemTol, false)
	slice(&w, r, "lse", g.LSE, r.LSE, r.LSETol, false)
	slice(&w, r, "grad", g.Grad, r.Grad, r.GradTol, r.gradLoose)
	slice(&w, r, "out", g.Out, r.Out, r.OutTol, false)
	if w.ratio > 1 {
		return w.ratio, w.err
	}
	return w.ratio, nil
}

// CheckLoss checks a returned loss alone.
func CheckLoss[T kernels.Float](r *Result, got T) error {
	return Check(r, Got[T]{CheckLoss: true, Loss: got})
}

// CheckItems checks per-row or per-element losses (RowLoss, Loss).
func CheckItems[T kernels.Float](r *Result, got []T) error { return Check(r, Got[T]{Items: got}) }

// CheckLSE checks a RowLSE buffer.
func CheckLSE[T kernels.Float](r *Result, got []T) error { return Check(r, Got[T]{LSE: got}) }

// CheckGrad checks a gradient buffer.
func CheckGrad[T kernels.Float](r *Result, got []T) error { return Check(r, Got[T]{Grad: got}) }

// CheckOut checks a primitive's dst buffer.
func CheckOut[T kernels.Float](r *Result, got []T) error { return Check(r, Got[T]{Out: got}) }

type worst struct {
	ratio float64
	err   error
}

// slice checks a whole output buffer. A buffer of the wrong length is a
// violation in itself.
func slice[T kernels.Float](w *worst, r *Result, name string, got []T, want, tol []float64, loose bool) {
	if got == nil {
		return
	}
	if len(got) != len(want) {
		w.ratio = math.Inf(1)
		w.err = fmt.Errorf("%s %s: %d values, the reference has %d", r.Dtype, name, len(got), len(want))
		return
	}
	for i, v := range got {
		w.see(r, name, i, float64(v), want[i], tol[i], loose)
	}
}

func (w *worst) see(r *Result, name string, i int, got, want, tol float64, loose bool) {
	ratio := ratioOf(r, got, want, tol, loose)
	if name == "loss" && r.partialOverflow && math.IsInf(got, 0) && math.Signbit(got) == math.Signbit(want) {
		ratio = 0
	}
	if r.nonNeg && (name == "loss" || name == "items") && got < 0 {
		ratio = math.Inf(1) // the wrong sign (−0 compares as 0)
	}
	if ratio > w.ratio || (w.err == nil && ratio > 1) {
		w.ratio = ratio
		if ratio > 1 {
			where := name
			if i >= 0 {
				where = fmt.Sprintf("%s[%d]", name, i)
				if r.K > 1 && (name == "grad" || name == "out") {
					where += fmt.Sprintf(" (row %d, col %d)", i/r.K, i%r.K)
				}
			}
			w.err = fmt.Errorf("%s %s: got %v, want %v ± %.3g (error %.3g, %.3g× the contract's bound)",
				r.Dtype, where, got, want, tol, math.Abs(got-want), ratio)
		}
	}
}

// ratioOf is |got − want| / tol, with the contract's rules for non-finite
// values: NaN only where the reference is NaN, an infinity only where it is
// the same infinity or where the reference's value (plus its tolerance)
// overflows T; an infinite tolerance (a term that overflows T) accepts
// anything. Zeros compare without regard to sign.
func ratioOf(r *Result, got, want, tol float64, loose bool) float64 {
	gotBad := math.IsNaN(got) || math.IsInf(got, 0)
	switch {
	case math.IsInf(tol, 1):
		return 0 // a term overflows T: the value is unconstrained
	case loose && (math.IsNaN(want) || math.IsInf(want, 0)):
		if gotBad {
			return 0
		}
		return math.Inf(1)
	case math.IsNaN(want):
		if math.IsNaN(got) {
			return 0
		}
		return math.Inf(1)
	case math.IsInf(want, 0):
		if got == want {
			return 0
		}
		return math.Inf(1)
	case math.IsNaN(got):
		return math.Inf(1)
	case math.IsInf(got, 0):
		if math.Signbit(got) == math.Signbit(want) && math.Abs(want)+tol >= r.max {
			return 0 // rounding to T overflowed, as it may
		}
		return math.Inf(1)
	}
	d := math.Abs(got - want)
	if d == 0 {
		return 0
	}
	if !(tol > 0) {
		return math.Inf(1)
	}
	tol += Slack * r.tiny // results below the smallest normal may be flushed
	return d / tol
}
