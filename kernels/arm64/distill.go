//go:build arm64 && !purego

package arm64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distill is generic.Distill with the two passes over each row vectorised
// (asmgen/cmd/neongen/distill.go): the row maxima by maxF32/maxF64, then
// distillSums (Σ e^{z−mz}, Σ e^{v−mv} and Σ e^{v−mv}·(v − z) in float64),
// then, with a gradient, distillGrad. The row loop, ignored rows, rows
// whose scaled maximum is not finite (NaN throughout) and the per-row
// scalars stay here, in the generic kernel's float64 expressions. Grad may
// be X: every vector is read before it is written.
func distill[T args.Float](a args.CE[T]) float64 {
	if a.Divergence != args.ForwardKL {
		return generic.Distill(a) // TODO(jsd): vectorise
	}
	args.TookIf(is32[T](), "neon/f32/distill", "neon/f64/distill")
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
		l := lam * distillRow(s, t, g, a.InvTemp, c)
		if a.RowLoss != nil {
			a.RowLoss[i] = T(l)
		}
		total += l
	}
	return total
}

// distillRow is generic's distillRow: KL(P‖Q) of one row, and its gradient
// c·(Q − P) into g when g is not nil.
func distillRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	// Rounding is monotonic: the scaled maxima are the maxima scaled.
	mz, mv := float64(T(T(vmax(s))*tau)), float64(T(T(vmax(t))*tau))
	if mz-mz != 0 || mv-mv != 0 {
		nan := T(math.NaN())
		for j := range g {
			g[j] = nan
		}
		return math.NaN()
	}
	var sums [3]float64
	if is32[T]() {
		distillSumsF32(sums[:], as32(s), as32(t), float32(tau), float32(mz), float32(mv))
	} else {
		distillSumsF64(sums[:], as64(s), as64(t), float64(tau), mz, mv)
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
