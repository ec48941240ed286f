package kernels

import (
	"fmt"
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Divergence chooses the divergence Distill computes between the teacher's
// softmax P and the student's Q.
type Divergence uint8

const (
	// ForwardKL is KL(P‖Q) = Σ P·(log P − log Q), the default.
	ForwardKL Divergence = iota
	// ReverseKL is KL(Q‖P) = Σ Q·(log Q − log P), mode-seeking.
	ReverseKL
	// JSD is the generalised Jensen–Shannon divergence with mixing weight
	// β = DistillOptions.Beta:
	//
	//	β·KL(P‖M) + (1−β)·KL(Q‖M),   M = β·P + (1−β)·Q.
	//
	// It is TRL's and Liger-Kernel's generalized_jsd_loss(beta) for
	// 0 < β < 1; their β = 0 and β = 1 are ForwardKL and ReverseKL.
	JSD
)

// String names d as the constant that holds it.
func (d Divergence) String() string {
	switch d {
	case ForwardKL:
		return "ForwardKL"
	case ReverseKL:
		return "ReverseKL"
	case JSD:
		return "JSD"
	}
	return fmt.Sprintf("Divergence(%d)", uint8(d))
}

// DistillOptions configures Distill. The zero value is the forward KL
// divergence at temperature 1, no T² scaling, the mean over all rows.
type DistillOptions[T Float] struct {
	// Divergence is ForwardKL (the zero value), ReverseKL or JSD.
	Divergence Divergence
	// Beta is JSD's mixing weight, 0 < β < 1 after rounding to T; 0 means
	// 0.5, the symmetric Jensen–Shannon divergence. It must be 0 with the
	// other divergences.
	Beta float64
	// Temperature T > 0 divides both rows of logits before their softmax;
	// 0 means 1.
	Temperature float64
	// ScaleT2 multiplies the loss (and so its gradient) by T², Hinton's
	// scaling, which keeps the gradient's size independent of T.
	ScaleT2 bool
	// Reduction is Mean (over the rows not ignored; BatchMean is the same),
	// Sum or None.
	Reduction Reduction
	// Labels, when non-nil (length N), mark rows to skip: a row whose label
	// is the Ignore index has loss 0 and gradient 0. Other labels are not
	// read (they are usually the tokens of a language model's batch).
	Labels []int32
	// Ignore is the label value of a skipped row; the zero value is −100.
	Ignore Ignore
	// EmptyMean chooses the mean of a batch with every row ignored.
	EmptyMean EmptyMean
	// RowLoss, when non-nil, receives the per-row losses (length N); it is
	// required with Reduction None.
	RowLoss []T
	// Runner, when non-nil, spreads a large call over its goroutines.
	Runner *Runner
}

// Distill computes the knowledge-distillation loss between N rows of K
// student logits s and teacher logits t at temperature T: with
// z = s·τ and v = t·τ (τ = 1/T rounded to the element type, each product
// rounded), P = softmax(v) and Q = softmax(z), row i has loss
//
//	l_i = λ·KL(P‖Q) = λ·Σ_j P_j·(log P_j − log Q_j),   λ = T² or 1,
//
// the PyTorch expression
//
//	λ·kl_div(log_softmax(s/T), log_softmax(t/T), log_target=True, reduction="none").sum(-1)
//
// and, when grad is non-nil, the gradient of the returned loss with respect
// to the student's logits, λ·τ·(Q − P)·r per row (r = 1/rows counted for
// Mean). Neither softmax is stored: each row is read twice, once for both
// log-sum-exps and the divergence, once for the gradient. grad may be
// student itself (in place). A class the teacher gives probability 0
// (v_j = −Inf) adds nothing; one the student gives 0 where the teacher does
// not makes the row +Inf. A row holding NaN or +Inf, or only −Inf, in
// either input is NaN, as PyTorch's log_softmax makes it.
//
// With Divergence ReverseKL the row's loss is λ·KL(Q‖P) and its gradient
// λ·τ·r·Q_j·((z_j − v_j) − Σ_i Q_i·(z_i − v_i)), in the same two passes; a
// student's −Inf adds nothing, and a teacher's −Inf where the student has
// mass makes the loss +Inf and that row's gradient NaN (no finite gradient
// exists). With JSD the loss is λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)), at most
// λ·log(1/min(β, 1−β)), and its gradient λ·τ·r·(1−β)·Q_j·(log(Q_j/M_j) −
// KL(Q‖M)), in three passes: the log-sum-exps, the divergences, the
// gradient.
func Distill[T Float](student, teacher []T, n, k int, grad []T, o *DistillOptions[T]) (T, error) {
	if configErr != nil {
		return 0, configErr
	}
	if o == nil {
		o = &DistillOptions[T]{}
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return 0, err
	}
	temp := o.Temperature
	if temp == 0 {
		temp = 1
	}
	red := o.Reduction
	if red == BatchMean {
		red = Mean
	}
	var r rules
	r.length("student", len(student), nk)
	r.length("teacher", len(teacher), nk)
	r.optLength("grad", grad == nil, len(grad), nk)
	r.optLength("Labels", o.Labels == nil, len(o.Labels), n)
	r.optLength("RowLoss", o.RowLoss == nil, len(o.RowLoss), n)
	r.reduction(red, n, len(o.RowLoss), "RowLoss")
	r.inRange("Temperature", temp, math.SmallestNonzeroFloat64, math.MaxFloat64)
	r.emptyMean(o.EmptyMean)
	if r.err != nil {
		return 0, r.err
	}
	beta, err := distillBeta[T](o.Divergence, o.Beta)
	if err != nil {
		return 0, err
	}
	tau := T(1 / temp)
	if !(tau > 0 && float64(tau) <= math.MaxFloat64) || float64(tau) > maxOf[T]() {
		return 0, wrapf(ErrOption, "Temperature=%v: 1/T is not a positive finite value of the element type", temp)
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm := float64(n)
	if o.Labels != nil && hasIgnore {
		norm = 0
		for _, y := range o.Labels {
			if y != ignore {
				norm++
			}
		}
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss)},
		in:      [4]span{spanOf(student), spanOf(teacher), spanOf(o.Labels)},
		inPlace: 1, names: distillNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	lambda := 1.0
	if o.ScaleT2 {
		lambda = temp * temp
		if float64(T(lambda)) > maxOf[T]() {
			return 0, wrapf(ErrOption, "Temperature=%v: T² overflows the element type", temp)
		}
	}
	a := args.CE[T]{X: student, Teacher: teacher, N: n, K: k, Targets: o.Labels, Ignore: ignore,
		HasIgnore: hasIgnore && o.Labels != nil, InvTemp: tau, LossScale: T(lambda),
		Divergence: args.Divergence(o.Divergence), Beta: beta, Grad: grad, RowLoss: o.RowLoss}
	a.GradScale = T(lambda * float64(tau) * scaleFor(red, o.EmptyMean, norm))
	sum := runCEWith(o.Runner, impl[T]().Distill, &a)
	loss, _ := reduce(red, o.EmptyMean, sum, norm)
	return T(loss), nil
}

// distillBeta checks a divergence and its β and returns β rounded to T
// (0 for the KL divergences).
func distillBeta[T Float](d Divergence, beta float64) (T, error) {
	switch d {
	case ForwardKL, ReverseKL:
		if beta != 0 {
			return 0, wrapf(ErrOption, "Beta=%v: only JSD takes a mixing weight (%v is its β = 0 or 1 limit)", beta, d)
		}
		return 0, nil
	case JSD:
		if beta == 0 {
			beta = 0.5
		}
		if b := T(beta); !(b > 0 && b < 1) {
			return 0, wrapf(ErrOption, "Beta=%v: JSD's mixing weight must lie strictly between 0 and 1 in the element type (use ForwardKL or ReverseKL for the limits)", beta)
		}
		return T(beta), nil
	}
	return 0, wrapf(ErrOption, "Divergence=%v: not ForwardKL, ReverseKL or JSD", d)
}

// maxOf is the largest finite value of T.
func maxOf[T Float]() float64 {
	if float64(T(1+0x1p-30)) == 1 {
		return math.MaxFloat32
	}
	return math.MaxFloat64
}
