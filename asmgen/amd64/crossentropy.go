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
	TEXT(name, NOSPLIT, "func(x, grad *float32, n, k int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale float32) float64")
	Pragma("noescape")
	docf(name,
		"%s computes softmax cross-entropy with integer targets over n rows of k logits, fused: it returns Σ_i w[y_i]·(lse_i − x[i*k+y_i]) over rows whose target is not ignore,",
		"writes rowLoss[i] and rowLSE[i] when those are non-nil and, in the G variants, grad = scale·w[y]·(softmax − onehot(y)) (zero rows where ignored; grad may be x).",
		"W variants read class weights w.")
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
	scaleAddr := func() Mem {
		b, err := Param("scale").Resolve()
		if err != nil {
			panic(err)
		}
		return b.Addr
	}()
	s.Preload(x86.ExpConsts()...)
	s.Preload(rescaleMargin, -math.MaxFloat32, math.MaxFloat32)
	negInf := s.FR(x86.NegInf)
	sp := s.NewSpan(k)
	total := XMM()
	VXORPS(total, total, total)

	// storeIf writes the low lane of v to p[i] unless p is nil.
	storeIf := func(p, i reg.GPVirtual, v reg.VecVirtual) {
		skip := x86.NewLabel("nostore")
		TESTQ(p, p)
		JZ(LabelRef(skip))
		VMOVSS(v.AsX(), Mem{Base: p, Index: i, Scale: 4})
		Label(skip)
	}

	rowLoop(n, k, ptrs, func(i reg.GPVirtual) {
		ignored, next := x86.NewLabel("ignored"), x86.NewLabel("nextrow")
		m, l := onlineLSE(s, x, sp, negInf, true, nil)
		lse := s.Vec()
		VADDPS(m, l, lse)
		storeIf(rowLSE, i, lse)
		y := GP64()
		MOVLQSX(Mem{Base: targets, Index: i, Scale: 4}, y)
		CMPQ(y, ignore)
		JE(LabelRef(ignored))

		// lse = ±Inf (a row holding +Inf, or only −Inf): NaN loss and gradient.
		s.Where(x86.EQ, l, s.F(x86.Inf), s.F(float32(math.NaN())), l)
		s.Where(x86.EQ, l, s.F(x86.NegInf), s.F(float32(math.NaN())), l)
		zy := s.Broadcast(Mem{Base: x, Index: y, Scale: 4})
		loss := s.Vec()
		VSUBPS(zy, m, loss) // m − z_y, exact near the maximum
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
			coef := s.Vec()
			VBROADCASTSS(scaleAddr, coef)
			if weighted {
				VMULPS(wy, coef, coef)
			}
			// Lane index of the target in each vector: idx counts j + lane.
			yv := s.Vec()
			VMOVD(y.As32(), yv.AsX())
			VPBROADCASTD(yv.AsX(), yv)
			idx := s.Vec()
			VMOVUPS(x86.Iota(), idx)
			others := s.Vec()
			VXORPS(others, others, others)
			sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
				v := s.LoadAt(mk, x86.At(x, j), nil)
				VSUBPS(m, v, v)
				VSUBPS(l, v, v)
				p := s.Exp(v)
				g := s.Vec()
				VMULPS(coef, p, g)
				s.StoreAt(mk, g, x86.At(grad, j))
				s.ZeroLane(idx, yv, p) // drop p_y from the sum of the others
				s.ZeroOff(mk, p)
				VADDPS(p, others, others)
				s.AddI32(s.Lanes, idx)
			})
			s.AllSum(others)
			VMULPS(coef, others, others)
			VXORPS(s.U(0x80000000), others, others)
			VMOVSS(others.AsX(), Mem{Base: grad, Index: y, Scale: 4})
		}
		JMP(LabelRef(next))

		Label(ignored)
		zero := s.Vec()
		VXORPS(zero, zero, zero)
		storeIf(rowLoss, i, zero)
		if withGrad {
			sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
				s.StoreAt(mk, zero, x86.At(grad, j))
			})
		}
		Label(next)
	})
	Store(total, ReturnIndex(0))
	s.End()
}
