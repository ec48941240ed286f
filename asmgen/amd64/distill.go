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
			// s·tau − m in one FMA: the product unrounded is within the
			// contract's perturbation of z (half an ULP), one rounding less.
			z := s.LoadAt(mk, s.At(sp0, j), mz)
			s.FMS213(mz, tau, z)
			s.Sub(lsz, z, z)
			q := s.ExpFlush(z)
			v := s.LoadAt(mk, s.At(tp, j), mv)
			s.FMS213(mv, tau, v)
			s.Sub(lsv, v, v)
			s.Sub(s.ExpFlush(v), q, q) // Q − P
			s.Mul(c, q, q)
			store(q, s.At(g, j))
		})
	})
	s.EndOut(streamed)
}
