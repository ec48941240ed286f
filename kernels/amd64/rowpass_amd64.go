//go:build !purego

package amd64

import (
	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The two passes of the row kernels on their own (args.RowPass), for
// vocabulary-shard cross-entropy: the same generated code as the
// blockwise cross-entropy path.

func (s isa) rowStats(a args.RowPass[float32]) {
	args.Took("amd64/f32/shard-pass1")
	n, k := a.N, a.K
	for r0 := 0; r0 < n; r0 += blockRows {
		m := min(blockRows, n-r0)
		var dot [blockRows]float32 // the kernels' float32 sums, widened below
		s.rowStatsBlock(a.X[r0*k:(r0+m)*k], m, k, a.SoftCap, a.Weight, &a.M[r0], &a.LS[r0], a.Dot != nil, &dot)
		if a.Dot != nil {
			for i, d := range dot[:m] {
				a.Dot[r0+i] = a.DotScale * float64(d)
			}
			rowDotsExact(a, r0, r0+m)
		}
	}
}

func (s isa) rowStatsBlock(x []float32, n, k int, capv float32, w []float32, m, ls *float32, smooth bool, dot *[blockRows]float32) {
	if capv != 0 {
		args.Took("amd64/f32/ce/pass1-capped")
		s.maxLogCapped(x, n, k, smooth, w, m, ls, &dot[0], capv, float32(1/float64(capv)))
		return
	}
	switch {
	case !smooth:
		s.maxLogRows(x, n, k, m, ls)
	case w != nil && s == avx512:
		maxLogDotWRowsAVX512(&x[0], n, k, &w[0], m, ls, &dot[0])
	case w != nil:
		maxLogDotWRowsAVX2(&x[0], n, k, &w[0], m, ls, &dot[0])
	case s == avx512:
		maxLogDotRowsAVX512(&x[0], n, k, m, ls, &dot[0])
	default:
		maxLogDotRowsAVX2(&x[0], n, k, m, ls, &dot[0])
	}
}

func (s isa) rowExp(a args.RowPass[float32]) {
	args.Took("amd64/f32/shard-pass2")
	n, k := a.N, a.K
	if n == 0 {
		return
	}
	x, d := a.X[:n*k], a.Dst[:n*k]
	nt := streamed(max(n*k, a.Whole), 1, 4)
	switch {
	case a.SoftCap != 0:
		args.Took("amd64/f32/ce/pass2-capped")
		s.expAffineCapped(x, d, n, k, a.Weight != nil, a.Weight, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], a.SoftCap, float32(1/float64(a.SoftCap)))
	case a.Weight != nil:
		s.expAffineWRows(x, d, n, k, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], &a.Weight[0], nt)
	default:
		s.expAffineRows(x, d, n, k, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], nt)
	}
}

func (s isa) rowStats64(a args.RowPass[float64]) {
	args.Took("amd64/f64/shard-pass1")
	s.rowStats64Unscaled(a)
	if a.Dot == nil {
		return
	}
	for i := range a.Dot {
		a.Dot[i] *= a.DotScale
	}
	rowDotsExact(a, 0, a.N)
}

// rowDotsExact retakes Dot[i] for the rows lo ≤ i < hi whose scaled sum
// is not finite while their M and LS are (a term w·(z − m) beyond the
// largest float, or a float32 sum past MaxFloat32) with each term
// scaled first, as args.RowPass asks (FuzzCrossEntropyShards/finding-F76-*).
func rowDotsExact[T args.Float](a args.RowPass[T], lo, hi int) {
	k := a.K
	for i := lo; i < hi; i++ {
		if d, m, ls := a.Dot[i], float64(a.M[i]), float64(a.LS[i]); d-d != 0 && m-m == 0 && ls-ls == 0 {
			a.Dot[i] = generic.RowDot(a.X[i*k:i*k+k], a.Weight, float64(a.SoftCap), m, a.DotScale)
		}
	}
}

func (s isa) rowStats64Unscaled(a args.RowPass[float64]) {
	n, k := a.N, a.K
	if n == 0 {
		return
	}
	x := a.X[:n*k]
	if a.SoftCap != 0 {
		args.Took("amd64/f64/ce/pass1-capped")
		s.maxLogCapped64(x, n, k, a.Dot != nil, a.Weight, &a.M[0], &a.LS[0], ptr64(a.Dot), a.SoftCap, 1/a.SoftCap)
		return
	}
	switch {
	case a.Dot == nil:
		s.maxLogRows64(x, n, k, &a.M[0], &a.LS[0])
	case a.Weight != nil && s == avx512:
		maxLogDotWRowsDAVX512(&x[0], n, k, &a.Weight[0], &a.M[0], &a.LS[0], &a.Dot[0])
	case a.Weight != nil:
		maxLogDotWRowsDAVX2(&x[0], n, k, &a.Weight[0], &a.M[0], &a.LS[0], &a.Dot[0])
	case s == avx512:
		maxLogDotRowsDAVX512(&x[0], n, k, &a.M[0], &a.LS[0], &a.Dot[0])
	default:
		maxLogDotRowsDAVX2(&x[0], n, k, &a.M[0], &a.LS[0], &a.Dot[0])
	}
}

func (s isa) rowExp64(a args.RowPass[float64]) {
	args.Took("amd64/f64/shard-pass2")
	n, k := a.N, a.K
	if n == 0 {
		return
	}
	x, d := a.X[:n*k], a.Dst[:n*k]
	nt := streamed(max(n*k, a.Whole), 1, 8)
	switch {
	case a.SoftCap != 0:
		args.Took("amd64/f64/ce/pass2-capped")
		s.expAffineCapped64(x, d, n, k, a.Weight != nil, a.Weight, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], a.SoftCap, 1/a.SoftCap)
	case a.Weight != nil:
		s.expAffineWRowsD(x, d, n, k, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], &a.Weight[0], nt)
	default:
		s.expAffineRows64(x, d, n, k, &a.M[0], &a.LS[0], &a.Coef[0], &a.Bias[0], nt)
	}
}
