package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// broadcastParam loads the float32 (float64) parameter name into every lane.
func broadcastParam(s *x86.ISA, name string) reg.VecVirtual {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return s.Broadcast(b.Addr)
}

// targetCoef emits c_j = (a0 + a1·t_j)·w_j for the vector of targets t (and
// weights w, or 1), zero in masked-off lanes. With weights it is formed as
// a0·w_j + a1·(t_j·w_j): t·w is exact unless the true product is below the
// normal range, whereas a1·t first (a1 carries the gradient's 1/N) drops a
// subnormal target's bits before a large weight scales them back up.
// A product that underflows to 0 where t_j > 0 and w_j > 0 becomes the
// smallest subnormal instead: the term c_j·(lse − x_j) is absent only where
// c_j is truly 0, and is +Inf at x_j = −Inf otherwise (a0 = ε/K and
// a1 = 1 − ε are not both 0, so t, w > 0 means c > 0).
func targetCoef(s *x86.ISA, t reg.VecVirtual, wp, j reg.GPVirtual, mk *x86.Mask, a0, a1 string, weighted bool) reg.VecVirtual {
	c := broadcastParam(s, a1)
	pos := t
	if weighted {
		w := s.LoadAt(mk, s.At(wp, j), nil)
		pos = s.Vec()
		s.Min(w, t, pos) // > 0 where both are
		tw := s.Vec()
		s.Mul(w, t, tw)
		aw := broadcastParam(s, a0)
		s.Mul(w, aw, aw)
		s.FMA213(aw, tw, c) // a0·w + a1·(t·w)
	} else {
		s.FMA213(broadcastParam(s, a0), t, c) // a0 + a1·t
	}
	tiny := s.Vec()
	VXORPS(tiny, tiny, tiny)
	s.Where(x86.GT, pos, s.C(0), s.C(smallestSubnormal(s)), tiny)
	s.Max(c, tiny, c) // NaN: c is returned
	s.ZeroOff(mk, c)
	return c
}

// smallestSubnormal is the least positive value of the element type.
func smallestSubnormal(s *x86.ISA) float64 {
	if s.F64 {
		return math.SmallestNonzeroFloat64
	}
	return math.SmallestNonzeroFloat32
}

// maxLogProbRows is pass 1 of cross-entropy with probability targets: the
// split log-sum-exp of each row (as maxLogRows) with, in the same read,
// cs[i] = Σ_j c_j and dot[i] = Σ_j c_j·(x_j − m[i]) for the target
// coefficients c_j = (a0 + a1·t_j)·w_j (a0 = ε/K, a1 = 1 − ε); terms with
// c_j = 0 are absent, so a −Inf logit with no target mass adds nothing.
func maxLogProbRows(s *x86.ISA, weighted, capped bool) {
	name := "maxLogProbRows"
	if weighted {
		name = "maxLogProbWRows"
	}
	sig := "func(x *float32, n, k int, probs, w, m, ls, dot, cs *float32, a0, a1 float32)"
	docs := []string{"%s writes m[i] and ls[i] as maxLogRows, and cs[i] = Σ_j c_j, dot[i] = Σ_j c_j·(x[i*k+j] − m[i]) with c_j = (a0 + a1·probs[i*k+j])·w[j] (w unused unless the name has W)."}
	if capped {
		name += "C"
		sig = sig[:len(sig)-1] + ", cap, inv float32)"
		docs = append(docs, "The logits are soft-capped first: x stands for z = cap·tanh(x·inv) above.")
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, docs...)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	probs := Load(Param("probs"), GP64()).(reg.GPVirtual)
	var w reg.GPVirtual
	if weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	s.PreloadExp()
	var negInf reg.VecVirtual
	if !capped {
		// The capped kernels cannot also keep these beside tanh's
		// registers: they read them from memory where needed.
		s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
		negInf = s.CR(math.Inf(-1))
	}
	transform := softCap(s, capped, negInf)
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, probs}, func(i reg.GPVirtual) {
		acc, cs := s.Vec(), s.Vec()
		VXORPS(acc, acc, acc)
		VXORPS(cs, cs, cs)
		// Σc twice: cs, one float32 vector, follows the reference moves of
		// dot; total, a two-level sum as the exponentials', is the output,
		// which every gradient element's coefficient carries (one float32
		// accumulator of K = 50257 targets of 1/K was 1065u off).
		total := s.NewBlockSum()
		each := func(v, mref reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask) {
			if mk == nil {
				s.PrefetchAhead(probs, j)
			}
			t := s.LoadAt(mk, s.At(probs, j), nil)
			c := targetCoef(s, t, w, j, mk, "a0", "a1", weighted)
			d := s.Vec()
			s.Sub(mref, v, d)
			s.Mul(c, d, d)
			s.Where(x86.EQ, c, s.C(0), s.C(0), d)
			s.Add(d, acc, acc)
			s.Add(c, cs, cs)
			total.Add(c)
		}
		shift := func(d reg.VecVirtual) { // the reference moved by d: Σc·(x − m) follows
			t := s.Vec()
			s.Mul(cs, d, t)
			s.Where(x86.EQ, cs, s.C(0), s.C(0), t)
			s.Add(t, acc, acc)
		}
		m, l, _ := onlineLSEHooks(s, x, sp, negInf, true, each, shift, transform, lseHooks{flush: total.Flush})
		store := func(name string, v reg.VecVirtual) {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			s.StoreScalar(v, Mem{Base: p, Index: i, Scale: uint8(s.Size())})
		}
		store("m", m)
		store("ls", l)
		s.AllSum(acc)
		store("dot", acc)
		store("cs", total.Total(nil))
	})
	s.End()
}

// expProbRows is pass 2 of cross-entropy with probability targets:
// dst_ij = coef_i·exp((x_ij − m_i) − ls_i) − (b0 + b1·t_ij)·w_j (b0, b1 the
// pass-1 coefficients times GradScale). dst may be x.
// The NT variants (streamed) write dst with non-temporal stores.
func expProbRows(s *x86.ISA, weighted, streamed, capped bool) {
	name := "expProbRows"
	if weighted {
		name = "expProbWRows"
	}
	sig := "func(x, dst *float32, n, k int, m, ls, coef, probs, w *float32, b0, b1 float32)"
	docs := []string{"%s writes dst[i*k+j] = coef[i]·exp((x[i*k+j] − m[i]) − ls[i]) − (b0 + b1·probs[i*k+j])·w[j] (w = 1 unless the name has W); dst may be x."}
	if capped {
		name += "C"
		sig = sig[:len(sig)-1] + ", cap, inv float32)"
		docs = append(docs, "The logits are soft-capped first (x stands for z = cap·tanh(x·inv)) and dst is multiplied by the cap's derivative 1 − (z·inv)².")
	}
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, docs...)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	probs := Load(Param("probs"), GP64()).(reg.GPVirtual)
	var w reg.GPVirtual
	if weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	s.PreloadExp()
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, dst, probs}, func(i reg.GPVirtual) {
		row := func(name string) reg.VecVirtual {
			p := Load(Param(name), GP64()).(reg.GPVirtual)
			return s.Broadcast(Mem{Base: p, Index: i, Scale: uint8(s.Size())})
		}
		mv, lv, cf := row("m"), row("ls"), row("coef")
		each := func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			if mk == nil {
				s.PrefetchAhead(probs, j) // pass 1 left x, not all of probs, in L2
			}
			v := s.LoadAt(mk, s.At(x, j), mv) // m: no underflow in masked-off lanes
			var fac reg.VecVirtual
			if capped {
				v, fac = capWithFactor(s, v)
			}
			s.Sub(mv, v, v)
			s.Sub(lv, v, v)
			e := s.ExpFlush(v)
			t := s.LoadAt(mk, s.At(probs, j), nil)
			c := targetCoef(s, t, w, j, mk, "b0", "b1", weighted)
			s.FMS213(c, cf, e) // coef·p − c
			if capped {
				s.Mul(fac, e, e)
			}
			store(e, s.At(dst, j))
		}
		sp.EachOut(dst, streamed, each)
	})
	s.EndOut(streamed)
}
