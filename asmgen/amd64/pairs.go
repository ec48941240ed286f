package main

import (
	"math"
	"math/bits"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// cePairs is softmax cross-entropy for rows of two classes (K = 2), a
// vector of rows a step (16 on AVX-512, 8 on AVX2). A two-class softmax is a sigmoid: with
// d = z_other − z_target the row's loss is softplus(d), its log-sum-exp
// max(z0, z1) + log1p(e^−|d|), and the gradient scale·w[y]·σ(d) on the
// other class and its negation on the target. That is one exp, one log1p
// and one division per row, in lanes of rows, where the row-wise and
// transposed kernels pay a maximum, an exp per class, a log and the row
// bookkeeping (issue 14: K = 2 at N = 1024 took 1.5–1.7 ns/elem).
//
// The rows are deinterleaved from two vectors (VPERMI2PS; on AVX2 two
// shuffles and a quadword permute) and the gradient interleaved back. Non-finite rows follow ceRows:
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
		"%s is ceSmallRows for k = 2 on groups·(lanes per vector) rows: the loss softplus(z_other − z_target), the gradient ±σ(z_other − z_target).",
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

	// The class weights, read each step from w (or a pair of ones).
	haveW := x86.NewLabel("weights")
	TESTQ(w, w)
	JNZ(LabelRef(haveW))
	LEAQ(x86.ConstF(1), w) // the constant's first two elements
	Label(haveW)

	// Constants: in registers on AVX-512, read from memory on AVX2 (16
	// registers would not hold them beside the group).
	cnst := func(v float32) Op {
		if s.ZMM {
			return s.FR(v)
		}
		return s.F(v)
	}
	inf, negInf, nan, zero := cnst(x86.Inf), cnst(x86.NegInf), cnst(float32(math.NaN())), cnst(0)
	ign := s.Vec()
	if s.ZMM {
		VPBROADCASTD(ignore.As32(), ign)
	} else { // AVX2 broadcasts from a vector register only
		VMOVD(ignore.As32(), ign.AsX())
		VPBROADCASTD(ign.AsX(), ign)
	}
	var ones Op = s.U(1)
	if s.ZMM {
		r := s.Vec()
		s.Op(VPBROADCASTD, s.U(1), r)
		ones = r
	}
	total := newLossSum(s)
	var pidx reg.GPVirtual
	if s.ZMM {
		pidx = GP64()
		LEAQ(pairIndex(), pidx)
	}
	bytes := s.Bytes() // of a vector: the rows of half a group

	group := func(i reg.GPVirtual) {
		at := func(base reg.GPVirtual, scale uint8, disp int) Mem {
			return Mem{Base: base, Index: i, Scale: scale, Disp: disp}
		}
		a, b := s.LoadAt(nil, at(x, 8, 0), nil), s.LoadAt(nil, at(x, 8, bytes), nil)
		z0, z1 := deinterleave(s, a, b, pidx)
		tv := s.LoadAt(nil, at(targets, 4, 0), nil)
		isOne, isIgn := intEq(s, ones, tv), intEq(s, ign, tv)
		zy, zo := s.Vec(), s.Vec()
		isOne.sel(z1, z0, zy)
		isOne.sel(z0, z1, zo)
		d := s.Vec()
		VSUBPS(zy, zo, d) // z_other − z_target
		// Rows that are not finite: a NaN, or a +Inf logit, makes the
		// loss and gradient NaN (bad); the log-sum-exp is NaN, +Inf or
		// −Inf by the logits (taken before the sigmoid, so that the
		// logits' registers are free for it).
		mx := s.Vec()
		VMAXPS(z1, z0, mx)
		nanRow := fcmp(s, x86.UNORD, z0, z1)
		_, sp, _, l1p := sigmoidParts(s, d, true)

		lse := s.Vec()
		VADDPS(l1p, mx, lse)
		bad := fcmp(s, x86.UNORD, d, d)
		k := fcmp(s, x86.EQ, mx, inf)
		bad.or(k)
		k.set(inf, lse)
		k = fcmp(s, x86.EQ, mx, negInf)
		k.set(negInf, lse)
		nanRow.set(nan, lse)
		storeIfSet(rowLSE, lse, at(rowLSE, 4, 0))

		w0, w1, wy := s.Broadcast(Mem{Base: w}), s.Broadcast(Mem{Base: w, Disp: 4}), s.Vec()
		isOne.sel(w1, w0, wy)
		loss := s.Vec()
		VMAXPS(zero, d, loss)
		VADDPS(l1p, loss, loss) // softplus(d)
		bad.set(nan, loss)
		VMULPS(wy, loss, loss)
		isIgn.set(zero, loss)
		storeIfSet(rowLoss, loss, at(rowLoss, 4, 0))
		total.add(loss)

		if withGrad {
			coef, gOther, gTarget := s.Vec(), s.Vec(), s.Vec()
			VMULPS(wy, scale, coef)
			VMULPS(coef, sp, gOther)
			bad.set(nan, gOther)
			isIgn.set(zero, gOther)
			s.Op(VXORPS, s.U(0x80000000), gOther, gTarget)
			isIgn.set(zero, gTarget) // +0, as ceRows
			g0, g1 := s.Vec(), s.Vec()
			isOne.sel(gOther, gTarget, g0)
			isOne.sel(gTarget, gOther, g1)
			outA, outB := interleave(s, g0, g1, pidx)
			VMOVUPS(outA, at(grad, 8, 0))
			VMOVUPS(outB, at(grad, 8, bytes))
		}
	}

	i := GP64()
	XORQ(i, i)
	lanes := uint64(s.Lanes)
	SHLQ(Imm(uint64(bits.TrailingZeros64(lanes))), n) // rows
	loop, done := x86.NewLabel("pairs"), x86.NewLabel("pairsdone")
	Label(loop)
	CMPQ(i, n)
	JAE(LabelRef(done))
	group(i)
	ADDQ(Imm(lanes), i)
	JMP(LabelRef(loop))
	Label(done)

	sum := total.sum()
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

// laneMask is a predicate per lane: an opmask on AVX-512, a vector of
// all-ones or zero lanes on AVX2.
type laneMask struct {
	s *x86.ISA
	k reg.OpmaskVirtual
	v reg.VecVirtual
}

// intEq is the lanes where the int32 lanes of t equal those of c.
func intEq(s *x86.ISA, c Op, t reg.VecVirtual) laneMask {
	if s.ZMM {
		k := K()
		VPCMPEQD(c, t, k)
		return laneMask{s: s, k: k}
	}
	v := s.Vec()
	VPCMPEQD(c, t, v)
	return laneMask{s: s, v: v}
}

// fcmp is the lanes where (x pred y) holds.
func fcmp(s *x86.ISA, pred uint8, x reg.VecVirtual, y Op) laneMask {
	if s.ZMM {
		k := K()
		VCMPPS(Imm(uint64(pred)), y, x, k)
		return laneMask{s: s, k: k}
	}
	v := s.Vec()
	VCMPPS(Imm(uint64(pred)), y, x, v)
	return laneMask{s: s, v: v}
}

// sel sets dst to a in the mask's lanes and to b elsewhere.
func (m laneMask) sel(a, b, dst reg.VecVirtual) {
	if m.s.ZMM {
		VBLENDMPS(a, b, m.k, dst)
		return
	}
	VBLENDVPS(m.v, a, b, dst)
}

// set sets dst to val in the mask's lanes.
func (m laneMask) set(val Op, dst reg.VecVirtual) {
	if m.s.ZMM {
		VMOVAPS(val, m.k, dst)
		return
	}
	VBLENDVPS(m.v, val, dst, dst)
}

// or adds the lanes of o to m.
func (m laneMask) or(o laneMask) {
	if m.s.ZMM {
		KORW(o.k, m.k, m.k)
		return
	}
	VORPS(o.v, m.v, m.v)
}

// deinterleave splits the rows of two classes in a and b (a holding the
// first half of the rows) into class 0 and class 1, in row order.
func deinterleave(s *x86.ISA, a, b reg.VecVirtual, pidx reg.GPVirtual) (z0, z1 reg.VecVirtual) {
	z0, z1 = s.Vec(), s.Vec()
	if s.ZMM {
		VMOVDQU32(Mem{Base: pidx}, z0)
		VPERMI2PS(b, a, z0)
		VMOVDQU32(Mem{Base: pidx, Disp: 64}, z1)
		VPERMI2PS(b, a, z1)
		return z0, z1
	}
	// Even and odd elements per 128-bit lane give rows 0 1 4 5 | 2 3 6 7;
	// swapping the middle quadwords puts them in order.
	VSHUFPS(Imm(0x88), b, a, z0)
	VSHUFPS(Imm(0xdd), b, a, z1)
	VPERMPD(Imm(0xd8), z0, z0)
	VPERMPD(Imm(0xd8), z1, z1)
	return z0, z1
}

// interleave is deinterleave's inverse: the rows of the first and second
// half of the group from class 0 in g0 and class 1 in g1 (g0 and g1 are
// overwritten on AVX2).
func interleave(s *x86.ISA, g0, g1 reg.VecVirtual, pidx reg.GPVirtual) (outA, outB reg.VecVirtual) {
	outA, outB = s.Vec(), s.Vec()
	if s.ZMM {
		VMOVDQU32(Mem{Base: pidx, Disp: 128}, outA)
		VPERMI2PS(g1, g0, outA)
		VMOVDQU32(Mem{Base: pidx, Disp: 192}, outB)
		VPERMI2PS(g1, g0, outB)
		return outA, outB
	}
	VPERMPD(Imm(0xd8), g0, g0) // rows 0 1 4 5 | 2 3 6 7
	VPERMPD(Imm(0xd8), g1, g1)
	VUNPCKLPS(g1, g0, outA) // rows 0 1 | 2 3
	VUNPCKHPS(g1, g0, outB) // rows 4 5 | 6 7
	return outA, outB
}

// lossSum is the call's float64 sum of row losses: x86.F64Acc on AVX-512,
// one register of four float64 on AVX2 (whose 16 registers the group
// needs).
type lossSum struct {
	s   *x86.ISA
	acc x86.F64Acc
	v   reg.VecVirtual
}

func newLossSum(s *x86.ISA) lossSum {
	if s.ZMM {
		return lossSum{s: s, acc: s.NewF64Acc()}
	}
	v := s.Vec()
	VXORPS(v, v, v)
	return lossSum{s: s, v: v}
}

func (l lossSum) add(loss reg.VecVirtual) {
	if l.s.ZMM {
		l.acc.Add(loss)
		return
	}
	t := l.s.Vec()
	VCVTPS2PD(loss.AsX(), t)
	VADDPD(t, l.v, l.v)
	VEXTRACTF128(Imm(1), loss, t.AsX())
	VCVTPS2PD(t.AsX(), t)
	VADDPD(t, l.v, l.v)
}

// sum returns the total in the low lane of an XMM register.
func (l lossSum) sum() reg.VecVirtual {
	if l.s.ZMM {
		return l.acc.Sum()
	}
	x, t := XMM(), XMM()
	VEXTRACTF128(Imm(1), l.v, x)
	VADDPD(x, l.v.AsX(), x)
	VPERMILPD(Imm(1), x, t)
	VADDSD(t, x, x)
	return x
}
