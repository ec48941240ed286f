package suite

import (
	"fmt"
	"math"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// ReferenceName names the oracle the accuracy columns are measured against.
const ReferenceName = "package reference (float64, math.Exp/Log, compensated sums; DistillReverseKL and DistillJSD: bench/suite's float64 oracle, which package reference lacks)"

// computeReference asks package reference for the loss, gradient and
// primitive output of the kernel on b's inputs, with the options the
// runners use. The reference widens the inputs to float64 exactly.
func computeReference[T kernels.Float](k *Kernel, s Shape, b *buffers[T]) (*reference.Result, error) {
	x, y, tg, n, kk := b.x, b.y, b.targets, s.N, s.K
	switch k.Name {
	case "CrossEntropy", "CrossEntropyShards":
		return reference.CrossEntropy(x, tg, n, kk, nil)
	case "CrossEntropyProbs":
		return reference.CrossEntropyProbs(x, y, n, kk, nil)
	case "NLL":
		return reference.NLL(x, tg, n, kk, nil)
	case "KLDiv":
		return reference.KLDiv(x, y, n, kk, &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean})
	case "Distill":
		return reference.Distill(x, y, n, kk, &kernels.DistillOptions[T]{Temperature: DistillTemperature, ScaleT2: true})
	case "DistillReverseKL":
		return distillReference(x, y, n, kk, kernels.ReverseKL, 0)
	case "DistillJSD":
		return distillReference(x, y, n, kk, kernels.JSD, DistillBeta)
	case "SoftmaxFocal":
		return reference.SoftmaxFocal(x, tg, n, kk, &kernels.SoftmaxFocalOptions[T]{Gamma: FocalGamma})
	case "BCEWithLogits":
		return reference.BCEWithLogits(x, y, n, kk, nil)
	case "BCE":
		return reference.BCE(x, y, n, kk, nil)
	case "SigmoidFocal":
		return reference.SigmoidFocal(x, y, n, kk, &kernels.FocalOptions[T]{Alpha: FocalAlpha, Gamma: FocalGamma})
	case "FocalProbs":
		return reference.FocalProbs(x, y, n, kk, &kernels.FocalOptions[T]{Alpha: FocalAlpha, Gamma: FocalGamma})
	case "MSE":
		return reference.MSE(x, y, nil)
	case "L1":
		return reference.L1(x, y, nil)
	case "Huber":
		return reference.Huber(x, y, &kernels.HuberOptions[T]{Delta: HuberDelta})
	case "SmoothL1":
		return reference.SmoothL1(x, y, &kernels.SmoothL1Options[T]{Beta: SmoothBeta})
	case "Softmax":
		return reference.Softmax(x, n, kk)
	case "LogSoftmax":
		return reference.LogSoftmax(x, n, kk)
	case "LogSumExp":
		return reference.LogSumExp(x, n, kk)
	case "Sigmoid":
		return reference.Sigmoid(x)
	case "LogSigmoid":
		return reference.LogSigmoid(x)
	case "Softplus":
		return reference.Softplus(x)
	case "SoftplusBeta":
		return reference.SoftplusBeta(x, T(SoftplusBetaBeta), T(SoftplusBetaThreshold))
	case "SoftmaxBackward":
		return reference.SoftmaxBackward(y, x, n, kk)
	case "LogSoftmaxBackward":
		return reference.LogSoftmaxBackward(y, x, n, kk)
	case "LogSumExpBackward":
		return reference.LogSumExpBackward(y, x, b.lse, n, kk)
	case "SigmoidBackward":
		return reference.SigmoidBackward(y, x)
	case "LogSigmoidBackward":
		return reference.LogSigmoidBackward(y, x)
	case "SoftplusBackward":
		return reference.SoftplusBackward(y, x)
	}
	return nil, fmt.Errorf("no reference for kernel %q", k.Name)
}

// distillReference is the oracle of DistillReverseKL and DistillJSD.
// Package reference does not know Distill's other divergences yet (its
// Distill reads no DistillOptions.Divergence and would answer with the
// forward KL), so the suite states them here: the float64 formulas of
// kernels.Distill's documentation on z = s·τ and v = t·τ rounded to T as
// the kernels form them, with the run's options (T² scaling, the mean over
// the rows), and a first-order error bound in the manner of
// reference.Distill's: each log-softmax off by its log-sum-exp's bound and
// Slack·u per element, the row's K terms summed in T, the divergence's
// error carried into the gradient, and the final roundings. It covers
// finite rows only, all the suite generates, and fails on any other. The
// Result is reference.Distill's forward-KL answer on the same inputs, for
// its settings (T, its range, the reduction), with every value and
// tolerance replaced. beta is JSD's β.
func distillReference[T kernels.Float](student, teacher []T, n, k int, div kernels.Divergence, beta float64) (*reference.Result, error) {
	r, err := reference.Distill(student, teacher, n, k, &kernels.DistillOptions[T]{Temperature: DistillTemperature, ScaleT2: true})
	if err != nil {
		return nil, err
	}
	u, tiny := r.U, 0x1p-1022
	sumT := float64(k) // reference's S_T(K): K terms in float64, at most SumBlock32 per float32 partial sum
	if u > 0x1p-53 {
		tiny, sumT = 0x1p-126, float64(min(k, reference.SumBlock32))
	}
	tau := T(1 / DistillTemperature)
	lambda := float64(T(DistillTemperature * DistillTemperature))
	c := float64(T(lambda * float64(tau) * r.Scale)) // the kernels' gradient coefficient, rounded to T
	beta = float64(T(beta))
	logB, logB1 := math.Log(beta), math.Log1p(-beta)
	slack := float64(reference.Slack)

	r.Items, r.ItemTol = make([]float64, n), make([]float64, n)
	r.Grad, r.GradTol = make([]float64, n*k), make([]float64, n*k)
	lq, lp, eq, ep := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	lm, em := make([]float64, k), make([]float64, k)
	// logSoftmax fills l with x·τ's log-softmax and e with each value's
	// error bound.
	logSoftmax := func(row []T, l, e []float64) error {
		m := math.Inf(-1)
		for j, v := range row {
			l[j] = float64(T(v * tau))
			if math.IsNaN(l[j]) || math.IsInf(l[j], 0) {
				return fmt.Errorf("suite: %v at %d: the %v oracle covers finite rows only", l[j], j, div)
			}
			m = math.Max(m, l[j])
		}
		var s compSum
		for _, z := range l {
			s.add(math.Exp(z - m))
		}
		logS := math.Log(s.value())
		lse := u * (slack*(math.Abs(m)+math.Abs(m+logS)+1) + sumT)
		for j, z := range l {
			l[j] = (z - m) - logS
			e[j] = lse + slack*u*(1+math.Abs(z)+math.Abs(z-m))
		}
		return nil
	}
	// kl returns Σ a_j·(la_j − lb_j) for a = exp(la) and its error bound,
	// where la_j is off by ea_j and lb_j by eb_j.
	kl := func(la, ea, lb, eb []float64) (float64, float64) {
		var d compSum
		var abs, tol float64
		for j := range la {
			a, diff := math.Exp(la[j]), la[j]-lb[j]
			d.add(a * diff)
			abs += a * math.Abs(diff)
			tol += a * (ea[j]*math.Abs(diff) + ea[j] + eb[j])
		}
		return d.value(), tol + (slack+float64(k))*u*abs
	}
	for i := 0; i < n; i++ {
		if err := logSoftmax(student[i*k:(i+1)*k], lq, eq); err != nil {
			return nil, err
		}
		if err := logSoftmax(teacher[i*k:(i+1)*k], lp, ep); err != nil {
			return nil, err
		}
		var item, itemTol, kq, kqTol, coef float64
		switch div {
		case kernels.ReverseKL: // λ·KL(Q‖P); ∂/∂s_j = c·Q_j·(log Q_j − log P_j − KL(Q‖P))
			kq, kqTol = kl(lq, eq, lp, ep)
			item, itemTol = lambda*kq, lambda*kqTol
			copy(lm, lp)
			coef = c
		case kernels.JSD: // λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)); ∂/∂s_j = c·(1−β)·Q_j·(log Q_j − log M_j − KL(Q‖M))
			for j := range lm {
				a, b := logB+lp[j], logB1+lq[j]
				lm[j] = math.Max(a, b) + math.Log1p(math.Exp(-math.Abs(a-b)))
				em[j] = ep[j] + eq[j] + slack*u // a convex mix of P's and Q's errors, and the mixing's roundings
			}
			kp, kpTol := kl(lp, ep, lm, em)
			kq, kqTol = kl(lq, eq, lm, em)
			item = lambda * (beta*kp + (1-beta)*kq)
			itemTol = lambda * (beta*kpTol + (1-beta)*kqTol)
			copy(ep, em) // the gradient's second log is log M
			coef = c * (1 - beta)
		default:
			return nil, fmt.Errorf("suite: no oracle for divergence %v", div)
		}
		r.Items[i], r.ItemTol[i] = item, itemTol+slack*u*math.Abs(item)+slack*tiny
		for j := 0; j < k; j++ {
			q, d := math.Exp(lq[j]), lq[j]-lm[j]-kq
			g := coef * q * d
			t := math.Abs(coef)*q*(eq[j]*math.Abs(d)+eq[j]+ep[j]+kqTol) + slack*u*math.Abs(g) + slack*tiny*math.Max(1, math.Abs(coef))
			r.Grad[i*k+j], r.GradTol[i*k+j] = g, t
		}
	}
	// The mean over the rows, as reference's finish bounds it: the items'
	// errors, their sum (in T for up to BlockT terms, then float64) and the
	// final rounding.
	var sum compSum
	var abs, tols float64
	for i, v := range r.Items {
		sum.add(v)
		abs += math.Abs(v)
		tols += r.ItemTol[i]
	}
	m := float64(n)
	r.Sum = sum.value()
	r.Loss = r.Sum / r.Norm
	r.LossTol = (tols+(u*math.Min(m, reference.BlockT)+0x1p-53*m)*abs)/r.Norm + slack*u*math.Abs(r.Loss)
	return r, nil
}

// compSum is a compensated (Neumaier) float64 sum.
type compSum struct{ s, c float64 }

func (a *compSum) add(v float64) {
	t := a.s + v
	if math.Abs(a.s) >= math.Abs(v) {
		a.c += (a.s - t) + v
	} else {
		a.c += (v - t) + a.s
	}
	a.s = t
}

func (a *compSum) value() float64 { return a.s + a.c }
