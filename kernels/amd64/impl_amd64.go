//go:build !purego

package amd64

import (
	"math"
	"sync"

	"github.com/klauspost/cpuid/v2"
	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// isa selects the generated variant. The drivers call the assembly directly
// (never through a func value) so that escape analysis sees the
// //go:noescape stubs and the stack scratch arrays stay on the stack.
type isa bool

const (
	avx2   isa = false
	avx512 isa = true
)

// Float32 returns the table of float32 kernels for AVX-512 (avx512 true) or
// AVX2+FMA. Option combinations that are not vectorised call package generic.
func Float32(useAVX512 bool) *args.Impl[float32] {
	s := isa(useAVX512)
	return &args.Impl[float32]{
		CrossEntropy: crossEntropyEntry(s),
		NLL:          generic.NLL[float32], // a zero fill (vectorised memclr) and a store per row: internal/fallbacks
		Binary:       s.binary,
		Regression:   s.regression,
		KLDiv:        s.klDiv,
		Distill:      s.distill,
		Softmax:      s.softmax,
		LogSoftmax:   s.logSoftmax,
		LogSumExp:    s.logSumExp,
		Sigmoid:      s.sigmoid,
		LogSigmoid:   s.logSigmoid,
		Softplus:     s.softplus,
		OutsideUnit:  s.outsideUnit,
		Weights:      s.weights,
		RowStats:     s.rowStats,
		RowExp:       s.rowExp,

		SoftmaxBackward:    s.softmaxBackward,
		LogSoftmaxBackward: s.logSoftmaxBackward,
		LogSumExpBackward:  s.logSumExpBackward,
		SigmoidBackward:    s.sigmoidBackward,
		LogSigmoidBackward: s.logSigmoidBackward,
		SoftplusBackward:   s.softplusBackward,

		CrossEntropy16: s.crossEntropy16,

		BF16ToF32: s.bf16ToF32,
		F32ToBF16: s.f32ToBF16,
		F16ToF32:  s.f16ToF32,
		F32ToF16:  s.f32ToF16,
	}
}

// crossEntropyEntry is the table's cross-entropy function for s: a plain
// function (a method value would copy the argument struct once more in its
// wrapper) that hands the rest of the driver a pointer to its argument. A
// struct copied right after its fields were written stalls on store
// forwarding, and one N = 1 call made three such copies.
func crossEntropyEntry(s isa) func(args.CE[float32]) float64 {
	if s == avx512 {
		return func(a args.CE[float32]) float64 { return avx512.crossEntropy(&a) }
	}
	return func(a args.CE[float32]) float64 { return avx2.crossEntropy(&a) }
}

// CrossEntropy32 is the table's CrossEntropy taking a by pointer, for the
// kernels package to call directly: a call through the table's func value
// takes the 300-byte args by value (a pointer through a func value would
// escape to the heap).
func CrossEntropy32(useAVX512 bool, a *args.CE[float32]) float64 {
	return isa(useAVX512).crossEntropy(a)
}

// CrossEntropy64 is CrossEntropy32 for float64.
func CrossEntropy64(useAVX512 bool, a *args.CE[float64]) float64 {
	return isa(useAVX512).crossEntropy64(a)
}

func (s isa) weights(w []float32, _ bool) (float64, bool) {
	var sum float64
	var bad int
	switch {
	case len(w) == 0:
	case s == avx512:
		sum, bad = weightScanAVX512(&w[0], len(w))
	default:
		sum, bad = weightScanAVX2(&w[0], len(w))
	}
	return sum, bad == 0
}

func (s isa) outsideUnit(x []float32) bool {
	args.Took("amd64/f32/outside-unit")
	switch {
	case len(x) == 0:
		return false
	case s == avx512:
		return outsideUnitAVX512(&x[0], len(x)) != 0
	default:
		return outsideUnitAVX2(&x[0], len(x)) != 0
	}
}

// blockRows is how many rows a driver hands to one assembly call; the
// per-row scalars live in stack arrays of this length.
const blockRows = 64

// l2Budget bounds the bytes of logits in one block so that pass 2 finds the
// rows pass 1 read still in L2.
const l2Budget = 256 << 10

// streamed reports whether an output of n×k elements of size bytes is
// written with non-temporal stores (args.StreamMinBytes).
func streamed(n, k, size int) bool { return n*k*size >= args.StreamMinBytes }

// streamedCE is streamed for a cross-entropy call, or for the whole call
// when a is a block of one.
func streamedCE[T args.Float](a *args.CE[T], size int) bool {
	return max(a.N*a.K, a.Whole)*size >= args.StreamMinBytes
}

func rowsPerBlock(k int) int {
	r := l2Budget / (4 * k)
	return max(1, min(blockRows, r))
}

func (s isa) lseRows(x []float32, n, k int, lse *float32) {
	if s {
		lseRowsAVX512(&x[0], n, k, lse)
	} else {
		lseRowsAVX2(&x[0], n, k, lse)
	}
}

func (s isa) maxLogRows(x []float32, n, k int, m, ls *float32) {
	if s {
		maxLogRowsAVX512(&x[0], n, k, m, ls)
	} else {
		maxLogRowsAVX2(&x[0], n, k, m, ls)
	}
}

// expAffineRows is pass 2 of the row kernels; nt selects the variant with
// non-temporal stores (see streamed).
func (s isa) expAffineRows(x, dst []float32, n, k int, m, ls, coef, bias *float32, nt bool) {
	args.TookIf(nt, "amd64/f32/pass2-exp-nt", "amd64/f32/pass2-exp")
	switch {
	case s == avx512 && nt:
		expAffineRowsNTAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias)
	case s == avx512:
		expAffineRowsAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias)
	case nt:
		expAffineRowsNTAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias)
	default:
		expAffineRowsAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias)
	}
}

// expAffineWRows is expAffineRows with per-class bias weights (label smoothing).
func (s isa) expAffineWRows(x, dst []float32, n, k int, m, ls, coef, bias, w *float32, nt bool) {
	args.TookIf(nt, "amd64/f32/pass2-exp-w-nt", "amd64/f32/pass2-exp-w")
	switch {
	case s == avx512 && nt:
		expAffineWRowsNTAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	case s == avx512:
		expAffineWRowsAVX512(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	case nt:
		expAffineWRowsNTAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	default:
		expAffineWRowsAVX2(&x[0], &dst[0], n, k, m, ls, coef, bias, w)
	}
}

// crossEntropy is the fused two-pass row kernel for integer targets (and
// softmax focal loss), blockwise: assembly pass 1 writes each row's lse, Go
// forms the row's loss and gradient coefficients in float64, assembly pass 2
// writes coef·softmax − bias (in place if Grad is X), and Go rewrites the
// target element from float64 so that p_y − 1 does not cancel in float32.
// Without Grad it reads the logits once. Probability targets and soft-capping
// go to the generic kernel.
// fusedMaxK is the longest row the fused kernel takes (see crossEntropy).
const fusedMaxK = 4096

func (s isa) crossEntropy(a *args.CE[float32]) float64 {
	capped := a.SoftCap != 0
	if capped && a.Focal { // not reachable: SoftmaxFocal has no soft-cap
		return generic.CrossEntropy(*a)
	}
	if a.Probs != nil {
		return s.crossEntropyProbs(*a)
	}
	// The one-call fused kernel forms the target's gradient as −Σ of the
	// other probabilities, a K-term float32 sum whose error outgrows the
	// accuracy contract for long rows (1.07 of the budget at K = 128256);
	// long rows take the blockwise path, which forms p_y − 1 in float64.
	if !a.Focal && a.Smoothing == 0 && a.ZLoss == 0 && !capped && a.K <= fusedMaxK {
		return s.crossEntropyFused(a)
	}
	if a.Focal && !capped && a.K <= tinyMaxK {
		if lanes := s.tinyLanes(a.N, a.K, true); lanes != 0 {
			return s.softmaxFocalTiny(*a, lanes)
		}
	}
	if a.Focal && !capped && a.Grad != nil && a.K <= fusedMaxK {
		return s.softmaxFocalFused(*a)
	}
	if a.Grad != nil && a.K > fusedMaxK && a.K <= stashMaxK && !capped && (a.Smoothing == 0 || a.Focal) {
		return s.crossEntropyStashed(*a)
	}
	return s.crossEntropyBlocks(*a, nil, nil)
}

// stashMaxK is the longest row the stashed path takes: LM vocabularies up
// to Gemma's 256000 and 2¹⁸. Its two scratch rows (up to 2 MiB) outgrow
// Zen 5's L2 past 64K classes, and still beat both the blockwise path (two
// exps per element) and one scratch row with pass 2 alone (Zen 5, go test
// -bench LongRows ./bench, avx512 65×128256: 0.31, 0.33 and 0.29 ns/elem;
// 32×262144 on avx2: 0.55–0.69 against the blockwise path's 0.94–1.0).
const stashMaxK = 256 << 10

// stashRows holds the two scratch rows of crossEntropyStashed for rows up
// to 128K classes, wideStashRows up to stashMaxK. 1 MiB is more than Go
// keeps on a goroutine's stack (a local array that large moves to the
// heap: an allocation per call), so calls borrow one from a pool: no
// allocation in steady state, and concurrent callers never share one. The
// wide rows have a pool of their own, so that calls of shorter rows hold
// half the memory.
type (
	stashRows     [2 * 128 << 10]float32
	wideStashRows [2 * stashMaxK]float32
)

var (
	stashPool     = sync.Pool{New: func() any { return new(stashRows) }}
	wideStashPool = sync.Pool{New: func() any { return new(wideStashRows) }}
)

// crossEntropyStashed is crossEntropyBlocks one row at a time with pass 1
// keeping its exponentials in a scratch row, so that pass 2 multiplies
// instead of taking a second exp; row i's pass 2 and row i+1's pass 1 run
// in one loop (two scratch rows in turn, side by side), so that the
// stores of one overlap the loads and exponentials of the other.
func (s isa) crossEntropyStashed(a args.CE[float32]) float64 {
	args.Took("amd64/f32/ce/stashed")
	k := a.K
	if k > len(stashRows{})/2 {
		stash := wideStashPool.Get().(*wideStashRows)
		defer wideStashPool.Put(stash)
		return s.crossEntropyBlocks(a, stash[:k], stash[k:2*k])
	}
	stash := stashPool.Get().(*stashRows)
	defer stashPool.Put(stash)
	return s.crossEntropyBlocks(a, stash[:k], stash[k:2*k])
}

// crossEntropyBlocks is the blockwise path; with stash and stash2 (scratch
// rows of K; no smoothing, no soft-cap) blocks are single rows and pass 2
// scales the stashed exponentials, except in rows where pass 1's reference
// moved.
func (s isa) crossEntropyBlocks(a args.CE[float32], stash, stash2 []float32) float64 {
	capped := a.SoftCap != 0
	capv, inv := float64(a.SoftCap), float32(1/float64(a.SoftCap))
	if stash == nil {
		args.Took("amd64/f32/ce/blocks")
	}
	k, n := a.K, a.N
	eps, zl, scale := float64(a.Smoothing), float64(a.ZLoss), float64(a.GradScale)
	wsum := float64(k)
	if a.Weight != nil {
		wsum = 0
		for _, w := range a.Weight[:k] {
			wsum += float64(w)
		}
	}
	smooth := eps != 0 && !a.Focal
	epsK := eps / float64(k)
	var mx, ls, dot, coef, bias [blockRows]float32
	var pcs, wys, zy [blockRows]float64
	var cs float32  // the stashed row's pass-2 factor
	var wide uint64 // rows of the block whose factor overflows float32 (wideCoef)
	bs := rowsPerBlock(k)
	if stash != nil {
		bs = 1
	}
	nt := streamedCE(&a, 4)
	var total float64
	var stashOut, nextOut [3]float32 // m, ls, ref − m of the stashed rows
	moved, nextMoved := 0, 0
	pending := false // this row's pass 1 ran with the previous row's pass 2
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x := a.X[r0*k : (r0+m)*k]
		targets := a.Targets[r0 : r0+m]
		// Pass 1.
		if stash != nil {
			if pending {
				stash, stash2 = stash2, stash
				moved, stashOut = nextMoved, nextOut
			} else {
				moved = s.lseStashRow(x, stash, &stashOut)
			}
			pending = false
			mx[0], ls[0] = stashOut[0], stashOut[1]
		} else if capped {
			args.Took("amd64/f32/ce/pass1-capped")
			s.maxLogCapped(x, m, k, smooth, a.Weight, &mx[0], &ls[0], &dot[0], a.SoftCap, inv)
		} else if smooth {
			args.TookIf(a.Weight != nil, "amd64/f32/ce/pass1-smooth-w", "amd64/f32/ce/pass1-smooth")
			switch {
			case a.Weight != nil && s == avx512:
				maxLogDotWRowsAVX512(&x[0], m, k, &a.Weight[0], &mx[0], &ls[0], &dot[0])
			case a.Weight != nil:
				maxLogDotWRowsAVX2(&x[0], m, k, &a.Weight[0], &mx[0], &ls[0], &dot[0])
			case s == avx512:
				maxLogDotRowsAVX512(&x[0], m, k, &mx[0], &ls[0], &dot[0])
			default:
				maxLogDotRowsAVX2(&x[0], m, k, &mx[0], &ls[0], &dot[0])
			}
		} else {
			s.maxLogRows(x, m, k, &mx[0], &ls[0])
		}
		// Per-row loss and gradient coefficients, as generic.ceRow.
		wide = 0
		for i, y := range targets {
			l := float64(mx[i]) + float64(ls[i]) // exact in float64
			if a.RowLSE != nil {
				a.RowLSE[r0+i] = float32(l)
			}
			if a.HasIgnore && y == a.Ignore {
				coef[i], bias[i], pcs[i] = 0, 0, math.NaN()
				if a.RowLoss != nil {
					a.RowLoss[r0+i] = 0
				}
				continue
			}
			zyv := float64(x[i*k+int(y)])
			if capped {
				zyv = capv * math.Tanh(zyv/capv)
			}
			zy[i] = zyv
			if math.IsInf(float64(ls[i]), 0) {
				// A row holding +Inf (ls = +Inf) or only −Inf (ls = −Inf):
				// loss and gradient are NaN, as the reference and PyTorch.
				coef[i], bias[i], pcs[i], wys[i] = nan32, 0, math.NaN(), 0
				total += math.NaN()
				if a.RowLoss != nil {
					a.RowLoss[r0+i] = nan32
				}
				continue
			}
			wy := 1.0
			if a.Weight != nil {
				wy = float64(a.Weight[y])
			}
			var loss, pc float64
			if a.Focal {
				// log p ≤ 0: the float32 log-sum-exp of a row the target
				// dominates can round below its maximum, and a positive log p
				// would make q = 1 − p negative and q^γ NaN.
				logp := math.Min(zyv-l, 0)
				q := -math.Expm1(logp)
				p := 1 - q // exact enough where q < ½ (p > ½)
				if q >= 0.5 {
					p = math.Exp(logp)
				}
				r := -1.0
				if q != 0 {
					r = logp / q
				}
				gam := float64(a.FocalGamma)
				pr := 0.0
				if p != 0 {
					pr = p * r
				}
				mod := focalPow(q, gam)
				loss = -wy * mod * logp
				pc = wy * mod * (1 - gam*pr)
				wy = pc
			} else {
				loss = (1-eps)*wy*(l-zyv) + zl*wy*l*l
				pc = (1-eps)*wy + 2*zl*wy*l
				if smooth {
					// Σ_c (ε/K)·w_c·(lse − z_c) = (ε/K)·(Σw·ls − Σ_c w_c·(z_c − m)).
					loss += epsK * (wsum*float64(ls[i]) - float64(dot[i]))
					pc += epsK * wsum
				}
				wy *= 1 - eps
			}
			total += loss
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = float32(loss)
			}
			pcs[i], wys[i] = pc, wy
			coef[i] = float32(scale * pc)
			if wideCoef(scale * pc) {
				wide |= 1 << i
			}
			bias[i] = 0
			if smooth {
				bias[i] = float32(scale * epsK)
			}
		}
		if a.Grad == nil {
			continue
		}
		// Pass 2.
		g := a.Grad[r0*k : (r0+m)*k]
		// The vector pass 2 over rows [i0, i1) of the block.
		rows := func(i0, i1 int) {
			x, g := x[i0*k:i1*k], g[i0*k:i1*k]
			switch {
			case capped:
				args.Took("amd64/f32/ce/pass2-capped")
				s.expAffineCapped(x, g, i1-i0, k, smooth, a.Weight, &mx[i0], &ls[i0], &coef[i0], &bias[i0], a.SoftCap, inv)
			case smooth && a.Weight != nil:
				s.expAffineWRows(x, g, i1-i0, k, &mx[i0], &ls[i0], &coef[i0], &bias[i0], &a.Weight[0], nt)
			default:
				s.expAffineRows(x, g, i1-i0, k, &mx[i0], &ls[i0], &coef[i0], &bias[i0], nt)
			}
		}
		switch {
		case wide != 0:
			redoWide(a, r0, m, wide, rows)
		case capped, smooth && a.Weight != nil:
			rows(0, m)
		case stash != nil && moved == 0 && stashScale(coef[0], stashOut, &cs) && r0+1 < n && !s.splitStores(k, nt):
			xn := a.X[(r0+1)*k : (r0+2)*k]
			nextMoved = s.lseStashScaleRow(xn, stash2, stash, g, k, cs, bias[0], &nextOut, nt)
			pending = true
		case stash != nil && moved == 0 && stashScale(coef[0], stashOut, &cs):
			s.scaleRow(stash, g, k, cs, bias[0], nt)
		default:
			rows(0, m)
		}
		for i, y := range targets {
			row := g[i*k : i*k+k]
			if a.HasIgnore && y == a.Ignore {
				clear(row)
				continue
			}
			if wide>>i&1 != 0 {
				continue // written whole by redoWide
			}
			cy := 0.0
			if smooth {
				cy = epsK
				if a.Weight != nil {
					cy *= float64(a.Weight[y])
				}
			}
			p := math.Exp(zy[i] - float64(mx[i]) - float64(ls[i]))
			gy := scale * (pcs[i]*p - cy - wys[i])
			if capped { // d(cap·tanh(x/cap))/dx = 1 − (z/cap)²
				t := zy[i] / capv
				gy *= 1 - t*t
			}
			row[y] = float32(gy)
		}
	}
	return total
}

// stashScale sets c to the factor that turns the stashed exponentials
// exp(x − ref) into coef·softmax, coef·exp((ref − m) − ls), and reports
// whether it is usable: a factor below 2⁻¹⁰⁰ (tiny weights) could lose
// digits as a subnormal where coef·softmax would not, so such rows take
// the exp pass.
func stashScale(coef float32, out [3]float32, c *float32) bool {
	v := float32(float64(coef) * math.Exp(float64(out[2])-float64(out[1])))
	*c = v
	return coef == 0 || math.Abs(float64(v)) >= 0x1p-100 || v != v
}

func (s isa) lseStashRow(x, stash []float32, out *[3]float32) int {
	if s == avx512 {
		return lseStashRowAVX512(&x[0], &stash[0], len(stash), &out[0])
	}
	return lseStashRowAVX2(&x[0], &stash[0], len(stash), &out[0])
}

func (s isa) lseStashScaleRow(x, stash, prev, dst []float32, k int, c, b float32, out *[3]float32, nt bool) int {
	args.TookIf(nt, "amd64/f32/ce/stash-pipelined-nt", "amd64/f32/ce/stash-pipelined")
	switch {
	case s == avx512 && nt:
		return lseStashScaleRowNTAVX512(&x[0], &stash[0], &prev[0], &dst[0], k, c, b, &out[0])
	case s == avx512:
		return lseStashScaleRowAVX512(&x[0], &stash[0], &prev[0], &dst[0], k, c, b, &out[0])
	case nt:
		return lseStashScaleRowNTAVX2(&x[0], &stash[0], &prev[0], &dst[0], k, c, b, &out[0])
	default:
		return lseStashScaleRowAVX2(&x[0], &stash[0], &prev[0], &dst[0], k, c, b, &out[0])
	}
}

// splitStores reports whether the gradient rows of length k, written with
// ordinary AVX-512 stores from each row's first element on, split cache
// lines: k not a multiple of 16, so that the rows start anywhere in a line
// (Go allocates large slices aligned). Such rows take pass 2 on its own,
// aligned to the row (scaleRowA), instead of fused with the next row's
// pass 1, which follows that row's own alignment. On an Intel Xeon
// (SPR-class) CE fwd+bwd 31×32769 took 0.816 ns/elem against 0.377 at
// 32×32768 (lossbench -shapes, avx512; avx2 0.613), and 0.329 on the
// streamed path, which aligns its stores. The non-temporal path is aligned
// already, and AVX2's 32-byte stores split only every other time. Decided
// by k, not by the address, so that a call's paths do not depend on where
// its buffers lie (a slice that starts inside a line, k a multiple of 16,
// still splits).
func (s isa) splitStores(k int, nt bool) bool {
	return s == avx512 && !nt && k%16 != 0
}

func (s isa) scaleRow(src, dst []float32, k int, c, b float32, nt bool) {
	if s.splitStores(k, nt) {
		args.Took("amd64/f32/ce/stash-aligned-row")
		scaleRowAAVX512(&src[0], &dst[0], k, c, b)
		return
	}
	args.TookIf(nt, "amd64/f32/ce/stash-last-row-nt", "amd64/f32/ce/stash-last-row")
	switch {
	case s == avx512 && nt:
		scaleRowNTAVX512(&src[0], &dst[0], k, c, b)
	case s == avx512:
		scaleRowAVX512(&src[0], &dst[0], k, c, b)
	case nt:
		scaleRowNTAVX2(&src[0], &dst[0], k, c, b)
	default:
		scaleRowAVX2(&src[0], &dst[0], k, c, b)
	}
}

// focalPow is q^γ with the common γ = 0, 1, 2 as products (math.Pow
// dominates a short row's time otherwise).
func focalPow(q, gamma float64) float64 {
	switch gamma {
	case 0:
		return 1
	case 1:
		return q
	case 2:
		return q * q
	}
	return math.Pow(q, gamma)
}

var nan32 = float32(math.NaN())

// nonFiniteRows makes rows holding +Inf (ls = +Inf) or only −Inf (ls = −Inf)
// NaN throughout in Softmax and LogSoftmax, as PyTorch and the reference.
func nonFiniteRows(ls []float32) {
	for i, v := range ls {
		if math.IsInf(float64(v), 0) {
			ls[i] = nan32
		}
	}
}

// maxLogCapped is pass 1 on soft-capped logits (with the smoothing sum when
// smooth is set).
func (s isa) maxLogCapped(x []float32, n, k int, smooth bool, w []float32, m, ls, dot *float32, c, inv float32) {
	z := s == avx512
	switch {
	case !smooth && z:
		maxLogRowsCAVX512(&x[0], n, k, m, ls, c, inv)
	case !smooth:
		maxLogRowsCAVX2(&x[0], n, k, m, ls, c, inv)
	case w != nil && z:
		maxLogDotWRowsCAVX512(&x[0], n, k, &w[0], m, ls, dot, c, inv)
	case w != nil:
		maxLogDotWRowsCAVX2(&x[0], n, k, &w[0], m, ls, dot, c, inv)
	case z:
		maxLogDotRowsCAVX512(&x[0], n, k, m, ls, dot, c, inv)
	default:
		maxLogDotRowsCAVX2(&x[0], n, k, m, ls, dot, c, inv)
	}
}

// expAffineCapped is pass 2 on soft-capped logits, times the cap's derivative.
func (s isa) expAffineCapped(x, g []float32, n, k int, smooth bool, w []float32, m, ls, coef, bias *float32, c, inv float32) {
	z := s == avx512
	switch {
	case smooth && w != nil && z:
		expAffineWRowsCAVX512(&x[0], &g[0], n, k, m, ls, coef, bias, &w[0], c, inv)
	case smooth && w != nil:
		expAffineWRowsCAVX2(&x[0], &g[0], n, k, m, ls, coef, bias, &w[0], c, inv)
	case z:
		expAffineRowsCAVX512(&x[0], &g[0], n, k, m, ls, coef, bias, c, inv)
	default:
		expAffineRowsCAVX2(&x[0], &g[0], n, k, m, ls, coef, bias, c, inv)
	}
}

// crossEntropyProbs is cross-entropy against probability targets,
// blockwise: pass 1 writes each row's split lse and Σc, Σc·(x − m) for the
// target coefficients c_j = w_j·((1−ε)·t_j + ε/K); Go forms the loss
// Σc·ls − Σc·(x − m) + ζ·lse² and the coefficient scale·(Σc + 2ζ·lse); pass
// 2 writes coef·softmax − scale·c (in place if Grad is X).
func (s isa) crossEntropyProbs(a args.CE[float32]) float64 {
	capped := a.SoftCap != 0
	cp, inv := a.SoftCap, float32(1/float64(a.SoftCap))
	args.TookIf(capped, "amd64/f32/ce/probs-capped", "amd64/f32/ce/probs")
	k, n := a.K, a.N
	eps, zl, scale := float64(a.Smoothing), float64(a.ZLoss), float64(a.GradScale)
	a0, a1 := float32(eps/float64(k)), float32(1-eps)
	b0, b1 := float32(scale*eps/float64(k)), float32(scale*(1-eps))
	w := ptr(a.Weight)
	z := s == avx512
	var mx, ls, dot, cs, coef [blockRows]float32
	bs := rowsPerBlock(k)
	var total float64
	var wide uint64 // rows of the block whose factor overflows float32 (wideCoef)
	for r0 := 0; r0 < n; r0 += bs {
		m := min(bs, n-r0)
		x, t := a.X[r0*k:(r0+m)*k], a.Probs[r0*k:(r0+m)*k]
		switch {
		case capped && z && w != nil:
			maxLogProbWRowsCAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped && z:
			maxLogProbRowsCAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped && w != nil:
			maxLogProbWRowsCAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case capped:
			maxLogProbRowsCAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1, cp, inv)
		case z && w != nil:
			maxLogProbWRowsAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		case z:
			maxLogProbRowsAVX512(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		case w != nil:
			maxLogProbWRowsAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		default:
			maxLogProbRowsAVX2(&x[0], m, k, &t[0], w, &mx[0], &ls[0], &dot[0], &cs[0], a0, a1)
		}
		wide = 0
		for i := range m {
			l := float64(mx[i]) + float64(ls[i])
			if a.RowLSE != nil {
				a.RowLSE[r0+i] = float32(l)
			}
			var loss, pc float64
			if math.IsInf(float64(ls[i]), 0) { // a row holding +Inf, or only −Inf
				loss, pc = math.NaN(), math.NaN()
			} else {
				c := float64(cs[i])
				loss = c*float64(ls[i]) - float64(dot[i]) + zl*l*l
				pc = c + 2*zl*l
			}
			total += loss
			if a.RowLoss != nil {
				a.RowLoss[r0+i] = float32(loss)
			}
			coef[i] = float32(scale * pc)
			if wideCoef(scale * pc) {
				wide |= 1 << i
			}
		}
		if a.Grad == nil {
			continue
		}
		g := a.Grad[r0*k : (r0+m)*k]
		nt := streamedCE(&a, 4) && !capped // no streamed capped kernel: tanh bounds it anyway
		args.TookIf(nt, "amd64/f32/ce/probs-pass2-nt", "amd64/f32/ce/probs-pass2")
		rows := func(i0, i1 int) {
			x, g, t, m := &x[i0*k], &g[i0*k], &t[i0*k], i1-i0
			mx, ls, coef := &mx[i0], &ls[i0], &coef[i0]
			switch {
			case capped && z && w != nil:
				expProbWRowsCAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1, cp, inv)
			case capped && z:
				expProbRowsCAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1, cp, inv)
			case capped && w != nil:
				expProbWRowsCAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1, cp, inv)
			case capped:
				expProbRowsCAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1, cp, inv)
			case z && w != nil && nt:
				expProbWRowsNTAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case z && w != nil:
				expProbWRowsAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case z && nt:
				expProbRowsNTAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case z:
				expProbRowsAVX512(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case w != nil && nt:
				expProbWRowsNTAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case w != nil:
				expProbWRowsAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			case nt:
				expProbRowsNTAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			default:
				expProbRowsAVX2(x, g, m, k, mx, ls, coef, t, w, b0, b1)
			}
		}
		if wide != 0 {
			redoWide(a, r0, m, wide, rows)
		} else {
			rows(0, m)
		}
	}
	return total
}

// wideCoef reports whether a row's gradient factor scale·P is finite but
// beyond float32 (a z-loss on logits near 1e36 under a mean's 1/N, say):
// the vector pass 2 would form (+Inf)·p_j, +Inf or NaN at p_j = 0, where
// the gradient elements with small p_j are finite.
func wideCoef(c float64) bool {
	return math.Abs(c) > math.MaxFloat32 && c-c == 0
}

// redoWide runs pass 2 (rows) over the block's rows r0…r0+m−1 except the
// wide ones, whose gradient generic's float64 row kernel writes instead
// (their loss and LSE stay the vector pass 1's). Such rows are rare.
func redoWide(a args.CE[float32], r0, m int, wide uint64, rows func(i0, i1 int)) {
	args.Took("amd64/f32/ce/wide-coef")
	k := a.K
	i0 := 0
	for i := range m {
		if wide>>i&1 == 0 {
			continue
		}
		if i0 < i {
			rows(i0, i)
		}
		i0 = i + 1
		r := a
		j := r0 + i
		r.N, r.X, r.Grad = 1, a.X[j*k:j*k+k], a.Grad[j*k:j*k+k]
		if a.Targets != nil {
			r.Targets = a.Targets[j : j+1]
		}
		if a.Probs != nil {
			r.Probs = a.Probs[j*k : j*k+k]
		}
		r.RowLoss, r.RowLSE = nil, nil
		generic.CrossEntropy(r)
	}
	if i0 < m {
		rows(i0, m)
	}
}

// crossEntropyFused runs the one-call kernel for the plain options
// (weights, ignore index, per-row outputs, in place).
func (s isa) crossEntropyFused(a *args.CE[float32]) float64 {
	ignore := math.MinInt64 // never equal to an int32 target
	if a.HasIgnore {
		ignore = int(a.Ignore)
	}
	x, g, t, w := &a.X[0], ptr(a.Grad), &a.Targets[0], ptr(a.Weight)
	rl, rs := ptr(a.RowLoss), ptr(a.RowLSE)
	n, k, sc := a.N, a.K, a.GradScale
	if k == 2 && n >= 8 {
		return s.crossEntropyPairs(*a)
	}
	if lanes := s.tinyLanes(n, k, false); lanes != 0 {
		return s.crossEntropyTiny(*a, lanes)
	}
	if n >= 2 && k <= padMaxK {
		return crossEntropyPadded(a)
	}
	return s.crossEntropyRowwise(x, g, n, k, t, w, ignore, rl, rs, sc)
}

// crossEntropyPairs runs whole vectors of rows of two classes with the
// sigmoid kernel (cePairs): on avx512 groups of 16, then, as on avx2, one
// of 8; the rows left over as before. Zen 5, go test -bench FewRows
// ./bench, K = 2 fwd+bwd, ns/elem: N = 1024 avx512 1.5–2.1 → 0.65, avx2
// 2.8 → 1.2; N = 8 (one AVX2 group on both) 7.4 → 5.3.
func (s isa) crossEntropyPairs(a args.CE[float32]) float64 {
	args.Took("amd64/f32/ce/pairs")
	var sum float64
	for _, lanes := range []int{16, 8} {
		if lanes == 16 && s != avx512 || a.N < lanes {
			continue
		}
		if lanes == 8 && s == avx512 {
			args.Took("amd64/f32/ce/pairs-8-lanes")
		}
		rows, ignore := tinyGroups(a, lanes)
		x, g, t, w := &a.X[0], sub(a.Grad, 0, 2*rows), &a.Targets[0], ptr(a.Weight)
		rl, rs := sub(a.RowLoss, 0, rows), sub(a.RowLSE, 0, rows)
		switch {
		case lanes == 16 && g != nil:
			sum += cePairsGAVX512(x, g, rows/lanes, t, w, ignore, rl, rs, a.GradScale)
		case lanes == 16:
			sum += cePairsAVX512(x, g, rows/lanes, t, w, ignore, rl, rs, a.GradScale)
		case g != nil:
			sum += cePairsGAVX2(x, g, rows/lanes, t, w, ignore, rl, rs, a.GradScale)
		default:
			sum += cePairsAVX2(x, g, rows/lanes, t, w, ignore, rl, rs, a.GradScale)
		}
		if rows == a.N {
			return sum
		}
		a = restRows(a, rows)
	}
	return sum + s.crossEntropyFused(&a)
}

// padMaxK is the longest row that calls of 2 to 7 rows pad into one group
// of the 8-lane transposed kernel. The row-wise kernel costs a dependent
// chain per row; for short rows a padded group is cheaper, for longer ones
// not (Zen 5, fwd+bwd, ns/elem row-wise → padded: go test -bench
// FewRows ./bench 4×2 37.9 → 17.2, 2×2 42.5 → 34.0; lossbench -kernels
// CrossEntropy -backends avx2 -shapes …: 4×4 19.4 → 10.8, 6×8 6.5 → 5.2,
// 2×8 14.0 → 14.1, 2×6 14.7 → 16.1, 4×16 3.9 → 5.2, 6×24 2.8 → 3.9).
const padMaxK = 8

// crossEntropyPadded runs n < 8 rows of k ≤ padMaxK classes as one group of the
// 8-lane transposed kernel: the rows copied into a group on the stack, the
// other lanes rows of zeros whose target is the ignore index (so they add
// nothing and their outputs are discarded), the outputs copied back.
func crossEntropyPadded(a *args.CE[float32]) float64 {
	args.Took("amd64/f32/ce/tiny-padded")
	const lanes = 8
	var x, g [lanes * padMaxK]float32
	var t [lanes]int32
	var rl, rs [lanes]float32
	n, k := a.N, a.K
	copy(x[:], a.X[:n*k])
	ignore := int32(-1) // never a class
	if a.HasIgnore {
		ignore = a.Ignore
	}
	copy(t[:], a.Targets[:n])
	for i := n; i < lanes; i++ {
		t[i] = ignore
	}
	var gp, rlp, rsp *float32
	if a.Grad != nil {
		gp = &g[0]
	}
	if a.RowLoss != nil {
		rlp = &rl[0]
	}
	if a.RowLSE != nil {
		rsp = &rs[0]
	}
	w, sc := ptr(a.Weight), a.GradScale
	var sum float64
	switch {
	case gp != nil && w != nil:
		sum = ceTRowsGWAVX2(&x[0], gp, 1, k, &t[0], w, int(ignore), rlp, rsp, sc)
	case gp != nil:
		sum = ceTRowsGAVX2(&x[0], gp, 1, k, &t[0], w, int(ignore), rlp, rsp, sc)
	case w != nil:
		sum = ceTRowsWAVX2(&x[0], gp, 1, k, &t[0], w, int(ignore), rlp, rsp, sc)
	default:
		sum = ceTRowsAVX2(&x[0], gp, 1, k, &t[0], w, int(ignore), rlp, rsp, sc)
	}
	if a.Grad != nil {
		copy(a.Grad[:n*k], g[:n*k])
	}
	if a.RowLoss != nil {
		copy(a.RowLoss[:n], rl[:n])
	}
	if a.RowLSE != nil {
		copy(a.RowLSE[:n], rs[:n])
	}
	return sum
}

// crossEntropyRowwise runs the row-wise fused kernels: the two-register
// kernel for rows of at most two vectors, ceRows for longer ones.
func (s isa) crossEntropyRowwise(x, g *float32, n, k int, t *int32, w *float32, ignore int, rl, rs *float32, sc float32) float64 {
	z := s == avx512
	lanes := 8
	if z {
		lanes = 16
	}
	if k <= 2*lanes {
		return s.crossEntropySmall(x, g, n, k, t, w, ignore, rl, rs, sc)
	}
	args.Took("amd64/f32/ce/fused")
	switch {
	case z && g != nil && w != nil:
		return ceRowsGWAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && g != nil:
		return ceRowsGAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && w != nil:
		return ceRowsWAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z:
		return ceRowsAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil && w != nil:
		return ceRowsGWAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil:
		return ceRowsGAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case w != nil:
		return ceRowsWAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	default:
		return ceRowsAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	}
}

// tinyRecompute selects the AVX-512 transposed kernels that neither gather
// nor scatter (the R variants): each group's rows are loaded whole and
// transposed in registers, the gradient takes its exponentials again from
// the logits instead of gathering pass 1's back, and z_y, w[y] and the
// target elements are blended in column by column. The same results, and
// much faster on AMD, whose gathers and scatters are slow (Zen 5, go test
// -bench 'SmallK|FewRows' ./bench, avx512: CrossEntropy 4096×10 fwd+bwd
// 1.34 → 0.82 ns/elem over the three steps, forward 0.80 → 0.46); on Intel
// Sapphire Rapids the gathering kernel measured faster than recomputing
// (f5d4b91; the transpose is not measured there). Set once, before any
// call; tests flip it to run both.
var tinyRecompute = cpuid.CPU.VendorID == cpuid.AMD

// tinyGatherMaxK is the longest row for which cross-entropy's gathering
// transposed kernel (with a gradient) leads on Intel: on a Sapphire
// Rapids-class Xeon (go test -bench 'SmallK|CrossEntropy/op=fwd/dtype=f32/isa=avx512/n=4096/k=10'
// ./bench, the two policies alternated) it is ahead with a gradient at
// K = 10 (0.91 against 1.02 ns/elem) and K = 24 (0.82 / 0.87), but the R
// kernel is ahead forward only (K = 10: 0.58 against 0.61–0.65, as its
// transposed loads beat the gathers) and at K = 32 (0.84, where the
// gathering kernel's rows went row-wise: 1.29).
const tinyGatherMaxK = 28

// tinyForceGather makes crossEntropyTiny gather whatever the call (tests
// compare it with the R variants).
var tinyForceGather = false

// tinyCERecompute reports whether crossEntropyTiny's AVX-512 kernel is an
// R variant for rows of k with or without a gradient.
func tinyCERecompute(grad bool, k int) bool {
	if tinyForceGather {
		return false
	}
	return tinyRecompute || !grad || k > tinyGatherMaxK
}

// tinyMaxK is the longest row the transposed (ceTRows, sfTRows) kernels
// take, the generator's maxTK. Softmax focal loss takes them up to there
// (its row-wise path forms each row's focal factor in Go). Cross-entropy's
// row-wise kernels catch up sooner: on Zen 5 (go test -bench SmallK
// ./bench) the gathering transposed kernel leads up to K ≈ 28 on avx512
// and K ≈ 24 on avx2, and trails by 7% (avx512) and 15% (avx2) at K = 32;
// with tinyRecompute it leads at K = 32 too (fwd+bwd 1.15 → 0.98 ns/elem,
// forward 0.77 → 0.65).
const tinyMaxK = 32

// tinyCEMaxK is the longest row cross-entropy takes the transposed kernel for.
func (s isa) tinyCEMaxK() int {
	if s == avx512 {
		return 32 // K > tinyGatherMaxK: the R kernel
	}
	return 24
}

// tinyLanes is the group width of the transposed kernels for n rows of k
// (cross-entropy, or softmax focal loss), or 0 for the row-wise kernels: 16 rows per
// group on avx512, 8 on avx2, and on avx512 also 8 (the AVX2 kernel) for
// 8 … 15 rows, or 8 … 15 left over, so that avx512 is never slower than
// avx2 there (4096 + 8 rows of K = 2: one row-wise row costs about as much
// as a group).
func (s isa) tinyLanes(n, k int, focal bool) int {
	max16, max8 := avx512.tinyCEMaxK(), avx2.tinyCEMaxK()
	if focal {
		max16, max8 = tinyMaxK, tinyMaxK
	}
	switch {
	case s == avx512 && n >= 16 && k <= max16:
		return 16
	case n >= 8 && k <= max8:
		return 8
	}
	return 0
}

// restRows is a without its first rows rows.
func restRows(a args.CE[float32], rows int) args.CE[float32] {
	k := a.K
	a.X, a.N, a.Targets = a.X[rows*k:], a.N-rows, a.Targets[rows:]
	if a.Grad != nil {
		a.Grad = a.Grad[rows*k:]
	}
	if a.RowLoss != nil {
		a.RowLoss = a.RowLoss[rows:]
	}
	if a.RowLSE != nil {
		a.RowLSE = a.RowLSE[rows:]
	}
	return a
}

// tinyGroups returns how many of a's rows fill whole groups of lanes (the
// transposed kernels' share) and the ignore index as those kernels take it:
// an int32 compared lane-wise, −1 (never a class) when nothing is ignored.
func tinyGroups(a args.CE[float32], lanes int) (rows, ignore int) {
	ignore = -1
	if a.HasIgnore {
		ignore = int(a.Ignore)
	}
	return a.N / lanes * lanes, ignore
}

// sub is &v[lo:hi][0], or nil for an output the caller did not ask for.
func sub(v []float32, lo, hi int) *float32 {
	if v == nil {
		return nil
	}
	return &v[lo:hi][0]
}

// crossEntropyTiny runs the transposed kernel on whole groups of lanes rows
// (k ≤ tinyCEMaxK; 16 lanes: the AVX-512 kernel, 8: the AVX2 one) and
// dispatches the rows left over again.
func (s isa) crossEntropyTiny(a args.CE[float32], lanes int) float64 {
	args.Took("amd64/f32/ce/tiny")
	if s == avx512 && lanes == 8 {
		args.Took("amd64/f32/ce/tiny-8-lanes")
	}
	n, k := a.N, a.K
	rows, ignore := tinyGroups(a, lanes)
	x, t, w := &a.X[0], &a.Targets[0], ptr(a.Weight)
	g, rl, rs := sub(a.Grad, 0, rows*k), sub(a.RowLoss, 0, rows), sub(a.RowLSE, 0, rows)
	sc := a.GradScale
	z := lanes == 16
	r := z && tinyCERecompute(g != nil, k)
	var sum float64
	switch {
	case r && g != nil && w != nil:
		sum = ceTRowsGWRAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case r && g != nil:
		sum = ceTRowsGRAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case r && w != nil:
		sum = ceTRowsWRAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case r:
		sum = ceTRowsRAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case z && g != nil && w != nil:
		sum = ceTRowsGWAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case z && g != nil:
		sum = ceTRowsGAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case z && w != nil:
		sum = ceTRowsWAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case z:
		sum = ceTRowsAVX512(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case g != nil && w != nil:
		sum = ceTRowsGWAVX2(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case g != nil:
		sum = ceTRowsGAVX2(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	case w != nil:
		sum = ceTRowsWAVX2(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	default:
		sum = ceTRowsAVX2(x, g, rows/lanes, k, t, w, ignore, rl, rs, sc)
	}
	if rows == n {
		return sum
	}
	rest := restRows(a, rows)
	return sum + s.crossEntropyFused(&rest)
}

// softmaxFocalTiny runs softmax focal loss on whole groups of lanes rows of
// k ≤ tinyMaxK with the transposed kernel (per-row focal factors in vectors) and
// the blockwise path on the rows left over.
func (s isa) softmaxFocalTiny(a args.CE[float32], lanes int) float64 {
	args.Took("amd64/f32/ce/focal-tiny")
	if s == avx512 && lanes == 8 {
		args.Took("amd64/f32/ce/focal-tiny-8-lanes")
	}
	n, k := a.N, a.K
	rows, ignore := tinyGroups(a, lanes)
	gm := focalGammaKind(a.FocalGamma)
	x, g, t, w := &a.X[0], sub(a.Grad, 0, rows*k), &a.Targets[0], ptr(a.Weight)
	rl, rs := sub(a.RowLoss, 0, rows), sub(a.RowLSE, 0, rows)
	var sum float64
	if lanes == 16 && tinyRecompute {
		sum = sfTRowsRCall(gm, x, g, rows/lanes, k, t, w, ignore, rl, rs, a.GradScale, a.FocalGamma)
	} else {
		sum = sfTRowsCall(lanes == 16, gm, x, g, rows/lanes, k, t, w, ignore, rl, rs, a.GradScale, a.FocalGamma)
	}
	if rows == n {
		return sum
	}
	rest := restRows(a, rows)
	return sum + s.crossEntropy(&rest) // 8-lane groups, fused or blockwise
}

// focalGammaKind is the γ kind of the focal kernels' variants: 0, 1, 2 for
// those exact γ, 3 for any other.
func focalGammaKind(gamma float32) int {
	switch gamma {
	case 0, 1, 2:
		return int(gamma)
	}
	return 3
}

// softmaxFocalFused runs softmax focal loss with a gradient in one call
// (sfRows): rows of at most fusedMaxK, which the transposed kernel does not
// take.
func (s isa) softmaxFocalFused(a args.CE[float32]) float64 {
	args.Took("amd64/f32/ce/focal-fused")
	ignore := math.MinInt64 // never equal to an int32 target
	if a.HasIgnore {
		ignore = int(a.Ignore)
	}
	return sfRowsCall(s == avx512, focalGammaKind(a.FocalGamma), &a.X[0], &a.Grad[0], a.N, a.K, &a.Targets[0], ptr(a.Weight),
		ignore, ptr(a.RowLoss), ptr(a.RowLSE), a.GradScale, a.FocalGamma)
}

// crossEntropySmall is crossEntropyFused for rows of at most two vectors.
// Rows of up to 16 take the AVX2 kernel on avx512 too: one row is a chain
// of dependent reductions (maximum, sum, others' sum), one shuffle level
// shorter in 8 lanes (Zen 5, go test -bench FewRows ./bench: N = 1 … 4 rows
// of K = 10 take 10–35% less time than with the AVX-512 kernel).
func (s isa) crossEntropySmall(x, g *float32, n, k int, t *int32, w *float32, ignore int, rl, rs *float32, sc float32) float64 {
	args.Took("amd64/f32/ce/small")
	z := s == avx512 && k > 16
	switch {
	case z && g != nil && w != nil:
		return ceSmallRowsGWAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && g != nil:
		return ceSmallRowsGAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z && w != nil:
		return ceSmallRowsWAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case z:
		return ceSmallRowsAVX512(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil && w != nil:
		return ceSmallRowsGWAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case g != nil:
		return ceSmallRowsGAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	case w != nil:
		return ceSmallRowsWAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	default:
		return ceSmallRowsAVX2(x, g, n, k, t, w, ignore, rl, rs, sc)
	}
}

// logSumExp is pass 1 alone, straight into Dst.
func (s isa) logSumExp(a args.Rows[float32]) {
	args.Took("amd64/f32/logsumexp")
	s.lseRows(a.X, a.N, a.K, &a.Dst[0])
}

// softmax: pass 1 for lse, then exp(x − lse) in a second pass per block.
func (s isa) softmax(a args.Rows[float32]) {
	args.TookIf(a.K <= fusedMaxK, "amd64/f32/softmax-rows", "amd64/f32/softmax-blocks")
	if a.K <= fusedMaxK {
		// The row kernel: exact maximum, exponentials stashed in Dst, scaled.
		if s == avx512 {
			softmaxRowsAVX512(&a.X[0], &a.Dst[0], a.N, a.K)
		} else {
			softmaxRowsAVX2(&a.X[0], &a.Dst[0], a.N, a.K)
		}
		return
	}
	var mx, ls, one, zero [blockRows]float32
	for i := range one {
		one[i] = 1
	}
	k := a.K
	bs := rowsPerBlock(k)
	for r0 := 0; r0 < a.N; r0 += bs {
		m := min(bs, a.N-r0)
		x := a.X[r0*k : (r0+m)*k]
		s.maxLogRows(x, m, k, &mx[0], &ls[0])
		nonFiniteRows(ls[:m])
		s.expAffineRows(x, a.Dst[r0*k:(r0+m)*k], m, k, &mx[0], &ls[0], &one[0], &zero[0], streamed(max(a.N, a.Whole/k), k, 4))
	}
}

// logSoftmax: pass 1 for lse, then x − lse.
func (s isa) logSoftmax(a args.Rows[float32]) {
	args.Took("amd64/f32/logsoftmax")
	var mx, ls [blockRows]float32
	k := a.K
	bs := rowsPerBlock(k)
	for r0 := 0; r0 < a.N; r0 += bs {
		m := min(bs, a.N-r0)
		x := a.X[r0*k : (r0+m)*k]
		s.maxLogRows(x, m, k, &mx[0], &ls[0])
		nonFiniteRows(ls[:m])
		d := a.Dst[r0*k : (r0+m)*k]
		if s {
			subRowsAVX512(&x[0], &d[0], m, k, &mx[0], &ls[0])
		} else {
			subRowsAVX2(&x[0], &d[0], m, k, &mx[0], &ls[0])
		}
	}
}

func (s isa) sigmoid(a args.Elementwise[float32]) {
	args.Took("amd64/f32/sigmoid")
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		sigmoidAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

func (s isa) logSigmoid(a args.Elementwise[float32]) {
	args.Took("amd64/f32/logsigmoid")
	if len(a.X) == 0 {
		return
	}
	if s {
		logSigmoidAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		logSigmoidAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

func (s isa) softplus(a args.Elementwise[float32]) {
	if !a.ExactSoftplus() {
		s.softplusBeta(a)
		return
	}
	args.Took("amd64/f32/softplus")
	if len(a.X) == 0 {
		return
	}
	if s {
		softplusAVX512(&a.X[0], &a.Dst[0], len(a.X))
	} else {
		softplusAVX2(&a.X[0], &a.Dst[0], len(a.X))
	}
}

// ptr is &s[0], or nil for an empty slice (an output the caller did not ask for).
func ptr(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// binary vectorises BCE with logits (asymmetric weights included; with
// pos_weight when K = 1 or K ≥ 16, one call per row), BCE on probabilities
// (PyTorch's clamps, or Clip), FocalProbs without Clip and sigmoid focal
// loss with hard labels.
func (s isa) binary(a args.Binary[float32]) float64 {
	if len(a.X) == 0 {
		return generic.Binary(a)
	}
	x, y, w, g, l := &a.X[0], &a.Y[0], ptr(a.Weight), ptr(a.Grad), ptr(a.Loss)
	n, sc := len(a.X), a.GradScale
	switch {
	case a.Kind == args.BCEWithLogits && a.PosWeight == nil && a.FNWeight == 1 && a.FPWeight == 1:
		// Zen 5, go test -bench BCEWithLogits ./bench, 4096×256 fwd+bwd
		// avx512: see docs/benchmarks.md (issue 20).
		args.Took("amd64/f32/bce-logits-unit")
		return bceLogitsUnitCall(bool(s), x, y, w, g, l, n, sc)
	case a.Kind == args.BCEWithLogits && a.PosWeight == nil:
		args.Took("amd64/f32/bce-logits")
		return bceLogitsCall(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)
	case a.Kind == args.BCEWithLogits && a.K == 1:
		args.Took("amd64/f32/bce-logits-pw1")
		return bceLogitsCall(bool(s), x, y, w, g, l, n, a.PosWeight[0]*a.FNWeight, a.FPWeight, sc)
	case a.Kind == args.BCEWithLogits && a.K < 16:
		args.Took("amd64/f32/bce-logits-pw-tiled")
		// Rows shorter than a vector: pos_weight tiled over pwTileRows rows,
		// so that one call covers that many rows.
		var pw [pwTileRows * 16]float32
		k := a.K
		tile(pw[:pwTileRows*k], a.PosWeight[:k])
		var sum float64
		for r0 := 0; r0 < a.N; r0 += pwTileRows {
			lo, n := r0*k, min(pwTileRows, a.N-r0)*k
			sum += bceLogitsPWCall(bool(s), &a.X[lo], &a.Y[lo], elem(a.Weight, lo), elem(a.Grad, lo), elem(a.Loss, lo), n,
				&pw[0], a.FNWeight, a.FPWeight, sc)
		}
		return sum
	case a.Kind == args.BCEWithLogits:
		args.Took("amd64/f32/bce-logits-pw-rows")
		// pos_weight runs along each row: one call per row of K.
		k := a.K
		row := func(v []float32, i int) *float32 {
			if v == nil {
				return nil
			}
			return &v[i*k]
		}
		var sum float64
		for i := range a.N {
			sum += bceLogitsPWCall(bool(s), &a.X[i*k], &a.Y[i*k], row(a.Weight, i), row(a.Grad, i), row(a.Loss, i), k,
				&a.PosWeight[0], a.FNWeight, a.FPWeight, sc)
		}
		return sum
	case a.Kind == args.BCEProb:
		if aliasX(a) && !unitRange(a.X) {
			break // in place: p outside [0, 1] could not be redone from x
		}
		var sum float64
		var soft int
		if a.Clip > 0 {
			lo := float64(a.Clip)
			args.Took("amd64/f32/bce-prob-clip")
			hiT := generic.ClipHi32(a.Clip)
			sum, soft = bceProbClipCall(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, a.Clip, hiT,
				float32(math.Log(lo)), float32(generic.LogOneMinus(lo)), sc)
		} else {
			args.Took("amd64/f32/bce-prob")
			sum, soft = bceProbCall(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)
		}
		if soft == 0 {
			return sum
		}
	case a.Kind == args.FocalProb && a.FNWeight == 1 && a.FPWeight == 1:
		if aliasX(a) && !unitRange(a.X) {
			break // in place: p outside [0, 1] could not be redone from x
		}
		a0, a1 := float32(1), float32(0) // α_t = a0 + a1·y
		if a.Alpha >= 0 {
			a0, a1 = 1-a.Alpha, 2*a.Alpha-1
		}
		var sum float64
		var soft int
		if a.Clip > 0 {
			lo, hi := a.Clip, generic.ClipHi32(a.Clip)
			switch a.Gamma {
			case 0:
				args.Took("amd64/f32/focal-prob-clip-g0")
				sum, soft = focalProbClipG0Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			case 1:
				args.Took("amd64/f32/focal-prob-clip-g1")
				sum, soft = focalProbClipG1Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			case 2:
				args.Took("amd64/f32/focal-prob-clip-g2")
				sum, soft = focalProbClipG2Call(bool(s), x, y, w, g, l, n, a0, a1, lo, hi, sc)
			default:
				args.Took("amd64/f32/focal-prob-clip-gany")
				sum, soft = focalProbClipGAnyCall(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, lo, hi, sc)
			}
		} else {
			switch a.Gamma {
			case 0:
				args.Took("amd64/f32/focal-prob-g0")
				sum, soft = focalProbG0Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 1:
				args.Took("amd64/f32/focal-prob-g1")
				sum, soft = focalProbG1Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 2:
				args.Took("amd64/f32/focal-prob-g2")
				sum, soft = focalProbG2Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			default:
				args.Took("amd64/f32/focal-prob-gany")
				sum, soft = focalProbGAnyCall(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
			}
		}
		if soft == 0 {
			return sum
		}
	case a.Kind == args.SigmoidFocal && a.FNWeight == 1 && a.FPWeight == 1:
		a0, a1 := float32(1), float32(0) // α_t = a0 + a1·y
		if a.Alpha >= 0 {
			a0, a1 = 1-a.Alpha, 2*a.Alpha-1
		}
		// Hard labels take the closed form. A call holding another label
		// runs the soft-label kernel over the whole call: at once when one
		// of its first softProbe labels is soft (soft-label training has
		// them everywhere), after a scan of the labels where an output
		// overwrites x, or else after the hard pass counted one.
		if hardLabels(a.Y[:min(len(a.Y), softProbe)]) && (!aliasX(a) || hardLabels(a.Y)) {
			var sum float64
			var soft int
			switch a.Gamma {
			case 0:
				args.Took("amd64/f32/sigmoid-focal-g0")
				sum, soft = focalG0Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 1:
				args.Took("amd64/f32/sigmoid-focal-g1")
				sum, soft = focalG1Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			case 2:
				args.Took("amd64/f32/sigmoid-focal-g2")
				sum, soft = focalG2Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
			default:
				args.Took("amd64/f32/sigmoid-focal-gany")
				sum, soft = focalGAnyCall(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
			}
			if soft == 0 {
				return sum
			}
		}
		switch a.Gamma {
		case 0:
			args.Took("amd64/f32/sigmoid-focal-soft-g0")
			return focalSoftG0Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		case 1:
			args.Took("amd64/f32/sigmoid-focal-soft-g1")
			return focalSoftG1Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		case 2:
			args.Took("amd64/f32/sigmoid-focal-soft-g2")
			return focalSoftG2Call(bool(s), x, y, w, g, l, n, a0, a1, sc)
		default:
			args.Took("amd64/f32/sigmoid-focal-soft-gany")
			return focalSoftGAnyCall(bool(s), x, y, w, g, l, n, a0, a1, a.Gamma, sc)
		}
	}
	return generic.Binary(a)
}

// softProbe is how many leading labels decide whether a sigmoid focal
// call starts in the soft-label kernel.
const softProbe = 64

// pwTileRows is how many rows shorter than a vector one BCE-with-logits
// call covers when pos_weight is set: pos_weight is tiled over that many
// rows (tile), so that element j of the call meets PosWeight[j mod K], as
// along every row, and the call's cost is shared by pwTileRows rows.
const pwTileRows = 64

// tile fills dst with copies of src (len(dst) a multiple of len(src)).
func tile[T args.Float](dst, src []T) {
	for i := 0; i < len(dst); i += len(src) {
		copy(dst[i:i+len(src)], src)
	}
}

// elem is &v[i], or nil for an absent buffer.
func elem[T args.Float](v []T, i int) *T {
	if v == nil {
		return nil
	}
	return &v[i]
}

// aliasX reports whether an output of a overwrites its input x.
func aliasX(a args.Binary[float32]) bool {
	return a.Grad != nil && &a.Grad[0] == &a.X[0] || a.Loss != nil && &a.Loss[0] == &a.X[0]
}

// unitRange reports whether every p is in [0, 1] (or NaN).
func unitRange(p []float32) bool {
	for _, v := range p {
		if v < 0 || v > 1 {
			return false
		}
	}
	return true
}

// hardLabels reports whether every label is 0 or 1.
func hardLabels(y []float32) bool {
	for _, v := range y {
		if v != 0 && v != 1 {
			return false
		}
	}
	return true
}

// regression vectorises MSE, L1, Huber and SmoothL1 (all options).
func (s isa) regression(a args.Regression[float32]) float64 {
	if len(a.X) == 0 {
		return generic.Regression(a)
	}
	x, y, w, g, l := &a.X[0], &a.Y[0], ptr(a.Weight), ptr(a.Grad), ptr(a.Loss)
	n, p, sc := len(a.X), a.Param, a.GradScale
	switch a.Kind {
	case args.MSE:
		args.Took("amd64/f32/mse")
		return mseCall(bool(s), x, y, w, g, l, n, p, sc) // the kernel doubles d·w·scale last
	case args.L1:
		args.Took("amd64/f32/l1")
		return l1Call(bool(s), x, y, w, g, l, n, p, sc)
	case args.Huber:
		args.Took("amd64/f32/huber")
		return huberCall(bool(s), x, y, w, g, l, n, p, sc)
	default:
		args.Took("amd64/f32/smoothl1")
		return smoothL1Call(bool(s), x, y, w, g, l, n, p, sc)
	}
}
