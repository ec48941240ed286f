package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// Distill is the reference for kernels.Distill: with z = s·τ and v = t·τ
// rounded to T as the kernels form them (τ = 1/T rounded to T),
// P = softmax(v), Q = softmax(z),
//
//	l_i = λ·Σ_j P_j·(log P_j − log Q_j),   ∂L/∂s_j = c·(Q_j − P_j),
//
// c = λ·τ·Scale rounded to T. Terms with P_j = 0 are absent; rows ignored
// through Labels are exactly 0; a row whose z or v has no finite
// log-sum-exp is NaN.
func Distill[T kernels.Float](student, teacher []T, n, k int, o *kernels.DistillOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.DistillOptions[T]{}
	}
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	red := o.Reduction
	if red == kernels.BatchMean {
		red = kernels.Mean
	}
	if err := lengths(need("student", len(student), nk), need("teacher", len(teacher), nk),
		opt("Labels", o.Labels, n), opt("RowLoss", o.RowLoss, n)); err != nil {
		return nil, err
	}
	if err := first(reductionOK(red, n, len(o.RowLoss), "RowLoss"), emptyMeanOK(o.EmptyMean)); err != nil {
		return nil, err
	}
	temp := o.Temperature
	if temp == 0 {
		temp = 1
	}
	tau := T(1 / temp)
	lambda := 1.0
	if o.ScaleT2 {
		lambda = temp * temp
	}
	r := newResult[T](k)
	if !(temp > 0 && temp <= math.MaxFloat64) || !(float64(tau) > 0 && float64(tau) <= r.max) || float64(T(lambda)) > r.max {
		return nil, errf(kernels.ErrOption, "Temperature=%v", temp)
	}
	lambda = float64(T(lambda))
	ignore, hasIgnore := o.Ignore.Index()
	hasIgnore = hasIgnore && o.Labels != nil
	norm := 0.0
	for i := 0; i < n; i++ {
		if !hasIgnore || o.Labels[i] != ignore {
			norm++
		}
	}
	r.setScale(red, o.EmptyMean, norm)
	c := float64(T(lambda * float64(tau) * r.Scale)) // the kernels' row coefficient, rounded to T
	r.Items, r.ItemTol = make([]float64, n), make([]float64, n)
	r.Grad, r.GradTol = make([]float64, nk), make([]float64, nk)
	z, v := make([]float64, k), make([]float64, k)
	u := r.U
	for i := 0; i < n; i++ {
		if hasIgnore && o.Labels[i] == ignore {
			continue
		}
		for j := 0; j < k; j++ {
			z[j] = float64(T(student[i*k+j] * tau))
			v[j] = float64(T(teacher[i*k+j] * tau))
		}
		lz, lv := logSumExp(z), logSumExp(v)
		if lz.kind != rowFinite || lv.kind != rowFinite {
			r.Items[i] = math.NaN()
			for j := 0; j < k; j++ {
				r.Grad[i*k+j] = math.NaN()
			}
			continue
		}
		ez, ev := lz.lseTol(u, k), lv.lseTol(u, k)
		var kl sum
		infTerm := false             // a class the teacher gives mass and the student −Inf: the row is +Inf
		var abs, spread, tol float64 // Σ P_j·|v_j − z_j|, Σ |v_j − z_j| where z_j is finite, the terms' own errors
		for j := 0; j < k; j++ {
			if v[j] == math.Inf(-1) {
				continue // no teacher mass: no term
			}
			lp := lv.logp(v[j]) // −Inf where v_j − max v overflows: P_j·log P_j is then 0
			p := math.Exp(lp)
			if p == 0 {
				p = math.SmallestNonzeroFloat64 // a finite v_j has mass: times −log Q_j = +Inf it is +Inf
			}
			lq := lz.logp(z[j])
			infTerm = infTerm || z[j] == math.Inf(-1)
			if lp-lp == 0 {
				kl.add(p * lp)
			}
			kl.add(lz.nll(p, z[j])) // −P_j·log Q_j, without the overflow of lp − lq
			d := math.Abs(v[j] - z[j])
			abs += p * d
			if z[j]-z[j] == 0 {
				spread += d
			}
			rho := ev + Slack*u*(1+math.Abs(v[j])+math.Abs(v[j]-lv.m)) // P_j's relative error
			tol += p * (rho*math.Abs(lp-lq) + Slack*u*(math.Abs(v[j])+math.Abs(z[j])))
			if p < 2*r.tiny {
				// P_j near or below T's normal range keeps an absolute
				// error: the softmax passes' exponentials may flush below
				// about 2η (x86.ExpFlush, 2^−125 in float32, F71).
				tol += Slack * r.tiny * d
			}
		}
		// Σ P_j·(v_j − z_j) summed in T (mixed signs), the two log-sum-exps.
		tol += (Slack+float64(k))*u*abs + ez + ev + Slack*u*(math.Abs(lz.lse)+math.Abs(lv.lse))
		loss := lambda * kl.value()
		r.Items[i] = loss
		r.ItemTol[i] = finiteTol(loss, lambda*tol+Slack*u*math.Abs(loss)+Slack*r.tiny)
		if r.overflows(math.Abs(loss), lambda*abs) || !(spread*math.Exp(onlineMargin) <= r.max) || diffs(v, z) > r.max ||
			math.IsInf(loss, 0) && !infTerm {
			// A term v_j − z_j, or the sum of the weighted ones, beyond T's
			// range: the kernels' value is ±Inf or NaN where the true one
			// may be finite. The kernels weight each v_j − z_j by
			// e^(v_j − ref) before they divide by the teacher's sum, where
			// ref is the row's maximum (≤ 1: F67) or, in an online pass, a
			// reference up to onlineMargin below the maximum of the row so
			// far (≤ e^onlineMargin: F72, F74); such a partial sum or term
			// beyond T's range may end as ±Inf, even after later rescaling.
			// An infinite loss from finite terms is this float64
			// computation overflowing (a divergence within an ULP of
			// MaxFloat64, F70): the true value may be finite.
			r.ItemTol[i] = math.Inf(1)
		}
		for j := 0; j < k; j++ {
			q := math.Exp(lz.logp(z[j]))
			p := math.Exp(lv.logp(v[j]))
			g := c * (q - p)
			rq := ez + Slack*u*(1+math.Abs(z[j])+math.Abs(z[j]-lz.m))
			rp := ev + Slack*u*(1+math.Abs(v[j])+math.Abs(v[j]-lv.m))
			t := math.Abs(c) * (q*math.Expm1(rq) + p*math.Expm1(rp) + Slack*u*(q+p))
			t += Slack * r.tiny * math.Max(1, math.Abs(c))
			r.Grad[i*k+j], r.GradTol[i*k+j] = g, finiteTol(g, t)
		}
	}
	r.finish()
	return r, nil
}

// onlineMargin is how far below the maximum of the row so far the
// reference of an online log-sum-exp may stay (asmgen/amd64's
// rescaleMargin): its weights e^(x − ref) reach e^onlineMargin, and a
// product with them may overflow T where the normalised one does not (F72,
// F74).
const onlineMargin = 20

// diffs returns the largest |v_j − z_j| over the pairs of finite values
// (+Inf where float64 overflows).
func diffs(v, z []float64) float64 {
	m := 0.0
	for j := range v {
		if v[j]-v[j] == 0 && z[j]-z[j] == 0 {
			m = math.Max(m, math.Abs(v[j]-z[j]))
		}
	}
	return m
}
