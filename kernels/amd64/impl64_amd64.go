//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Float64 returns the table of float64 kernels: cross-entropy with integer
// targets (and softmax focal), the row primitives, BCE with logits, sigmoid
// focal, probability targets, BCE and FocalProbs on probabilities, the
// regression losses and Sigmoid/LogSigmoid/Softplus are vectorised; the
// rest (soft-capping, FocalProbs with Clip) is the generic kernel.
func Float64(useAVX512 bool) *args.Impl[float64] {
	s := isa(useAVX512)
	t := generic.Impl[float64]()
	t.CrossEntropy = crossEntropyEntry64(s)
	t.Softmax = s.softmax64
	t.LogSoftmax = s.logSoftmax64
	t.LogSumExp = s.logSumExp64
	t.Binary = s.binary64
	t.Regression = s.regression64
	t.KLDiv = s.klDiv64
	t.Distill = s.distill64
	t.Sigmoid = s.sigmoid64
	t.LogSigmoid = s.logSigmoid64
	t.Softplus = s.softplus64
	t.OutsideUnit = s.outsideUnit64
	t.Weights = s.weights64
	t.RowStats = s.rowStats64
	t.RowExp = s.rowExp64
	t.SoftmaxBackward = s.softmaxBackward64
	t.LogSoftmaxBackward = s.logSoftmaxBackward64
	t.LogSumExpBackward = s.logSumExpBackward64
	t.SigmoidBackward = s.sigmoidBackward64
	t.LogSigmoidBackward = s.logSigmoidBackward64
	t.SoftplusBackward = s.softplusBackward64
	t.BF16ToF32, t.F32ToBF16 = s.bf16ToF32, s.f32ToBF16
	t.F16ToF32, t.F32ToF16 = s.f16ToF32, s.f32ToF16
	return t
}

func (s isa) weights64(w []float64, _ bool) (float64, bool) {
	var sum float64
	var bad int
	switch {
	case len(w) == 0:
	case s == avx512:
		sum, bad = weightScanDAVX512(&w[0], len(w))
	default:
		sum, bad = weightScanDAVX2(&w[0], len(w))
	}
	return sum, bad == 0
}

func (s isa) outsideUnit64(x []float64) bool {
	args.Took("amd64/f64/outside-unit")
	switch {
	case len(x) == 0:
		return false
	case s == avx512:
		return outsideUnitDAVX512(&x[0], len(x)) != 0
	default:
		return outsideUnitDAVX2(&x[0], len(x)) != 0
	}
}

// rowsPerBlock64 is rowsPerBlock for 8-byte elements.
func rowsPerBlock64(k int) int {
	return max(1, min(blockRows, l2Budget/(8*k)))
}

func (s isa) maxLogRows64(x []float64, n, k int, m, ls *float64) {
	if s {
		maxLogRowsDAVX512(&x[0], n, k, m, ls)
	} else {
		maxLogRowsDAVX2(&x[0], n, k, m, ls)
	}
}

// expAffineRows64 is pass 2 of the row kernels; nt selects the variant with
// non-temporal stores (see streamed).
func (s isa) expAffineRows64(x, dst []float64, n, k int, m, ls, coef, bias *float64, nt bool) {
	args.TookIf(nt, "amd64/f64/pass2-exp-nt", "amd64/f64/pass2-exp")
	switch {
	case s == avx512 && nt:
		expAffineRowsNTDAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias)
	case s == avx512:
		expAffineRowsDAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias)
	case nt:
		expAffineRowsNTDAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias)
	default:
		expAffineRowsDAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias)
	}
}

// expAffineWRowsD is expAffineRows64 with per-class bias weights (label smoothing).
func (s isa) expAffineWRowsD(x, dst []float64, n, k int, m, ls, coef, bias, w *float64, nt bool) {
	args.TookIf(nt, "amd64/f64/pass2-exp-w-nt", "amd64/f64/pass2-exp-w")
	switch {
	case s == avx512 && nt:
		expAffineWRowsNTDAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	case s == avx512:
		expAffineWRowsDAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	case nt:
		expAffineWRowsNTDAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	default:
		expAffineWRowsDAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	}
}

// crossEntropy64 is the blockwise two-pass kernel of crossEntropy for
// float64 integer targets (weights, ignore index, label smoothing, z-loss,
// focal, row outputs, in place): pass 1 writes each row's maximum m and
// ls = log Σ exp(x − m) (and the smoothing sum), Go forms the row's loss
// and coefficients, pass 2 writes coef·softmax − bias, and Go rewrites the
// target element as the generic kernel does (p_y − 1 via expm1 where
// p_y > ½). Soft-capped logits take capped passes (z = cap·tanh(x/cap)
// in pass 1, times the cap's derivative in pass 2).
// crossEntropyEntry64 is crossEntropyEntry for float64.
func crossEntropyEntry64(s isa) func(args.CE[float64]) float64 {
	if s == avx512 {
		return func(a args.CE[float64]) float64 { return avx512.crossEntropy64(&a) }
	}
	return func(a args.CE[float64]) float64 { return avx2.crossEntropy64(&a) }
}

func (s isa) crossEntropy64(a *args.CE[float64]) float64 {
	capped := a.SoftCap != 0
	if capped && a.Focal { // not reachable: SoftmaxFocal has no soft-cap
		return generic.CrossEntropy(*a)
	}
	if a.Probs != nil {
		return s.crossEntropyProbs64(*a)
	}
	if !a.Focal && a.Smoothing == 0 && a.ZLoss == 0 && !capped && a.K <= fusedMaxK {
		return s.crossEntropyFused64(a)
	}
	capv, inv := a.SoftCap, 1/a.SoftCap
	args.Took("amd64/f64/ce/blocks")
	k, n := a.K, a.N
	eps, zl, scale := a.Smoothing, a.ZLoss, a.GradScale
	wsum := float64(k)
	if a.Weight != nil {
		wsum = 0
		for _, w := range a.Weight[:k] {
			wsum += w
		}
	}
	smooth := eps != 0 && !a.Focal
	epsK := eps / float64(k)
	z := s == avx512
	var mx, ls, dot, coef, bias, pcs, wys, zy, lpys [blockRows]float64
	bs := rowsPerBlock64(k)
	nt := streamedCE(a, 8)
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x := a.X[r0*k : (r0+m)*k]
		targets := a.Targets[r0 : r0+m]
		if smooth && !capped {
			args.TookIf(a.Weight != nil, "amd64/f64/ce/pass1-smooth-w", "amd64/f64/ce/pass1-smooth")
		}
		switch {
		case capped:
			args.Took("amd64/f64/ce/pass1-capped")
			s.maxLogCapped64(x, m, k, smooth, a.Weight, &mx[0], &ls[0], &dot[0], capv, inv)
		case smooth && a.Weight != nil && z:
			maxLogDotWRowsDAVX512(&x[0], m, k, &a.Weight[0], &mx[0], &ls[0], &dot[0])
		case smooth && a.Weight != nil:
			maxLogDotWRowsDAVX2(&x[0], m, k, &a.Weight[0], &mx[0], &ls[0], &dot[0])
		case smooth && z:
			maxLogDotRowsDAVX512(&x[0], m, k, &mx[0], &ls[0], &dot[0])
		case smooth:
			maxLogDotRowsDAVX2(&x[0], m, k, &mx[0], &ls[0], &dot[0])
		default:
			s.maxLogRows64(x, m, k, &mx[0], &ls[0])
		}
		for i, y := range targets {
			l := mx[i] + ls[i]
			if a.RowLSE != nil {
				a.RowLSE[r0+i] = l
			}
			if a.HasIgnore && y == a.Ignore {
				coef[i], bias[i] = 0, 0
				if a.RowLoss != nil {
					a.RowLoss[r0+i] = 0
				}
				continue
			}
			zy[i] = x[i*k+int(y)]
			if capped {
				// The assembly's tanh may round the maximum 1 ulp below
				// this one: m − z_y < 0 by 1e154 at logits of 6e169, which
				// a weight of 3e189 turns into −∞ beside a +∞ z-loss (F57).
				zy[i] = min(capv*math.Tanh(zy[i]/capv), mx[i])
			}
			if math.IsInf(ls[i], 0) {
				// A row holding +Inf (ls = +Inf) or only −Inf (ls = −Inf).
				coef[i], bias[i], pcs[i], wys[i] = math.NaN(), 0, math.NaN(), 0
				total += math.NaN()
				if a.RowLoss != nil {
					a.RowLoss[r0+i] = math.NaN()
				}
				continue
			}
			wy := 1.0
			if a.Weight != nil {
				wy = a.Weight[y]
			}
			var loss, pc float64
			if a.Focal {
				logp := (zy[i] - mx[i]) - ls[i]
				if logp > -math.Ln2 {
					// p_y > ½, so y is the row's maximum and ls = log(1 + r)
					// lost r's digits in the rounding of 1 + r; q = 1 − p_y
					// needs them: redo r = Σ_{j≠y} exp(x_j − m) (scalar,
					// confident rows of focal loss only).
					logp = -math.Log1p(sumExpExcept(x[i*k:i*k+k], int(y), mx[i])) + (zy[i] - mx[i])
				}
				lpys[i] = logp
				q := -math.Expm1(logp)
				p := 1 - q // exact enough where q < ½ (p > ½)
				if q >= 0.5 {
					p = math.Exp(logp)
				}
				r := -1.0
				if q != 0 {
					r = logp / q
				}
				pr := 0.0
				if p != 0 {
					pr = p * r
				}
				mod := focalPow(q, a.FocalGamma)
				loss = -wy * mod * logp
				pc = wy * mod * (1 - a.FocalGamma*pr)
				wy = pc
			} else {
				loss = (1-eps)*wy*((mx[i]-zy[i])+ls[i]) + zl*wy*l*l
				pc = (1-eps)*wy + 2*zl*wy*l
				if smooth {
					loss += epsK * (wsum*ls[i] - dot[i])
					pc += epsK * wsum
				}
				wy *= 1 - eps
			}
			total += loss
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = loss
			}
			pcs[i], wys[i] = pc, wy
			coef[i] = scale * pc
			bias[i] = 0
			if smooth {
				bias[i] = scale * epsK
			}
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case capped:
			args.Took("amd64/f64/ce/pass2-capped")
			s.expAffineCapped64(x, g, m, k, smooth, a.Weight, &mx[0], &ls[0], &coef[0], &bias[0], capv, inv)
		case smooth && a.Weight != nil:
			s.expAffineWRowsD(x, g, m, k, &mx[0], &ls[0], &coef[0], &bias[0], &a.Weight[0], nt)
		default:
			s.expAffineRows64(x, g, m, k, &mx[0], &ls[0], &coef[0], &bias[0], nt)
		}
		for i, y := range targets {
			row := g[i*k : i*k+k]
			if a.HasIgnore && y == a.Ignore {
				clear(row)
				continue
			}
			cy := 0.0
			if smooth {
				cy = epsK
				if a.Weight != nil {
					cy *= a.Weight[y]
				}
			}
			lpy := (zy[i] - mx[i]) - ls[i]
			if a.Focal {
				lpy = lpys[i]
			}
			pc, wy := pcs[i], wys[i]
			gy := pc*math.Exp(lpy) - wy
			// p − 1 exact: pc·(p − 1) + (pc − wy); not for an infinite pc
			// (a z-loss on logits near MaxFloat64), where it is ∞·0 at p = 1.
			if lpy > -math.Ln2 && pc-pc == 0 {
				gy = pc*math.Expm1(lpy) + (pc - wy)
			}
			gy = scale * (gy - cy)
			if capped { // d(cap·tanh(x/cap))/dx = 1 − (z/cap)²
				t := zy[i] / capv
				gy *= 1 - t*t
			}
			row[y] = gy
		}
	}
	return total
}

// maxLogCapped64 is pass 1 on soft-capped logits (with the smoothing dot
// when smooth).
func (s isa) maxLogCapped64(x []float64, n, k int, smooth bool, w []float64, m, ls, dot *float64, c, inv float64) {
	z := s == avx512
	switch {
	case !smooth && z:
		maxLogRowsCDAVX512(&x[0], n, k, m, ls, c, inv)
	case !smooth:
		maxLogRowsCDAVX2(&x[0], n, k, m, ls, c, inv)
	case w != nil && z:
		maxLogDotWRowsCDAVX512(&x[0], n, k, &w[0], m, ls, dot, c, inv)
	case w != nil:
		maxLogDotWRowsCDAVX2(&x[0], n, k, &w[0], m, ls, dot, c, inv)
	case z:
		maxLogDotRowsCDAVX512(&x[0], n, k, m, ls, dot, c, inv)
	default:
		maxLogDotRowsCDAVX2(&x[0], n, k, m, ls, dot, c, inv)
	}
}

// expAffineCapped64 is pass 2 on soft-capped logits, times the cap's
// derivative.
func (s isa) expAffineCapped64(x, g []float64, n, k int, smooth bool, w []float64, m, ls, coef, bias *float64, c, inv float64) {
	z := s == avx512
	switch {
	case smooth && w != nil && z:
		expAffineWRowsCDAVX512(&x[0], &g[0], n, k, m, ls, coef, bias, &w[0], c, inv)
	case smooth && w != nil:
		expAffineWRowsCDAVX2(&x[0], &g[0], n, k, m, ls, coef, bias, &w[0], c, inv)
	case z:
		expAffineRowsCDAVX512(&x[0], &g[0], n, k, m, ls, coef, bias, c, inv)
	default:
		expAffineRowsCDAVX2(&x[0], &g[0], n, k, m, ls, coef, bias, c, inv)
	}
}

// sumExpExcept is Σ_{j≠y} exp(x_j − m).
func sumExpExcept(x []float64, y int, m float64) float64 {
	var r float64
	for j, v := range x {
		if j != y {
			r += math.Exp(v - m)
		}
	}
	return r
}

// nonFiniteRows64 is nonFiniteRows for float64.
func nonFiniteRows64(ls []float64) {
	for i, v := range ls {
		if math.IsInf(v, 0) {
			ls[i] = math.NaN()
		}
	}
}

func (s isa) logSumExp64(a args.Rows[float64]) {
	args.Took("amd64/f64/logsumexp")
	if s {
		lseRowsDAVX512(&a.X[0], a.N, a.K, &a.Dst[0])
	} else {
		lseRowsDAVX2(&a.X[0], a.N, a.K, &a.Dst[0])
	}
}

func (s isa) softmax64(a args.Rows[float64]) {
	args.TookIf(a.K <= fusedMaxK, "amd64/f64/softmax-rows", "amd64/f64/softmax-blocks")
	if a.K <= fusedMaxK {
		// The row kernel: exact maximum, exponentials stashed in Dst, scaled.
		if s == avx512 {
			softmaxRowsDAVX512(&a.X[0], &a.Dst[0], a.N, a.K)
		} else {
			softmaxRowsDAVX2(&a.X[0], &a.Dst[0], a.N, a.K)
		}
		return
	}
	var mx, ls, one, zero [blockRows]float64
	for i := range one {
		one[i] = 1
	}
	k := a.K
	bs := rowsPerBlock64(k)
	for r0 := 0; r0 < a.N; r0 += bs {
		m := min(bs, a.N-r0)
		x := a.X[r0*k : (r0+m)*k]
		s.maxLogRows64(x, m, k, &mx[0], &ls[0])
		nonFiniteRows64(ls[:m])
		s.expAffineRows64(x, a.Dst[r0*k:(r0+m)*k], m, k, &mx[0], &ls[0], &one[0], &zero[0], streamed(max(a.N, a.Whole/k), k, 8))
	}
}

func (s isa) logSoftmax64(a args.Rows[float64]) {
	args.Took("amd64/f64/logsoftmax")
	var mx, ls [blockRows]float64
	k := a.K
	bs := rowsPerBlock64(k)
	for r0 := 0; r0 < a.N; r0 += bs {
		m := min(bs, a.N-r0)
		x := a.X[r0*k : (r0+m)*k]
		s.maxLogRows64(x, m, k, &mx[0], &ls[0])
		nonFiniteRows64(ls[:m])
		d := a.Dst[r0*k : (r0+m)*k]
		if s {
			subRowsDAVX512(&x[0], &d[0], m, k, &mx[0], &ls[0])
		} else {
			subRowsDAVX2(&x[0], &d[0], m, k, &mx[0], &ls[0])
		}
	}
}

// ptr64 is &s[0], or nil for an empty slice.
func ptr64(s []float64) *float64 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// binary64 is binary for float64.
func (s isa) binary64(a args.Binary[float64]) float64 {
	if len(a.X) == 0 {
		return generic.Binary(a)
	}
	x, y, w, g, l := &a.X[0], &a.Y[0], ptr64(a.Weight), ptr64(a.Grad), ptr64(a.Loss)
	n, sc := len(a.X), a.GradScale
	switch {
	case a.Kind == args.BCEWithLogits && a.PosWeight == nil:
		args.Took("amd64/f64/bce-logits")
		return bceLogits64Call(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)
	case a.Kind == args.BCEWithLogits && a.K == 1:
		args.Took("amd64/f64/bce-logits-pw1")
		return bceLogits64Call(bool(s), x, y, w, g, l, n, a.PosWeight[0]*a.FNWeight, a.FPWeight, sc)
	case a.Kind == args.BCEWithLogits && a.K < 8:
		args.Took("amd64/f64/bce-logits-pw-tiled")
		var pw [pwTileRows * 8]float64
		k := a.K
		tile(pw[:pwTileRows*k], a.PosWeight[:k])
		var sum float64
		for r0 := 0; r0 < a.N; r0 += pwTileRows {
			lo, n := r0*k, min(pwTileRows, a.N-r0)*k
			sum += bceLogitsPW64Call(bool(s), &a.X[lo], &a.Y[lo], elem(a.Weight, lo), elem(a.Grad, lo), elem(a.Loss, lo), n,
				&pw[0], a.FNWeight, a.FPWeight, sc)
		}
		return sum
	case a.Kind == args.BCEWithLogits:
		args.Took("amd64/f64/bce-logits-pw-rows")
		// pos_weight runs along each row: one call per row of K.
		k := a.K
		row := func(v []float64, i int) *float64 {
			if v == nil {
				return nil
			}
			return &v[i*k]
		}
		var sum float64
		for i := range a.N {
			sum += bceLogitsPW64Call(bool(s), &a.X[i*k], &a.Y[i*k], row(a.Weight, i), row(a.Grad, i), row(a.Loss, i), k,
				&a.PosWeight[0], a.FNWeight, a.FPWeight, sc)
		}
		return sum
	case a.Kind == args.BCEProb:
		if aliasX64(a) && !unitRange64(a.X) {
			break // in place: p outside [0, 1] could not be redone from x
		}
		var sum float64
		var soft int
		if a.Clip > 0 {
			lo, hi := a.Clip, 1-a.Clip
			args.Took("amd64/f64/bce-prob-clip")
			sum, soft = bceProbClip64Call(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, lo, hi,
				math.Log(lo), generic.LogOneMinus(lo), sc)
		} else {
			args.Took("amd64/f64/bce-prob")
			sum, soft = bceProb64Call(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)
		}
		if soft == 0 {
			return sum
		}
	case a.Kind == args.FocalProb && a.FNWeight == 1 && a.FPWeight == 1:
		if aliasX64(a) && !unitRange64(a.X) {
			break
		}
		a0, a1 := 1.0, 0.0
		if a.Alpha >= 0 {
			a0, a1 = 1-a.Alpha, 2*a.Alpha-1
		}
		var sum float64
		var soft int
		if a.Clip > 0 {
			lo, hi := a.Clip, 1-a.Clip
			switch a.Gamma {
			case 0:
				args.Took("amd64/f64/focal-prob-clip-g0")
				sum, soft = focalProbClipG064Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			case 1:
				args.Took("amd64/f64/focal-prob-clip-g1")
				sum, soft = focalProbClipG164Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			case 2:
				args.Took("amd64/f64/focal-prob-clip-g2")
				sum, soft = focalProbClipG264Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			default:
				args.Took("amd64/f64/focal-prob-clip-gany")
				sum, soft = focalProbClipGAny64Call(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, lo, hi, sc)
			}
		} else {
			switch a.Gamma {
			case 0:
				args.Took("amd64/f64/focal-prob-g0")
				sum, soft = focalProbG064Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 1:
				args.Took("amd64/f64/focal-prob-g1")
				sum, soft = focalProbG164Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 2:
				args.Took("amd64/f64/focal-prob-g2")
				sum, soft = focalProbG264Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			default:
				args.Took("amd64/f64/focal-prob-gany")
				sum, soft = focalProbGAny64Call(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
			}
		}
		if soft == 0 {
			return sum
		}
	case a.Kind == args.SigmoidFocal && a.FNWeight == 1 && a.FPWeight == 1:
		a0, a1 := 1.0, 0.0 // α_t = a0 + a1·y
		if a.Alpha >= 0 {
			a0, a1 = 1-a.Alpha, 2*a.Alpha-1
		}
		// Hard labels take the closed form. A call holding another label
		// runs the soft-label kernel over the whole call: at once when one
		// of its first softProbe labels is soft (soft-label training has
		// them everywhere), after a scan of the labels where an output
		// overwrites x, or else after the hard pass counted one.
		if hardLabels64(a.Y[:min(len(a.Y), softProbe)]) && (!aliasX64(a) || hardLabels64(a.Y)) {
			var sum float64
			var soft int
			switch a.Gamma {
			case 0:
				args.Took("amd64/f64/sigmoid-focal-g0")
				sum, soft = focalG064Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 1:
				args.Took("amd64/f64/sigmoid-focal-g1")
				sum, soft = focalG164Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 2:
				args.Took("amd64/f64/sigmoid-focal-g2")
				sum, soft = focalG264Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			default:
				args.Took("amd64/f64/sigmoid-focal-gany")
				sum, soft = focalGAny64Call(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
			}
			if soft == 0 {
				return sum
			}
		}
		switch a.Gamma {
		case 0:
			args.Took("amd64/f64/sigmoid-focal-soft-g0")
			return focalSoftG064Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		case 1:
			args.Took("amd64/f64/sigmoid-focal-soft-g1")
			return focalSoftG164Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		case 2:
			args.Took("amd64/f64/sigmoid-focal-soft-g2")
			return focalSoftG264Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		default:
			args.Took("amd64/f64/sigmoid-focal-soft-gany")
			return focalSoftGAny64Call(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
		}
	}
	return generic.Binary(a)
}

// aliasX64 reports whether an output of a overwrites its input x.
func aliasX64(a args.Binary[float64]) bool {
	return a.Grad != nil && &a.Grad[0] == &a.X[0] || a.Loss != nil && &a.Loss[0] == &a.X[0]
}

func unitRange64(p []float64) bool {
	for _, v := range p {
		if v < 0 || v > 1 {
			return false
		}
	}
	return true
}

func hardLabels64(y []float64) bool {
	for _, v := range y {
		if v != 0 && v != 1 {
			return false
		}
	}
	return true
}

// regression64 is regression for float64.
func (s isa) regression64(a args.Regression[float64]) float64 {
	// The kernels form the gradient as g·(w·scale), or (w·g)·scale where
	// w·scale underflows (asmgen/amd64 weightedGrad): d·w first overflowed
	// or underflowed where generic's order does not (F5 on avx2, e.g. MSE
	// at x = −1e300 with weight 8.6e9).
	if len(a.X) == 0 {
		return generic.Regression(a)
	}
	x, y, w, g, l := &a.X[0], &a.Y[0], ptr64(a.Weight), ptr64(a.Grad), ptr64(a.Loss)
	n, p, sc := len(a.X), a.Param, a.GradScale
	switch a.Kind {
	case args.MSE:
		args.Took("amd64/f64/mse")
		return mse64Call(bool(s), x, y, w, g, l, n, p, sc) // the kernel doubles d·w·scale last
	case args.L1:
		args.Took("amd64/f64/l1")
		return l164Call(bool(s), x, y, w, g, l, n, p, sc)
	case args.Huber:
		args.Took("amd64/f64/huber")
		return huber64Call(bool(s), x, y, w, g, l, n, p, sc)
	default:
		args.Took("amd64/f64/smoothl1")
		return smoothL164Call(bool(s), x, y, w, g, l, n, p, sc)
	}
}

func (s isa) sigmoid64(a args.Elementwise[float64]) {
	args.Took("amd64/f64/sigmoid")
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidDAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		sigmoidDAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

func (s isa) logSigmoid64(a args.Elementwise[float64]) {
	args.Took("amd64/f64/logsigmoid")
	if len(a.X) == 0 {
		return
	}
	if s {
		logSigmoidDAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		logSigmoidDAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

func (s isa) softplus64(a args.Elementwise[float64]) {
	if !a.ExactSoftplus() {
		s.softplusBeta64(a)
		return
	}
	args.Took("amd64/f64/softplus")
	if len(a.X) == 0 {
		return
	}
	if s {
		softplusDAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		softplusDAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

// crossEntropyProbs64 is crossEntropyProbs for float64.
func (s isa) crossEntropyProbs64(a args.CE[float64]) float64 {
	capped := a.SoftCap != 0
	cp, inv := a.SoftCap, 1/a.SoftCap
	args.TookIf(capped, "amd64/f64/ce/probs-capped", "amd64/f64/ce/probs")
	k, n := a.K, a.N
	eps, zl, scale := a.Smoothing, a.ZLoss, a.GradScale
	a0, a1 := eps/float64(k), 1-eps
	b0, b1 := scale*eps/float64(k), scale*(1-eps)
	w := ptr64(a.Weight)
	z := s == avx512
	var mx, ls, dot, cs, coef [blockRows]float64
	bs := rowsPerBlock64(k)
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Probs[r0*k:(r0+m)*k]
		switch {
		case capped && z && w != nil:
			maxLogProbWRowsCDAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped && z:
			maxLogProbRowsCDAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped && w != nil:
			maxLogProbWRowsCDAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped:
			maxLogProbRowsCDAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case z && w != nil:
			maxLogProbWRowsDAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		case z:
			maxLogProbRowsDAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		case w != nil:
			maxLogProbWRowsDAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		default:
			maxLogProbRowsDAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		}
		for i := range m {
			l := mx[i] + ls[i]
			if a.RowLSE != nil {
				a.RowLSE[r0+i] = l
			}
			var loss, pc float64
			if math.IsInf(ls[i], 0) { // a row holding +Inf, or only −Inf
				loss, pc = math.NaN(), math.NaN()
			} else {
				loss = cs[i]*ls[i] - dot[i] + zl*l*l
				pc = cs[i] + 2*zl*l
			}
			total += loss
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = loss
			}
			coef[i] = scale * pc
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		nt := streamedCE(&a, 8) && !capped // no streamed capped kernel: tanh bounds it anyway
		args.TookIf(nt, "amd64/f64/ce/probs-pass2-nt", "amd64/f64/ce/probs-pass2")
		switch {
		case capped && z && w != nil:
			expProbWRowsCDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1, cp, inv)
		case capped && z:
			expProbRowsCDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1, cp, inv)
		case capped && w != nil:
			expProbWRowsCDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1, cp, inv)
		case capped:
			expProbRowsCDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1, cp, inv)
		case z && w != nil && nt:
			expProbWRowsNTDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case z && w != nil:
			expProbWRowsDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case z && nt:
			expProbRowsNTDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case z:
			expProbRowsDAVX512(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case w != nil && nt:
			expProbWRowsNTDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case w != nil:
			expProbWRowsDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		case nt:
			expProbRowsNTDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		default:
			expProbRowsDAVX2(&x[0], &g[0], m, k, &mx[0], &ls[0], &coef[0], &t[0], w, b0, b1)
		}
	}
	return total
}

// crossEntropyFused64 runs the one-call fused kernel for the plain options
// (weights, ignore index, per-row outputs, in place).
func (s isa) crossEntropyFused64(a *args.CE[float64]) float64 {
	ignore := math.MinInt64 // never equal to an int32 target
	if a.HasIgnore {
		ignore = int(a.Ignore)
	}
	x, g, t, w := &a.X[0], ptr64(a.Grad), &a.Targets[0], ptr64(a.Weight)
	rl, rs := ptr64(a.RowLoss), ptr64(a.RowLSE)
	n, k, sc := a.N, a.K, a.GradScale
	z := s == avx512
	args.Took("amd64/f64/ce/fused")
	switch {
	case z && g != nil && w != nil:
		return ceRowsGWDAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && g != nil:
		return ceRowsGDAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && w != nil:
		return ceRowsWDAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z:
		return ceRowsDAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil && w != nil:
		return ceRowsGWDAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil:
		return ceRowsGDAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case w != nil:
		return ceRowsWDAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	default:
		return ceRowsDAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	}
}
