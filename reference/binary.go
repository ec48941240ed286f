package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// BCEWithLogits is the reference for kernels.BCEWithLogits. Element e of
// row i, class j, with pw = PosWeight[j], fn/fp the Asymmetric weights:
//
//	l = w·( pw·fn·y·softplus(−x) + fp·(1−y)·softplus(x) )
//	∂l/∂x = w·( (pw·fn·y + fp·(1−y))·σ(x) − pw·fn·y ) = w·( fp·(1−y)·σ(x) − pw·fn·y·σ(−x) )
//
// The reference evaluates the second form, whose value where pw or w is
// +Inf is the limit (±Inf), not ∞ − ∞ or ∞·0 = NaN. A term whose coefficient is 0 is absent: x = −Inf with y = 0 gives 0
// (PyTorch: NaN). The weight w multiplies plainly (w = 0 times an infinite
// loss is NaN, as in PyTorch). The mean divides by N·K.
func BCEWithLogits[T kernels.Float](x, y []T, n, k int, o *kernels.BinaryOptions[T]) (*Result, error) {
	return binary(bceLogits, x, y, n, k, o, -1, 0)
}

// BCE is the reference for kernels.BCE on probabilities p:
//
//	l = −w·( fn·y·max(log p, −100) + fp·(1−y)·max(log(1−p), −100) )
//	∂l/∂p = w·( fp·(1−y)·p − fn·y·(1−p) ) / max(p·(1−p), ϵ)
//
// with ϵ = 1e-12, as PyTorch (whose gradient ignores the clamp too, but
// whose ϵ is float32(1e-12) = 9.999999960041972e-13 for every dtype). With Clip = c > 0 instead:
// p is clipped to [c, 1−c] (and 1−p to the same range, computed from p, not
// from the clipped value, with log(1−p) as log1p(−p)), the gradient is the
// unguarded one inside [c, 1−c] and 0 outside.
func BCE[T kernels.Float](p, y []T, n, k int, o *kernels.BinaryOptions[T]) (*Result, error) {
	return binary(bceProbs, p, y, n, k, o, -1, 0)
}

// SigmoidFocal is the reference for kernels.SigmoidFocal (nil options:
// α = 0.25, γ = 2), with p = σ(x), α_t = α·y + (1−α)·(1−y) (1 when α ≤ 0):
//
//	l = w·α_t·m^γ·(y·softplus(−x) + (1−y)·softplus(x)),   m = 1 − p_t = y·(1−p) + (1−y)·p
//
// For y ∈ {0, 1} it uses the closed form in z = (1−2y)·x:
// l = w·α_t·softplus(z)·exp(−γ·softplus(−z)) and
// ∂l/∂x = w·(1−2y)·α_t·exp(−γ·softplus(−z))·(σ(z) + γ·σ(−z)·softplus(z));
// for other y the derivative of the direct form,
// w·α_t·(m^γ·(p − y) + γ·m^(γ−1)·(1−2y)·p·(1−p)·ce).
func SigmoidFocal[T kernels.Float](x, y []T, n, k int, o *kernels.FocalOptions[T]) (*Result, error) {
	if o == nil {
		d := kernels.DefaultFocal[T]()
		o = &d
	}
	return binary(sigmoidFocal, x, y, n, k, &o.BinaryOptions, o.Alpha, o.Gamma)
}

// FocalProbs is the reference for kernels.FocalProbs (nil options: α = 0.25,
// γ = 2), the seed article's focal loss on probabilities:
//
//	l = −w·α_t·(1−p_t)^γ·log p_t,   p_t = y·p + (1−y)·(1−p)
//	∂l/∂p = w·α_t·(2y−1)·( γ·(1−p_t)^(γ−1)·log p_t − (1−p_t)^γ / max(p_t, 1e-12) )
//
// with log p_t clamped at −100 (Clip = 0) or p clipped to [c, 1−c] first
// (gradient 0 outside, even for y = NaN, as BCE's; 1−p is clipped to the
// same range as BCE's is, so that p = 1 gives 1−p = c exactly). The first term of the derivative is 0 when
// 1−p_t = 0 (its limit), also for γ < 1.
func FocalProbs[T kernels.Float](p, y []T, n, k int, o *kernels.FocalOptions[T]) (*Result, error) {
	if o == nil {
		d := kernels.DefaultFocal[T]()
		o = &d
	}
	return binary(focalProbs, p, y, n, k, &o.BinaryOptions, o.Alpha, o.Gamma)
}

type binaryKind uint8

const (
	bceLogits binaryKind = iota
	bceProbs
	sigmoidFocal
	focalProbs
)

// binParams are one call's scalar options, in float64.
type binParams struct {
	fn, fp, clip, alpha, gamma float64
}

// binElem is one element's loss and derivative, and the magnitudes of the
// terms they are formed from (what rounding is relative to).
type binElem struct{ l, g, lTerms, gTerms float64 }

func binary[T kernels.Float](kind binaryKind, x, y []T, n, k int, o *kernels.BinaryOptions[T], alpha, gamma float64) (*Result, error) {
	if o == nil {
		o = &kernels.BinaryOptions[T]{}
	}
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	fn, fp := 1.0, 1.0
	if o.Asymmetric != nil {
		fn, fp = o.Asymmetric.FalseNegative, o.Asymmetric.FalsePositive
	}
	focal := kind == sigmoidFocal || kind == focalProbs
	logits := kind == bceLogits || kind == sigmoidFocal
	if err := first(
		lengths(need("x", len(x), nk), need("y", len(y), nk), opt("Weight", o.Weight, nk), opt("ClassWeight", o.ClassWeight, k), opt("RowWeight", o.RowWeight, n), opt("PosWeight", o.PosWeight, k), opt("Loss", o.Loss, nk)),
		reductionOK(o.Reduction, nk, len(o.Loss), "Loss"),
		inRange("Asymmetric.FalseNegative", fn, 0, math.MaxFloat64),
		inRange("Asymmetric.FalsePositive", fp, 0, math.MaxFloat64),
		inRange("Clip", o.Clip, 0, 0.5),
		inRange("Gamma", gamma, 0, math.MaxFloat64),
		inRange("Alpha", alpha, math.Inf(-1), 1),
	); err != nil {
		return nil, err
	}
	weights := 0
	for _, w := range [][]T{o.Weight, o.ClassWeight, o.RowWeight} {
		if w != nil {
			weights++
		}
	}
	switch {
	case weights > 1:
		return nil, errf(kernels.ErrOption, "Weight, ClassWeight and RowWeight: one at most")
	case o.PosWeight != nil && kind != bceLogits:
		return nil, errf(kernels.ErrOption, "PosWeight is for BCEWithLogits only")
	case o.Asymmetric != nil && focal:
		return nil, errf(kernels.ErrOption, "Asymmetric is for the BCE losses only")
	case o.Clip != 0 && logits:
		return nil, errf(kernels.ErrOption, "Clip is for probabilities only")
	}
	w, err := nonNegative("Weight", o.Weight)
	if err != nil {
		return nil, err
	}
	cw, err := nonNegative("ClassWeight", o.ClassWeight)
	if err != nil {
		return nil, err
	}
	rw, err := nonNegative("RowWeight", o.RowWeight)
	if err != nil {
		return nil, err
	}
	pw, err := nonNegative("PosWeight", o.PosWeight)
	if err != nil {
		return nil, err
	}
	if err := unitValues("y", y); err != nil {
		return nil, err
	}
	if !logits {
		if err := unitValues("x", x); err != nil {
			return nil, err
		}
	}

	r := newResult[T](k)
	r.setScale(o.Reduction, kernels.EmptyMeanNaN, float64(nk))
	bp := binParams{fn: fn, fp: fp, clip: o.Clip, alpha: alpha, gamma: gamma}
	r.Items, r.ItemTol = make([]float64, nk), make([]float64, nk)
	r.Grad, r.GradTol = make([]float64, nk), make([]float64, nk)
	u := r.U
	for e := 0; e < nk; e++ {
		xe, ye := float64(x[e]), float64(y[e])
		f := func(v float64) binElem { return binaryElem(kind, v, ye, weightOf(pw, e%k), bp) }
		v := f(xe)
		// Perturb the argument the rounding acts on: the logit, or for
		// focal on probabilities p_t (through which 1−p_t is formed); for
		// clipped probabilities also p next to a clip boundary, where T's
		// rounding of c may move the branch.
		var lp, gp float64
		switch kind {
		case bceLogits, sigmoidFocal:
			lp, gp = perturbed(f, v, xe, u)
		case focalProbs:
			lp, gp = focalPtSpread(xe, ye, bp, u)
		}
		if bp.clip > 0 && nearClip(xe, bp.clip, u) {
			l2, g2 := perturbed(f, v, xe, u)
			lp, gp = math.Max(lp, l2), math.Max(gp, g2)
		}
		we := weightOf(w, e) * weightOf(cw, e%k) * weightOf(rw, e/k) // one at most is set
		amp := Slack * u
		if focal {
			amp *= 1 + gamma // rounding in m is raised to the power γ
		}
		l := we * v.l
		g := prod3(r.Scale, we, v.g)
		r.Items[e] = l
		// The unweighted value is formed in T too, and may be flushed (or
		// lose digits) below η before the weight scales it: c·η inside.
		r.ItemTol[e] = finiteTol(l, math.Abs(we)*(amp*v.lTerms+lp+Slack*r.tiny))
		r.Grad[e] = g
		r.GradTol[e] = finiteTol(g, math.Abs(prod3(r.Scale, we, amp*v.gTerms+gp+Slack*r.tiny))+Slack*r.tiny)
		if r.overflows(v.lTerms, v.gTerms, math.Abs(v.l), math.Abs(v.g)) {
			r.ItemTol[e], r.GradTol[e] = math.Inf(1), math.Inf(1)
		}
	}
	r.finish()
	return r, nil
}

func binaryElem(kind binaryKind, x, y, pw float64, bp binParams) binElem {
	switch kind {
	case bceLogits:
		return bceLogitsElem(x, y, pw*bp.fn, bp.fp)
	case bceProbs:
		return bceProbsElem(x, y, bp)
	case sigmoidFocal:
		return sigmoidFocalElem(x, y, bp)
	}
	return focalProbsElem(x, y, bp)
}

func bceLogitsElem(x, y, pos, neg float64) binElem {
	cp, cn := pos*y, neg*(1-y)
	spn, spp := softplus(-x), softplus(x)
	s := sigmoid(x)
	return binElem{
		l: mul0(cp, spn) + mul0(cn, spp),
		// (cp+cn)·σ(x) − cp as cn·σ(x) − cp·σ(−x): the same value, but the
		// limit where cp or the weight is infinite and σ(x) rounds to 1.
		g:      cn*s - cp*sigmoid(-x),
		lTerms: mul0(math.Abs(cp), spn) + mul0(math.Abs(cn), spp),
		gTerms: math.Abs(cp+cn)*s + math.Abs(cp),
	}
}

func bceProbsElem(p, y float64, bp binParams) binElem {
	cp, cn := bp.fn*y, bp.fp*(1-y)
	if bp.clip > 0 {
		c := bp.clip
		lp, lq := clippedLogs(p, c)
		e := binElem{
			l:      -(cp*lp + cn*lq),
			lTerms: math.Abs(cp)*(math.Abs(lp)+1) + math.Abs(cn)*(math.Abs(lq)+1),
		}
		switch {
		case math.IsNaN(p):
			e.g = p
		case p >= c && p <= 1-c:
			d := p * (1 - p)
			e.g = (cn*p - cp*(1-p)) / d
			e.gTerms = (math.Abs(cn)*p + math.Abs(cp)*(1-p)) / d
		}
		return e
	}
	lp := math.Max(logSub(p), -100)
	lq := math.Max(math.Log1p(-p), -100)
	d := math.Max(p*(1-p), bceEpsilon)
	return binElem{
		l:      -(cp*lp + cn*lq),
		g:      (cn*p - cp*(1-p)) / d,
		lTerms: math.Abs(cp)*(math.Abs(lp)+1) + math.Abs(cn)*(math.Abs(lq)+1),
		gTerms: (math.Abs(cn)*math.Abs(p) + math.Abs(cp)*math.Abs(1-p)) / d,
	}
}

// bceEpsilon guards BCE's gradient denominator. PyTorch's is the float32
// constant 1e-12 (9.999999960041972e-13 in its float64 backward as well);
// lossfuse documents 1e-12 exactly.
const bceEpsilon = 1e-12

// clippedLogs is log(clip(p)) and log(clip(1−p)) for the clip range
// [c, 1−c], with log(1−p) as log1p(−p): 1 − p rounds to 1 for p below u,
// and its log to 0, which an infinite weight turns into NaN (∞·0) where
// the value is +Inf. The upper boundary is 1 − c rounded (so that
// p = 1 − c written as a literal is inside, as it always was).
func clippedLogs(p, c float64) (lp, lq float64) {
	switch {
	case math.IsNaN(p):
		return p, p
	case p < c:
		return logSub(c), logOneMinus(c)
	case p > 1-c || 1-p < c: // 1 − c may round to 1 (c < u) while 1 − p = 0
		return logOneMinus(c), logSub(c)
	}
	return logSub(p), math.Log1p(-p)
}

// clippedPair is p and 1−p clipped to [c, 1−c] by clippedLogs' rule: 1−p
// is clipped itself rather than formed from the clipped p, so that p = 1
// gives 1−p = c exactly (1 − (1 − c) rounds: 6e-9 relative for c = 1e-7).
func clippedPair(p, c float64) (pc, qc float64) {
	switch {
	case p < c:
		return c, 1 - c
	case p > 1-c || 1-p < c:
		return 1 - c, c
	}
	return p, 1 - p
}

// logOneMinus is log(1−c) at the clip boundary, as the golden vectors
// (clamp to 1 − c in float64, then log) have it, except where 1 − c rounds
// to 1 (c < u), where it is log1p(−c), not 0.
func logOneMinus(c float64) float64 {
	if v := math.Log(1 - c); v != 0 {
		return v
	}
	return math.Log1p(-c)
}

// clamp keeps a NaN a NaN.
func clamp(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return v
	}
	return math.Min(math.Max(v, lo), hi)
}

// alphaT is α_t; FocalOptions' zero value and a negative α mean no α
// weighting.
func alphaT(y float64, bp binParams) float64 {
	if bp.alpha <= 0 {
		return 1
	}
	return bp.alpha*y + (1-bp.alpha)*(1-y)
}

func sigmoidFocalElem(x, y float64, bp binParams) binElem {
	at, gam := alphaT(y, bp), bp.gamma
	if y == 0 || y == 1 {
		s := 1 - 2*y
		z := s * x
		mod := 1.0 // (1−p_t)^γ = exp(−γ·softplus(−z))
		if gam != 0 {
			mod = math.Exp(-gam * softplus(-z))
		}
		spz := softplus(z)
		inner := sigmoid(z) + mul0(gam*sigmoid(-z), spz) // γ·σ(−z)·softplus(z) → 0 as z → ∞
		l := at * mul0(mod, spz)
		return binElem{l: l, g: s * at * mod * inner, lTerms: math.Abs(l), gTerms: math.Abs(at * mod * inner)}
	}
	p, q := sigmoid(x), sigmoid(-x)
	ce := y*softplus(-x) + (1-y)*softplus(x)
	m := y*q + (1-y)*p
	mg := powSub(m, gam)
	// mgce = m^γ·ce. m^γ underflows (or loses digits) where the product
	// need not (m ≥ 1 − y while ce ≈ (1 − y)·x): there the pair is scaled
	// by 2^∓1000.
	mgce := mg * ce
	if mg < 0x1p-1000 && ce > 1 && !math.IsInf(ce, 1) && gam != 0 && m > 0 {
		mgce = (ce * 0x1p-1000) * expScaled(gam*logSub(m), 1000)
	}
	dmce := mul0((1-2*y)*p*q, ce) // ∂m/∂x·ce; p·q = 0 where ce is infinite
	// γ·m^(γ−1)·dmce as γ·m^γ·((∂m/∂x)/m)·ce: m^(γ−1) overflows for a
	// subnormal m and γ < 1 (0·∞ at γ = 0), while |p·q/m| ≤ 2 for y ∈ [0, 1];
	// and p·q/m is formed so that p·q·ce (1e-522 at x = −600) does not
	// underflow first.
	var dterm float64
	switch {
	case gam == 0 || p*q == 0: // the term is absent (its limit is 0)
	case m > 0:
		r := p * q / m
		if p*q < 0x1p-1022 {
			r = (p / m) * q
		}
		dterm = gam * mg * mul0((1-2*y)*r, ce)
		if !math.IsInf(ce, 1) {
			dterm = gam * (1 - 2*y) * r * mgce
		}
	default: // y outside [0, 1]
		dterm = gam * powSub(m, gam-1) * dmce
	}
	l := at * mgce
	if math.IsInf(ce, 1) {
		// ce = +Inf needs the infinite side's coefficient, and m ≥ that
		// coefficient > 0: m^γ > 0 even where it underflows.
		l = at * ce
	}
	// The vector kernels form m^γ as exp(γ·log m), as the hard-label
	// form's (1−p_t)^γ = exp(−γ·softplus(−z)): the rounding of log m,
	// |log m|·u, is raised to γ. The caller charges (1+γ)·u per term;
	// widen it to (1 + γ + γ·|log m|)·u (m near a tiny soft label: log m ≈ −40).
	f := 1.0
	if gam != 0 && m > 0 {
		f += gam * math.Abs(logSub(m)) / (1 + gam)
	}
	return binElem{
		l:      l,
		g:      at * (mg*(p-y) + dterm),
		lTerms: f * math.Abs(l),
		gTerms: f * math.Abs(at) * (math.Abs(mg)*(math.Abs(p)+math.Abs(y)) + math.Abs(dterm)),
	}
}

func focalProbsElem(p, y float64, bp binParams) binElem {
	pc, qc, live := p, 1-p, true
	if bp.clip > 0 && !math.IsNaN(p) {
		pc, qc = clippedPair(p, bp.clip)
		live = p >= bp.clip && p <= 1-bp.clip
	}
	pt := y*pc + (1-y)*qc
	e := focalPt(pt, alphaT(y, bp), bp)
	if !live {
		e.g, e.gTerms = 0, 0 // clipped: no dependence on p, whatever y is (as BCE)
		return e
	}
	// ∂p_t/∂p = 2y − 1; its magnitude exceeds 1 only for y outside [0, 1].
	e.g *= 2*y - 1
	e.gTerms *= math.Max(1, math.Abs(2*y-1))
	return e
}

// focalPt is −α_t·q^γ·log p_t (q = 1 − p_t) and its derivative in p_t.
func focalPt(pt, at float64, bp binParams) binElem {
	gam := bp.gamma
	q := 1 - pt
	logpt := logSub(pt)
	if bp.clip == 0 {
		logpt = math.Max(logpt, -100)
	}
	mod := 1.0
	if gam != 0 {
		mod = powSub(q, gam)
	}
	var d1 float64 // γ·q^(γ−1)·log p_t, whose limit at q = 0 is 0
	if q != 0 && gam != 0 {
		d1 = gam * powSub(q, gam-1) * logpt
	}
	d2 := mod / math.Max(pt, 1e-12)
	l := -at * mod * logpt
	return binElem{l: l, g: at * (d1 - d2), lTerms: math.Abs(l), gTerms: math.Abs(at) * (math.Abs(d1) + math.Abs(d2))}
}

// focalPtSpread bounds how far the focal loss and derivative move when p_t
// is off by InputSlack·u relative (it is formed from p and y in T).
func focalPtSpread(p, y float64, bp binParams, u float64) (lp, gp float64) {
	pc, qc, live := p, 1-p, true
	if bp.clip > 0 && !math.IsNaN(p) {
		pc, qc = clippedPair(p, bp.clip)
		live = p >= bp.clip && p <= 1-bp.clip
	}
	pt := y*pc + (1-y)*qc
	at := alphaT(y, bp)
	f := func(v float64) binElem { return focalPt(v, at, bp) }
	v := f(pt)
	lp, gp = perturbedIn(f, v, pt, u, 0, 1)
	if !live {
		gp = 0
	}
	return lp, gp * math.Max(1, math.Abs(2*y-1))
}

// nearClip reports whether p is within InputSlack·u of a clip boundary.
func nearClip(p, c, u float64) bool {
	return math.Abs(p-c) <= InputSlack*u*c || math.Abs((1-p)-c) <= InputSlack*u
}

// perturbed is how far f's loss and derivative move when its argument v
// moves by InputSlack·u relative.
func perturbed(f func(float64) binElem, at binElem, v, u float64) (lp, gp float64) {
	return perturbedIn(f, at, v, u, math.Inf(-1), math.Inf(1))
}

func perturbedIn(f func(float64) binElem, at binElem, v, u, lo, hi float64) (lp, gp float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v == 0 {
		return 0, 0
	}
	for _, s := range []float64{-1, 1} {
		v2 := math.Min(math.Max(v*(1+s*InputSlack*u), lo), hi)
		e := f(v2)
		lp = maxDiff(lp, e.l, at.l)
		gp = maxDiff(gp, e.g, at.g)
	}
	return lp, gp
}

// maxDiff folds |a − b| into m; an undefined difference between finite
// values (a perturbed value turned infinite) makes the bound unbounded.
func maxDiff(m, a, b float64) float64 {
	d := math.Abs(a - b)
	if math.IsNaN(d) {
		if math.IsNaN(b) || math.IsInf(b, 0) {
			return m // the value itself is non-finite: matched exactly
		}
		return math.Inf(1)
	}
	return math.Max(m, d)
}
