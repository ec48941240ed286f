package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// outsideUnit emits the range check of binary targets and probabilities,
// which must run over the whole input before a kernel writes anything:
// the running minimum and maximum, one load and two instructions per
// vector, so that the check costs memory bandwidth and no more. A NaN
// passes (it propagates through the loss instead).
func outsideUnit(s *x86.ISA) {
	name := "outsideUnit" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(x *float32, n int) int"))
	Pragma("noescape")
	docf(name, "%s returns 1 if some x[i], i < n, lies outside [0, 1] (NaN aside), else 0.")
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	lo, hi := s.Vec(), s.Vec()
	s.Mov(s.C(0), lo) // the zero-filled tail lanes are in range
	s.Mov(s.C(1), hi)
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(x, j), nil)
		s.Min(lo, v, lo) // where v is NaN the first operand, lo, is kept
		s.Max(hi, v, hi)
	})
	r := GP64()
	XORQ(r, r)
	s.IfAny(x86.LT, lo, s.C(0), func() { MOVQ(U32(1), r) })
	s.IfAny(x86.GT, hi, s.C(1), func() { MOVQ(U32(1), r) })
	Store(r, ReturnIndex(0))
	s.End()
}
