//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distill is the forward KL divergence of two softmax rows (args.CE's
// distillation fields) in blocks of rows that stay in L2 across the three
// passes: the maxima, the sums and the dot product, then (after Go forms
// each row's log-sum-exps and divergence) the gradient.
func (s isa) distill(a args.CE[float32]) float64 {
	args.Took("amd64/f32/distill")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, mv, sz, sv, dot [blockRows]float32
	bs := max(1, min(blockRows, l2Budget/(2*4*k))) // two inputs
	nt := a.Grad != nil && streamedCE(&a, 4)
	if nt {
		args.Took("amd64/f32/distill-pass2-nt")
	}
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillMaxRowsAVX512(&x[0], &t[0], m, k, &mz[0], &mv[0])
		} else {
			distillMaxRowsAVX2(&x[0], &t[0], m, k, &mz[0], &mv[0])
		}
		for i := range m {
			mz[i], mv[i] = mz[i]*tau, mv[i]*tau // rounding is monotonic: the scaled rows' maxima
		}
		if s == avx512 {
			distillStatsRowsAVX512(&x[0], &t[0], m, k, tau, &mz[0], &mv[0], &sz[0], &sv[0], &dot[0])
		} else {
			distillStatsRowsAVX2(&x[0], &t[0], m, k, tau, &mz[0], &mv[0], &sz[0], &sv[0], &dot[0])
		}
		for i := range m {
			l := 0.0
			if !a.HasIgnore || a.Targets[r0+i] != a.Ignore {
				l = float64(a.LossScale) * distillKL(float64(mz[i]), float64(mv[i]), float64(sz[i]), float64(sv[i]), float64(dot[i]))
				total += l
			}
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = float32(l)
			}
			sz[i], sv[i] = float32(math.Log(float64(sz[i]))), float32(math.Log(float64(sv[i])))
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillGradRowsNTAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		case s == avx512:
			distillGradRowsAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		case nt:
			distillGradRowsNTAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		default:
			distillGradRowsAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		}
		distillIgnored(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, g)
	}
	return total
}

// distill64 is distill for float64.
func (s isa) distill64(a args.CE[float64]) float64 {
	args.Took("amd64/f64/distill")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, mv, sz, sv, dot [blockRows]float64
	bs := max(1, min(blockRows, l2Budget/(2*8*k)))
	nt := a.Grad != nil && streamedCE(&a, 8)
	if nt {
		args.Took("amd64/f64/distill-pass2-nt")
	}
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillMaxRowsDAVX512(&x[0], &t[0], m, k, &mz[0], &mv[0])
		} else {
			distillMaxRowsDAVX2(&x[0], &t[0], m, k, &mz[0], &mv[0])
		}
		for i := range m {
			mz[i], mv[i] = mz[i]*tau, mv[i]*tau
		}
		if s == avx512 {
			distillStatsRowsDAVX512(&x[0], &t[0], m, k, tau, &mz[0], &mv[0], &sz[0], &sv[0], &dot[0])
		} else {
			distillStatsRowsDAVX2(&x[0], &t[0], m, k, tau, &mz[0], &mv[0], &sz[0], &sv[0], &dot[0])
		}
		for i := range m {
			l := 0.0
			if !a.HasIgnore || a.Targets[r0+i] != a.Ignore {
				l = a.LossScale * distillKL(mz[i], mv[i], sz[i], sv[i], dot[i])
				total += l
			}
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = l
			}
			sz[i], sv[i] = math.Log(sz[i]), math.Log(sv[i])
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillGradRowsNTDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		case s == avx512:
			distillGradRowsDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		case nt:
			distillGradRowsNTDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		default:
			distillGradRowsDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &sz[0], &mv[0], &sv[0])
		}
		distillIgnored(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, g)
	}
	return total
}

// distillKL is a row's KL(P‖Q) from the scaled maxima and the pass-2 sums:
// Σ P·(v − z) + lse_z − lse_v.
func distillKL(mz, mv, sz, sv, dot float64) float64 {
	return dot/sv + ((mz - mv) + (math.Log(sz) - math.Log(sv)))
}

// distillIgnored clears the gradient of the block's ignored rows (the
// gradient pass wrote every row).
func distillIgnored[T args.Float](targets []int32, has bool, ignore int32, r0, m, k int, g []T) {
	if !has {
		return
	}
	for i, y := range targets[r0 : r0+m] {
		if y == ignore {
			clear(g[i*k : i*k+k])
		}
	}
}
