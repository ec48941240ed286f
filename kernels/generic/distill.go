package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Distill is the divergence (args.CE.Divergence) of the teacher's softmax P
// and the student's Q, each over the logits times InvTemp, per row (see
// kernels.Distill): the KL divergences in two passes over each row (both
// log-sum-exps and the divergence, then the gradient), JSD in three.
func Distill[T args.Float](a args.CE[T]) float64 {
	args.Took("generic/distill")
	k := a.K
	tau, lam, c := a.InvTemp, float64(a.LossScale), float64(a.GradScale)
	var total float64
	mix := newJSDMix(float64(a.Beta))
	for i := range a.N {
		s, t := a.X[i*k:i*k+k], a.Teacher[i*k:i*k+k]
		var g []T
		if a.Grad != nil {
			g = a.Grad[i*k : i*k+k]
		}
		if a.HasIgnore && a.Targets[i] == a.Ignore {
			if a.RowLoss != nil {
				a.RowLoss[i] = 0
			}
			zero(g)
			continue
		}
		var l float64
		switch a.Divergence {
		case args.ReverseKL:
			l = lam * reverseKLRow(s, t, g, tau, c)
		case args.JSD:
			l = lam * jsdRow(s, t, g, tau, c, &mix)
		default:
			l = lam * distillRow(s, t, g, tau, c)
		}
		if a.RowLoss != nil {
			a.RowLoss[i] = T(l)
		}
		total += l
	}
	return total
}

// distillRow returns KL(P‖Q) for one row and writes its gradient c·(Q − P)
// to g (when non-nil; g may be s). A row whose scaled maximum is not finite
// in either input (NaN, +Inf, or every logit −Inf) is NaN throughout.
func distillRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	lv, lz, d, ok := klPass(t, s, tau)
	if !ok {
		fill(g, T(math.NaN()))
		return math.NaN()
	}
	if g != nil {
		distillGrad(s, t, g, tau, c, lz, lv)
	}
	return d + lz.minus(lv)
}

// reverseKLRow returns KL(Q‖P) for one row and writes its gradient
// c·Q_j·((z_j − v_j) − D), D = Σ Q·(z − v), to g. A row whose divergence is
// +Inf (the teacher has no mass where the student has some) has no finite
// gradient: NaN.
func reverseKLRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	lz, lv, d, ok := klPass(s, t, tau)
	if !ok || d == math.Inf(1) {
		fill(g, T(math.NaN()))
		if !ok {
			return math.NaN()
		}
		return d
	}
	if g != nil {
		var bz [sumExpBlock]float64
		for lo := 0; lo < len(s); lo += sumExpBlock {
			ss := s[lo:min(lo+sumExpBlock, len(s))]
			ts := t[lo:][:len(ss)]
			gs := g[lo:][:len(ss)]
			ez := bz[:len(ss)]
			for j := range ss {
				ez[j] = lz.logp(float64(T(ss[j] * tau)))
			}
			expIntoT[T](ez, ez)
			for j := range gs {
				q := ez[j]
				if q != 0 { // Q_j = 0 (z_j = −Inf) has gradient 0, whatever v_j
					q *= float64(T(ss[j]*tau)) - float64(T(ts[j]*tau)) - d
				}
				gs[j] = T(c * q)
			}
		}
	}
	return d + lv.minus(lz)
}

// klPass is one read of a row pair x = a·τ, y = b·τ: the log-sum-exps of
// both and D = Σ softmax(x)_j·(x_j − y_j), so that KL(softmax(x)‖softmax(y))
// = D + lse(y) − lse(x). A term with x_j = −Inf is 0; one whose weight
// underflows for a finite x_j beside y_j = −Inf is +Inf. ok is false when
// either row's scaled maximum is not finite (NaN, +Inf, or only −Inf).
func klPass[T args.Float](a, b []T, tau T) (lx, ly splitLSE, d float64, ok bool) {
	ma, _ := rowMax(a)
	mb, _ := rowMax(b)
	mx, my := float64(T(T(ma)*tau)), float64(T(T(mb)*tau)) // rounding is monotonic: the maximum of the scaled row
	if mx-mx != 0 || my-my != 0 {
		return lx, ly, 0, false
	}
	var bx, by, dd [sumExpBlock]float64
	var sx, sy, dot [4]float64
	for lo := 0; lo < len(a); lo += sumExpBlock {
		as := a[lo:min(lo+sumExpBlock, len(a))]
		bs := b[lo:][:len(as)]
		ex, ey, dl := bx[:len(as)], by[:len(as)], dd[:len(as)]
		for j := range as {
			x, y := float64(T(as[j]*tau)), float64(T(bs[j]*tau))
			ex[j], ey[j], dl[j] = x-mx, y-my, x-y
		}
		expIntoT[T](ex, ex)
		expIntoT[T](ey, ey)
		addInto(&sx, ex)
		addInto(&sy, ey)
		for j, e := range ex {
			p := e * dl[j]
			if p != p {
				// 0·∞: x_j = −Inf (no mass: no term), or a weight below
				// float64's range beside y_j = −Inf (the term is +Inf).
				p = 0
				if dl[j] > 0 {
					p = math.Inf(1)
				}
			}
			dl[j] = p
		}
		addInto(&dot, dl)
	}
	sumX := (sx[0] + sx[1]) + (sx[2] + sx[3])
	sumY := (sy[0] + sy[1]) + (sy[2] + sy[3])
	return splitLSE{mx, math.Log(sumX)}, splitLSE{my, math.Log(sumY)}, ((dot[0] + dot[1]) + (dot[2] + dot[3])) / sumX, true
}

// splitLSE is a log-sum-exp m + l kept in its parts: a row's maximum m
// (scaled) and l = log Σ e^(x − m) ∈ [0, log K]. Where |m| is large
// (1e30) m + l rounds l away, and with it the softmax of tied maxima.
type splitLSE struct{ m, l float64 }

// logp is log softmax_j = (x_j − m) − l.
func (a splitLSE) logp(x float64) float64 { return (x - a.m) - a.l }

// minus is the difference of two log-sum-exps, part by part.
func (a splitLSE) minus(b splitLSE) float64 { return (a.m - b.m) + (a.l - b.l) }

// distillGrad writes the forward divergence's gradient c·(Q − P).
func distillGrad[T args.Float](s, t, g []T, tau T, c float64, lz, lv splitLSE) {
	var bz, bv [sumExpBlock]float64
	for lo := 0; lo < len(s); lo += sumExpBlock {
		ss := s[lo:min(lo+sumExpBlock, len(s))]
		ts := t[lo:][:len(ss)]
		gs := g[lo:][:len(ss)]
		ez, ev := bz[:len(ss)], bv[:len(ss)]
		for j := range ss {
			ez[j] = lz.logp(float64(T(ss[j] * tau)))
			ev[j] = lv.logp(float64(T(ts[j] * tau)))
		}
		expIntoT[T](ez, ez)
		expIntoT[T](ev, ev)
		for j := range gs {
			gs[j] = T(c * (ez[j] - ev[j]))
		}
	}
}

// jsdRow returns the generalised Jensen–Shannon divergence
// β·KL(P‖M) + (1−β)·KL(Q‖M), M = β·P + (1−β)·Q, for one row and writes its
// gradient c·(1−β)·Q_j·(log(Q_j/M_j) − KL(Q‖M)) to g, in three passes: the
// log-sum-exps, the two divergences, the gradient. Each log M_j is formed
// in the log domain, max(a, b) + log1p(e^−|a−b|) of a = log(β·P_j) and
// b = log((1−β)·Q_j), so that no probability's underflow reaches it.
func jsdRow[T args.Float](s, t, g []T, tau T, c float64, mix *jsdMix) float64 {
	lv, lz, _, ok := klPass(t, s, tau) // its dot product is not needed: the log-sum-exps in one read
	if !ok {
		fill(g, T(math.NaN()))
		return math.NaN()
	}
	var kp, kq float64 // KL(P‖M), KL(Q‖M)
	var bp, bq, bm, be [sumExpBlock]float64
	for lo := 0; lo < len(s); lo += sumExpBlock {
		ss := s[lo:min(lo+sumExpBlock, len(s))]
		ts := t[lo:][:len(ss)]
		ep, eq, lm := bp[:len(ss)], bq[:len(ss)], bm[:len(ss)]
		jsdBlock(ss, ts, tau, lv, lz, mix, ep, eq, lm, be[:len(ss)])
		for j := range ss {
			// log P_j − log M_j and log Q_j − log M_j are the logs of ratios
			// at most 1/β and 1/(1−β); a zero probability has no term.
			if ep[j] != 0 {
				kp += ep[j] * (lv.logp(float64(T(ts[j]*tau))) - lm[j])
			}
			if eq[j] != 0 {
				kq += eq[j] * (lz.logp(float64(T(ss[j]*tau))) - lm[j])
			}
		}
	}
	if g != nil {
		c1 := c * mix.beta1
		for lo := 0; lo < len(s); lo += sumExpBlock {
			ss := s[lo:min(lo+sumExpBlock, len(s))]
			ts := t[lo:][:len(ss)]
			gs := g[lo:][:len(ss)]
			eq, lm := bq[:len(ss)], bm[:len(ss)]
			jsdBlock(ss, ts, tau, lv, lz, mix, bp[:len(ss)], eq, lm, be[:len(ss)])
			for j := range gs {
				q := eq[j]
				if q != 0 {
					q *= lz.logp(float64(T(ss[j]*tau))) - lm[j] - kq
				}
				gs[j] = T(c1 * q)
			}
		}
	}
	return mix.beta*kp + mix.beta1*kq
}

// jsdMix is JSD's mixing weight β and 1 − β, and their logarithms, formed
// once per call.
type jsdMix struct{ beta, beta1, logB, logB1 float64 }

func newJSDMix(beta float64) jsdMix {
	return jsdMix{beta, 1 - beta, math.Log(beta), math.Log1p(-beta)}
}

// jsdBlock fills p, q and lm with P_j, Q_j and log M_j for a block of a
// row whose log-sum-exps are lv (teacher) and lz (student); e is scratch.
// All four are as long as s: the caller slices them, so that its own loops
// over them need no bounds checks.
// log M_j = max(a, b) + log1p(min/max) of a = log(β·P_j), b =
// log((1−β)·Q_j) and their linear values: the larger in the log domain,
// so that no underflow reaches it, and the ratio of the two (≤ 1) by a
// division instead of a third exponential. Where both underflow the ratio
// is 0, and so are both terms.
func jsdBlock[T args.Float](s, t []T, tau T, lv, lz splitLSE, mix *jsdMix, p, q, lm, e []float64) {
	logB, logB1 := mix.logB, mix.logB1
	t, p, q, lm, e = t[:len(s)], p[:len(s)], q[:len(s)], lm[:len(s)], e[:len(s)]
	for j, sv := range s {
		a, b := lv.logp(float64(T(t[j]*tau))), lz.logp(float64(T(sv*tau))) // log P_j, log Q_j
		p[j], q[j] = a, b
		lm[j] = max(a+logB, b+logB1) // −Inf where both are: M_j = 0, and neither term exists
	}
	expIntoT[T](p, p)
	expIntoT[T](q, q)
	beta, beta1 := mix.beta, mix.beta1
	for j := range e {
		bp, bq := beta*p[j], beta1*q[j]
		e[j] = min(bp, bq) / max(bp, bq, math.SmallestNonzeroFloat64)
	}
	log1pIntoT[T](e, e)
	for j := range lm {
		lm[j] += e[j]
	}
}
