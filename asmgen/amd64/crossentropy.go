package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// ceRows is the fused softmax cross-entropy kernel for integer targets in
// one call over all rows: per row, pass 1 (onlineLSE), the row's loss
// w[y]·((m − z_y) + ls) and, with grad, pass 2 writing
// scale·w[y]·softmax while the row is still in L1/L2. The target element
// is written last as −scale·w[y]·Σ_{j≠y} p_j, the sum of the other
// probabilities, which does not cancel where p_y → 1 (p_y − 1 would).
// Rows whose target equals ignore get loss 0 and a zero gradient; every row
// gets its log-sum-exp. Rows holding +Inf or only −Inf have NaN loss and
// gradient (lse ±Inf), as the reference.
func ceRows(s *x86.ISA, withGrad, weighted bool) {
	name := "ceRows"
	if withGrad {
		name += "G"
	}
	if weighted {
		name += "W"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(x, grad *float32, n, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale float32) float64"))
	Pragma("noescape")
	docf(name,
		"%s computes softmax cross-entropy with integer targets over n rows of k logits, fused: it returns Σ_i w[y_i]·(lse_i − x[i*k+y_i]) over rows whose target is not ignore,",
		"writes rowLoss[i] and rowLSE[i] when those are non-nil and, in the G variants, grad = scale·w[y]·(softmax − onehot(y)) (zero rows where ignored; grad may be x).",
		"W variants read class weights w.")
	s.Begin()
	sz := uint8(s.Size())
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	targets := Load(Param("targets"), GP64()).(reg.GPVirtual)
	ignore := Load(Param("ignore"), GP64()).(reg.GPVirtual)
	rowLoss := Load(Param("rowLoss"), GP64()).(reg.GPVirtual)
	rowLSE := Load(Param("rowLSE"), GP64()).(reg.GPVirtual)
	var grad, w reg.GPVirtual
	ptrs := []reg.GPVirtual{x}
	if withGrad {
		grad = Load(Param("grad"), GP64()).(reg.GPVirtual)
		ptrs = append(ptrs, grad)
	}
	if weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	scaleAddr := func() Mem {
		b, err := Param("scale").Resolve()
		if err != nil {
			panic(err)
		}
		return b.Addr
	}()
	s.PreloadExp()
	s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
	negInf := s.CR(math.Inf(-1))
	sp := s.NewSpan(k)
	total := XMM()
	VXORPS(total, total, total)

	// storeIf writes the low lane of v to p[i] unless p is nil.
	storeIf := func(p, i reg.GPVirtual, v reg.VecVirtual) {
		skip := x86.NewLabel("nostore")
		TESTQ(p, p)
		JZ(LabelRef(skip))
		s.StoreScalar(v, Mem{Base: p, Index: i, Scale: sz})
		Label(skip)
	}

	rowLoopT(s, n, k, ptrs, func(i reg.GPVirtual) {
		ignored, next := x86.NewLabel("ignored"), x86.NewLabel("nextrow")
		y := GP64()
		MOVLQSX(Mem{Base: targets, Index: i, Scale: 4}, y)
		var m, l, sum, zy reg.VecVirtual
		if withGrad {
			// The row is in L1: its exact maximum first, then e = exp(x − m)
			// stashed in grad, so that pass 2 multiplies instead of taking a
			// second exp. z_y is read first: grad may be x.
			zy = s.Vec()
			VXORPS(zy, zy, zy)
			skip := x86.NewLabel("noty")
			CMPQ(y, ignore)
			JE(LabelRef(skip))
			zy = s.Broadcast(Mem{Base: x, Index: y, Scale: sz})
			Label(skip)
			m, sum = maxThenStash(s, x, grad, sp, negInf)
			l = s.Log(sum, true)
		} else {
			m, l = onlineLSE(s, x, sp, negInf, true, nil, nil, nil)
		}
		lse := s.Vec()
		s.Add(m, l, lse)
		storeIf(rowLSE, i, lse)
		CMPQ(y, ignore)
		JE(LabelRef(ignored))

		// lse = ±Inf (a row holding +Inf, or only −Inf): NaN loss and gradient.
		s.Where(x86.EQ, l, s.C(math.Inf(1)), s.C(math.NaN()), l)
		s.Where(x86.EQ, l, s.C(math.Inf(-1)), s.C(math.NaN()), l)
		if !withGrad {
			zy = s.Broadcast(Mem{Base: x, Index: y, Scale: sz})
		}
		loss := s.Vec()
		s.Sub(zy, m, loss) // m − z_y, exact near the maximum
		s.Add(l, loss, loss)
		var wy reg.VecVirtual
		if weighted {
			wy = s.Broadcast(Mem{Base: w, Index: y, Scale: sz})
			s.Mul(wy, loss, loss)
		}
		storeIf(rowLoss, i, loss)
		if s.F64 {
			VADDSD(loss.AsX(), total, total)
		} else {
			t := XMM()
			VCVTSS2SD(loss.AsX(), t, t)
			VADDSD(t, total, total)
		}

		if withGrad {
			coef := s.Broadcast(scaleAddr)
			if weighted {
				s.Mul(wy, coef, coef)
			}
			// g = coef·e/Σe; a non-finite row (l NaN above) makes it NaN.
			cs := s.Vec()
			s.Mov(s.C(1), cs)
			s.Div(sum, cs, cs)
			s.Where(x86.UNORD, l, l, l, cs)
			s.Mul(coef, cs, cs)
			// Lane index of the target in each vector: idx counts j + lane.
			yv, idx := s.LaneIndex(y)
			os := s.NewBlockSum() // as pass 1's sum: two levels
			sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
				e := s.LoadAt(mk, s.At(grad, j), nil)
				g := s.Vec()
				s.Mul(cs, e, g)
				s.StoreAt(mk, g, s.At(grad, j))
				s.ZeroLane(idx, yv, e) // drop e_y from the sum of the others
				os.Add(e)
				s.AddI(s.Lanes, idx)
			}, os.Flush)
			others := os.Total(nil)
			s.Mul(cs, others, others)
			s.Op(VXORPS, s.SignBit(), others, others)
			s.StoreScalar(others, Mem{Base: grad, Index: y, Scale: sz})
		}
		JMP(LabelRef(next))

		Label(ignored)
		zero := s.Vec()
		VXORPS(zero, zero, zero)
		storeIf(rowLoss, i, zero)
		if withGrad {
			sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
				s.StoreAt(mk, zero, s.At(grad, j))
			})
		}
		Label(next)
	})
	// MOVSD (what Store emits) cannot name X16–X31, which AVX-512 allocates.
	r, err := ReturnIndex(0).Resolve()
	if err != nil {
		panic(err)
	}
	VMOVSD(total, r.Addr)
	s.End()
}

// ceSmallRows is ceRows for rows of at most two vectors (k ≤ 2·Lanes), the
// tiny-K case where per-row overhead rules: the row stays in registers, its
// exact maximum is taken first (no online rescaling), the exponentials of
// pass 1 are reused for the gradient (p = e/Σe) and there is no loop.
func ceSmallRows(s *x86.ISA, withGrad, weighted bool) {
	name := "ceSmallRows"
	if withGrad {
		name += "G"
	}
	if weighted {
		name += "W"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, "func(x, grad *float32, n, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale float32) float64")
	Pragma("noescape")
	docf(name, "%s is ceRows for 1 ≤ k ≤ 2·(lanes per vector): the same results, with each row held in two registers.")
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	targets := Load(Param("targets"), GP64()).(reg.GPVirtual)
	ignore := Load(Param("ignore"), GP64()).(reg.GPVirtual)
	rowLoss := Load(Param("rowLoss"), GP64()).(reg.GPVirtual)
	rowLSE := Load(Param("rowLSE"), GP64()).(reg.GPVirtual)
	var grad, w reg.GPVirtual
	ptrs := []reg.GPVirtual{x}
	if withGrad {
		grad = Load(Param("grad"), GP64()).(reg.GPVirtual)
		ptrs = append(ptrs, grad)
	}
	if weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	b, err := Param("scale").Resolve()
	if err != nil {
		panic(err)
	}
	scaleAddr := b.Addr
	s.Preload(x86.ExpConsts()...)
	negInf := s.FR(x86.NegInf)
	// Lane counts of the two vectors: min(k, Lanes) and the rest.
	c0, c1, lanes := GP64(), GP64(), GP64()
	MOVQ(k, c0)
	MOVQ(U32(s.Lanes), lanes)
	CMPQ(c0, lanes)
	CMOVQGT(lanes, c0)
	MOVQ(k, c1)
	SUBQ(c0, c1)
	m0, m1 := s.TailMask(c0), s.TailMask(c1)
	masks := []x86.Mask{m0, m1}
	total := XMM()
	VXORPS(total, total, total)
	storeIf := func(p, i reg.GPVirtual, v reg.VecVirtual) {
		skip := x86.NewLabel("nostore")
		TESTQ(p, p)
		JZ(LabelRef(skip))
		VMOVSS(v.AsX(), Mem{Base: p, Index: i, Scale: 4})
		Label(skip)
	}
	at := func(base reg.GPVirtual, r int) Mem { return Mem{Base: base, Disp: r * s.Bytes()} }

	rowLoop(n, k, ptrs, func(i reg.GPVirtual) {
		ignored, next := x86.NewLabel("ignored"), x86.NewLabel("nextrow")
		v := []reg.VecVirtual{masks[0].Load(at(x, 0), negInf), masks[1].Load(at(x, 1), negInf)}
		m := s.Vec()
		VMAXPS(v[0], v[1], m)
		s.AllMax(m)
		VMAXPS(m, s.FR(-math.MaxFloat32), m) // NaN stays
		VMINPS(m, s.FR(math.MaxFloat32), m)
		e := make([]reg.VecVirtual, 2)
		sum := s.Vec()
		zero := s.Vec()
		VXORPS(zero, zero, zero)
		for r := range v {
			// Masked-off lanes (−Inf, so that they leave m alone) take
			// exp(0) and are zeroed after: exp(−Inf) would underflow, and an
			// underflowing result costs a microcode assist on Intel.
			d := s.Vec()
			VSUBPS(m, v[r], d)
			masks[r].Fill(d, zero)
			e[r] = s.ExpFlush(d)
			s.ZeroOff(&masks[r], e[r])
		}
		VADDPS(e[0], e[1], sum)
		s.AllSum(sum)
		l := s.Log(sum, true)
		lse := s.Vec()
		VADDPS(m, l, lse)
		storeIf(rowLSE, i, lse)
		y := GP64()
		MOVLQSX(Mem{Base: targets, Index: i, Scale: 4}, y)
		CMPQ(y, ignore)
		JE(LabelRef(ignored))

		nan := float32(math.NaN())
		s.Where(x86.EQ, l, s.F(x86.Inf), s.F(nan), l)
		s.Where(x86.EQ, l, s.F(x86.NegInf), s.F(nan), l)
		zy := s.Broadcast(Mem{Base: x, Index: y, Scale: 4})
		loss := s.Vec()
		VSUBPS(zy, m, loss)
		VADDPS(l, loss, loss)
		var wy reg.VecVirtual
		if weighted {
			wy = s.Broadcast(Mem{Base: w, Index: y, Scale: 4})
			VMULPS(wy, loss, loss)
		}
		storeIf(rowLoss, i, loss)
		t := XMM()
		VCVTSS2SD(loss.AsX(), t, t)
		VADDSD(t, total, total)

		if withGrad {
			// p = e/Σe; a non-finite row (l NaN above) makes it NaN.
			rinv := s.Vec()
			VDIVPS(sum, s.FR(1), rinv)
			s.Where(x86.UNORD, l, l, l, rinv)
			coef := s.Vec()
			VBROADCASTSS(scaleAddr, coef)
			if weighted {
				VMULPS(wy, coef, coef)
			}
			yv := s.Vec()
			VMOVD(y.As32(), yv.AsX())
			VPBROADCASTD(yv.AsX(), yv)
			idx := s.Vec()
			s.LoadIota(idx, false)
			others := s.Vec()
			VXORPS(others, others, others)
			for r := range v {
				p := e[r]
				VMULPS(rinv, p, p)
				g := s.Vec()
				VMULPS(coef, p, g)
				masks[r].Store(g, at(grad, r))
				s.ZeroLane(idx, yv, p) // tail lanes are already 0
				VADDPS(p, others, others)
				if r == 0 {
					s.AddI32(s.Lanes, idx)
				}
			}
			s.AllSum(others)
			s.Where(x86.UNORD, l, l, l, others) // non-finite row: g_y NaN too (k = 1)
			VMULPS(coef, others, others)
			s.Op(VXORPS, s.U(0x80000000), others, others)
			VMOVSS(others.AsX(), Mem{Base: grad, Index: y, Scale: 4})
		}
		JMP(LabelRef(next))

		Label(ignored)
		VXORPS(zero, zero, zero)
		storeIf(rowLoss, i, zero)
		if withGrad {
			masks[0].Store(zero, at(grad, 0))
			masks[1].Store(zero, at(grad, 1))
		}
		Label(next)
	})
	Store(total, ReturnIndex(0))
	s.End()
}

// maxTK is the longest row ceTRows takes, and tkBlock the columns summed
// in one float32 partial sum: the contract charges a float32 row sum at most
// SumBlock32 = 16 terms of recursive summation (reference/doc.go), so rows
// of 17 … 32 add two partial sums of at most 16 columns each.
const (
	maxTK   = 32
	tkBlock = 16
)

// gather loads, for each lane r, the float32 at base + 4·idx[r], in the
// lanes where live (nil: all) is set; other lanes keep dst's value.
func gather(s *x86.ISA, base reg.GPVirtual, idx, dst reg.VecVirtual, live reg.VecVirtual) {
	mem := Mem{Base: base, Index: idx, Scale: 4}
	if s.ZMM {
		k := K()
		if live == nil {
			KXNORW(k, k, k)
		} else {
			VPMOVD2M(live, k)
		}
		VGATHERDPS(mem, k, dst)
		return
	}
	m := YMM()
	if live == nil {
		VPCMPEQD(m, m, m)
	} else {
		VMOVAPS(live, m)
	}
	// The index goes through Y14: qemu-x86_64 7.2 decodes a VSIB index of
	// Y4 (SIB index field 100) as "no index", and CI runs this code under
	// it. The allocator keeps virtual registers off the physical Y14.
	VMOVDQU(idx, reg.Y14)
	mem.Index = reg.Y14
	VGATHERDPS(m, mem, dst)
}

// ceTRows is ceRows for tiny rows (k ≤ maxTK) in groups of Lanes rows, with
// the rows across the lanes (the transposed layout of the performance
// notes): each column of the group is gathered once into a stack buffer,
// so maximum, sum, log and loss take one vector operation per Lanes rows
// and no horizontal reductions. The gradient columns are written back
// row-wise through the stack buffer; the target elements last.
func ceTRows(s *x86.ISA, withGrad, weighted, recompute bool) {
	ceTRowsFocal(s, withGrad, weighted, false, 0, recompute)
}

// sfGammaNames name the sfTRows variants by γ: sfTRows2GW is γ = 2 with
// gradient and weights.
var sfGammaNames = [...]string{"0", "1", "2", "Any"}

// ceTRowsFocal is ceTRows, or with focal set softmax focal loss for tiny
// rows (sfRows): per row p = p_y, q = 1 − p as the others' share of the sum
// (no cancellation for confident rows), loss α·q^γ·(−log p) and gradient
// scale·α·q^γ·(1 − γ·p·log p/q)·(softmax − onehot(y)), as the blockwise
// path's per-row coefficients; α is w[y] (1 without weights).
//
// With recompute (the R variants), the gradient takes each row-major
// vector's exponentials again from the logits, exp(x − m) with the rows'
// maxima permuted into place, instead of gathering pass 1's from the column
// buffer, and blends the target elements in instead of scattering them:
// the same bits, and faster where gathers and scatters are slow (AMD Zen 5;
// Intel Sapphire Rapids measured the gather faster, f5d4b91).
func ceTRowsFocal(s *x86.ISA, withGrad, weighted, focal bool, gm focalGamma, recompute bool) {
	name := "ceTRows"
	if focal {
		name = "sfTRows" + sfGammaNames[gm]
	}
	if withGrad {
		name += "G"
	}
	if weighted {
		name += "W"
	}
	if recompute {
		name += "R"
	}
	name += suffix(s)
	// Not NOSPLIT: the column buffer is up to 1 KiB of stack.
	sig := "func(x, grad *float32, groups, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale float32) float64"
	doc := "%s is ceRows for groups·lanes rows of 1 ≤ k ≤ 32 logits, lanes rows at a time; ignore must be an int32 (−1 when nothing is ignored)."
	if focal {
		sig = "func(x, grad *float32, groups, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale, gamma float32) float64"
		doc = "%s is softmax focal loss for groups·lanes rows of 1 ≤ k ≤ 32 logits, as ceTRows (w holds the per-class α; gamma is read by the GAny variants only)."
	}
	TEXT(name, 0, sig)
	Pragma("noescape")
	docf(name, doc)
	s.Begin()
	W := s.Lanes
	cols := AllocLocal(maxTK * s.Bytes())
	tmp := AllocLocal(4 * s.Bytes()) // the group's g_y, target offsets, rowoff, live
	rowOf := AllocLocal(maxTK * s.Bytes())
	eOf := AllocLocal(maxTK * s.Bytes()) // gather indices of the stashed exponentials
	spill := AllocLocal(7 * s.Bytes())
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	// Pointers used once per group are reloaded from the frame there:
	// AVX2 code has few registers to spare.
	ptr := func(name string) reg.GPVirtual { return Load(Param(name), GP64()).(reg.GPVirtual) }
	var grad reg.GPVirtual
	if withGrad {
		grad = ptr("grad")
	}
	par := func(name string) Mem {
		b, err := Param(name).Resolve()
		if err != nil {
			panic(err)
		}
		return b.Addr
	}
	s.Preload(x86.ExpConsts()...)
	rowoffAt := tmp.Offset(2 * s.Bytes())
	{
		kv, ro := s.Vec(), s.Vec()
		// Broadcast from a register: qemu-x86_64 7.2 gets the memory form
		// of VPBROADCASTD wrong here, and CI runs this under it.
		VMOVD(k.As32(), kv.AsX())
		VPBROADCASTD(kv.AsX(), kv)
		s.LoadIota(ro, false)
		VPMULLD(kv, ro, ro) // lane r: r·k
		VMOVUPS(ro, rowoffAt)
	}
	rowOff := func() reg.VecVirtual {
		v := s.Vec()
		VMOVUPS(rowoffAt, v)
		return v
	}
	acc := s.NewF64Acc()
	row := GP64() // first row of the group
	XORQ(row, row)
	colAt := func(j reg.GPVirtual) Mem { // cols[j]
		o := GP64()
		MOVQ(j, o)
		SHLQ(Imm(uint64(log2(s.Bytes()))), o)
		return Mem{Base: cols.Base, Disp: cols.Disp, Index: o, Scale: 1}
	}
	// forColsFrom emits for j := from; j < min(k, to); j++ { body(j) }.
	forColsFrom := func(from, to int, body func(j reg.GPVirtual)) {
		j, end := GP64(), GP64()
		loop, done := x86.NewLabel("col"), x86.NewLabel("coldone")
		MOVQ(U32(to), end)
		CMPQ(k, end)
		CMOVQLT(k, end)
		MOVQ(U32(from), j)
		Label(loop)
		CMPQ(j, end)
		JAE(LabelRef(done))
		body(j)
		INCQ(j)
		JMP(LabelRef(loop))
		Label(done)
	}
	forCols := func(body func(j reg.GPVirtual)) { forColsFrom(0, maxTK, body) }
	if withGrad {
		// rowOf[v], lane i: the row (within a group) of element v·W + i,
		// ⌊(v·W + i + ½)/k⌋ in float32 (exact: every quotient is at least
		// 1/(2k) from an integer).
		kf, inv := XMM(), XMM()
		VCVTSI2SSQ(k, kf, kf)
		VMOVSS(x86.ConstF(1), inv)
		VDIVSS(kf, inv, inv)
		invv, e := s.Vec(), s.Vec()
		VBROADCASTSS(inv, invv)
		s.LoadIota(e, false)
		kv := s.Vec()
		VMOVD(k.As32(), kv.AsX())
		VPBROADCASTD(kv.AsX(), kv)
		vecLoop(k, s.Bytes(), func(off reg.GPVirtual) {
			f := s.Vec()
			VCVTDQ2PS(e, f)
			s.Op(VADDPS, s.F(0.5), f, f)
			VMULPS(invv, f, f)
			VCVTTPS2DQ(f, f)
			VMOVUPS(f, Mem{Base: rowOf.Base, Disp: rowOf.Disp, Index: off, Scale: 1})
			if !recompute {
				// eOf[v], lane i: where element (r, j) = divmod(v·W + i, k)
				// sits in the column buffer, j·W + r.
				t := s.Vec()
				VPMULLD(kv, f, t)
				VPSUBD(t, e, t) // j
				VPSLLD(Imm(uint64(log2(W))), t, t)
				VPADDD(f, t, t)
				VMOVUPS(t, Mem{Base: eOf.Base, Disp: eOf.Disp, Index: off, Scale: 1})
			} else {
				// eOf[v] holds the element indices v·W + i: the target's
				// lane is where one equals its row's yoff.
				VMOVUPS(e, Mem{Base: eOf.Base, Disp: eOf.Disp, Index: off, Scale: 1})
			}
			s.Op(VPADDD, s.U(uint32(W)), e, e)
		})
	}
	// recompute: the row stride in bytes and the masks of the rows' two
	// halves (min(k, 16) and k − 16 lanes).
	var rowBytes reg.GPVirtual
	var halves [2]x86.Mask
	if recompute {
		rowBytes = GP64()
		MOVQ(k, rowBytes)
		SHLQ(Imm(2), rowBytes)
		c0, c1 := GP64(), GP64()
		MOVQ(U32(16), c0)
		CMPQ(k, c0)
		CMOVQLT(k, c0)
		MOVQ(k, c1)
		SUBQ(c0, c1)
		halves = [2]x86.Mask{s.TailMask(c0), s.TailMask(c1)}
	}
	gloop, gdone := x86.NewLabel("group"), x86.NewLabel("groupsdone")
	Label(gloop)
	end := ptr("groups")
	SHLQ(Imm(uint64(log2(W))), end)
	CMPQ(row, end)
	JAE(LabelRef(gdone))

	// Columns to the stack, and the exact maximum of each row.
	m := s.Vec()
	s.Load(s.F(x86.NegInf), m)
	if recompute {
		// The group's rows loaded whole and transposed in registers
		// instead of one gather per column.
		transposeRows(x, k, rowBytes, halves, cols)
		forCols(func(j reg.GPVirtual) { VMAXPS(colAt(j), m, m) })
	} else {
		forCols(func(j reg.GPVirtual) {
			base := GP64()
			LEAQ(Mem{Base: x, Index: j, Scale: 4}, base)
			c := s.Vec()
			gather(s, base, rowOff(), c, nil)
			VMOVUPS(c, colAt(j))
			VMAXPS(c, m, m)
		})
	}
	VMAXPS(m, s.FR(-math.MaxFloat32), m) // NaN stays
	VMINPS(m, s.FR(math.MaxFloat32), m)
	tg := s.Vec()
	VMOVUPS(Mem{Base: ptr("targets"), Index: row, Scale: 4}, tg)
	ign := s.Vec() // all-ones lanes: ignored rows
	VMOVD(par("ignore"), ign.AsX())
	VPBROADCASTD(ign.AsX(), ign)
	if s.ZMM {
		kk := K()
		VPCMPEQD(ign, tg, kk)
		VPMOVM2D(kk, ign)
	} else {
		VPCMPEQD(ign, tg, ign)
	}
	live := s.Vec()
	if s.ZMM {
		VPTERNLOGD(Imm(0xff), live, live, live) // all ones
	} else {
		VPCMPEQD(live, live, live)
	}
	VXORPS(ign, live, live) // ^ign
	// Σ_j exp(x_j − m) and, for the gradient, Σ_{j≠y} of the same terms:
	// the target's gradient is −coef·(the others' share), which does not
	// cancel where p_y → 1.
	sum := s.Vec()
	VXORPS(sum, sum, sum)
	var others reg.VecVirtual
	if withGrad || focal {
		others = s.Vec()
		VXORPS(others, others, others)
	}
	// recompute (AVX-512): z_y and w[y] are picked up column by column
	// (where the target is j) instead of gathered after the loops.
	var zyCol, wyCol reg.VecVirtual
	var wPtr reg.GPVirtual
	if recompute {
		zyCol = s.Vec()
		VXORPS(zyCol, zyCol, zyCol)
		if weighted {
			wyCol = s.Vec()
			VXORPS(wyCol, wyCol, wyCol)
			wPtr = ptr("w")
		}
	}
	addCols := func(j reg.GPVirtual) {
		c := s.Vec()
		VMOVUPS(colAt(j), c)
		if recompute {
			jv := s.Vec()
			VMOVD(j.As32(), jv.AsX())
			VPBROADCASTD(jv.AsX(), jv)
			kk := K()
			VPCMPEQD(jv, tg, kk)
			VMOVUPS(c, kk, zyCol)
			if weighted {
				wj := s.Vec()
				VBROADCASTSS(Mem{Base: wPtr, Index: j, Scale: 4}, wj)
				VMOVUPS(wj, kk, wyCol)
			}
		}
		VSUBPS(m, c, c)
		e := s.ExpFlush(c)
		VADDPS(e, sum, sum)
		if withGrad && !recompute {
			VMOVUPS(e, colAt(j)) // stashed for the gradient
		}
		if withGrad || focal {
			jv := s.Vec()
			VMOVD(j.As32(), jv.AsX())
			VPBROADCASTD(jv.AsX(), jv)
			s.ZeroLane(jv, tg, e)
			VADDPS(e, others, others)
		}
	}
	forColsFrom(0, tkBlock, addCols)
	// Columns tkBlock … k−1 into fresh partial sums, added at the end
	// (k ≤ tkBlock: the loop is empty and adds zeros). The first block's
	// sums wait on the stack: AVX2 has no registers to spare.
	VMOVUPS(sum, spill)
	VXORPS(sum, sum, sum)
	if others != nil {
		VMOVUPS(others, spill.Offset(s.Bytes()))
		VXORPS(others, others, others)
	}
	forColsFrom(tkBlock, maxTK, addCols)
	VADDPS(spill, sum, sum)
	if others != nil {
		VADDPS(spill.Offset(s.Bytes()), others, others)
	}
	l := s.Log(sum, true)
	lse := s.Vec()
	VADDPS(m, l, lse)
	rowLSE := ptr("rowLSE")
	storeIfSet(rowLSE, lse, Mem{Base: rowLSE, Index: row, Scale: 4})

	// z_y and w[y] of the live rows (ignored rows' targets are not classes).
	yoff := rowOff()
	VPADDD(tg, yoff, yoff)
	zy := zyCol
	if !recompute {
		zy = s.Vec()
		VXORPS(zy, zy, zy)
		gather(s, x, yoff, zy, live)
	}
	nan := float32(math.NaN())
	s.Where(x86.EQ, l, s.F(x86.Inf), s.F(nan), l)
	s.Where(x86.EQ, l, s.F(x86.NegInf), s.F(nan), l)
	loss := s.Vec()
	VSUBPS(zy, m, loss)
	VADDPS(l, loss, loss)
	var wy reg.VecVirtual
	switch {
	case weighted && recompute:
		wy = wyCol
	case weighted:
		wy = s.Vec()
		VXORPS(wy, wy, wy)
		gather(s, ptr("w"), tg, wy, live)
	}
	var pc reg.VecVirtual // focal: the rows' gradient coefficients before scale
	if focal {
		// AVX2 has 16 registers: keep m, l, live and yoff on the stack
		// while the focal terms (a log and two exps) are formed.
		var keep []*reg.VecVirtual
		var alpha Op
		if wy != nil {
			alpha = wy
		}
		if !s.ZMM {
			keep = []*reg.VecVirtual{&m, &l, &live, &yoff, &sum, &others}
			if wy != nil {
				at := spill.Offset(len(keep) * s.Bytes())
				VMOVUPS(wy, at)
				alpha = at
			}
		}
		for i, v := range keep {
			VMOVUPS(*v, spill.Offset(i*s.Bytes()))
		}
		loss, pc = focalRowTerms(s, loss, others, sum, alpha, gm, par("gamma"))
		for i, v := range keep {
			*v = s.Vec()
			VMOVUPS(spill.Offset(i*s.Bytes()), *v)
		}
	} else if weighted {
		VMULPS(wy, loss, loss)
	}
	VANDPS(live, loss, loss) // ignored rows: 0
	rowLoss := ptr("rowLoss")
	storeIfSet(rowLoss, loss, Mem{Base: rowLoss, Index: row, Scale: 4})
	acc.Add(loss)

	if withGrad {
		coef := s.Vec()
		VBROADCASTSS(par("scale"), coef)
		switch {
		case focal:
			VMULPS(pc, coef, coef)
		case weighted:
			VMULPS(wy, coef, coef)
		}
		// The target's gradient −coef·Σ_{j≠y} p_j, from pass 1's sums.
		VDIVPS(sum, others, others)
		s.Where(x86.UNORD, l, l, l, others) // non-finite row: g_y NaN too (k = 1)
		VMULPS(coef, others, others)
		s.Op(VXORPS, s.U(0x80000000), others, others)
		// The group's W rows are W·k contiguous floats, k whole vectors:
		// write coef·e/Σe straight in row-major order, each vector's
		// stashed exponentials gathered from the column buffer (eOf[v]), or
		// taken again from its logits (recompute), and its rows' factors
		// taken by the permutation rowOf[v].
		cs := s.Vec()
		s.Load(s.F(1), cs)
		VDIVPS(sum, cs, cs)
		s.Where(x86.UNORD, l, l, l, cs) // non-finite row: NaN
		VMULPS(coef, cs, cs)
		VANDPS(live, cs, cs) // ignored rows: 0 and …
		var colsAt reg.GPVirtual
		if !recompute {
			colsAt = GP64()
			LEAQ(Mem{Base: cols.Base, Disp: cols.Disp}, colsAt)
		}
		vecLoop(k, s.Bytes(), func(off reg.GPVirtual) {
			idx := s.Vec()
			VMOVUPS(Mem{Base: rowOf.Base, Disp: rowOf.Disp, Index: off, Scale: 1}, idx)
			var p reg.VecVirtual
			if recompute { // pass 1's exp(x − m), the same bits
				d, mv := s.Vec(), s.Vec()
				VMOVUPS(Mem{Base: x, Index: off, Scale: 1}, d)
				VPERMPS(m, idx, mv)
				VSUBPS(mv, d, d)
				p = s.ExpFlush(d)
			} else {
				at := s.Vec()
				VMOVUPS(Mem{Base: eOf.Base, Disp: eOf.Disp, Index: off, Scale: 1}, at)
				p = s.Vec()
				gather(s, colsAt, at, p, nil)
			}
			cv, lm := s.Vec(), s.Vec()
			VPERMPS(cs, idx, cv)
			VPERMPS(live, idx, lm)
			VMULPS(cv, p, p)
			if recompute {
				// The target elements of the vector's rows take −coef·Σ_{j≠y}
				// p_j in place, instead of a scatter after the loop (slow
				// where gathers are).
				yv, ov := s.Vec(), s.Vec()
				VPERMPS(yoff, idx, yv)
				kk := K()
				VPCMPEQD(Mem{Base: eOf.Base, Disp: eOf.Disp, Index: off, Scale: 1}, yv, kk)
				VPERMPS(others, idx, ov)
				VMOVUPS(ov, kk, p)
			}
			VANDPS(lm, p, p) // … exact zeros there, whatever their logits
			VMOVUPS(p, Mem{Base: grad, Index: off, Scale: 1})
		})
		// Then each live row's target element.
		switch {
		case recompute: // written in the loop
		case s.ZMM:
			kk := K()
			VPMOVD2M(live, kk)
			VSCATTERDPS(others, kk, Mem{Base: grad, Index: yoff, Scale: 4})
		default:
			VMOVUPS(others, tmp)
			VMOVUPS(yoff, tmp.Offset(s.Bytes()))
			VMOVUPS(live, tmp.Offset(3*s.Bytes()))
			r, y := GP64(), GP64()
			gv := GP32()
			rl, rd, ny := x86.NewLabel("trow"), x86.NewLabel("trowdone"), x86.NewLabel("notarget")
			XORQ(r, r)
			Label(rl)
			CMPQ(r, U32(W))
			JAE(LabelRef(rd))
			CMPL(Mem{Base: tmp.Base, Disp: tmp.Disp + 3*s.Bytes(), Index: r, Scale: 4}, U32(0))
			JE(LabelRef(ny))
			MOVLQSX(Mem{Base: tmp.Base, Disp: tmp.Disp + s.Bytes(), Index: r, Scale: 4}, y)
			MOVL(Mem{Base: tmp.Base, Disp: tmp.Disp, Index: r, Scale: 4}, gv)
			MOVL(gv, Mem{Base: grad, Index: y, Scale: 4})
			Label(ny)
			INCQ(r)
			JMP(LabelRef(rl))
			Label(rd)
		}
		step := GP64()
		MOVQ(k, step)
		SHLQ(Imm(uint64(2+log2(W))), step)
		ADDQ(step, grad)
	}
	step := GP64() // W rows of logits
	MOVQ(k, step)
	SHLQ(Imm(uint64(2+log2(W))), step)
	ADDQ(step, x)
	ADDQ(U32(W), row)
	JMP(LabelRef(gloop))
	Label(gdone)
	Store(acc.Sum(), ReturnIndex(0))
	s.End()
}

// transposeRows writes the columns of the 16 rows of k ≤ 32 logits at x
// (rowBytes apart) to cols (16 floats each, row r in lane r): each half of
// 16 columns is 16 masked row loads (half h reads columns 16h …, as many as
// halves[h] holds) and the 16×16 transpose in four steps of 16 shuffles —
// pairs of rows interleaved by float, then by pairs of floats, then 128-bit
// blocks in two steps. Columns past k are not written.
func transposeRows(x, k, rowBytes reg.GPVirtual, halves [2]x86.Mask, cols Mem) {
	skip := x86.NewLabel("nohalf")
	for h := range 2 {
		if h == 1 {
			CMPQ(k, U32(16))
			JLE(LabelRef(skip))
		}
		p := GP64()
		LEAQ(Mem{Base: x, Disp: 64 * h}, p)
		var t [16]reg.VecVirtual
		for i := 0; i < 16; i += 2 {
			a := halves[h].Load(Mem{Base: p}, nil)
			ADDQ(rowBytes, p)
			b := halves[h].Load(Mem{Base: p}, nil)
			ADDQ(rowBytes, p)
			t[i], t[i+1] = ZMM(), ZMM()
			VUNPCKLPS(b, a, t[i]) // a0 b0 a1 b1 in each 128-bit block
			VUNPCKHPS(b, a, t[i+1])
		}
		// u[4g+c], block q: rows 4g … 4g+3 of column 4q + c.
		var u [16]reg.VecVirtual
		for g := 0; g < 16; g += 4 {
			for i := range 4 {
				u[g+i] = ZMM()
			}
			VUNPCKLPD(t[g+2], t[g], u[g])
			VUNPCKHPD(t[g+2], t[g], u[g+1])
			VUNPCKLPD(t[g+3], t[g+1], u[g+2])
			VUNPCKHPD(t[g+3], t[g+1], u[g+3])
		}
		at := func(j int) Mem { return cols.Offset((16*h + j) * 64) }
		for c := range 4 {
			v0, v1, v2, v3 := ZMM(), ZMM(), ZMM(), ZMM()
			VSHUFF32X4(Imm(0x44), u[4+c], u[c], v0) // blocks 0, 1 of u[c] and u[4+c]
			VSHUFF32X4(Imm(0xee), u[4+c], u[c], v1) // blocks 2, 3
			VSHUFF32X4(Imm(0x44), u[12+c], u[8+c], v2)
			VSHUFF32X4(Imm(0xee), u[12+c], u[8+c], v3)
			for q, src := range [4][2]reg.VecVirtual{{v0, v2}, {v0, v2}, {v1, v3}, {v1, v3}} {
				past := x86.NewLabel("pastk") // a column ≥ k is never read
				CMPQ(k, U32(16*h+4*q+c))
				JLE(LabelRef(past))
				col := ZMM()
				imm := uint64(0x88) // blocks 0 and 2 of each
				if q%2 == 1 {
					imm = 0xdd // blocks 1 and 3
				}
				VSHUFF32X4(Imm(imm), src[1], src[0], col)
				VMOVUPS(col, at(4*q+c))
				Label(past)
			}
		}
	}
	Label(skip)
}

// focalRowTerms forms, for Lanes rows at once, softmax focal loss from
// nl = −log p_y = (m − z_y) + l (clamped at 0: a float32 log-sum-exp of a
// row the target dominates can round below its maximum), the others' sum
// and the whole sum of exp(x − m), and the per-class α (nil: 1): it returns
// the loss α·q^γ·nl and the gradient coefficient α·q^γ·(1 − γ·p·log p/q).
func focalRowTerms(s *x86.ISA, nl, others, sum reg.VecVirtual, alpha Op, gm focalGamma, gamma Mem) (loss, pc reg.VecVirtual) {
	zero := s.Vec()
	VXORPS(zero, zero, zero)
	VMAXPS(nl, zero, nl) // NaN: nl is the operand returned
	lp := s.Vec()
	s.Op(VXORPS, s.U(0x80000000), nl, lp) // log p
	p := s.Exp(lp)
	// q = 1 − p: the others' share of the sum where p ≥ ½ (no cancelling),
	// 1 − p itself below, where it keeps p's digits (q^20 at p = 4e-6
	// would lose them through a q rounded near 1).
	q := s.Vec()
	VDIVPS(sum, others, q)
	small := s.Vec()
	s.Load(s.F(1), small)
	VSUBPS(p, small, small)
	s.Where(x86.LT, p, s.F(0.5), small, q)
	// r = log p / q (−1 at q = 0, its limit), pr = p·r.
	r := s.Vec()
	VDIVPS(q, lp, r)
	s.Where(x86.EQ, q, s.F(0), s.F(-1), r)
	VMULPS(p, r, r)
	s.Where(x86.EQ, p, s.F(0), s.F(0), r) // p·log p → 0 (log p = −Inf: 0·Inf)
	var mod reg.VecVirtual                // q^γ (nil: 1)
	gf := s.Vec()                         // γ·p·r
	switch gm {
	case gamma0:
		VXORPS(gf, gf, gf)
	case gamma1:
		mod = q
		VMOVAPS(r, gf)
	case gamma2:
		mod = s.Vec()
		VMULPS(q, q, mod)
		VADDPS(r, r, gf)
	case gammaAny:
		g := s.Vec()
		VBROADCASTSS(gamma, g)
		lq := logOneMinusP(s, p, q)
		VMULPS(g, lq, lq)
		mod = s.Exp(lq) // q = 0: exp(−Inf) = 0
		VMULPS(g, r, gf)
	}
	pc = s.Vec()
	s.Load(s.F(1), pc)
	VSUBPS(gf, pc, pc) // 1 − γ·p·r
	loss = nl
	if mod != nil {
		VMULPS(mod, pc, pc)
		VMULPS(mod, loss, loss)
	}
	if alpha != nil {
		VMULPS(alpha, pc, pc)
		VMULPS(alpha, loss, loss)
	}
	return loss, pc
}

// logOneMinusP returns log(1 − p) for p in [0, 1] given q = 1 − p formed
// without cancelling where p ≥ ½, with one Log: where p < ½ of u = fl(1 − p)
// minus δ/u, δ = (u − 1) + p its rounding error (exact: the two terms nearly
// cancel), which is log1p(−p) to p's relative accuracy; elsewhere of q (times
// 2^24 where subnormal, the Log block taking normal inputs).
func logOneMinusP(s *x86.ISA, p, q reg.VecVirtual) reg.VecVirtual {
	tiny := s.F(0x1p-126)
	u, d := s.Vec(), s.Vec()
	s.Load(s.F(1), u)
	VSUBPS(p, u, u)            // u = fl(1 − p)
	s.Op(VSUBPS, s.F(1), u, d) // u − 1, exact
	VADDPS(p, d, d)            // δ
	VDIVPS(u, d, d)
	s.Op(VXORPS, s.U(0x80000000), d, d) // −δ/u
	arg, fix := s.Vec(), s.Vec()
	s.Op(VMULPS, s.F(1<<24), q, arg)
	s.Where(x86.GE, q, tiny, q, arg) // normal q as it is
	VXORPS(fix, fix, fix)
	s.Where(x86.LT, q, tiny, s.F(-24*float32(math.Ln2)), fix)
	s.Where(x86.LT, p, s.F(0.5), u, arg)
	s.Where(x86.LT, p, s.F(0.5), d, fix)
	l := s.Log(arg, true) // q = 0: −Inf
	VADDPS(fix, l, l)
	return l
}

// vecLoop emits a loop of count iterations calling body with the byte
// offset of iteration v, v·stride.
func vecLoop(count reg.GPVirtual, stride int, body func(off reg.GPVirtual)) {
	v, off := GP64(), GP64()
	loop, done := x86.NewLabel("vec"), x86.NewLabel("vecdone")
	XORQ(v, v)
	XORQ(off, off)
	Label(loop)
	CMPQ(v, count)
	JAE(LabelRef(done))
	body(off)
	ADDQ(U32(stride), off)
	INCQ(v)
	JMP(LabelRef(loop))
	Label(done)
}

func log2(v int) int {
	r := 0
	for v > 1 {
		v >>= 1
		r++
	}
	return r
}
