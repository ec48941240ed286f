//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distill is the forward KL divergence of two softmax rows (args.CE's
// distillation fields) in blocks of rows that stay in L2 between the two
// passes: both online log-sum-exps and the dot product Σ e^(v−m_v)·(v − z),
// then (after Go forms each row's divergence) the gradient.
func (s isa) distill(a args.CE[float32]) float64 {
	if a.Divergence != args.ForwardKL {
		return generic.Distill(a) // TODO(jsd): vectorise
	}
	args.Took("amd64/f32/distill")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, lsz, mv, lsv, dot [blockRows]float32
	var bad uint64                                 // rows of the block whose log-sum-exps are not finite
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
			distillLSERowsAVX512(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
		} else {
			distillLSERowsAVX2(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
		}
		bad = 0
		for i := range m {
			kl, ok := distillKL(float64(mz[i]), float64(lsz[i]), float64(mv[i]), float64(lsv[i]), float64(dot[i]))
			if !ok {
				bad |= 1 << i
			}
			l := 0.0
			if !a.HasIgnore || a.Targets[r0+i] != a.Ignore {
				l = float64(a.LossScale) * kl
				total += l
			}
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = float32(l)
			}
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillGradRowsNTAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		case s == avx512:
			distillGradRowsAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		case nt:
			distillGradRowsNTAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		default:
			distillGradRowsAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}

// distill64 is distill for float64.
func (s isa) distill64(a args.CE[float64]) float64 {
	if a.Divergence != args.ForwardKL {
		return generic.Distill(a) // TODO(jsd): vectorise
	}
	args.Took("amd64/f64/distill")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, lsz, mv, lsv, dot [blockRows]float64
	var bad uint64
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
			distillLSERowsDAVX512(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
		} else {
			distillLSERowsDAVX2(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
		}
		bad = 0
		for i := range m {
			kl, ok := distillKL(mz[i], lsz[i], mv[i], lsv[i], dot[i])
			if !ok {
				bad |= 1 << i
			}
			l := 0.0
			if !a.HasIgnore || a.Targets[r0+i] != a.Ignore {
				l = a.LossScale * kl
				total += l
			}
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = l
			}
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillGradRowsNTDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		case s == avx512:
			distillGradRowsDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		case nt:
			distillGradRowsNTDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		default:
			distillGradRowsDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mz[0], &lsz[0], &mv[0], &lsv[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}

// distillKL is a row's KL(P‖Q) = Σ P·(v − z) + lse_z − lse_v from pass 1's
// split log-sum-exps and dot product (against the teacher's reference
// mv), and whether both log-sum-exps are finite: a row holding NaN or
// +Inf, or only −Inf, in either input is NaN throughout.
func distillKL(mz, lsz, mv, lsv, dot float64) (float64, bool) {
	lz, lv := mz+lsz, mv+lsv
	if lz-lz != 0 || lv-lv != 0 {
		return math.NaN(), false
	}
	return dot/math.Exp(lsv) + ((mz - mv) + (lsz - lsv)), true
}

// distillFixRows writes the gradient of the block's ignored rows (0) and
// of its rows without finite log-sum-exps (NaN) over what pass 2 wrote.
func distillFixRows[T args.Float](targets []int32, has bool, ignore int32, r0, m, k int, bad uint64, g []T) {
	for i := range m {
		switch {
		case has && targets[r0+i] == ignore:
			clear(g[i*k : i*k+k])
		case bad&(1<<i) != 0:
			nan := T(math.NaN())
			for j := range g[i*k : i*k+k] {
				g[i*k+j] = nan
			}
		}
	}
}
