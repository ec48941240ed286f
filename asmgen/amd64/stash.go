package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// The stashed long-row path of softmax cross-entropy: pass 1 keeps the
// exponentials it computes for the row's sum in a scratch row (in L2), so
// that pass 2 is a multiply-subtract per element instead of a second exp.

// lseStashRow is pass 1 (as maxLogRows) of one row that also writes
// stash[j] = exp(x[j] − ref) for the reference the sum was taken against.
// With f set the row holds 16-bit logits of that format (stash16.go): the
// whole vectors are widened on load, the last k mod Lanes come from xtail.
func lseStashRow(s *x86.ISA, f *halfFormat) {
	name := "lseStashRow"
	sig := "func(x, stash *float32, k int, out *float32) int"
	if f != nil {
		name += f.name
		sig = "func(x *uint16, xtail, stash *float32, k int, out *float32) int"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if f != nil {
		docf(name,
			"%s is lseStashRow on a row of k "+f.name+" logits: the last k mod Lanes of them are read",
			"from xtail, widened by the caller.")
	} else {
		docf(name,
			"%s is maxLogRows for one row of k logits that also writes stash[j] = exp(x[j] − ref):",
			"out[0] = m (the row's maximum), out[1] = ls = log Σ_j exp(x[j] − m) and out[2] = ref − m (≤ 0),",
			"so that softmax_j = stash[j]·exp(out[2] − out[1]). It returns 1 if the reference moved after",
			"the first vector (earlier stash entries are then relative to an older one), else 0.")
	}
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	var xtail reg.GPVirtual
	if f != nil {
		xtail = Load(Param("xtail"), GP64()).(reg.GPVirtual)
	}
	stash := Load(Param("stash"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	out := Load(Param("out"), GP64()).(reg.GPVirtual)
	s.PreloadExp()
	s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
	negInf := s.CR(math.Inf(-1))
	sp := s.NewSpan(k)
	moved := GP64()
	XORQ(moved, moved)
	hooks := stashHooks(s, stash, moved)
	if f != nil {
		rowHooks16(s, &hooks, x, xtail, f.f16)
	}
	m, l, ref := onlineLSEHooks(s, x, sp, negInf, true, nil, nil, nil, hooks)
	storeStashOut(s, out, m, l, ref)
	Store(moved, ReturnIndex(0))
	s.End()
}

// scaleRow is pass 2 of the stashed path: dst = c·src − b over one row,
// with non-temporal stores in the NT variant.
func scaleRow(s *x86.ISA, streamed, aligned bool) {
	name := "scaleRow"
	doc := []string{"%s writes dst[j] = c·src[j] − b for j < k."}
	if streamed {
		name += "NT"
		doc = append(doc, "dst is written with non-temporal stores, bypassing the caches.")
	}
	if aligned {
		name += "A"
		doc = append(doc, "Its whole vectors are stored to aligned addresses (a masked head first): none splits a cache line.")
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, "func(src, dst *float32, k int, c, b float32)")
	Pragma("noescape")
	docf(name, doc...)
	s.Begin()
	src := Load(Param("src"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	c, b := broadcastParam(s, "c"), broadcastParam(s, "b")
	sp := s.NewSpan(k)
	each := func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
		v := s.LoadAt(mk, s.At(src, j), nil)
		s.FMS213(b, c, v) // c·v − b
		store(v, s.At(dst, j))
	}
	if aligned {
		sp.EachAligned(dst, each)
	} else {
		sp.EachOut(dst, streamed, each)
	}
	s.EndOut(streamed)
}

// lseStashScaleRow is lseStashRow on the row x fused with scaleRow of the
// previous row (dst = c·prev − b) in one loop, so that the previous row's
// stores overlap this row's loads and exponentials (the Go driver runs row
// i's pass 2 and row i+1's pass 1 in one call, two scratch rows in turn).
// The loop follows dst's alignment (a masked head first) for the streamed
// stores; pass 1 does not mind the order.
func lseStashScaleRow(s *x86.ISA, streamed bool) {
	name := "lseStashScaleRow"
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, "func(x, stash, prev, dst *float32, k int, c, b float32, out *float32) int")
	Pragma("noescape")
	docs := []string{
		"%s is lseStashRow(x, stash, k, out) and scaleRow(prev, dst, k, c, b) in one loop; it returns lseStashRow's result.",
		"The stashes and rows must not overlap, except dst with x's previous row (in place)."}
	if streamed {
		docs = append(docs, "dst is written with non-temporal stores, bypassing the caches.")
	}
	docf(name, docs...)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	stash := Load(Param("stash"), GP64()).(reg.GPVirtual)
	prev := Load(Param("prev"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	out := Load(Param("out"), GP64()).(reg.GPVirtual)
	s.PreloadExp()
	s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
	c, b := broadcastParam(s, "c"), broadcastParam(s, "b")
	negInf := s.CR(math.Inf(-1))
	sp := s.NewSpan(k)
	moved := GP64()
	XORQ(moved, moved)
	hooks := stashHooks(s, stash, moved)
	hooks.loop = scaleRowLoop(s, sp, prev, dst, c, b, streamed)
	m, l, ref := onlineLSEHooks(s, x, sp, negInf, true, nil, nil, nil, hooks)
	storeStashOut(s, out, m, l, ref)
	Store(moved, ReturnIndex(0))
	s.EndOut(streamed)
}

// scaleRowLoop is the lseHooks.loop of a fused pass 1 that also writes
// scaleRow's dst = c·prev − b (float32), streamed or not, vector by vector.
func scaleRowLoop(s *x86.ISA, sp x86.Span, prev, dst reg.GPVirtual, c, b reg.VecVirtual, streamed bool) func(body func(j reg.GPVirtual, mk *x86.Mask), flush func()) {
	return func(body func(j reg.GPVirtual, mk *x86.Mask), flush func()) {
		sp.EachOutBlock(dst, streamed, x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			body(j, mk)
			v := s.LoadAt(mk, s.At(prev, j), nil)
			s.FMS213(b, c, v) // c·v − b
			store(v, s.At(dst, j))
		}, flush)
	}
}

// stashHooks keeps pass 1's exponentials in stash and sets moved to 1 if
// the reference moves after the first vector.
func stashHooks(s *x86.ISA, stash, moved reg.GPVirtual) lseHooks {
	return lseHooks{
		exp: func(e reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask) {
			s.StoreAt(mk, e, s.At(stash, j))
		},
		rescale: func(j reg.GPVirtual) {
			first := x86.NewLabel("firstvec")
			TESTQ(j, j)
			JZ(LabelRef(first))
			MOVQ(U32(1), moved)
			Label(first)
		},
	}
}

// storeStashOut writes out[0] = m, out[1] = ls, out[2] = ref − m.
func storeStashOut(s *x86.ISA, out reg.GPVirtual, m, l, ref reg.VecVirtual) {
	d := s.Vec()
	s.Sub(m, ref, d) // ref − m
	s.StoreScalar(m, Mem{Base: out})
	s.StoreScalar(l, Mem{Base: out, Disp: s.Size()})
	s.StoreScalar(d, Mem{Base: out, Disp: 2 * s.Size()})
}
