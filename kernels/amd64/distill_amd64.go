//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distill is the forward KL divergence of two softmax rows (args.CE's
// distillation fields) in blocks of rows that stay in L2 between the two
// passes: both online log-sum-exps and the dot product Σ e^(v−m_v)·(v − z),
// then (after Go forms each row's divergence) the gradient. ReverseKL and
// JSD have their own drivers: distillReverse, distillJSD.
func (s isa) distill(a args.CE[float32]) float64 {
	args.Took("amd64/f32/distill")
	switch a.Divergence {
	case args.ReverseKL:
		return s.distillReverse(&a)
	case args.JSD:
		return s.distillJSD(&a)
	}
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
	args.Took("amd64/f64/distill")
	switch a.Divergence {
	case args.ReverseKL:
		return s.distillReverse64(&a)
	case args.JSD:
		return s.distillJSD64(&a)
	}
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

// distillReverse is distill for KL(Q‖P). Pass 1 is the forward kernel with
// the rows swapped: its "z" row is then the teacher's and its "v" row the
// student's, so it returns the teacher's split log-sum-exp (mp, lsp), the
// student's (mq, lsq) and dot = Σ e^(z−mq)·(z − v) over the student's
// z = s·τ, with the forward kernel's 0·∞ rules mirrored (a student −Inf
// adds nothing, a student's mass beside a teacher −Inf makes it +Inf).
// Then D = dot/e^lsq = Σ Q·(z − v), KL(Q‖P) = D + lse_v − lse_z, and pass 2
// writes c·Q·((z − v) − D). A row with D = +Inf has no finite gradient: NaN.
func (s isa) distillReverse(a *args.CE[float32]) float64 {
	args.Took("amd64/f32/distill-reverse-kl")
	k, n, tau := a.K, a.N, a.InvTemp
	var mp, lsp, mq, lsq, dot, d [blockRows]float32
	var bad uint64
	bs := max(1, min(blockRows, l2Budget/(2*4*k)))
	nt := a.Grad != nil && streamedCE(a, 4)
	if nt {
		args.Took("amd64/f32/distill-pass2-nt")
	}
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillLSERowsAVX512(&t[0], &x[0], m, k, tau, &mp[0], &lsp[0], &mq[0], &lsq[0], &dot[0])
		} else {
			distillLSERowsAVX2(&t[0], &x[0], m, k, tau, &mp[0], &lsp[0], &mq[0], &lsq[0], &dot[0])
		}
		bad = 0
		for i := range m {
			kl, di, ok := reverseKL(float64(mp[i]), float64(lsp[i]), float64(mq[i]), float64(lsq[i]), float64(dot[i]))
			d[i] = float32(di)
			if !ok || !(d[i] < float32(math.Inf(1))) {
				bad |= 1 << i
			}
			total += distillRowLoss(a, r0+i, kl)
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillRevGradRowsNTAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		case s == avx512:
			distillRevGradRowsAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		case nt:
			distillRevGradRowsNTAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		default:
			distillRevGradRowsAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}

// distillReverse64 is distillReverse for float64.
func (s isa) distillReverse64(a *args.CE[float64]) float64 {
	args.Took("amd64/f64/distill-reverse-kl")
	k, n, tau := a.K, a.N, a.InvTemp
	var mp, lsp, mq, lsq, dot, d [blockRows]float64
	var bad uint64
	bs := max(1, min(blockRows, l2Budget/(2*8*k)))
	nt := a.Grad != nil && streamedCE(a, 8)
	if nt {
		args.Took("amd64/f64/distill-pass2-nt")
	}
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillLSERowsDAVX512(&t[0], &x[0], m, k, tau, &mp[0], &lsp[0], &mq[0], &lsq[0], &dot[0])
		} else {
			distillLSERowsDAVX2(&t[0], &x[0], m, k, tau, &mp[0], &lsp[0], &mq[0], &lsq[0], &dot[0])
		}
		bad = 0
		for i := range m {
			kl, di, ok := reverseKL(mp[i], lsp[i], mq[i], lsq[i], dot[i])
			d[i] = di
			if !ok || !(di < math.Inf(1)) {
				bad |= 1 << i
			}
			total += distillRowLoss(a, r0+i, kl)
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			distillRevGradRowsNTDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		case s == avx512:
			distillRevGradRowsDAVX512(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		case nt:
			distillRevGradRowsNTDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		default:
			distillRevGradRowsDAVX2(&x[0], &t[0], &g[0], m, k, tau, a.GradScale, &mq[0], &lsq[0], &d[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}

// reverseKL is a row's KL(Q‖P) and D = Σ Q·(z − v) from the swapped pass
// 1 (the teacher's split log-sum-exp mp + lsp, the student's mq + lsq),
// and whether both log-sum-exps are finite (distillKL with the roles
// exchanged).
func reverseKL(mp, lsp, mq, lsq, dot float64) (kl, d float64, ok bool) {
	kl, ok = distillKL(mp, lsp, mq, lsq, dot)
	return kl, dot / math.Exp(lsq), ok
}

// distillRowLoss stores row r's loss λ·l (0 for an ignored row) in
// RowLoss and returns what it adds to the total.
func distillRowLoss[T args.Float](a *args.CE[T], r int, l float64) float64 {
	if a.HasIgnore && a.Targets[r] == a.Ignore {
		l = 0
	} else {
		l *= float64(a.LossScale)
	}
	if a.RowLoss != nil {
		a.RowLoss[r] = T(l)
	}
	return l
}

// jsdScalars are the JSD kernels' call scalars: log β and log(1−β),
// formed in float64 (as generic.jsdRow), and the gradient's scale
// GradScale·(1−β).
func jsdScalars[T args.Float](a *args.CE[T]) (lb, lb1, c1 T) {
	beta := float64(a.Beta)
	return T(math.Log(beta)), T(math.Log1p(-beta)), T(float64(a.GradScale) * (1 - beta))
}

// distillJSD is distill for the generalised Jensen–Shannon divergence, in
// three passes over each block of rows: both split log-sum-exps (the
// forward pass 1, whose dot product goes unused), KL(P‖M) and KL(Q‖M)
// (jsdSumRows), then the gradient c·(1−β)·Q·(log(Q/M) − KL(Q‖M)).
func (s isa) distillJSD(a *args.CE[float32]) float64 {
	args.Took("amd64/f32/distill-jsd")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, lsz, mv, lsv, dot, kp, kq [blockRows]float32
	var bad uint64
	bs := max(1, min(blockRows, l2Budget/(2*4*k)))
	nt := a.Grad != nil && streamedCE(a, 4)
	if nt {
		args.Took("amd64/f32/distill-pass2-nt")
	}
	beta := float64(a.Beta)
	lb, lb1, c1 := jsdScalars(a)
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillLSERowsAVX512(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
			jsdSumRowsAVX512(&x[0], &t[0], m, k, tau, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kp[0], &kq[0])
		} else {
			distillLSERowsAVX2(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
			jsdSumRowsAVX2(&x[0], &t[0], m, k, tau, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kp[0], &kq[0])
		}
		bad = 0
		for i := range m {
			l := math.NaN()
			if _, ok := distillKL(float64(mz[i]), float64(lsz[i]), float64(mv[i]), float64(lsv[i]), 0); ok {
				l = beta*float64(kp[i]) + (1-beta)*float64(kq[i])
			} else {
				bad |= 1 << i
			}
			total += distillRowLoss(a, r0+i, l)
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			jsdGradRowsNTAVX512(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		case s == avx512:
			jsdGradRowsAVX512(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		case nt:
			jsdGradRowsNTAVX2(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		default:
			jsdGradRowsAVX2(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}

// distillJSD64 is distillJSD for float64.
func (s isa) distillJSD64(a *args.CE[float64]) float64 {
	args.Took("amd64/f64/distill-jsd")
	k, n, tau := a.K, a.N, a.InvTemp
	var mz, lsz, mv, lsv, dot, kp, kq [blockRows]float64
	var bad uint64
	bs := max(1, min(blockRows, l2Budget/(2*8*k)))
	nt := a.Grad != nil && streamedCE(a, 8)
	if nt {
		args.Took("amd64/f64/distill-pass2-nt")
	}
	beta := a.Beta
	lb, lb1, c1 := jsdScalars(a)
	var total float64
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Teacher[r0*k:(r0+m)*k]
		if s == avx512 {
			distillLSERowsDAVX512(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
			jsdSumRowsDAVX512(&x[0], &t[0], m, k, tau, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kp[0], &kq[0])
		} else {
			distillLSERowsDAVX2(&x[0], &t[0], m, k, tau, &mz[0], &lsz[0], &mv[0], &lsv[0], &dot[0])
			jsdSumRowsDAVX2(&x[0], &t[0], m, k, tau, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kp[0], &kq[0])
		}
		bad = 0
		for i := range m {
			l := math.NaN()
			if _, ok := distillKL(mz[i], lsz[i], mv[i], lsv[i], 0); ok {
				l = beta*kp[i] + (1-beta)*kq[i]
			} else {
				bad |= 1 << i
			}
			total += distillRowLoss(a, r0+i, l)
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		switch {
		case s == avx512 && nt:
			jsdGradRowsNTDAVX512(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		case s == avx512:
			jsdGradRowsDAVX512(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		case nt:
			jsdGradRowsNTDAVX2(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		default:
			jsdGradRowsDAVX2(&x[0], &t[0], &g[0], m, k, tau, c1, lb, lb1, &mz[0], &lsz[0], &mv[0], &lsv[0], &kq[0])
		}
		distillFixRows(a.Targets, a.HasIgnore, a.Ignore, r0, m, k, bad, g)
	}
	return total
}
