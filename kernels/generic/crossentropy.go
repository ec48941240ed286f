package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// CrossEntropy is the fused two-pass row kernel behind CrossEntropy,
// CrossEntropyProbs and SoftmaxFocal. Pass 1 reads a row once for the
// running maximum and sum of exponentials (online softmax); pass 2 writes
// the gradient, which may overwrite the logits in place.
func CrossEntropy[T args.Float](a args.CE[T]) float64 {
	args.Took("generic/ce")
	k := a.K
	// Σ_c (ε/K)·w[c], the smoothing part of every row's softmax
	// coefficient, summed term by term so that it is finite wherever the
	// coefficient is (ε/K·Σw overflows for weights near MaxFloat64). It is
	// NaN (0·∞) or +Inf when a weight is infinite, even without smoothing.
	eps := float64(a.Smoothing)
	epsW := float64(k) * (eps / float64(k))
	if a.Weight != nil {
		epsW = 0
		for _, w := range a.Weight[:k] {
			epsW += eps / float64(k) * float64(w)
		}
	}
	var total float64
	for i := 0; i < a.N; i++ {
		x := a.X[i*k : i*k+k]
		var grad, probs []T
		if a.Grad != nil {
			grad = a.Grad[i*k : i*k+k]
		}
		if a.Probs != nil {
			probs = a.Probs[i*k : i*k+k]
		}
		y := int32(-1)
		if a.Targets != nil {
			y = a.Targets[i]
		}
		ignored := a.Targets != nil && a.HasIgnore && y == a.Ignore
		loss, lse := ceRow(&a, x, probs, grad, y, ignored, epsW, eps)
		if a.RowLoss != nil {
			a.RowLoss[i] = T(loss)
		}
		if a.RowLSE != nil {
			a.RowLSE[i] = T(lse)
		}
		total += loss
	}
	return total
}

// ceRow computes one row's loss and log-sum-exp, and writes its gradient
// when grad is non-nil.
func ceRow[T args.Float](a *args.CE[T], x, probs, grad []T, y int32, ignored bool, epsW, eps float64) (loss, lse float64) {
	k := len(x)
	probs = probs[:len(probs):len(probs)]
	capv := float64(a.SoftCap)

	if probs != nil && capv == 0 && a.Weight == nil && eps == 0 && !a.Focal {
		if loss, lse, ok := softPlainRow(a, x, probs, grad); ok {
			return loss, lse
		}
	}

	// The target's (capped) logit, read before an in-place gradient overwrites it.
	var zy float64
	if y >= 0 && !ignored {
		zy = capped(float64(x[y]), capv)
	}

	// Pass 1: the maximum m and r = Σ exp(z−m) − 1; with smoothing or
	// probability targets also S = Σ c_j·(m − z_j) and Σ c_j, anchored at
	// the running maximum (moved up with S += Σc·(m' − m)), so that every
	// term is ≥ 0 and nothing cancels: anchored at 0, tw·lse − Σc·z loses
	// every digit for logits such as 1e15 + small differences, and anchored
	// at some logit an outlier (a masked −1e9) does. When the gradient is
	// wanted (and there is no soft-cap to differentiate later), the
	// exponentials are computed once, in a second sweep after the maximum
	// is known, and parked in the gradient buffer for pass 2; otherwise one
	// online sweep folds max and sum together.
	m, r := math.Inf(-1), -1.0
	var tw float64 // Σ c_j for the target coefficients c
	// Non-finite coefficients (a +Inf class weight, a NaN target) stay out
	// of S, where c·0 would be NaN; their terms c_j·(lse − z_j) are +Inf,
	// or NaN where lse − z_j = 0, which only the largest such z_j can reach.
	var twFin, cBad float64
	zBad := math.Inf(-1)
	// twS is twFin·2⁻⁵⁴⁰, for rows whose coefficients sum past MaxFloat64
	// (weights near it) while the loss does not: tw·(lse − m) would be
	// +Inf, or NaN where lse = m.
	var twS float64
	// S = Σ c_j·(sm − z_j) over the finite coefficients, sm the running
	// maximum; sS is S with the logits scaled by 2⁻⁵⁴⁰, for rows where
	// m − z_j overflows but c_j·(m − z_j) does not (logits near MaxFloat64).
	sm := math.Inf(-1)
	var sum, sumS float64
	soft := probs != nil
	// With an infinite (or NaN) class weight (epsW is then not finite),
	// P·p_j is ∞·p_j: p_j must not have flushed to 0 in a float32 stash
	// (∞·0 = NaN where p_j > 0), so such calls take the online path and
	// form p_j from the logits.
	// Without a soft-cap, the maximum comes first and the exponentials
	// after it, in blocks (sumExpRow), rather than one online step per
	// logit with its rescales.
	twoSweep := capv == 0 && epsW-epsW == 0
	stash := twoSweep && grad != nil && !ignored
	argmax, hasNaN := 0, false
	// The common row (integer targets, no smoothing) needs only the
	// maximum: rowMax's max() has no branch to mispredict as it rises.
	sweep := x
	if twoSweep && !soft && eps == 0 {
		m, argmax = rowMax(x)
		hasNaN = m != m
		sweep = nil // the sweep below has nothing left to do
	}
	for j, v := range sweep {
		z := capped(float64(v), capv)
		if twoSweep {
			if z > m {
				m, argmax = z, j
			}
		} else {
			m, r = onlineStep(m, r, z)
		}
		hasNaN = hasNaN || z != z
		if soft || eps != 0 {
			if z > sm {
				if twFin != 0 {
					sum += twFin * (z - sm)
					if twFin <= math.MaxFloat64 {
						sumS += twFin * (z*0x1p-540 - sm*0x1p-540)
					} else { // z − sm overflowing makes the true sum +Inf too
						sumS += twS * (z - sm)
					}
				}
				sm = z
			}
			c := targetCoef(a, probs, j, eps)
			switch {
			case c == 0 && probs != nil && underflowed(a, probs, j, eps):
				// w·t underflows (a subnormal target), but the term is
				// w·(lse − z)·t: +Inf at z = −Inf, and far above the
				// smallest subnormal for a huge |z| (F49; the reference's
				// probability targets do the same, its smoothing mass of
				// integer targets not yet).
				if math.IsInf(z, -1) {
					cBad, zBad = cBad+math.Inf(1), math.Max(zBad, z) // += : a NaN already there stays (F55)
				} else if z != sm {
					ct := eps / float64(a.K)
					if has(probs, j) {
						ct += (1 - eps) * float64(probs[j])
					}
					v := ct * (classWeight(a, j) * (sm - z))
					sum += v
					sumS += v * 0x1p-540
				}
			case c == 0: // 0·(−inf) must not poison the row
			case c-c != 0: // +Inf or NaN
				cBad += c
				zBad = math.Max(zBad, z)
			default:
				if z != sm { // −Inf at the anchor: its term waits for a larger sm
					sum += c * (sm - z)
					sumS += c * (sm*0x1p-540 - z*0x1p-540)
				}
				twFin += c
				twS += c * 0x1p-540
			}
			tw += c
		}
	}
	// A row holding NaN or +Inf, or no finite logit, has no softmax: its
	// loss and gradient are NaN (as log_softmax's are in PyTorch), and its
	// log-sum-exp is NaN, +Inf or −Inf.
	if hasNaN || r != r || math.IsInf(m, 0) {
		switch {
		case hasNaN || r != r:
			lse = math.NaN()
		default:
			lse = m
		}
		if ignored {
			zero(grad)
			return 0, lse
		}
		fill(grad, T(math.NaN()))
		return math.NaN(), lse
	}
	if twoSweep {
		var park []T
		if stash {
			park = grad
		}
		r = sumExpRow(x, m, argmax, park)
	}
	lr := log1pFast(r) // lse − m, kept apart so that lse − z_max does not cancel
	lse = m + lr
	if ignored {
		zero(grad)
		return 0, lse
	}
	zl := float64(a.ZLoss)

	// The row's loss, and the coefficients of its gradient
	// g_j = scale·(pc·p_j − c_j) where c_j is the target mass on class j.
	var pc, wy float64
	switch {
	case a.Focal:
		wy = weight(a, int(y))
		logp := (zy - m) - lr
		p := math.Exp(logp)
		q := -math.Expm1(logp)
		r := -1.0 // log p / q → −1 as q → 0
		if q != 0 {
			r = logp / q
		}
		gam := float64(a.FocalGamma)
		pr := 0.0 // p·r → 0 as p → 0, even where r → −inf
		if p != 0 {
			pr = p * r
		}
		mod := powSub(q, gam)
		loss = -wy * mod * logp
		pc = wy * mod * (1 - gam*pr)
		wy = pc // the onehot coefficient equals the softmax one
	case soft:
		loss = softLoss(twFin, twS, sum, sumS, cBad, zBad, m, lr) + zl*lse*lse
		pc = tw + 2*zl*lse
	default:
		wy = weight(a, int(y))
		nll := (m - zy) + lr
		loss = (1 - eps) * wy * nll
		pc = (1 - eps) * wy
		if zl != 0 { // absent, not 0·∞, for an infinite w[y]
			loss += zl * wy * lse * lse
			pc += 2 * zl * wy * lse
		}
		if eps != 0 {
			loss += softLoss(twFin, twS, sum, sumS, cBad, zBad, m, lr)
			pc += epsW
		}
		wy *= 1 - eps
	}
	if grad == nil {
		return loss, lse
	}

	// Pass 2: the gradient. For integer targets c_j = (ε/K)·w_j plus wy at
	// the target; for probability targets c_j = w_j·t'_j.
	// The scale meets the coefficients before p_j does, as in the SIMD
	// kernels: p_j ≤ 1 can only shrink scale·pc, while pc·p_j first
	// underflows where the gradient does not (weights of 2.6e-200 under a
	// mean, p_j = 1.7e-266: F56).
	scale := float64(a.GradScale)
	spc := scale * pc
	grad = grad[:k]
	invS := 1 / (1 + r) // 1 / Σ exp(z − m) = exp(−lr)
	if stash && !soft && (eps == 0 || a.Focal) && y >= 0 {
		// The common row: p_j from the stash, every term the same but the
		// target's, which is redone after the loop (from its stashed p).
		py := float64(grad[y]) * invS
		for j, v := range grad {
			grad[j] = T(spc * (float64(v) * invS))
		}
		g := spc*py - scale*wy
		if lpy := (zy - m) - lr; lpy > -math.Ln2 && spc-spc == 0 {
			g = spc*math.Expm1(lpy) + scale*(pc-wy)
		}
		grad[y] = T(g)
		return loss, lse
	}
	for j, v := range x {
		var p, lp float64
		z := capped(float64(v), capv)
		if stash {
			p = float64(grad[j]) * invS // exp(z_j − m) from pass 1
		} else {
			lp = (z - m) - lr // log p_j, exact at the maximum
			p = math.Exp(lp)
		}
		g := spc * p
		if int32(j) == y {
			g -= scale * wy
			// Where p_y > ½ the difference pc·p − wy loses p's digits to
			// p − 1: form it as pc·(p − 1) + (pc − wy), with p − 1 exact.
			// (Not for an infinite pc, where it is −∞ + ∞.)
			if lpy := (zy - m) - lr; lpy > -math.Ln2 && spc-spc == 0 {
				g = spc*math.Expm1(lpy) + scale*(pc-wy)
			}
		}
		if soft || (eps != 0 && !a.Focal) {
			g -= scale * targetCoef(a, probs, j, eps)
		}
		if capv > 0 { // d(cap·tanh(x/cap))/dx = sech²(x/cap)
			g *= sech2(float64(v) / capv)
		}
		grad[j] = T(g)
	}
	return loss, lse
}

// softPlainRow is ceRow for the common row of probability targets (no class
// weights, smoothing, soft-cap): the maximum, then Σ t_j and
// S = Σ t_j·(m − x_j) in four partial sums without a branch, then the
// exponentials (parked in grad), then the gradient from them. ok is false,
// with nothing written, for a row the general loop must take: a non-finite
// maximum, or a non-finite Σ t or S (a NaN or infinite target, a zero
// target beside a −Inf logit, a difference m − x_j that overflows).
func softPlainRow[T args.Float](a *args.CE[T], x, probs, grad []T) (loss, lse float64, ok bool) {
	m, argmax := rowMax(x)
	if m-m != 0 {
		return 0, 0, false
	}
	x, probs = x[:len(x):len(x)], probs[:len(x):len(x)]
	var tw, sm [4]float64
	xs, ts := x, probs
	for len(xs) >= 4 && len(ts) >= 4 { // fours off the front, as rowMax
		x4, t4 := xs[:4:4], ts[:4:4]
		xs, ts = xs[4:], ts[4:]
		t0, t1, t2, t3 := float64(t4[0]), float64(t4[1]), float64(t4[2]), float64(t4[3])
		tw[0], tw[1], tw[2], tw[3] = tw[0]+t0, tw[1]+t1, tw[2]+t2, tw[3]+t3
		sm[0] += t0 * (m - float64(x4[0]))
		sm[1] += t1 * (m - float64(x4[1]))
		sm[2] += t2 * (m - float64(x4[2]))
		sm[3] += t3 * (m - float64(x4[3]))
	}
	ts = ts[:len(xs)]
	for j, v := range xs {
		t := float64(ts[j])
		tw[0] += t
		sm[0] += t * (m - float64(v))
	}
	twSum := (tw[0] + tw[1]) + (tw[2] + tw[3])
	sum := (sm[0] + sm[1]) + (sm[2] + sm[3])
	if twSum-twSum != 0 || sum-sum != 0 {
		return 0, 0, false
	}
	r := sumExpRow(x, m, argmax, grad) // grad may be x: x is not read after this
	lr := log1pFast(r)
	lse = m + lr
	zl := float64(a.ZLoss)
	loss = softLoss(twSum, twSum*0x1p-540, sum, sum*0x1p-540, 0, math.Inf(-1), m, lr) + zl*lse*lse
	if grad == nil {
		return loss, lse, true
	}
	scale := float64(a.GradScale)
	spc := scale * (twSum + 2*zl*lse)
	invS := 1 / (1 + r)
	grad = grad[:len(x):len(x)]
	for j, p := range grad {
		grad[j] = T(spc*(float64(p)*invS) - scale*float64(probs[j]))
	}
	return loss, lse, true
}

// sumExpRow returns Σ exp(x_j − m) over j ≠ argmax (the maximum's own 1
// left out, as onlineStep's r) and, when park is non-nil, writes every
// exp(x_j − m) there. The exponentials go through expInto in blocks, and
// the sum through four partial sums, so that neither waits on the last.
func sumExpRow[T args.Float](x []T, m float64, argmax int, park []T) float64 {
	var buf [sumExpBlock]float64
	var s [4]float64
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		b := buf[:len(xs)]
		for i, v := range xs {
			b[i] = float64(v) - m
		}
		expIntoT[T](b, b)
		if park != nil {
			pk := park[lo:][:len(b)]
			for i, v := range b {
				pk[i] = T(v)
			}
		}
		if i := argmax - lo; i >= 0 && i < len(b) {
			b[i] = 0
		}
		addInto(&s, b)
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// addInto adds b to four partial sums, b[i] to s[i mod 4] (the rest to
// s[0]), so that the additions overlap instead of waiting on each other.
func addInto(s *[4]float64, b []float64) {
	for len(b) >= 4 {
		b4 := b[:4:4]
		b = b[4:]
		s[0], s[1], s[2], s[3] = s[0]+b4[0], s[1]+b4[1], s[2]+b4[2], s[3]+b4[3]
	}
	for _, v := range b {
		s[0] += v
	}
}

const sumExpBlock = 64

// softLoss is Σ_j c_j·(lse − z_j) over the smoothing or probability
// coefficients: tw·(lse − m) + S over the finite ones (S = Σ c_j·(m − z_j),
// terms ≥ 0), and +Inf (or NaN) from the non-finite ones, whose sum is
// cBad and largest logit zBad. Where S or tw overflows only because some
// m − z_j does (logits near ±MaxFloat64) or the coefficients sum past
// MaxFloat64 (weights near it), the sum scaled by 2⁻⁵⁴⁰ (twS and sS; the
// terms this flushes are negligible next to those) is scaled back.
func softLoss(tw, twS, s, sS, cBad, zBad, m, lr float64) float64 {
	l := tw*lr + s
	if !(l <= math.MaxFloat64) { // +Inf, or NaN from tw = +Inf at lse = m
		l = (twS*lr + sS) * 0x1p540
	}
	if cBad != 0 {
		if zBad == m && lr == 0 {
			return math.NaN() // ∞·0: lse − z_j rounds to 0
		}
		l += cBad
	}
	return l
}

// targetCoef is the weighted target mass on class j that the smoothing or
// the probability target puts there (excluding the one-hot part). probs is
// nil or the row's K targets; the class loops call it for every j < K.
func targetCoef[T args.Float](a *args.CE[T], probs []T, j int, eps float64) float64 {
	c := eps / float64(a.K)
	if has(probs, j) {
		c += (1 - eps) * float64(probs[j])
	}
	if has(a.Weight, j) {
		c *= float64(a.Weight[j])
	}
	return c
}

// underflowed reports whether class j's target coefficient is 0 only
// because w·t underflowed (both factors positive).
func underflowed[T args.Float](a *args.CE[T], probs []T, j int, eps float64) bool {
	ct := eps / float64(a.K)
	if has(probs, j) {
		ct += (1 - eps) * float64(probs[j])
	}
	return ct > 0 && classWeight(a, j) > 0
}

// weight is the weight of class c, the row's target: once per row, the
// index checked.
func weight[T args.Float](a *args.CE[T], c int) float64 {
	if a.Weight == nil {
		return 1
	}
	return float64(a.Weight[c])
}

// classWeight is weight for the class loops' j < K, where Weight is nil or
// K long: has proves the index.
func classWeight[T args.Float](a *args.CE[T], j int) float64 {
	if has(a.Weight, j) {
		return float64(a.Weight[j])
	}
	return 1
}

// sech2 is sech²(a) = 4e/(1+e)² with e = exp(−2|a|): 1 − tanh²(a) would be
// 0 once tanh rounds to 1, and an infinite weight times that 0 NaN (the
// factor is positive until exp underflows).
func sech2(a float64) float64 {
	e := math.Exp(-2 * math.Abs(a))
	return 4 * e / ((1 + e) * (1 + e))
}

// capped applies logit soft-capping cap·tanh(x/cap) when cap > 0.
func capped(x, capv float64) float64 {
	if capv > 0 {
		return capv * math.Tanh(x/capv)
	}
	return x
}

// has reports whether s holds index i. Where s is nil or longer than every
// index the loop reaches, it is the test s != nil, in a form that proves
// s[i] in bounds (the loop needs no check).
func has[T any](s []T, i int) bool { return uint(i) < uint(len(s)) }

func zero[T args.Float](s []T) { fill(s, 0) }

func fill[T args.Float](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}

// NLL is nll_loss: l_i = −w[y]·x[i, y], the gradient −w[y]·GradScale at
// (i, y) and 0 elsewhere, exactly 0 for ignored rows. The losses are read
// first (the gradient may be X), then the gradient is zeroed in one clear
// (the runtime's vectorised memclr, with non-temporal stores for a large
// one; row by row it took 1.1–1.4× as long at 256×32000), then one store
// per row.
func NLL[T args.Float](a args.CE[T]) float64 {
	args.Took("generic/nll")
	k := a.K
	targets := a.Targets[:a.N]
	var sum float64
	for i, y := range targets {
		var l float64
		if !(a.HasIgnore && y == a.Ignore) {
			w := T(1)
			if a.Weight != nil {
				w = a.Weight[y]
			}
			l = -float64(w) * float64(a.X[i*k+int(y)])
		}
		if a.RowLoss != nil {
			a.RowLoss[i] = T(l)
		}
		sum += l
	}
	if a.Grad == nil {
		return sum
	}
	clear(a.Grad[:a.N*k])
	for i, y := range targets {
		if a.HasIgnore && y == a.Ignore {
			continue
		}
		w := T(1)
		if a.Weight != nil {
			w = a.Weight[y]
		}
		a.Grad[i*k+int(y)] = -w * a.GradScale
	}
	return sum
}
