package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Binary computes the element-wise binary classification losses (BCE on
// logits or probabilities, sigmoid focal, focal on probabilities). It writes
// per-element losses and the gradient (times GradScale) when asked and
// returns the sum of losses.
func Binary[T args.Float](a args.Binary[T]) float64 {
	args.Took("generic/binary")
	c := binaryConsts{
		fn: float64(a.FNWeight), fp: float64(a.FPWeight), clip: float64(a.Clip),
		alpha: float64(a.Alpha), gamma: float64(a.Gamma),
	}
	// pos_weight repeats every K elements: the call goes row by row, so
	// that each row's loop sees one slice of K weights and no modulo.
	if a.Kind == args.BCEWithLogits && a.PosWeight != nil {
		k := a.K
		pw := a.PosWeight[:k]
		var sum float64
		for lo := 0; lo < len(a.X); lo += k {
			sum += binaryLoop(&a, &c, lo, lo+k, pw)
		}
		return sum
	}
	return binaryLoop(&a, &c, 0, len(a.X), nil)
}

// binaryLoop is elements [lo, hi) of Binary, one loop per kind (the switch
// stays outside, so that each loop inlines its term); pw is pos_weight for
// the row [lo, hi) or nil.
func binaryLoop[T args.Float](a *args.Binary[T], c *binaryConsts, lo, hi int, pw []T) float64 {
	x := a.X[lo:hi]
	y := a.Y[lo:hi][:len(x)]
	var w, grad, loss []T
	if a.Weight != nil {
		w = a.Weight[lo:hi][:len(x)]
	}
	if a.Grad != nil {
		grad = a.Grad[lo:hi][:len(x)]
	}
	if a.Loss != nil {
		loss = a.Loss[lo:hi][:len(x)]
	}
	if pw != nil {
		pw = pw[:len(x)]
	}
	o := binaryOut[T]{w: w, grad: grad, loss: loss, scale: float64(a.GradScale)}
	switch a.Kind {
	case args.BCEWithLogits, args.SigmoidFocal:
		// e = e^−|x| and log1p(e) are staged through blocks: each is a long
		// dependent chain, and a loop of independent ones lets the CPU
		// overlap neighbouring elements instead of waiting on each chain.
		var eb, lb [binaryBlock]float64
		for lo := 0; lo < len(x); lo += binaryBlock {
			xs := x[lo:min(lo+binaryBlock, len(x))]
			ys := y[lo:][:len(xs)]
			e, l1 := eb[:len(xs)], lb[:len(xs)]
			for i, v := range xs {
				e[i] = -math.Abs(float64(v))
			}
			expIntoT[T](e, e)
			log1pIntoT[T](l1, e)
			if a.Kind == args.SigmoidFocal {
				for i, xv := range xs {
					l, g := sigmoidFocal(float64(xv), e[i], l1[i], float64(ys[i]), c)
					o.put(lo+i, l, g)
				}
				continue
			}
			var pws []T
			if pw != nil {
				pws = pw[lo:][:len(xs)]
			}
			if o.grad == nil { // the loss alone: no sigmoids, no division
				for i, xv := range xs {
					pos := c.fn
					if has(pws, i) {
						pos *= float64(pws[i])
					}
					o.put(lo+i, bceLogitsLoss(float64(xv), l1[i], float64(ys[i]), pos, c.fp), 0)
				}
				continue
			}
			for i, xv := range xs {
				pos := c.fn
				if has(pws, i) {
					pos *= float64(pws[i])
				}
				l, g := bceLogits(float64(xv), e[i], l1[i], float64(ys[i]), pos, c.fp)
				o.put(lo+i, l, g)
			}
		}
	case args.BCEProb:
		// log p and log(1 − p) staged through blocks, as above.
		var pb, qb [binaryBlock]float64
		for lo := 0; lo < len(x); lo += binaryBlock {
			xs := x[lo:min(lo+binaryBlock, len(x))]
			ys := y[lo:][:len(xs)]
			lp, lq := pb[:len(xs)], qb[:len(xs)]
			if c.clip == 0 && hardLogs(lp, lq, xs, ys) {
				// Labels 0 and 1 only: the term whose coefficient is 0
				// drops out, so one log per element (lp) does.
				if o.grad == nil { // the loss alone: no division
					for i := range xs {
						y := float64(ys[i])
						o.put(lo+i, bceProbHardLoss(lp[i], c.fn*y, c.fp*(1-y)), 0)
					}
					continue
				}
				for i, xv := range xs {
					y := float64(ys[i])
					l, g := bceProbHard(float64(xv), lp[i], c.fn*y, c.fp*(1-y))
					o.put(lo+i, l, g)
				}
				continue
			}
			for i, v := range xs {
				lp[i], lq[i] = float64(v), -float64(v)
			}
			logIntoT[T](lp, lp)
			log1pIntoT[T](lq, lq)
			if c.clip > 0 {
				for i, xv := range xs {
					y := float64(ys[i])
					l, g := bceProbClip(float64(xv), lp[i], lq[i], c.fn*y, c.fp*(1-y), c.clip)
					o.put(lo+i, l, g)
				}
				continue
			}
			for i, xv := range xs {
				y := float64(ys[i])
				l, g := bceProb(float64(xv), lp[i], lq[i], c.fn*y, c.fp*(1-y))
				o.put(lo+i, l, g)
			}
		}
	default: // FocalProbs: log p_t staged through blocks, as above
		var pb, lb [binaryBlock]float64
		for lo := 0; lo < len(x); lo += binaryBlock {
			xs := x[lo:min(lo+binaryBlock, len(x))]
			ys := y[lo:][:len(xs)]
			pt, lg := pb[:len(xs)], lb[:len(xs)]
			for i, xv := range xs {
				pt[i], _ = focalPt(float64(xv), float64(ys[i]), c.clip)
			}
			logIntoT[T](lg, pt)
			if o.grad == nil { // the loss alone: no derivative, no division
				for i, yv := range ys {
					o.put(lo+i, focalProbLoss(float64(yv), pt[i], lg[i], c), 0)
				}
				continue
			}
			for i, xv := range xs {
				l, g := focalProb(float64(xv), float64(ys[i]), pt[i], lg[i], c)
				o.put(lo+i, l, g)
			}
		}
	}
	return o.sum
}

const binaryBlock = 64

// binaryOut weights an element's loss and gradient, writes them where
// asked and sums the losses. w, grad and loss are nil or as long as the
// loop's inputs (so has is their nil test).
type binaryOut[T args.Float] struct {
	w, grad, loss []T
	scale, sum    float64
}

func (o *binaryOut[T]) put(i int, l, g float64) {
	wi := 1.0
	if has(o.w, i) {
		wi = float64(o.w[i])
		l *= wi
	}
	o.sum += l
	if has(o.loss, i) {
		o.loss[i] = T(l)
	}
	if grad := o.grad; has(grad, i) { // a local: the call to scaled would reload o.grad
		grad[i] = T(scaled(g, wi, o.scale))
	}
}

type binaryConsts struct{ fn, fp, clip, alpha, gamma float64 }

// bceLogits is pos·y·softplus(−x) + neg·(1−y)·softplus(x) and its derivative
// (pos·y + neg·(1−y))·σ(x) − pos·y, evaluated as neg·(1−y)·σ(x) − pos·y·σ(−x)
// so that it keeps its relative accuracy at saturation (σ(x) − 1 would
// cancel to 0 where the true value is −e^−x). A term with a zero
// coefficient is left out, so x = ±inf gives 0 rather than 0·inf = NaN.
func bceLogits(x, e, l1, y, pos, neg float64) (l, g float64) {
	cp, cn := pos*y, neg*(1-y)
	// One exponential and one log1p serve both softplus terms and both
	// sigmoids: softplus(±x) = max(±x, 0) + l1, σ from e.
	sp, sm := sigmoids(x, e)
	return bceLogitsLoss(x, l1, y, pos, neg), cn*sp - cp*sm
}

// bceLogitsLoss is bceLogits's loss alone, for calls without a gradient:
// the sigmoids' division was a fifth of a forward call (4096×256 float32
// on AMD Zen 5: 16.6 → 13.2 ns/elem without it).
func bceLogitsLoss(x, l1, y, pos, neg float64) (l float64) {
	cp, cn := pos*y, neg*(1-y)
	if x-x == 0 { // finite: both terms, without a branch on y
		return cp*(max(-x, 0)+l1) + cn*(max(x, 0)+l1)
	}
	if cp != 0 || x != x { // a NaN logit stays NaN even with a zero coefficient
		l += cp * (max(-x, 0) + l1)
	}
	if cn != 0 {
		l += cn * (max(x, 0) + l1)
	}
	return l
}

// bceProb is −cp·log p − cn·log(1−p) on a probability p (cp = fn·y,
// cn = fp·(1−y); logp and log1mp are log p and log1p(−p)), with either
// PyTorch's clamp of each log at −100 and gradient denominator guard 1e-12,
// or (bceProbClip) p clipped to [clip, 1−clip] with zero gradient outside.
// bceProb, PyTorch's form, is small enough to inline into the loop.
func bceProb(p, logp, log1mp, cp, cn float64) (l, g float64) {
	l = -cp*max(logp, -100) - cn*max(log1mp, -100)
	g = (cn*p - cp*(1-p)) / max(p*(1-p), 1e-12)
	return l, g
}

// bceProbHard is bceProb for a label y of 0 or 1, from lv = log p where
// y = 1 (cp = fn, cn = 0) and log(1 − p) where y = 0 (cp = 0, cn = fp):
// the other term is 0·max(log, −100) = 0 there (a NaN p gives NaN either
// way), so the loss is the same but for the sign of a zero.
func bceProbHard(p, lv, cp, cn float64) (l, g float64) {
	return bceProbHardLoss(lv, cp, cn), (cn*p - cp*(1-p)) / max(p*(1-p), 1e-12)
}

func bceProbHardLoss(lv, cp, cn float64) float64 { return -(cp + cn) * max(lv, -100) }

// hardLogs writes lv[i] = log p_i where y_i = 1 and log1p(−p_i) where
// y_i = 0, and reports whether every label is 0 or 1 (if not, lv is not
// finished and tmp is clobbered). One log per element: u = p or 1 − p,
// selected by arithmetic (labels are random, a branch would mispredict),
// with d = (−p) − (u − 1), what 1 − p dropped (0 where y = 1), and
// log u + d/u as log1pInto forms it: the same values as logInto on p and
// log1pInto on −p, bar the sign of log1p(−0).
func hardLogs[T args.Float](lv, tmp []float64, ps, ys []T) bool {
	lv, tmp, ys = lv[:len(ps)], tmp[:len(ps)], ys[:len(ps)]
	for i, v := range ps {
		p, y := float64(v), float64(ys[i])
		if y*(1-y) != 0 { // neither 0 nor 1 (or NaN)
			return false
		}
		u := y*p + (1-y)*(1-p)
		lv[i], tmp[i] = u, (1-y)*(-p-(u-1))
	}
	for i, u := range lv {
		if !(u >= 0x1p-1022 && u <= math.MaxFloat64) { // 0 (p = 1, y = 0), subnormal p, NaN
			lv[i] = logSub(u)
			continue
		}
		kf, logc, r, ds := logBin(u)
		lv[i] = logTail(kf, logc, r) + tmp[i]*ds
	}
	return true
}

// bceProbClip is bceProb with p clipped to [clip, 1−clip].
func bceProbClip(p, logp, log1mp, cp, cn, clip float64) (l, g float64) {
	// Both p and 1−p are clipped, so that p = 1 gives −log(clip)
	// exactly: log1p(−clip(p)) would lose clip's digits to the rounding
	// of 1 − clip (15.94 instead of 16.12 for clip 1e-7 in float32).
	// log(1−p) as log1p(−p): 1 − p rounds to 1 for p below u, and a
	// log of 0 times an infinite weight is NaN where the loss is +Inf.
	lo := clip
	var lp, lq float64
	switch {
	case p != p:
		lp, lq = p, p
	case p < lo:
		lp, lq = logSub(lo), LogOneMinus(lo)
	case p > 1-lo || 1-p < lo: // 1 − clip may round to 1 while 1 − p = 0
		lp, lq = LogOneMinus(lo), logSub(lo)
	default:
		lp, lq = logp, log1mp
	}
	live := p != p || p >= lo && p <= 1-lo
	l = -cp*lp - cn*lq
	if live {
		g = (cn*p - cp*(1-p)) / (p * (1 - p))
	}
	return l, g
}

// ClipHi32 is the largest float32 h with float64(h) ≤ 1 − float64(c): a
// float32 p is above the clip range [c, 1 − c] (computed in float64, as
// here) exactly when p > h.
func ClipHi32(c float32) float32 {
	hi := 1 - float64(c)
	h := float32(hi)
	if float64(h) > hi {
		h = math.Nextafter32(h, 0)
	}
	return h
}

// LogOneMinus is log(1 − c) for the clip boundary c, formed as PyTorch's
// clamp-then-log would (the golden vectors), except that where 1 − c
// rounds to 1 it is log1p(−c) rather than 0.
func LogOneMinus(c float64) float64 {
	if v := math.Log(1 - c); v != 0 {
		return v
	}
	return math.Log1p(-c)
}

// alphaT is α for the positive part and 1−α for the negative part of y;
// a negative α disables it.
func alphaT(y float64, c *binaryConsts) float64 {
	if c.alpha < 0 {
		return 1
	}
	return c.alpha*y + (1-c.alpha)*(1-y)
}

// sigmoidFocal is α_t·(1−p_t)^γ·BCEWithLogits(x, y). For y ∈ {0, 1} it uses
// the closed form in z = (1−2y)·x, which has no (1−p_t)^(γ−1) factor and so
// stays finite at saturation for every γ; soft targets use the direct form,
// where 1−p_t ≥ min(y, 1−y) > 0.
func sigmoidFocal(x, e, l1, y float64, c *binaryConsts) (l, g float64) {
	at, gam := alphaT(y, c), c.gamma
	if y == 0 || y == 1 {
		s := 1 - 2*y
		z := s * x
		// e = e^−|z| gives both sigmoids, l1 both softplus terms.
		sz, smz := sigmoids(z, e)
		spz := max(z, 0) + l1
		mod := 1.0 // (1−p_t)^γ = σ(z)^γ = exp(−γ·softplus(−z))
		switch gam {
		case 0:
		case 1, 2:
			mod = powGamma(sz, gam)
		default:
			mod = expFast(-gam * (max(-z, 0) + l1))
		}
		inner := sz
		if sm := smz; sm != 0 && gam != 0 { // σ(−z)·softplus(z) → 0 as z → ∞
			inner += gam * sm * spz
		}
		l = 0
		if mod != 0 {
			l = at * spz * mod
		}
		return l, s * at * mod * inner
	}
	p, q := sigmoids(x, e) // σ(x), σ(−x)
	ce := y*(max(-x, 0)+l1) + (1-y)*(max(x, 0)+l1)
	m := y*q + (1-y)*p
	dm := (1 - 2*y) * p * q
	mg := powGamma(m, gam)
	// m^γ underflows (or loses digits) where m^γ·ce need not (m ≥ 1 − y
	// while ce ≈ (1 − y)·x): there the pair is scaled by 2^∓1000.
	mgce := mg * ce
	if mg < 0x1p-1000 && ce > 1 && !math.IsInf(ce, 1) && gam != 0 && m > 0 {
		mgce = (ce * 0x1p-1000) * expScaled(gam*logSub(m), 1000)
	}
	l = at * mgce
	if math.IsInf(ce, 1) { // m ≥ the infinite side's coefficient > 0: m^γ > 0 even where it underflows
		l = at * ce
	}
	g = at * mg * (p - y)
	// γ·m^(γ−1)·dm·ce, as γ·m^γ·(dm/m)·ce: m^(γ−1) overflows for a
	// subnormal m and γ < 1, while |dm/m| ≤ 2. At x = ±inf, dm = 0 while
	// ce = inf: the product's limit is 0, as it is for γ = 0.
	if dm != 0 && gam != 0 {
		g += at * gam * (dm / m) * mgce
	}
	return l, g
}

// focalPt is p_t = y·p + (1−y)·(1−p) for focalProb, with p clipped as in
// bceProb (clip > 0: 1 − (1 − clip) rounds), and whether p lies inside the
// clip range (where the derivative is not 0).
func focalPt(p, y, clip float64) (pt float64, live bool) {
	pc, qc, live := p, 1-p, true
	if clip > 0 && p == p {
		switch {
		case p < clip:
			pc, qc = clip, 1-clip
		case p > 1-clip || 1-p < clip:
			pc, qc = 1-clip, clip
		}
		live = p >= clip && p <= 1-clip
	}
	return y*pc + (1-y)*qc, live
}

// focalProbLoss is focalProb's loss alone, from p_t and log p_t.
func focalProbLoss(y, pt, logpt float64, c *binaryConsts) float64 {
	if c.clip == 0 {
		logpt = max(logpt, -100)
	}
	return -alphaT(y, c) * powGamma(1-pt, c.gamma) * logpt
}

// focalProb is the seed article's focal loss on a probability,
// −α_t·(1−p_t)^γ·log p_t with p_t = y·p + (1−y)·(1−p) (focalPt), and its
// derivative with respect to p, from p_t and log p_t. p is clipped as in
// bceProb (clip > 0) or the log is clamped at −100 with p_t guarded below
// by 1e-12 in the derivative.
func focalProb(p, y, pt, logpt float64, c *binaryConsts) (l, g float64) {
	at, gam := alphaT(y, c), c.gamma
	_, live := focalPt(p, y, c.clip)
	q := 1 - pt
	if c.clip == 0 {
		logpt = max(logpt, -100)
	}
	mod := powGamma(q, gam)
	l = -at * mod * logpt
	if !live {
		return l, 0
	}
	// dL/dp_t = α_t·(γ·q^(γ−1)·log p_t − q^γ/p_t); the first term → 0 as q → 0.
	var d float64
	if q != 0 && gam != 0 {
		d = gam * powGamma(q, gam-1) * logpt
	}
	d -= mod / max(pt, 1e-12)
	return l, at * d * (2*y - 1)
}
