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
	var beta T
	switch o.Divergence {
	case kernels.ForwardKL, kernels.ReverseKL:
		if o.Beta != 0 {
			return nil, errf(kernels.ErrOption, "Beta=%v with %v", o.Beta, o.Divergence)
		}
	case kernels.JSD:
		b := o.Beta
		if b == 0 {
			b = 0.5
		}
		if beta = T(b); !(beta > 0 && beta < 1) {
			return nil, errf(kernels.ErrOption, "Beta=%v", o.Beta)
		}
	default:
		return nil, errf(kernels.ErrOption, "Divergence=%v", o.Divergence)
	}
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
		ez, ev := lz.lseTol(r.U, k), lv.lseTol(r.U, k)
		switch o.Divergence {
		case kernels.ReverseKL:
			r.reverseKLRow(i, z, v, lz, lv, ez, ev, lambda, c)
		case kernels.JSD:
			r.jsdRow(i, z, v, lz, lv, ez, ev, lambda, c, float64(beta))
		default:
			r.forwardKLRow(i, z, v, lz, lv, ez, ev, lambda, c)
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

// klTerms is KL(softmax(x)‖softmax(y)) = Σ_j P_j·(log P_j − log Q_j) of two
// finite rows, P = softmax(x), Q = softmax(y), with the bound of its error
// in T and the magnitudes that decide whether a kernel can form it: abs =
// Σ P_j·|x_j − y_j|, spread = Σ |x_j − y_j| where y_j is finite, infTerm
// when some x_j with mass meets y_j = −Inf (the divergence is +Inf). ex and
// ey are the log-sum-exps' error bounds.
func (r *Result) klTerms(x, y []float64, lx, ly lseRow, ex, ey float64) (kl, tol, abs, spread float64, infTerm bool) {
	u, k := r.U, len(x)
	var s sum
	for j := range x {
		if x[j] == math.Inf(-1) {
			continue // no mass: no term
		}
		lp := lx.logp(x[j]) // −Inf where x_j − max x overflows: P_j·log P_j is then 0
		p := math.Exp(lp)
		if p == 0 {
			p = math.SmallestNonzeroFloat64 // a finite x_j has mass: times −log Q_j = +Inf it is +Inf
		}
		lq := ly.logp(y[j])
		infTerm = infTerm || y[j] == math.Inf(-1)
		if lp-lp == 0 {
			s.add(p * lp)
		}
		s.add(ly.nll(p, y[j])) // −P_j·log Q_j, without the overflow of lp − lq
		d := math.Abs(x[j] - y[j])
		abs += p * d
		if y[j]-y[j] == 0 {
			spread += d
		}
		rho := ex + Slack*u*(1+math.Abs(x[j])+math.Abs(x[j]-lx.m)) // P_j's relative error
		tol += p * (rho*math.Abs(lp-lq) + Slack*u*(math.Abs(x[j])+math.Abs(y[j])))
		if p < 2*r.tiny {
			// P_j near or below T's normal range keeps an absolute
			// error: the softmax passes' exponentials may flush below
			// about 2η (x86.ExpFlush, 2^−125 in float32, F71).
			tol += Slack * r.tiny * d
		}
	}
	// Σ P_j·(x_j − y_j) summed in T (mixed signs), the two log-sum-exps.
	tol += (Slack+float64(k))*u*abs + ex + ey + Slack*u*(math.Abs(lx.lse)+math.Abs(ly.lse))
	return s.value(), tol, abs, spread, infTerm
}

// klLoss stores row i's divergence λ·kl and its tolerance, and reports
// whether the kernels can form it (false: unconstrained).
func (r *Result) klLoss(i int, x, y []float64, kl, tol, abs, spread float64, infTerm bool, lambda float64) bool {
	u := r.U
	loss := lambda * kl
	r.Items[i] = loss
	r.ItemTol[i] = finiteTol(loss, lambda*tol+Slack*u*math.Abs(loss)+Slack*r.tiny)
	if r.overflows(math.Abs(loss), lambda*abs) || !(spread*math.Exp(onlineMargin) <= r.max) || diffs(x, y) > r.max ||
		math.IsInf(loss, 0) && !infTerm {
		// A term x_j − y_j, or the sum of the weighted ones, beyond T's
		// range: the kernels' value is ±Inf or NaN where the true one
		// may be finite. The kernels weight each x_j − y_j by
		// e^(x_j − ref) before they divide by the sum, where ref is the
		// row's maximum (≤ 1: F67) or, in an online pass, a reference up
		// to onlineMargin below the maximum of the row so far
		// (≤ e^onlineMargin: F72, F74); such a partial sum or term beyond
		// T's range may end as ±Inf, even after later rescaling. An
		// infinite loss from finite terms is this float64 computation
		// overflowing (a divergence within an ULP of MaxFloat64, F70):
		// the true value may be finite.
		r.ItemTol[i] = math.Inf(1)
		return false
	}
	return true
}

// forwardKLRow is row i of the forward divergence KL(P‖Q), P = softmax(v)
// the teacher's, with gradient c·(Q_j − P_j).
func (r *Result) forwardKLRow(i int, z, v []float64, lz, lv lseRow, ez, ev, lambda, c float64) {
	u, k := r.U, len(z)
	kl, tol, abs, spread, infTerm := r.klTerms(v, z, lv, lz, ev, ez)
	r.klLoss(i, v, z, kl, tol, abs, spread, infTerm, lambda)
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

// reverseKLRow is row i of the reverse divergence KL(Q‖P), with gradient
// c·Q_j·((z_j − v_j) − D), D = Σ Q·(z − v): 0 where Q_j = 0, and NaN
// throughout a row whose divergence is +Inf (the teacher has no mass where
// the student has some: no finite gradient exists).
func (r *Result) reverseKLRow(i int, z, v []float64, lz, lv lseRow, ez, ev, lambda, c float64) {
	u, k := r.U, len(z)
	kl, tol, abs, spread, infTerm := r.klTerms(z, v, lz, lv, ez, ev)
	ok := r.klLoss(i, z, v, kl, tol, abs, spread, infTerm, lambda)
	g, gt := r.Grad[i*k:i*k+k], r.GradTol[i*k:i*k+k]
	if infTerm {
		for j := range g {
			g[j] = math.NaN()
		}
		return
	}
	if !ok {
		for j := range g {
			g[j], gt[j] = math.NaN(), math.Inf(1) // D is beyond T's range: so is the gradient
		}
		return
	}
	// D accurately, and the error of the kernels' D = Σ e^(z−ref)·(z − v)
	// / Σ e^(z−ref): the weights' relative errors times the terms, the
	// summation, the division.
	var dsum sum
	var tolD float64
	for j := 0; j < k; j++ {
		if z[j] == math.Inf(-1) {
			continue // no mass: no term
		}
		q := math.Exp(lz.logp(z[j]))
		d := z[j] - v[j]
		if q < 2*r.tiny {
			// Q_j near or below T's normal range keeps an absolute error:
			// pass 1 raises a weight that underflows to the smallest
			// subnormal (so that a teacher −Inf still makes D +Inf), and
			// that floor times z_j − v_j enters D (F75).
			tolD += Slack * r.tiny * math.Abs(d)
		}
		if q == 0 {
			continue
		}
		dsum.add(q * d)
		rq := ez + Slack*u*(1+math.Abs(z[j])+math.Abs(z[j]-lz.m))
		tolD += q * math.Abs(d) * (math.Expm1(rq) + (2*Slack+float64(k))*u)
	}
	D := dsum.value()
	for j := 0; j < k; j++ {
		q := math.Exp(lz.logp(z[j]))
		if q == 0 {
			g[j], gt[j] = 0, finiteTol(0, Slack*r.tiny*math.Max(1, math.Abs(c)))
			continue
		}
		d := z[j] - v[j]
		w := d - D
		gj := c * q * w
		rq := ez + Slack*u*(1+math.Abs(z[j])+math.Abs(z[j]-lz.m))
		t := math.Abs(c) * q * (math.Expm1(rq)*math.Abs(w) + tolD + Slack*u*(math.Abs(d)+math.Abs(D)))
		t += Slack*u*math.Abs(gj) + Slack*r.tiny*math.Max(1, math.Abs(c))
		if q < 2*r.tiny {
			t += math.Abs(c) * Slack * r.tiny * math.Abs(w) // Q_j may be flushed
		}
		g[j], gt[j] = gj, finiteTol(gj, t)
		if r.overflows(math.Abs(c)*math.Abs(w), math.Abs(gj)) {
			gt[j] = math.Inf(1)
		}
	}
}

// jsdRow is row i of the generalised Jensen–Shannon divergence
// β·KL(P‖M) + (1−β)·KL(Q‖M), M = β·P + (1−β)·Q, with gradient
// c·(1−β)·Q_j·(log(Q_j/M_j) − KL(Q‖M)). Each log M_j is the log-domain sum
// of log(β·P_j) and log((1−β)·Q_j); a zero probability has no term. The
// divergence is at most log(1/min(β, 1−β)), so no term leaves T's range.
func (r *Result) jsdRow(i int, z, v []float64, lz, lv lseRow, ez, ev, lambda, c, beta float64) {
	u, k := r.U, len(z)
	lb, l1b := math.Log(beta), math.Log1p(-beta)
	lm := make([]float64, k) // log M_j
	rm := make([]float64, k) // log M_j's error bound
	var kp, kq sum
	var tolP, tolQ, absP, absQ float64
	rho := func(x float64, l lseRow, e float64) float64 { return e + Slack*u*(1+math.Abs(x)+math.Abs(x-l.m)) }
	for j := 0; j < k; j++ {
		a, b := lv.logp(v[j]), lz.logp(z[j])
		la, lq := a+lb, b+l1b
		hi := math.Max(la, lq)
		if hi == math.Inf(-1) {
			lm[j] = hi
			continue // M_j = 0: neither term exists
		}
		lm[j] = hi + math.Log1p(math.Exp(-math.Abs(la-lq)))
		ra, rb := rho(v[j], lv, ev), rho(z[j], lz, ez)
		rm[j] = Slack * u * (1 + math.Abs(lm[j]) + math.Abs(lb) + math.Abs(l1b))
		if a-a == 0 {
			rm[j] = math.Max(rm[j], ra+Slack*u*math.Abs(la))
		}
		if b-b == 0 {
			rm[j] = math.Max(rm[j], rb+Slack*u*math.Abs(lq))
		}
		if p := math.Exp(a); p != 0 {
			t := p * (a - lm[j])
			kp.add(t)
			absP += math.Abs(t)
			tolP += p * (math.Expm1(ra)*math.Abs(a-lm[j]) + ra + rm[j] + Slack*u*math.Abs(a-lm[j]))
		}
		if a-a == 0 && math.Exp(a) < 2*r.tiny {
			tolP += Slack * r.tiny * (1 + math.Abs(a-lm[j])) // P_j may be flushed
		}
		if q := math.Exp(b); q != 0 {
			t := q * (b - lm[j])
			kq.add(t)
			absQ += math.Abs(t)
			tolQ += q * (math.Expm1(rb)*math.Abs(b-lm[j]) + rb + rm[j] + Slack*u*math.Abs(b-lm[j]))
		}
		if b-b == 0 && math.Exp(b) < 2*r.tiny {
			tolQ += Slack * r.tiny * (1 + math.Abs(b-lm[j]))
		}
	}
	tolP += (Slack + float64(k)) * u * absP
	tolQ += (Slack + float64(k)) * u * absQ
	KQ := kq.value()
	loss := lambda * (beta*kp.value() + (1-beta)*KQ)
	r.Items[i] = loss
	r.ItemTol[i] = finiteTol(loss, lambda*(beta*tolP+(1-beta)*tolQ)+Slack*u*math.Abs(loss)+Slack*r.tiny)
	if r.overflows(math.Abs(loss), lambda*(absP+absQ)) {
		r.ItemTol[i] = math.Inf(1) // λ times a divergence beyond T's range
	}
	c1 := c * (1 - beta)
	for j := 0; j < k; j++ {
		b := lz.logp(z[j])
		q := math.Exp(b)
		if q == 0 {
			r.Grad[i*k+j], r.GradTol[i*k+j] = 0, finiteTol(0, Slack*r.tiny*math.Max(1, math.Abs(c1)))
			continue
		}
		w := (b - lm[j]) - KQ
		g := c1 * q * w
		rb := rho(z[j], lz, ez)
		t := math.Abs(c1) * q * (math.Expm1(rb)*math.Abs(w) + rb + rm[j] + tolQ + Slack*u*(math.Abs(b-lm[j])+math.Abs(KQ)))
		t += Slack*u*math.Abs(g) + Slack*r.tiny*math.Max(1, math.Abs(c1))
		if q < 2*r.tiny {
			t += math.Abs(c1) * Slack * r.tiny * math.Abs(w)
		}
		r.Grad[i*k+j], r.GradTol[i*k+j] = g, finiteTol(g, t)
		if r.overflows(math.Abs(c1)*math.Abs(w), math.Abs(g)) {
			r.GradTol[i*k+j] = math.Inf(1)
		}
	}
}
