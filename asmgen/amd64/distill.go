package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// Distillation: the forward KL divergence of the teacher's softmax P over
// v = t·τ and the student's Q over z = s·τ, per row, without storing
// either softmax. Two passes over a block of rows that stays in L2, as
// CrossEntropyProbs: both online log-sum-exps and Σ e^(v−m_v)·(v − z) in
// one read (the first read, from memory, overlaps the exponentials), then
// the gradient c·(Q − P). Go forms each row's divergence between them.

// distillKernels emits the distillation passes for s.
func distillKernels(s *x86.ISA) {
	distillLSERows(s)
	distillGradRows(s, false)
	distillGradRows(s, true)
	// ReverseKL: pass 1 is distillLSERows with the rows swapped.
	distillRevGradRows(s, false)
	distillRevGradRows(s, true)
	// JSD: pass 1 is distillLSERows for its two log-sum-exps.
	jsdSumRows(s)
	jsdGradRows(s, false)
	jsdGradRows(s, true)
}

// distillLSERows emits pass 1: the teacher's online log-sum-exp
// (onlineLSEHooks over t·τ) with, in its per-vector hook, the student's own
// online log-sum-exp over z = s·τ (its reference moved the same way, rarely)
// and dot = Σ e^(v−m_v)·(v − z), which follows the teacher's reference. A
// dot term with v = −Inf (no teacher mass) is 0; where e^(v−m_v) underflows
// for a finite v it is raised to the smallest subnormal, so that z = −Inf
// still makes the divergence +Inf, and the dot's rescaling factor is
// floored likewise (+Inf times an underflowed factor would be NaN).
func distillLSERows(s *x86.ISA) {
	name := "distillLSERows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t *float32, n, k int, tau float32, mz, lsz, mv, lsv, dot *float32)"))
	Pragma("noescape")
	docf(name, "%s writes, for n rows of k with z = s·tau and v = t·tau, the split log-sum-exps mz[i] + lsz[i] of z and mv[i] + lsv[i] of v (mz, mv reference maxima within rescaleMargin of the rows' maxima, clamped to finite values) and dot[i] = Σ_j exp(v_j − mv[i])·(v_j − z_j) (0 where v_j = −Inf).")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := s.Broadcast(paramAddr("tau"))
	// No PreloadExp: two online sums, the dot product and their references
	// leave too few registers even on AVX-512; exp reads its constants.
	var negInf reg.VecVirtual // AVX-512 keeps −Inf in a register; AVX2 loads it in the tail
	if s.ZMM {
		negInf = s.CR(math.Inf(-1))
	}
	least := 0x1p-149
	if s.F64 {
		least = 0x1p-1074
	}
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	scaled := func(v reg.VecVirtual, _ *x86.Mask) reg.VecVirtual {
		s.Mul(tau, v, v)
		return v
	}
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp}, func(i reg.GPVirtual) {
		// The student's reference: its first logit, clamped, as the
		// teacher's in onlineLSEHooks; moved up (rarely) when a logit
		// passes it by rescaleMargin. Neither reference is re-based on the
		// row's true maximum: the split forms m + log Σ e^(x − m) carry any
		// reference within the margin, and registers are short on AVX2.
		mz := s.Broadcast(Mem{Base: sp0})
		s.Mul(tau, mz, mz)
		s.Max(mz, s.CR(-s.MaxFinite()), mz) // NaN stays: mz is the operand returned
		s.Min(mz, s.CR(s.MaxFinite()), mz)
		sumZ, dot := s.NewBlockSum(), s.NewBlockSum()
		var ev reg.VecVirtual // the teacher's e^(v − ref) of the current vector
		each := func(v, mref reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask) {
			if mk == nil {
				s.PrefetchAhead(sp0, j)
			}
			var fill reg.VecVirtual // −Inf in masked-off lanes (AVX2 loads it in the tail only)
			if mk != nil {
				fill = orNegInf(s, negInf)
			}
			z := s.LoadAt(mk, s.At(sp0, j), fill)
			s.Mul(tau, z, z)
			dz := s.Vec()
			s.Sub(mz, z, dz)
			s.IfAny(x86.GT, dz, s.C(rescaleMargin), func() {
				t := s.Vec()
				VMOVAPS(z, t)
				s.AllMax(t)
				s.Min(t, s.CR(s.MaxFinite()), t)
				d := s.Vec()
				s.Sub(t, mz, d)
				sumZ.Scale(s.Exp(d))
				VMOVAPS(t, mz)
				s.Sub(mz, z, dz)
			})
			sumZ.Add(s.ExpFlush(dz)) // −Inf fill: 0 in masked-off lanes
			d := s.Vec()
			s.Sub(z, v, d) // v − z
			term := s.Vec()
			s.Mul(ev, d, term)
			s.IfAny(x86.UNORD, term, term, func() {
				// Rare: 0·∞ (a teacher −Inf, masked-off lanes, or an
				// exponential that underflowed beside a student −Inf) or
				// a NaN input. A finite v has mass: its exponential is
				// raised to the smallest subnormal, so that the term is
				// +Inf against z = −Inf; v = −Inf has no term.
				s.Sub(mref, v, v)
				floorUnderflow(s, v, ev)
				s.Mul(ev, d, term)
				s.Where(x86.LT, v, s.C(-s.MaxFinite()), s.C(0), term)
			})
			s.ZeroOff(mk, term)
			dot.Add(term)
		}
		shift := func(d reg.VecVirtual) { // the teacher's reference moved by −d
			f := s.Exp(d)
			s.Max(s.C(least), f, f)
			dot.Scale(f)
		}
		hooks := lseHooks{
			exp: func(e reg.VecVirtual, _ reg.GPVirtual, _ *x86.Mask) { ev = e },
			flush: func() {
				sumZ.Flush()
				dot.Flush()
			},
		}
		m, l, _ := onlineLSEHooks(s, tp, sp, negInf, false, each, shift, scaled, hooks)
		store := func(name string, v reg.VecVirtual) {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			s.StoreScalar(v, Mem{Base: p, Index: i, Scale: sz})
		}
		store("mv", m)
		store("lsv", l)
		store("dot", dot.Total(nil))
		store("mz", mz)
		store("lsz", s.Log(sumZ.Total(nil), true))
	})
	s.End()
}

// distillGradRows emits the gradient c·(Q − P) with
// Q = exp((z − mz) − lsz) and P = exp((v − mv) − lsv), the split
// log-sum-exps of pass 2 (their parts apart, so that a large maximum does
// not round the log-sum-exp in float32). The NT variant streams dst.
func distillGradRows(s *x86.ISA, streamed bool) {
	name := "distillGradRows"
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t, dst *float32, n, k int, tau, c float32, mz, lsz, mv, lsv *float32)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i*k+j] = c·(exp((z_j − mz[i]) − lsz[i]) − exp((v_j − mv[i]) − lsv[i])) for n rows of k, z = s·tau, v = t·tau; dst may be s.")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	g := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := s.Broadcast(paramAddr("tau"))
	c := s.Broadcast(paramAddr("c"))
	s.PreloadExp()
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp, g}, func(i reg.GPVirtual) {
		row := func(name string) reg.VecVirtual {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			return s.Broadcast(Mem{Base: p, Index: i, Scale: sz})
		}
		mz, lsz, mv, lsv := row("mz"), row("lsz"), row("mv"), row("lsv")
		sp.EachOut(g, streamed, func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			// z = s·tau rounded, as pass 1 summed it: the FMA s·tau − m
			// of the unrounded product would add the product's rounding
			// error, which for |z| near 1e29 and beyond exceeds exp's
			// range (+Inf where Q − P is 0).
			z := s.LoadAt(mk, s.At(sp0, j), mz)
			s.Mul(tau, z, z)
			s.Sub(mz, z, z)
			s.Sub(lsz, z, z)
			q := s.ExpFlush(z)
			v := s.LoadAt(mk, s.At(tp, j), mv)
			s.Mul(tau, v, v)
			s.Sub(mv, v, v)
			s.Sub(lsv, v, v)
			s.Sub(s.ExpFlush(v), q, q) // Q − P
			s.Mul(c, q, q)
			store(q, s.At(g, j))
		})
	})
	s.EndOut(streamed)
}

// distillRevGradRows emits pass 2 of the reverse divergence KL(Q‖P) (pass
// 1 is distillLSERows with the student in the teacher's slot, which makes
// its dot Σ e^(z−mz)·(z − v)): the gradient c·Q_j·((z_j − v_j) − D),
// Q_j = exp((z_j − mz) − lsz). Where Q_j is 0 (z_j = −Inf, or an
// exponential flushed to 0) so is the gradient, whatever z_j − v_j is: 0·∞
// must not make NaN. Rows with D = +Inf are NaN, written over by the
// driver. The NT variant streams dst.
func distillRevGradRows(s *x86.ISA, streamed bool) {
	name := "distillRevGradRows"
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t, dst *float32, n, k int, tau, c float32, mz, lsz, d *float32)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i*k+j] = c·Q_j·((z_j − v_j) − d[i]), Q_j = exp((z_j − mz[i]) − lsz[i]) (0 where Q_j = 0), for n rows of k, z = s·tau, v = t·tau; dst may be s.")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	g := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := s.Broadcast(paramAddr("tau"))
	c := s.Broadcast(paramAddr("c"))
	s.PreloadExp()
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp, g}, func(i reg.GPVirtual) {
		mz, lsz, d := rowParam(s, "mz", i), rowParam(s, "lsz", i), rowParam(s, "d", i)
		sp.EachOut(g, streamed, func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			// z and v rounded, as the divergence pass 1 summed them.
			z := s.LoadAt(mk, s.At(sp0, j), mz)
			s.Mul(tau, z, z)
			v := s.LoadAt(mk, s.At(tp, j), mz)
			s.Mul(tau, v, v)
			s.Sub(v, z, v) // z − v
			s.Sub(mz, z, z)
			s.Sub(lsz, z, z)
			q := s.ExpFlush(z)
			s.Sub(d, v, v)
			s.Mul(q, v, v)
			s.Mul(c, v, v)
			s.Where(x86.EQ, q, s.C(0), s.C(0), v)
			store(v, s.At(g, j))
		})
	})
	s.EndOut(streamed)
}

// rowParam broadcasts element i of the per-row array parameter name.
func rowParam(s *x86.ISA, name string, i reg.GPVirtual) reg.VecVirtual {
	p := Load(Param(name), GP64()).(reg.GPVirtual)
	return s.Broadcast(Mem{Base: p, Index: i, Scale: uint8(s.Size())})
}

// kept returns v where the JSD kernels read it: the register on AVX-512,
// a frame slot on AVX2, whose 16 registers cannot hold the eight row and
// call scalars beside the three exponentials' and the log's temporaries
// (an L1 read in the memory operand costs about nothing there).
func kept(s *x86.ISA, v reg.VecVirtual) Op {
	if s.ZMM {
		return v
	}
	m := AllocLocal(s.Bytes())
	VMOVUPS(v, m)
	return m
}

// jsdLogs holds the operands of one JSD row: the split log-sum-exps of the
// student (mz, lsz) and of the teacher (mv, lsv), τ, log β and log(1−β).
type jsdLogs struct {
	tau, mz, lsz, mv, lsv, lb, lb1 Op
}

// jsdElems returns, for the vector at j, a = log P_j = (v_j − mv) − lsv,
// b = log Q_j = (z_j − mz) − lsz and log M_j = max(a', b') +
// log1p(e^−|a'−b'|) of a' = a + log β, b' = b + log(1−β) (generic.jsdBlock):
// M_j in the log domain, so that neither probability's underflow reaches
// it. Masked-off lanes load −Inf, so that P = Q = 0 there; both −Inf
// (a' − b' NaN) give log M = −Inf, whose terms the callers drop.
func jsdElems(s *x86.ISA, o jsdLogs, sp0, tp, j reg.GPVirtual, mk *x86.Mask) (a, b, lm reg.VecVirtual) {
	var fill reg.VecVirtual
	if mk != nil {
		fill = s.CR(math.Inf(-1))
	}
	b = s.LoadAt(mk, s.At(sp0, j), fill)
	s.Mul(o.tau, b, b) // z rounded, as generic's float64(T(s·τ))
	s.Sub(o.mz, b, b)
	s.Sub(o.lsz, b, b)
	a = s.LoadAt(mk, s.At(tp, j), fill)
	s.Mul(o.tau, a, a)
	s.Sub(o.mv, a, a)
	s.Sub(o.lsv, a, a)
	la, lb := s.Vec(), s.Vec()
	s.Add(o.lb, a, la)
	s.Add(o.lb1, b, lb)
	lm = s.Vec()
	s.Max(la, lb, lm)
	s.Sub(lb, la, la)
	s.Op(VORPS, s.SignBit(), la, la) // −|a' − b'|
	s.Where(x86.UNORD, la, la, s.C(math.Inf(-1)), la)
	// e^−|a'−b'| is in (0, 1]: flushing it below 2^−125 changes log M by
	// less than that.
	s.Add(s.Log1pUnit(s.ExpFlush(la)), lm, lm)
	return a, b, lm
}

// jsdParams loads the scalars of the JSD kernels' row i.
func jsdParams(s *x86.ISA, tau, lb, lb1 Op, i reg.GPVirtual) jsdLogs {
	return jsdLogs{tau: tau, lb: lb, lb1: lb1,
		mz: kept(s, rowParam(s, "mz", i)), lsz: kept(s, rowParam(s, "lsz", i)),
		mv: kept(s, rowParam(s, "mv", i)), lsv: kept(s, rowParam(s, "lsv", i))}
}

// jsdSumRows emits pass 2 of JSD: per row KP = Σ P·(log P − log M) and
// KQ = Σ Q·(log Q − log M), a zero probability adding no term (its log is
// −Inf). Go forms β·KP + (1−β)·KQ. The terms have either sign; the
// two-level sums keep a lane's float32 part to x86.SumBlock of them.
func jsdSumRows(s *x86.ISA) {
	name := "jsdSumRows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t *float32, n, k int, tau, lb, lb1 float32, mz, lsz, mv, lsv, kp, kq *float32)"))
	Pragma("noescape")
	docf(name, "%s writes, for n rows of k with z = s·tau, v = t·tau, log P = (v − mv[i]) − lsv[i], log Q = (z − mz[i]) − lsz[i] and log M = log(e^(log P + lb) + e^(log Q + lb1)), kp[i] = Σ_j P_j·(log P_j − log M_j) and kq[i] = Σ_j Q_j·(log Q_j − log M_j) (no term where the probability is 0).")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := kept(s, s.Broadcast(paramAddr("tau")))
	lb := kept(s, s.Broadcast(paramAddr("lb")))
	lb1 := kept(s, s.Broadcast(paramAddr("lb1")))
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp}, func(i reg.GPVirtual) {
		o := jsdParams(s, tau, lb, lb1, i)
		kp, kq := s.NewBlockSum(), s.NewBlockSum()
		term := func(x, lm reg.VecVirtual) reg.VecVirtual { // e^x·(x − lm), 0 where e^x = 0
			p := s.ExpFlush(x)
			s.Sub(lm, x, x)
			s.Mul(p, x, x)
			s.Where(x86.EQ, p, s.C(0), s.C(0), x)
			return x
		}
		sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
			if mk == nil {
				s.PrefetchAhead(sp0, j)
				s.PrefetchAhead(tp, j)
			}
			a, b, lm := jsdElems(s, o, sp0, tp, j, mk)
			kp.Add(term(a, lm))
			kq.Add(term(b, lm))
		}, func() {
			kp.Flush()
			kq.Flush()
		})
		for _, r := range []struct {
			name string
			sum  *x86.BlockSum
		}{{"kp", kp}, {"kq", kq}} {
			p := Load(Param(r.name), GP64()).(reg.GPVirtual)
			s.StoreScalar(r.sum.Total(nil), Mem{Base: p, Index: i, Scale: sz})
		}
	})
	s.End()
}

// jsdGradRows emits pass 3 of JSD: the gradient c·Q_j·((log Q_j − log M_j)
// − kq[i]), c = GradScale·(1−β), 0 where Q_j = 0, recomputing log M as
// pass 2 did. The NT variant streams dst.
func jsdGradRows(s *x86.ISA, streamed bool) {
	name := "jsdGradRows"
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t, dst *float32, n, k int, tau, c, lb, lb1 float32, mz, lsz, mv, lsv, kq *float32)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i*k+j] = c·Q_j·((log Q_j − log M_j) − kq[i]) (0 where Q_j = 0) for n rows of k, with log P, log Q and log M as jsdSumRows; dst may be s.")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	g := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := kept(s, s.Broadcast(paramAddr("tau")))
	c := kept(s, s.Broadcast(paramAddr("c")))
	lb := kept(s, s.Broadcast(paramAddr("lb")))
	lb1 := kept(s, s.Broadcast(paramAddr("lb1")))
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp, g}, func(i reg.GPVirtual) {
		o := jsdParams(s, tau, lb, lb1, i)
		kq := kept(s, rowParam(s, "kq", i))
		sp.EachOut(g, streamed, func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			_, b, lm := jsdElems(s, o, sp0, tp, j, mk)
			q := s.ExpFlush(b)
			s.Sub(lm, b, b)
			s.Sub(kq, b, b)
			s.Mul(q, b, b)
			s.Mul(c, b, b)
			s.Where(x86.EQ, q, s.C(0), s.C(0), b)
			store(b, s.At(g, j))
		})
	})
	s.EndOut(streamed)
}
