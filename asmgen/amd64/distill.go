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
// either softmax. Three passes over a block of rows that stays in L2: the
// two maxima (no exponentials), then both sums of exponentials and
// Σ e^(v−m_v)·(v − z) against those fixed maxima (no online rescaling, so
// three plain two-level sums), then the gradient c·(Q − P). Go forms each
// row's log-sum-exps and divergence between the passes.

// distillKernels emits the distillation passes for s.
func distillKernels(s *x86.ISA) {
	distillMaxRows(s)
	distillStatsRows(s)
	distillGradRows(s, false)
	distillGradRows(s, true)
}

// distillMaxRows emits the row maxima of s and t (unscaled: τ > 0 and
// rounding are monotonic, so the maximum of the scaled row is the scaled
// maximum). NaN need not survive: the next pass's exponentials carry it.
func distillMaxRows(s *x86.ISA) {
	name := "distillMaxRows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t *float32, n, k int, ms, mt *float32)"))
	Pragma("noescape")
	docf(name, "%s writes ms[i] = max_j s[i*k+j] and mt[i] = max_j t[i*k+j] for n rows of k.")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	ms := Load(Param("ms"), GP64()).(reg.GPVirtual)
	mt := Load(Param("mt"), GP64()).(reg.GPVirtual)
	negInf := s.CR(math.Inf(-1))
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp}, func(i reg.GPVirtual) {
		a, b := s.Vec(), s.Vec()
		s.Mov(negInf, a)
		s.Mov(negInf, b)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			s.Max(s.LoadAt(mk, s.At(sp0, j), negInf), a, a)
			s.Max(s.LoadAt(mk, s.At(tp, j), negInf), b, b)
		})
		s.AllMax(a)
		s.AllMax(b)
		s.StoreScalar(a, Mem{Base: ms, Index: i, Scale: sz})
		s.StoreScalar(b, Mem{Base: mt, Index: i, Scale: sz})
	})
	s.End()
}

// distillStatsRows emits, against the scaled maxima mz and mv, the sums
// sz = Σ e^(z−mz), sv = Σ e^(v−mv) and dot = Σ e^(v−mv)·(v − z). A term of
// dot with v = −Inf (no teacher mass) is 0; where e^(v−mv) underflows for
// a finite v it is raised to the smallest subnormal, so that z = −Inf
// still makes the divergence +Inf. Masked-off lanes load −Inf: no term.
func distillStatsRows(s *x86.ISA) {
	name := "distillStatsRows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(s, t *float32, n, k int, tau float32, mz, mv, sz, sv, dot *float32)"))
	Pragma("noescape")
	docf(name, "%s writes, for n rows of k with z = s·tau and v = t·tau, sz[i] = Σ_j exp(z_j − mz[i]), sv[i] = Σ_j exp(v_j − mv[i]) and dot[i] = Σ_j exp(v_j − mv[i])·(v_j − z_j) (0 where v_j = −Inf).")
	s.Begin()
	sp0 := Load(Param("s"), GP64()).(reg.GPVirtual)
	tp := Load(Param("t"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	tau := s.Broadcast(paramAddr("tau"))
	negInf := s.CR(math.Inf(-1))
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp}, func(i reg.GPVirtual) {
		row := func(name string) reg.VecVirtual {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			return s.Broadcast(Mem{Base: p, Index: i, Scale: sz})
		}
		mz, mv := row("mz"), row("mv")
		bz, bv, bd := s.NewBlockSum(), s.NewBlockSum(), s.NewBlockSum()
		sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
			z := s.LoadAt(mk, s.At(sp0, j), negInf)
			s.Mul(tau, z, z)
			v := s.LoadAt(mk, s.At(tp, j), negInf)
			s.Mul(tau, v, v)
			d := s.Vec()
			s.Sub(z, v, d) // v − z
			s.Sub(mz, z, z)
			bz.Add(s.ExpFlush(z))
			s.Sub(mv, v, v)
			ev := s.ExpFlush(v)
			bv.Add(ev)
			floorUnderflow(s, v, ev)
			s.Mul(ev, d, d)
			s.Where(x86.LT, v, s.C(-s.MaxFinite()), s.C(0), d) // v = −Inf: no term
			bd.Add(d)
		}, func() {
			bz.Flush()
			bv.Flush()
			bd.Flush()
		})
		store := func(name string, v reg.VecVirtual) {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			s.StoreScalar(v, Mem{Base: p, Index: i, Scale: sz})
		}
		store("sz", bz.Total(nil))
		store("sv", bv.Total(nil))
		store("dot", bd.Total(nil))
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
	sz := uint8(s.Size())
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{sp0, tp, g}, func(i reg.GPVirtual) {
		row := func(name string) reg.VecVirtual {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			return s.Broadcast(Mem{Base: p, Index: i, Scale: sz})
		}
		mz, lsz, mv, lsv := row("mz"), row("lsz"), row("mv"), row("lsv")
		sp.EachOut(g, streamed, func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
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
