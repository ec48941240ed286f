package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// CrossEntropy is the reference for kernels.CrossEntropy: it takes the same
// arguments (without the gradient buffer; the output buffers in o are only
// length-checked) and returns the loss, per-row losses, per-row log-sum-exp
// and the gradient with their tolerances.
//
// Row i with target y (not ignored), z the soft-capped logits, lse their
// log-sum-exp, log p_j = z_j − lse:
//
//	l_i = (1−ε)·w[y]·(−log p_y) + Σ_j (ε/K)·w[j]·(−log p_j) + ζ·w[y]·lse²
//	∂l_i/∂z_j = P·p_j − c_j,  P = (1−ε)·w[y] + (ε/K)·Σ w + 2ζ·w[y]·lse,
//	            c_j = (ε/K)·w[j] + (1−ε)·w[y]·[j = y]
//
// A smoothing term whose coefficient is 0 is absent (so a −Inf logit of a
// zero-weight class does not make the loss NaN); without smoothing (ε = 0)
// there is no smoothing term at all, so a NaN or +Inf weight of a class no
// row targets changes nothing (as in PyTorch), and without z-loss (ζ = 0)
// no z-loss term (an infinite w[y] gives +Inf, not 0·∞). The target term is
// a plain product, so w[y] = 0 with z_y = −Inf gives NaN, as in PyTorch. Ignored
// rows have loss 0 and gradient 0 whatever their logits. A row holding a NaN
// is NaN throughout; a row holding +Inf has lse +Inf and NaN loss and
// gradient; a row of −Inf only has lse −Inf and NaN loss and gradient (both
// as PyTorch's log_softmax). The mean divides by Σ w[y_i] over non-ignored
// rows, or by o.Normalizer when it is positive.
func CrossEntropy[T kernels.Float](logits []T, targets []int32, n, k int, o *kernels.CrossEntropyOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.CrossEntropyOptions[T]{}
	}
	w, err := ceValidate(logits, n, k, o)
	if err != nil {
		return nil, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := targetNorm(targets, n, k, ignore, hasIgnore, w)
	if err != nil {
		return nil, err
	}
	r := newResult[T](k)
	r.setScale(o.Reduction, o.EmptyMean, normalized(norm, o.Normalizer))
	eps, zeta := o.LabelSmoothing, o.ZLoss
	r.allocRows(n, k)
	c := make([]float64, k)
	for i := 0; i < n; i++ {
		y := targets[i]
		row := newCERow(r, logits[i*k:i*k+k], o.SoftCap)
		if hasIgnore && y == ignore {
			r.rowIgnored(i, row)
			continue
		}
		if !r.rowSpecial(i, row) {
			wy := weightOf(w, int(y))
			hard := (1 - eps) * wy
			lr := row.lse
			u := r.U
			var loss sum
			loss.add(lr.nll(hard, row.z[y]))
			var soft, cs, sub float64 // Σ|c_j|·(|lse|+|z_j|+|m|), Σ c_j of the smoothing part, subnormal c_j's terms
			for j := range c {
				c[j] = 0 // without smoothing there is no smoothing term: 0·w[j] must not turn a NaN or +Inf weight into NaN
				if eps != 0 {
					c[j] = eps / float64(k) * weightOf(w, j)
				}
				cs += c[j]
				if c[j] == 0 {
					continue
				}
				if wj := weightOf(w, j); math.Abs(c[j]) < 0x1p-1022 && wj != 0 {
					// c_j = (ε/K)·w_j is subnormal here: the term is
					// w_j·(lse − z_j) times ε/K, as CrossEntropyProbs
					// forms it, not the rounded c_j's.
					loss.add(lr.nll(wj, row.z[j]) * (eps / float64(k)))
				} else {
					loss.add(lr.nll(c[j], row.z[j]))
				}
				soft += math.Abs(c[j]) * (math.Abs(lr.lse) + math.Abs(row.z[j]) + math.Abs(lr.m))
				if math.Abs(c[j]) < r.tiny {
					// The kernels form c_j in T (or (ε/V)·w_j term by term,
					// the shard calls): below T's normal range it keeps η,
					// T's smallest subnormal, absolute, as the gradient's
					// bound charges (F63) and CrossEntropyProbs's loss (F50; here F77).
					sub += math.Abs(lr.lse) + math.Abs(row.z[j]) + math.Abs(lr.m)
				}
			}
			zw := 0.0 // ζ·w[y]; without z-loss the term is absent (0·∞ is not NaN here)
			if zeta != 0 {
				zw = zeta * wy
			}
			loss.add(zw * lr.lse * lr.lse)
			c[y] += hard
			pc := hard + cs + 2*zw*lr.lse
			lseErr := lr.lseTol(u, k)
			aw := math.Abs(hard) + math.Abs(cs)
			tol := Slack*u*math.Abs(hard)*(math.Abs(lr.lse)+math.Abs(row.z[y])) +
				(Slack+float64(k))*u*soft +
				(aw+2*math.Abs(zw*lr.lse))*lseErr +
				Slack*u*math.Abs(zw)*lr.lse*lr.lse +
				Slack*(2*u*r.tiny)*sub // η = 2u·tiny, T's smallest subnormal
			pcTol := 2*math.Abs(zw)*lseErr + Slack*u*math.Abs(pc)
			r.rowDone(i, row, loss.value(), tol, pc, pcTol, c)
		}
	}
	r.finish()
	return r, nil
}

// CrossEntropyProbs is the reference for kernels.CrossEntropyProbs:
//
//	l_i = Σ_j c_j·(−log p_j) + ζ·lse²,   c_j = w[j]·((1−ε)·t_j + ε/K)
//	∂l_i/∂z_j = (Σ_c c_c + 2ζ·lse)·p_j − c_j
//
// with zero-coefficient terms absent (a −Inf logit where the target is 0
// adds nothing; PyTorch gives NaN there) and the mean dividing by N (or
// o.Normalizer), as PyTorch's probability-target path does.
func CrossEntropyProbs[T kernels.Float](logits, probs []T, n, k int, o *kernels.CrossEntropyOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.CrossEntropyOptions[T]{}
	}
	w, err := ceValidate(logits, n, k, o)
	if err != nil {
		return nil, err
	}
	if err := lengths(need("probs", len(probs), n*k)); err != nil {
		return nil, err
	}
	if err := unitValues("probs", probs); err != nil {
		return nil, err
	}
	r := newResult[T](k)
	r.setScale(o.Reduction, o.EmptyMean, normalized(float64(n), o.Normalizer))
	eps, zeta := o.LabelSmoothing, o.ZLoss
	r.allocRows(n, k)
	c := make([]float64, k)
	for i := 0; i < n; i++ {
		row := newCERow(r, logits[i*k:i*k+k], o.SoftCap)
		if r.rowSpecial(i, row) {
			continue
		}
		lr, u := row.lse, r.U
		var loss sum
		var soft, cs, aw, sub float64
		for j := range c {
			wj, tj := weightOf(w, j), (1-eps)*float64(probs[i*k+j])+eps/float64(k)
			c[j] = wj * tj
			cs += c[j]
			aw += math.Abs(c[j])
			subnormal := c[j] < 0x1p-1022 && wj > 0 && tj > 0
			if c[j] != 0 {
				if !subnormal {
					loss.add(lr.nll(c[j], row.z[j]))
				}
				soft += math.Abs(c[j]) * (math.Abs(lr.lse) + math.Abs(row.z[j]) + math.Abs(lr.m))
			}
			if subnormal {
				// c_j = w_j·t_j is subnormal or underflows (a subnormal
				// target): the term is w_j·(lse − z_j) times t_j, which a
				// logit near ∓1e300 keeps far above the smallest subnormal
				// (w = 0.11, t = 5e-324, z = −1e300: 5.4e-25). It replaces
				// c_j·(lse − z_j) rather than correcting it, which at
				// z_j = −Inf would be ∞ − ∞ (F50). The kernels form c_j in
				// T: its absolute error, up to η (T's smallest subnormal;
				// the SIMD kernels round an underflowing c_j up to η so
				// that the term stays present), is charged.
				loss.add(lr.nll(wj, row.z[j]) * tj)
				sub += math.Abs(lr.lse) + math.Abs(row.z[j]) + math.Abs(lr.m)
			}
		}
		loss.add(zeta * lr.lse * lr.lse)
		pc := cs + 2*zeta*lr.lse
		lseErr := lr.lseTol(u, k)
		tol := (Slack+float64(k))*u*soft + (aw+2*zeta*math.Abs(lr.lse))*lseErr + Slack*u*zeta*lr.lse*lr.lse
		tol += Slack * (2 * u * r.tiny) * sub // η = 2u·tiny, T's smallest subnormal
		pcTol := 2*zeta*lseErr + Slack*u*math.Abs(pc)
		r.rowDone(i, row, loss.value(), tol, pc, pcTol, c)
	}
	r.finish()
	return r, nil
}

// SoftmaxFocal is the reference for kernels.SoftmaxFocal, with
// p = softmax(x)_y, q = 1 − p, ℓ = log p:
//
//	l_i = −α[y]·q^γ·ℓ,   ∂l_i/∂x_j = α[y]·F·(p_j − [j = y]),
//	F = q^γ·(1 − γ·p·ℓ/q)   (ℓ/q → −1 as q → 0)
//
// The mean divides by the number of non-ignored rows.
func SoftmaxFocal[T kernels.Float](logits []T, targets []int32, n, k int, o *kernels.SoftmaxFocalOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.SoftmaxFocalOptions[T]{}
	}
	ceo := kernels.CrossEntropyOptions[T]{Reduction: o.Reduction, Weight: o.Alpha, RowLoss: o.RowLoss}
	alpha, err := ceValidate(logits, n, k, &ceo)
	if err != nil {
		return nil, err
	}
	if err := first(lengths(need("targets", len(targets), n)), inRange("Gamma", o.Gamma, 0, math.MaxFloat64), emptyMeanOK(o.EmptyMean)); err != nil {
		return nil, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	count, err := targetNorm(targets, n, k, ignore, hasIgnore, nil) // α scales losses; the mean counts rows
	if err != nil {
		return nil, err
	}
	r := newResult[T](k)
	r.setScale(o.Reduction, o.EmptyMean, count)
	r.nonNeg = true // −α_y·q^γ·log p_y with α_y ≥ 0
	gam := o.Gamma
	r.allocRows(n, k)
	c := make([]float64, k)
	for i := 0; i < n; i++ {
		y := targets[i]
		row := newCERow(r, logits[i*k:i*k+k], 0)
		if hasIgnore && y == ignore {
			r.rowIgnored(i, row)
			continue
		}
		if r.rowSpecial(i, row) {
			continue
		}
		lr, u := row.lse, r.U
		ay := weightOf(alpha, int(y))
		ell := lr.logp(row.z[y])
		loss := -ay * focalMod(ell, gam) * ell
		pc := ay * focalF(ell, gam)
		// ℓ may be off by the lse's error plus the roundings of z_y − m.
		dell := lr.lseTol(u, k) + Slack*u*(math.Abs(row.z[y])+math.Abs(lr.m)+math.Abs(ell))
		if math.IsInf(ell, -1) {
			dell = 0 // z_y = −Inf: p = 0 exactly
		}
		tol := math.Abs(ay)*spread(func(l float64) float64 { return -focalMod(l, gam) * l }, ell, dell) + Slack*u*math.Abs(loss)
		pcTol := math.Abs(ay)*spread(func(l float64) float64 { return focalF(l, gam) }, ell, dell) + Slack*u*math.Abs(pc)
		for j := range c {
			c[j] = 0
		}
		c[y] = pc
		r.rowDone(i, row, loss, tol, pc, pcTol, c)
	}
	r.finish()
	return r, nil
}

// focalMod is q^γ for q = 1 − e^ℓ, with q^0 = 1 even at q = 0.
func focalMod(ell, gam float64) float64 {
	if gam == 0 {
		return 1
	}
	return powSub(-math.Expm1(ell), gam)
}

// focalF is the softmax focal gradient factor q^γ·(1 − γ·p·ℓ/q).
func focalF(ell, gam float64) float64 {
	p, q := math.Exp(ell), -math.Expm1(ell)
	r := -1.0 // ℓ/q → −1 as q → 0
	if q != 0 {
		r = ell / q
	}
	pr := 0.0 // p·ℓ/q → 0 as p → 0
	if p != 0 {
		pr = p * r
	}
	return focalMod(ell, gam) * (1 - gam*pr)
}

// spread is max |f(v') − f(v)| over v' = v ± d (v' ≤ 0: a log-probability),
// a bound on f's error when its argument is known to within d.
func spread(f func(float64) float64, v, d float64) float64 {
	f0, m := f(v), 0.0
	if d == 0 {
		return 0
	}
	for _, v2 := range []float64{v - d, math.Min(v+d, 0)} {
		if diff := math.Abs(f(v2) - f0); diff > m || math.IsNaN(diff) {
			m = diff
		}
	}
	if math.IsNaN(m) {
		return math.Inf(1)
	}
	return m
}

// targetNorm checks integer targets (a class in [0, k) or the ignore
// index) and returns Σ w[y] over the rows not ignored.
func targetNorm(targets []int32, n, k int, ignore int32, hasIgnore bool, w []float64) (float64, error) {
	if err := lengths(need("targets", len(targets), n)); err != nil {
		return 0, err
	}
	var norm sum
	for i, y := range targets {
		if hasIgnore && y == ignore {
			continue
		}
		if y < 0 || int(y) >= k {
			return 0, errf(kernels.ErrTarget, "targets[%d]=%d", i, y)
		}
		norm.add(weightOf(w, int(y)))
	}
	return norm.value(), nil
}

func weightOf(w []float64, j int) float64 {
	if w == nil {
		return 1
	}
	return w[j]
}

func normalized(norm, normalizer float64) float64 {
	if normalizer > 0 {
		return normalizer
	}
	return norm
}

func ceValidate[T kernels.Float](logits []T, n, k int, o *kernels.CrossEntropyOptions[T]) ([]float64, error) {
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	if err := first(
		lengths(need("logits", len(logits), nk), opt("Weight", o.Weight, k), opt("RowLoss", o.RowLoss, n), opt("RowLSE", o.RowLSE, n)),
		reductionOK(o.Reduction, n, len(o.RowLoss), "RowLoss"),
		inRange("LabelSmoothing", o.LabelSmoothing, 0, 1),
		inRange("ZLoss", o.ZLoss, 0, math.MaxFloat64),
		inRange("SoftCap", o.SoftCap, 0, math.MaxFloat64),
		inRange("Normalizer", o.Normalizer, 0, math.MaxFloat64),
		emptyMeanOK(o.EmptyMean),
	); err != nil {
		return nil, err
	}
	return nonNegative("Weight", o.Weight)
}

// ceRow is one row's capped logits, the chain-rule factor of the cap, and
// its log-sum-exp.
type ceRow struct {
	off      int
	z, chain []float64
	capOn    bool
	lse      lseRow
}

func newCERow[T kernels.Float](r *Result, x []T, capv float64) ceRow {
	row := ceRow{z: make([]float64, len(x)), chain: make([]float64, len(x)), capOn: capv > 0}
	for j, v := range x {
		row.z[j], row.chain[j] = float64(v), 1
		if capv > 0 { // z = cap·tanh(x/cap), dz/dx = sech²(x/cap)
			t := float64(v) / capv
			row.z[j] = capv * math.Tanh(t)
			// 4e/(1+e)², e = exp(−2|t|): 1/cosh² underflows at |t| ≈ 355,
			// where sech² is still 1e-308.
			e := math.Exp(-2 * math.Abs(t))
			row.chain[j] = 4 * e / ((1 + e) * (1 + e))
		}
	}
	row.lse = logSumExp(row.z)
	return row
}

func (r *Result) allocRows(n, k int) {
	r.Items, r.ItemTol = make([]float64, n), make([]float64, n)
	r.LSE, r.LSETol = make([]float64, n), make([]float64, n)
	r.Grad, r.GradTol = make([]float64, n*k), make([]float64, n*k)
}

// rowIgnored records an ignored row: loss and gradient exactly 0, its
// log-sum-exp all the same.
func (r *Result) rowIgnored(i int, row ceRow) {
	r.setLSE(i, row)
}

func (r *Result) setLSE(i int, row ceRow) {
	r.LSE[i] = row.lse.lse
	if row.lse.kind == rowFinite {
		r.LSETol[i] = row.lse.lseTol(r.U, len(row.z))
	}
}

// rowSpecial handles a non-ignored row whose log-sum-exp is not finite:
// NaN loss and gradient. It reports whether it did.
func (r *Result) rowSpecial(i int, row ceRow) bool {
	r.setLSE(i, row)
	if row.lse.kind == rowFinite {
		return false
	}
	k := len(row.z)
	r.Items[i] = math.NaN()
	for j := 0; j < k; j++ {
		r.Grad[i*k+j] = math.NaN()
	}
	return true
}

// rowDone records a finite row's loss and its gradient
// Scale·chain_j·(pc·p_j − c_j), with their tolerances (see the package
// documentation for the gradient bound).
func (r *Result) rowDone(i int, row ceRow, loss, tol, pc, pcTol float64, c []float64) {
	k, u := len(row.z), r.U
	r.Items[i], r.ItemTol[i] = loss, finiteTol(loss, tol)
	lr := row.lse
	lseErr := lr.lseTol(u, k)
	scale := r.Scale
	for j, zj := range row.z {
		p := math.Exp(lr.logp(zj))
		d := pc*p - c[j]
		// The row's coefficient scale·pc is formed before it meets p_j, as
		// the kernels do: p_j ≤ 1, so the product can only shrink, while
		// pc·p_j first underflows where the gradient does not (weights of
		// 2.6e-200 under a mean, p_j = 1.7e-266: F56).
		spc, sc := scale*pc, scale*c[j]
		g := row.chain[j] * (spc*p - sc)
		var t float64
		if p != 0 {
			rho := lseErr + Slack*u*(1+math.Abs(zj)+math.Abs(zj-lr.m)) // p_j's relative error
			t = math.Abs(spc)*p*math.Expm1(rho) + p*math.Abs(scale)*pcTol
		}
		t += Slack * u * (math.Abs(spc)*p + math.Abs(sc))
		t *= row.chain[j]
		if row.capOn {
			t += Slack * u * math.Abs(scale) * math.Abs(d) // 1 − tanh² loses Slack·u absolute
		}
		t += Slack * r.tiny * math.Max(1, math.Abs(spc)+math.Abs(sc))
		if a := math.Abs(c[j]); a != 0 && a < r.tiny {
			// c_j = (ε/K)·w_j below T's normal range keeps η = 2u·tiny
			// absolute, which the scale carries into the gradient: one
			// kernel forms c_j before the scale (as here), another forms
			// (scale·ε/K)·w_j, whose value is the exact one (F63).
			t += Slack * (2 * u * r.tiny) * math.Abs(scale) * row.chain[j]
		}
		r.Grad[i*k+j], r.GradTol[i*k+j] = g, finiteTol(g, t)
		if math.Abs(scale)*math.Abs(pc) > r.max || math.Abs(scale)*math.Abs(c[j]) > r.max {
			// The gradient's terms, scale·pc·p_j and scale·c_j, as the
			// kernels form them (the row's coefficient scale·pc first):
			// one beyond T's range gives ±∞ or ∞ − ∞ = NaN where the true
			// difference may be finite or the other infinity (weights of
			// 2e227 and 2e-243 in one row: F54). A term overflows T, so
			// the value is unconstrained.
			r.GradTol[i*k+j] = math.Inf(1)
		}
		if row.capOn && math.Abs(scale)*Slack*u*math.Abs(d) > r.max {
			// The cap's factor 1 − tanh², exact to Slack·u only, times a
			// scaled coefficient beyond T's range: a kernel whose factor
			// rounds to 0 where the true one is 1e-82 gets 0 or 0·∞ = NaN
			// where the true value overflows (F53). The term of the bound
			// overflows T, so the value is unconstrained, as anywhere else.
			r.GradTol[i*k+j] = math.Inf(1)
		}
	}
	if r.overflows(math.Abs(loss), math.Abs(pc), tol/(Slack*u)) {
		r.ItemTol[i] = math.Inf(1)
		for j := range row.z {
			r.GradTol[i*k+j] = math.Inf(1)
		}
	} else if pc-pc != 0 {
		// Every input of a row that gets here is finite, so a non-finite
		// coefficient is this float64 computation overflowing (weights
		// near MaxFloat64 times ζ·lse). The gradient's true value can
		// still be finite (a mean's scale can be as small as
		// 1/MaxFloat64, a saturated soft-cap's chain factor 1e-33), and
		// neither T nor the oracle forms it: the row's gradient is
		// unconstrained, as where a term overflows T (F52). The loss,
		// beyond MaxFloat64, stays +Inf.
		for j := range row.z {
			r.GradTol[i*k+j] = math.Inf(1)
		}
	}
}

// finiteTol returns t for a finite value (an unbounded tolerance if t is
// NaN from a degenerate bound) and 0 for a non-finite one. A finite value's
// tolerance is never 0, which would ask for an exact match: a bound that
// underflowed (the terms of a loss of 5e-324) still allows the contract's
// floor c·η. The exact zeros (ignored rows, EmptyMeanZero) do not come
// through here.
func finiteTol(v, t float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if math.IsNaN(t) {
		return math.Inf(1)
	}
	return math.Max(t, math.SmallestNonzeroFloat64)
}
