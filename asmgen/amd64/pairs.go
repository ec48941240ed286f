package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// cePairs is softmax cross-entropy for rows of two classes (K = 2) on
// AVX-512, 16 rows a step. A two-class softmax is a sigmoid: with
// d = z_other − z_target the row's loss is softplus(d), its log-sum-exp
// max(z0, z1) + log1p(e^−|d|), and the gradient scale·w[y]·σ(d) on the
// other class and its negation on the target. That is one exp, one log1p
// and one division per row, in lanes of rows, where the row-wise and
// transposed kernels pay a maximum, an exp per class, a log and the row
// bookkeeping (issue 14: K = 2 at N = 1024 took 1.5–1.7 ns/elem).
//
// The rows are deinterleaved from two vectors by VPERMI2PS and the
// gradient interleaved back the same way. Non-finite rows follow ceRows:
// a NaN logit, or a +Inf one, makes the row's loss and gradient NaN; its
// log-sum-exp is NaN for a NaN, else +Inf for a +Inf, −Inf when both are
// −Inf. ignore is an int32 target value that marks a row to skip (−1 when
// there is none: never a class).
func cePairs(s *x86.ISA, withGrad bool) {
	name := "cePairs"
	if withGrad {
		name += "G"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, "func(x, grad *float32, groups int, targets *int32, w *float32, ignore int, rowLoss, rowLSE *float32, scale float32) float64")
	Pragma("noescape")
	docf(name,
		"%s is ceSmallRows for k = 2 on 16·groups rows: the loss softplus(z_other − z_target), the gradient ±σ(z_other − z_target).",
		"w may be nil (all ones); ignore is an int32 value (−1: none).")
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("groups"), GP64()).(reg.GPVirtual)
	targets := Load(Param("targets"), GP64()).(reg.GPVirtual)
	w := Load(Param("w"), GP64()).(reg.GPVirtual)
	ignore := Load(Param("ignore"), GP64()).(reg.GPVirtual)
	rowLoss := Load(Param("rowLoss"), GP64()).(reg.GPVirtual)
	rowLSE := Load(Param("rowLSE"), GP64()).(reg.GPVirtual)
	var grad reg.GPVirtual
	scale := s.Vec()
	if withGrad {
		grad = Load(Param("grad"), GP64()).(reg.GPVirtual)
		b, err := Param("scale").Resolve()
		if err != nil {
			panic(err)
		}
		VBROADCASTSS(b.Addr, scale)
	}

	// The class weights w[0], w[1] in every lane (1 without weights).
	w0, w1 := s.Vec(), s.Vec()
	noW, haveW := x86.NewLabel("noweights"), x86.NewLabel("weights")
	TESTQ(w, w)
	JZ(LabelRef(noW))
	VBROADCASTSS(Mem{Base: w}, w0)
	VBROADCASTSS(Mem{Base: w, Disp: 4}, w1)
	JMP(LabelRef(haveW))
	Label(noW)
	VBROADCASTSS(x86.ConstF(1), w0)
	VMOVAPS(w0, w1)
	Label(haveW)

	// VPERMI2PS indices (pairIndex): the two classes of 16 rows from two
	// vectors, and the rows back from the two classes. Read from memory
	// each step: in registers they left too few for the group.
	pidx := GP64()
	LEAQ(pairIndex(), pidx)
	idx := func(part int, dst reg.VecVirtual) {
		VMOVDQU32(Mem{Base: pidx, Disp: 64 * part}, dst)
	}
	ones, ign := s.Vec(), s.Vec()
	s.Op(VPBROADCASTD, s.U(1), ones)
	VPBROADCASTD(ignore.As32(), ign)
	zero := s.Vec()
	VXORPS(zero, zero, zero)
	inf, negInf, nan := s.FR(x86.Inf), s.FR(x86.NegInf), s.FR(float32(math.NaN()))
	total := s.NewF64Acc()

	group := func(i reg.GPVirtual) {
		at := func(base reg.GPVirtual, scale uint8, disp int) Mem {
			return Mem{Base: base, Index: i, Scale: scale, Disp: disp}
		}
		load := func(mem Mem) reg.VecVirtual { return s.LoadAt(nil, mem, nil) }
		store := func(v reg.VecVirtual, mem Mem) { VMOVUPS(v, mem) }
		a, b := load(at(x, 8, 0)), load(at(x, 8, 64))
		z0, z1 := s.Vec(), s.Vec()
		idx(0, z0)
		VPERMI2PS(b, a, z0)
		idx(1, z1)
		VPERMI2PS(b, a, z1)
		tv := load(at(targets, 4, 0))
		isOne, isIgn := K(), K()
		VPCMPEQD(ones, tv, isOne)
		VPCMPEQD(ign, tv, isIgn)
		zy, zo := s.Vec(), s.Vec()
		VBLENDMPS(z1, z0, isOne, zy)
		VBLENDMPS(z0, z1, isOne, zo)
		d := s.Vec()
		VSUBPS(zy, zo, d) // z_other − z_target
		_, sp, _, l1p := sigmoidParts(s, d, true)

		// Rows that are not finite: a NaN, or a +Inf logit, makes the
		// loss and gradient NaN (bad); the log-sum-exp is NaN, +Inf or
		// −Inf by the logits.
		mx := s.Vec()
		VMAXPS(z1, z0, mx)
		lse := s.Vec()
		VADDPS(l1p, mx, lse)
		bad, k := K(), K()
		VCMPPS(Imm(x86.UNORD), d, d, bad)
		VCMPPS(Imm(x86.EQ), inf, mx, k)
		KORW(k, bad, bad)
		VMOVAPS(inf, k, lse)
		VCMPPS(Imm(x86.EQ), negInf, mx, k)
		VMOVAPS(negInf, k, lse)
		VCMPPS(Imm(x86.UNORD), z1, z0, k)
		VMOVAPS(nan, k, lse)
		skipLSE := x86.NewLabel("nolse")
		TESTQ(rowLSE, rowLSE)
		JZ(LabelRef(skipLSE))
		store(lse, at(rowLSE, 4, 0))
		Label(skipLSE)

		wy := s.Vec()
		VBLENDMPS(w1, w0, isOne, wy)
		loss := s.Vec()
		VMAXPS(zero, d, loss)
		VADDPS(l1p, loss, loss) // softplus(d)
		VMOVAPS(nan, bad, loss)
		VMULPS(wy, loss, loss)
		VBLENDMPS(zero, loss, isIgn, loss)
		skipLoss := x86.NewLabel("noloss")
		TESTQ(rowLoss, rowLoss)
		JZ(LabelRef(skipLoss))
		store(loss, at(rowLoss, 4, 0))
		Label(skipLoss)
		total.Add(loss)

		if withGrad {
			coef, gOther, gTarget := s.Vec(), s.Vec(), s.Vec()
			VMULPS(wy, scale, coef)
			VMULPS(coef, sp, gOther)
			VMOVAPS(nan, bad, gOther)
			VBLENDMPS(zero, gOther, isIgn, gOther)
			s.Op(VXORPS, s.U(0x80000000), gOther, gTarget)
			VBLENDMPS(zero, gTarget, isIgn, gTarget) // +0, as ceRows
			g0, g1 := s.Vec(), s.Vec()
			VBLENDMPS(gOther, gTarget, isOne, g0)
			VBLENDMPS(gTarget, gOther, isOne, g1)
			outA, outB := s.Vec(), s.Vec()
			idx(2, outA)
			VPERMI2PS(g1, g0, outA)
			idx(3, outB)
			VPERMI2PS(g1, g0, outB)
			store(outA, at(grad, 8, 0))
			store(outB, at(grad, 8, 64))
		}
	}

	i := GP64()
	XORQ(i, i)
	SHLQ(Imm(4), n) // rows
	loop, done := x86.NewLabel("pairs"), x86.NewLabel("pairsdone")
	Label(loop)
	CMPQ(i, n)
	JAE(LabelRef(done))
	group(i)
	ADDQ(Imm(16), i)
	JMP(LabelRef(loop))
	Label(done)

	sum := total.Sum()
	res, err := ReturnIndex(0).Resolve()
	if err != nil {
		panic(err)
	}
	VMOVSD(sum, res.Addr)
	s.End()
}

var pairIdx Mem

// pairIndex is cePairs's table of VPERMI2PS indices, four vectors of 16
// int32: the even elements of two vectors (class 0 of 16 rows), the odd
// ones (class 1), and the interleavings of two vectors that rebuild rows
// 0–7 and 8–15.
func pairIndex() Mem {
	if pairIdx.Symbol.Name == "" {
		pairIdx = GLOBL("lfpairidx", RODATA|NOPTR)
		for part := 0; part < 4; part++ { // in offset order, as the assembler requires
			for i := 0; i < 16; i++ {
				v := [4]int{2 * i, 2*i + 1, i/2 + 16*(i%2), 8 + i/2 + 16*(i%2)}[part]
				DATA(64*part+4*i, U32(uint32(v)))
			}
		}
	}
	return pairIdx
}
