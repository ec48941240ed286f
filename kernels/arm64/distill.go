//go:build arm64 && !purego

package arm64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distill is generic.Distill with the passes over each row vectorised
// (asmgen/cmd/neongen/distill.go). Every divergence starts with the row
// maxima (maxF32/maxF64) and distillSums (Σ e^{z−mz}, Σ e^{v−mv} and a
// dot product, in float64); ForwardKL then takes distillGrad,
// ReverseKL reverseKLGrad, and JSD jsdSums (its two divergences) and
// jsdGrad. The row loop, ignored rows, rows whose scaled maximum is not
// finite (NaN throughout), infinite reverse divergences and the per-row
// scalars stay here, in the generic kernel's float64 expressions. Grad may
// be X: every vector is read before it is written.
func distill[T args.Float](a args.CE[T]) float64 {
	if a.Divergence == args.JSD && a.Grad != nil && !normal(T(float64(a.GradScale)*(1-float64(a.Beta)))) {
		// jsdGrad's factor c·(1−β) is not normal in T (zero, tiny,
		// negative, infinite or NaN): generic's float64 products.
		return generic.Distill(a)
	}
	args.TookIf(is32[T](), "neon/f32/distill", "neon/f64/distill")
	switch a.Divergence {
	case args.ReverseKL:
		args.TookIf(is32[T](), "neon/f32/distill-reverse-kl", "neon/f64/distill-reverse-kl")
	case args.JSD:
		args.TookIf(is32[T](), "neon/f32/distill-jsd", "neon/f64/distill-jsd")
	}
	k := a.K
	lam, c := float64(a.LossScale), float64(a.GradScale)
	var total float64
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
			clear(g)
			continue
		}
		var l float64
		switch a.Divergence {
		case args.ReverseKL:
			l = lam * reverseKLRow(s, t, g, a.InvTemp, c)
		case args.JSD:
			l = lam * jsdRow(s, t, g, a.InvTemp, c, float64(a.Beta))
		default:
			l = lam * distillRow(s, t, g, a.InvTemp, c)
		}
		if a.RowLoss != nil {
			a.RowLoss[i] = T(l)
		}
		total += l
	}
	return total
}

// rowSums is the first pass of every divergence: the scaled maxima of s
// and t and distillSums over (s, t) — Σ e^{z−mz}, Σ e^{v−mv} and
// Σ e^{v−mv}·(v − z) — or, swapped, over (t, s). ok is false when either
// maximum is not finite; then g is NaN throughout.
func rowSums[T args.Float](s, t, g []T, tau T, swap bool) (mz, mv float64, sums [3]float64, ok bool) {
	// Rounding is monotonic: the scaled maxima are the maxima scaled.
	mz, mv = float64(T(T(vmax(s))*tau)), float64(T(T(vmax(t))*tau))
	if mz-mz != 0 || mv-mv != 0 {
		fillNaN(g)
		return 0, 0, sums, false
	}
	x, y, mx, my := s, t, mz, mv
	if swap {
		x, y, mx, my = t, s, mv, mz
	}
	if is32[T]() {
		distillSumsF32(sums[:], as32(x), as32(y), float32(tau), float32(mx), float32(my))
	} else {
		distillSumsF64(sums[:], as64(x), as64(y), float64(tau), mx, my)
	}
	if swap {
		sums[0], sums[1] = sums[1], sums[0]
	}
	return mz, mv, sums, true
}

func fillNaN[T args.Float](g []T) {
	nan := T(math.NaN())
	for j := range g {
		g[j] = nan
	}
}

// distillRow is generic's distillRow: KL(P‖Q) of one row, and its gradient
// c·(Q − P) into g when g is not nil.
func distillRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	mz, mv, sums, ok := rowSums(s, t, g, tau, false)
	if !ok {
		return math.NaN()
	}
	sumZ, sumV, dot := sums[0], sums[1], sums[2]
	lz, lv := mz+math.Log(sumZ), mv+math.Log(sumV)
	kl := dot/sumV + (lz - lv)
	if g == nil {
		return kl
	}
	// g = c·e^{z−mz}/Σe^{z−mz} − c·e^{v−mv}/Σe^{v−mv}: both factors are
	// at most c (each sum is at least 1, from its maximum).
	fa, fb := T(c/sumZ), T(c/sumV)
	if !normal(fa) || !normal(fb) {
		distillGradRow(s, t, g, tau, lz, lv, c)
		return kl
	}
	if is32[T]() {
		distillGradF32(as32(g), as32(s), as32(t), float32(tau), float32(mz), float32(mv), float32(fa), float32(fb))
	} else {
		distillGradF64(as64(g), as64(s), as64(t), float64(tau), mz, mv, float64(fa), float64(fb))
	}
	return kl
}

// normal reports whether x is a finite, normal, positive value of T.
func normal[T args.Float](x T) bool {
	least := 0x1p-126
	if !is32[T]() {
		least = 0x1p-1022
	}
	return float64(x) >= least && x-x == 0
}

// distillGradRow is the gradient in scalar float64, the generic kernel's
// expression, for a row whose factors c/Σ are not normal in T (c zero,
// tiny, infinite or NaN; from kernels.Distill only at extreme
// temperatures, where T² or τ/N leaves T's normal range).
func distillGradRow[T args.Float](s, t, g []T, tau T, lz, lv, c float64) {
	for j := range g {
		z, v := float64(s[j]*tau), float64(t[j]*tau)
		g[j] = T(c * (math.Exp(z-lz) - math.Exp(v-lv)))
	}
}

// reverseKLRow is generic's reverseKLRow: KL(Q‖P) = D + lv − lz,
// D = Σ Q·(z − v), from distillSums with the student and teacher swapped
// (its dot product is then Σ e^{z−mz}·(z − v), +Inf where a z with some
// mass meets v = −Inf), and the gradient c·Q_j·((z_j − v_j) − D) by
// reverseKLGrad with c·Q_j = (c/Σe^{z−mz})·e^{z_j−mz}. A row with D = +Inf
// has loss +Inf and a NaN gradient.
func reverseKLRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	mz, mv, sums, ok := rowSums(s, t, g, tau, true)
	if !ok {
		return math.NaN()
	}
	sumZ, sumV, dot := sums[0], sums[1], sums[2]
	d := dot / sumZ
	if d == math.Inf(1) {
		fillNaN(g)
		return d
	}
	lz, lv := mz+math.Log(sumZ), mv+math.Log(sumV)
	if g == nil {
		return d + (lv - lz)
	}
	fa := T(c / sumZ)
	if !normal(fa) {
		reverseKLGradRow(s, t, g, tau, lz, d, c)
	} else if is32[T]() {
		reverseKLGradF32(as32(g), as32(s), as32(t), float32(tau), float32(mz), float32(d), float32(fa))
	} else {
		reverseKLGradF64(as64(g), as64(s), as64(t), float64(tau), mz, d, float64(fa))
	}
	return d + (lv - lz)
}

// reverseKLGradRow is the reverse gradient in scalar float64, generic's
// expression, for a row whose factor c/Σ is not normal in T (as
// distillGradRow).
func reverseKLGradRow[T args.Float](s, t, g []T, tau T, lz, d, c float64) {
	for j := range g {
		z, v := float64(s[j]*tau), float64(t[j]*tau)
		q := math.Exp(z - lz)
		if q != 0 {
			q *= z - v - d
		}
		g[j] = T(c * q)
	}
}

// jsdRow is generic's jsdRow: the log-sum-exps from distillSums (its dot
// product unused), KL(P‖M) and KL(Q‖M) from jsdSums, the gradient
// c·(1−β)·Q_j·(log(Q_j/M_j) − KL(Q‖M)) from jsdGrad. The kernels take
// log P = (v − mv) − log Σe^{v−mv} (and log Q alike), so that a logit's
// size costs no more than its own rounding; distill has checked that
// c·(1−β) is normal in T.
func jsdRow[T args.Float](s, t, g []T, tau T, c, beta float64) float64 {
	mz, mv, sums, ok := rowSums(s, t, g, tau, false)
	if !ok {
		return math.NaN()
	}
	lsz, lsv := math.Log(sums[0]), math.Log(sums[1])
	lb, lb1 := math.Log(beta), math.Log1p(-beta)
	var ks [2]float64
	if is32[T]() {
		jsdSumsF32(ks[:], as32(s), as32(t), float32(tau), float32(mz), float32(lsz), float32(mv), float32(lsv), float32(lb), float32(lb1))
	} else {
		jsdSumsF64(ks[:], as64(s), as64(t), float64(tau), mz, lsz, mv, lsv, lb, lb1)
	}
	kp, kq := ks[0], ks[1]
	if g != nil {
		c1 := T(c * (1 - beta))
		if is32[T]() {
			jsdGradF32(as32(g), as32(s), as32(t), float32(tau), float32(mz), float32(lsz), float32(mv), float32(lsv), float32(lb), float32(lb1), float32(c1), float32(kq))
		} else {
			jsdGradF64(as64(g), as64(s), as64(t), float64(tau), mz, lsz, mv, lsv, lb, lb1, float64(c1), kq)
		}
	}
	return beta*kp + (1-beta)*kq
}
