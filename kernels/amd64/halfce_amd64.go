//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
	"github.com/lossfuse/lossfuse/kernels/internal/half"
)

// crossEntropy16 is the stashed long-row path (crossEntropyStashed) on
// 16-bit logits: pass 1 reads the row's 2-byte logits and stashes float32
// exponentials, pass 2 writes the scaled stash rounded to 16 bits (or in
// float32), pipelined with the next row's pass 1 as in float32.
// It takes the calls the float32 stashed path takes (rows of fusedMaxK <
// K ≤ stashMaxK with a gradient, no label smoothing, no soft-cap, integer
// targets); the others go back to package kernels' block driver.
func (s isa) crossEntropy16(c args.CE16) (float64, bool) {
	a := &c.A
	if c.Grad == nil && c.Grad32 == nil || a.K <= fusedMaxK || a.K > stashMaxK || a.SoftCap != 0 || a.Smoothing != 0 || a.Focal || a.Probs != nil {
		return 0, false
	}
	args.Took("amd64/f32/ce16/stashed")
	k := a.K
	if k > len(stashRows{})/2 {
		stash := wideStashPool.Get().(*wideStashRows)
		defer wideStashPool.Put(stash)
		return s.crossEntropyStashed16(c, stash[:k], stash[k:2*k]), true
	}
	stash := stashPool.Get().(*stashRows)
	defer stashPool.Put(stash)
	return s.crossEntropyStashed16(c, stash[:k], stash[k:2*k]), true
}

// crossEntropyStashed16 is crossEntropyBlocks' stashed rows for 16-bit
// logits and gradient. Rows whose pass 1 moved its reference, whose
// factor does not fit float32, or whose stash scale is unusable are
// widened into a stash row and written by the float32 exp pass (or
// generic's float64 row) instead; ignored rows get zeros, rows whose
// log-sum-exp is ±Inf NaN.
func (s isa) crossEntropyStashed16(c args.CE16, stash, stash2 []float32) float64 {
	a := c.A
	k, n := a.K, a.N
	zl, scale := float64(a.ZLoss), float64(a.GradScale)
	lanes := s.lanes()
	full := k &^ (lanes - 1) // the row's whole vectors; the rest is the tail
	var xtail [16]float32    // the next row's tail, widened
	var dtail [16]uint16     // pass 2's tail lanes
	widen := func(dst []float32, src []uint16) {
		if c.F16 {
			s.f16ToF32(dst, src)
		} else {
			s.bf16ToF32(dst, src)
		}
	}
	narrow := func(dst []uint16, src []float32) {
		if c.F16 {
			s.f32ToF16(dst, src)
		} else {
			s.f32ToBF16(dst, src)
		}
	}
	round := func(v float32) uint16 {
		if c.F16 {
			return half.F32ToF16(v)
		}
		return half.F32ToBF16(v)
	}
	wideOf := func(h uint16) float32 {
		if c.F16 {
			return half.F16ToF32(h)
		}
		return half.BF16ToF32(h)
	}
	tailOf := func(row []uint16) {
		widen(xtail[:k-full], row[full:])
	}
	var total float64
	var out, nextOut [3]float32 // m, ls, ref − m of the stashed rows
	var cs float32
	moved, nextMoved := 0, 0
	pending := false     // this row's pass 1 ran with the previous row's pass 2
	g32 := c.Grad == nil // a float32 gradient
	// A large float32 gradient is streamed past the caches, as the float32
	// kernel's (without, Intel Sapphire Rapids read every line before
	// writing it: 1.65× the float32 kernel's time at 256×32000).
	nt := g32 && streamedCE(&a, 4)
	for r := range n {
		x := c.X[r*k : r*k+k]
		var g []uint16
		var gf []float32
		if g32 {
			gf = c.Grad32[r*k : r*k+k]
		} else {
			g = c.Grad[r*k : r*k+k]
		}
		if pending {
			stash, stash2 = stash2, stash
			moved, out = nextMoved, nextOut
		} else {
			tailOf(x)
			moved = s.lseStashRow16(c.F16, x, xtail[:], stash, &out)
		}
		pending = false
		mx, ls := out[0], out[1]
		l := float64(mx) + float64(ls)
		if a.RowLSE != nil {
			a.RowLSE[r] = float32(l)
		}
		y := a.Targets[r]
		if a.HasIgnore && y == a.Ignore {
			if a.RowLoss != nil {
				a.RowLoss[r] = 0
			}
			clear(g)
			clear(gf)
			continue
		}
		if math.IsInf(float64(ls), 0) {
			// A row holding +Inf or only −Inf: NaN loss and gradient.
			total += math.NaN()
			if a.RowLoss != nil {
				a.RowLoss[r] = nan32
			}
			nan := round(nan32)
			for j := range g {
				g[j] = nan
			}
			for j := range gf {
				gf[j] = nan32
			}
			continue
		}
		zy := float64(wideOf(x[y]))
		wy := 1.0
		if a.Weight != nil {
			wy = float64(a.Weight[y])
		}
		loss := wy*(l-zy) + zl*wy*l*l
		pc := wy + 2*zl*wy*l
		total += loss
		if a.RowLoss != nil {
			a.RowLoss[r] = float32(loss)
		}
		coef := float32(scale * pc)
		switch {
		case wideCoef(scale * pc):
			// The factor overflows float32: generic's float64 row kernel
			// on the widened row (its loss and LSE stay pass 1's).
			args.Took("amd64/f32/ce16/wide-coef")
			row := stash
			if g32 {
				row = gf
			}
			widen(row, x)
			r1 := a
			r1.N, r1.X, r1.Grad, r1.Targets, r1.RowLoss, r1.RowLSE = 1, row, row, a.Targets[r:r+1], nil, nil
			generic.CrossEntropy(r1)
			if !g32 {
				narrow(g, stash)
			}
			continue
		case moved == 0 && stashScale(coef, out, &cs) && r+1 < n:
			xn := c.X[(r+1)*k : (r+2)*k]
			tailOf(xn)
			if g32 {
				nextMoved = s.lseStashScaleRow16G32(c.F16, xn, xtail[:], stash2, stash, gf, cs, &nextOut, nt)
			} else {
				nextMoved = s.lseStashScaleRow16(c.F16, xn, xtail[:], stash2, stash, g, dtail[:], cs, &nextOut)
				copy(g[full:], dtail[:k-full])
			}
			pending = true
		case moved == 0 && stashScale(coef, out, &cs):
			if g32 {
				s.scaleRow(stash, gf, k, cs, 0, nt)
			} else {
				s.scaleRow16(c.F16, stash, g, dtail[:], cs)
				copy(g[full:], dtail[:k-full])
			}
		default:
			// Pass 1's reference moved (or the scale is unusable): the exp
			// pass on the widened row.
			args.Took("amd64/f32/ce16/moved")
			widen(stash, x)
			bias := float32(0)
			dst := stash
			if g32 {
				dst = gf
			}
			s.expAffineRows(stash, dst, 1, k, &mx, &ls, &coef, &bias, nt)
			if !g32 {
				narrow(g, stash)
			}
		}
		p := math.Exp(zy - float64(mx) - float64(ls))
		gy := float32(scale * (pc*p - wy))
		if g32 {
			gf[y] = gy
		} else {
			g[y] = round(gy)
		}
	}
	return total
}

func (s isa) lseStashRow16(f16 bool, x []uint16, xtail, stash []float32, out *[3]float32) int {
	k := len(stash)
	switch {
	case s == avx512 && f16:
		return lseStashRowF16AVX512(&x[0], &xtail[0], &stash[0], k, &out[0])
	case s == avx512:
		return lseStashRowBF16AVX512(&x[0], &xtail[0], &stash[0], k, &out[0])
	case f16:
		return lseStashRowF16AVX2(&x[0], &xtail[0], &stash[0], k, &out[0])
	default:
		return lseStashRowBF16AVX2(&x[0], &xtail[0], &stash[0], k, &out[0])
	}
}

func (s isa) lseStashScaleRow16(f16 bool, x []uint16, xtail, stash, prev []float32, dst, dtail []uint16, c float32, out *[3]float32) int {
	k := len(stash)
	args.Took("amd64/f32/ce16/stash-pipelined")
	switch {
	case s == avx512 && f16:
		return lseStashScaleRowF16AVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], &dtail[0], k, c, 0, &out[0])
	case s == avx512:
		return lseStashScaleRowBF16AVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], &dtail[0], k, c, 0, &out[0])
	case f16:
		return lseStashScaleRowF16AVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], &dtail[0], k, c, 0, &out[0])
	default:
		return lseStashScaleRowBF16AVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], &dtail[0], k, c, 0, &out[0])
	}
}

func (s isa) scaleRow16(f16 bool, src []float32, dst, dtail []uint16, c float32) {
	k := len(src)
	args.Took("amd64/f32/ce16/stash-last-row")
	switch {
	case s == avx512 && f16:
		scaleRowF16AVX512(&src[0], &dst[0], &dtail[0], k, c, 0)
	case s == avx512:
		scaleRowBF16AVX512(&src[0], &dst[0], &dtail[0], k, c, 0)
	case f16:
		scaleRowF16AVX2(&src[0], &dst[0], &dtail[0], k, c, 0)
	default:
		scaleRowBF16AVX2(&src[0], &dst[0], &dtail[0], k, c, 0)
	}
}

func (s isa) lseStashScaleRow16G32(f16 bool, x []uint16, xtail, stash, prev, dst []float32, c float32, out *[3]float32, nt bool) int {
	k := len(stash)
	args.TookIf(nt, "amd64/f32/ce16/stash-pipelined-g32-nt", "amd64/f32/ce16/stash-pipelined-g32")
	switch {
	case s == avx512 && f16 && nt:
		return lseStashScaleRowF16G32NTAVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case s == avx512 && nt:
		return lseStashScaleRowBF16G32NTAVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case f16 && nt:
		return lseStashScaleRowF16G32NTAVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case nt:
		return lseStashScaleRowBF16G32NTAVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case s == avx512 && f16:
		return lseStashScaleRowF16G32AVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case s == avx512:
		return lseStashScaleRowBF16G32AVX512(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	case f16:
		return lseStashScaleRowF16G32AVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	default:
		return lseStashScaleRowBF16G32AVX2(&x[0], &xtail[0], &stash[0], &prev[0], &dst[0], k, c, 0, &out[0])
	}
}
