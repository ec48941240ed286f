package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// sfRows is softmax focal loss with a gradient over n rows of k logits in
// one call, row by row as ceRows: the exact maximum, e = exp(x − m) stashed
// in grad with its sum, then the others' sum Σ_{j≠y} e_j from the stash (a
// second read, in L1), so that the row's focal terms (focalRowTerms, as the
// transposed kernels form them for lanes rows) see q = 1 − p_y without
// cancelling; then grad = scale·α·g·e/Σe and the target element
// −scale·α·g·(others/Σe). Float32 only; rows of at most fusedMaxK, as
// ceRows (a longer row's others' sum outgrows the contract).
func sfRows(s *x86.ISA, weighted bool, gm focalGamma) {
	name := "sfRows" + sfGammaNames[gm] + "G"
	if weighted {
		name += "W"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, "func(x, grad *float32, n, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale, gamma float32) float64")
	Pragma("noescape")
	docf(name,
		"%s computes softmax focal loss with integer targets over n rows of k logits, fused, and its gradient into grad (grad may be x):",
		"it returns Σ_i α·(1 − p)^γ·(−log p) over rows whose target is not ignore (α = w[y] in the W variants, 1 otherwise),",
		"writes rowLoss[i] and rowLSE[i] when those are non-nil, and zero gradient rows where ignored. gamma is read by the Any variants only.")
	s.Begin()
	const sz = 4
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	grad := Load(Param("grad"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	par := func(name string) Mem {
		b, err := Param(name).Resolve()
		if err != nil {
			panic(err)
		}
		return b.Addr
	}
	ptr := func(name string) reg.GPVirtual { return Load(Param(name), GP64()).(reg.GPVirtual) }
	// The row's sum, log and others' sum wait here while the focal terms
	// (a log and two exps) take the registers: AVX2 has 16.
	keep := AllocLocal(4 * s.Bytes()) // and α, a memory operand there
	s.PreloadExp()
	sp := s.NewSpan(k)
	total := XMM()
	VXORPS(total, total, total)

	storeIf := func(name string, i reg.GPVirtual, v reg.VecVirtual) {
		p := ptr(name)
		skip := x86.NewLabel("nostore")
		TESTQ(p, p)
		JZ(LabelRef(skip))
		s.StoreScalar(v, Mem{Base: p, Index: i, Scale: sz})
		Label(skip)
	}

	rowLoop(n, k, []reg.GPVirtual{x, grad}, func(i reg.GPVirtual) {
		ignored, next := x86.NewLabel("ignored"), x86.NewLabel("nextrow")
		y := GP64()
		MOVLQSX(Mem{Base: ptr("targets"), Index: i, Scale: 4}, y)
		ign := GP64()
		MOVQ(par("ignore"), ign)
		// z_y first: grad may be x.
		zy := s.Vec()
		VXORPS(zy, zy, zy)
		noty := x86.NewLabel("noty")
		CMPQ(y, ign)
		JE(LabelRef(noty))
		zy = s.Broadcast(Mem{Base: x, Index: y, Scale: sz})
		Label(noty)
		// −Inf is loaded per row: a register held across the loop is one
		// the focal terms lack on AVX2.
		m, sum := maxThenStash(s, x, grad, sp, s.CR(math.Inf(-1)))
		l := s.Log(sum, true)
		lse := s.Vec()
		s.Add(m, l, lse)
		storeIf("rowLSE", i, lse)
		CMPQ(y, ign)
		JE(LabelRef(ignored))

		// lse = ±Inf (a row holding +Inf, or only −Inf): NaN loss and gradient.
		s.Where(x86.EQ, l, s.C(math.Inf(1)), s.C(math.NaN()), l)
		s.Where(x86.EQ, l, s.C(math.Inf(-1)), s.C(math.NaN()), l)
		nl := s.Vec()
		s.Sub(zy, m, nl) // m − z_y, exact near the maximum
		s.Add(l, nl, nl)
		// Σ_{j≠y} e_j, summed as pass 1 summed Σe (two levels).
		yv, idx := s.LaneIndex(y)
		os := s.NewBlockSum()
		sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
			e := s.LoadAt(mk, s.At(grad, j), nil)
			s.ZeroLane(idx, yv, e)
			os.Add(e)
			s.AddI(s.Lanes, idx)
		}, os.Flush)
		others := os.Total(nil)

		VMOVUPS(sum, keep)
		VMOVUPS(l, keep.Offset(s.Bytes()))
		VMOVUPS(others, keep.Offset(2*s.Bytes()))
		var alpha Op
		if weighted {
			wy := s.Broadcast(Mem{Base: ptr("w"), Index: y, Scale: sz})
			VMOVUPS(wy, keep.Offset(3*s.Bytes()))
			alpha = keep.Offset(3 * s.Bytes())
		}
		loss, pc := focalRowTerms(s, nl, others, sum, alpha, gm, par("gamma"))
		storeIf("rowLoss", i, loss)
		t := XMM()
		VCVTSS2SD(loss.AsX(), t, t)
		VADDSD(t, total, total)

		// cs = scale·pc/Σe; a non-finite row (l NaN) makes it NaN.
		sum, l, others = s.Vec(), s.Vec(), s.Vec()
		VMOVUPS(keep, sum)
		VMOVUPS(keep.Offset(s.Bytes()), l)
		VMOVUPS(keep.Offset(2*s.Bytes()), others)
		cs := s.Vec()
		VBROADCASTSS(par("scale"), cs)
		VMULPS(pc, cs, cs)
		VDIVPS(sum, cs, cs)
		s.Where(x86.UNORD, l, l, l, cs)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			e := s.LoadAt(mk, s.At(grad, j), nil)
			s.Mul(cs, e, e)
			s.StoreAt(mk, e, s.At(grad, j))
		})
		VMULPS(cs, others, others)
		s.Op(VXORPS, s.SignBit(), others, others)
		s.StoreScalar(others, Mem{Base: grad, Index: y, Scale: sz})
		JMP(LabelRef(next))

		Label(ignored)
		zero := s.Vec()
		VXORPS(zero, zero, zero)
		storeIf("rowLoss", i, zero)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			s.StoreAt(mk, zero, s.At(grad, j))
		})
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
