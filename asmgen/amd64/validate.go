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

// weightScan emits the validation of weight vectors (every weight finite
// and ≥ 0) with their sum, which a weighted regression mean divides by, in
// one read: the running minimum finds a negative weight, Σ(w − w) is NaN
// exactly when some weight is NaN or ±Inf. float32 weights are summed in
// float64 lanes; float64 weights in compensated lanes (TwoSum), since a
// plain sum of 10⁶ weights would carry a relative error far above the
// gradient's contract into every element.
func weightScan(s *x86.ISA) {
	name := "weightScan" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(w *float32, n int) (sum float64, bad int)"))
	Pragma("noescape")
	docf(name, "%s returns Σ w[i] for i < n, and bad = 1 if some w[i] is negative, NaN or infinite (else 0).")
	s.Begin()
	w := Load(Param("w"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	lo, fin := s.Vec(), s.Vec()
	VXORPS(lo, lo, lo)
	VXORPS(fin, fin, fin)
	acc := s.NewF64Acc()
	var comp reg.VecVirtual
	if s.F64 {
		comp = s.Vec()
		VXORPS(comp, comp, comp)
	}
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(w, j), nil)
		s.Min(lo, v, lo) // where v is NaN the first operand, lo, is kept
		d := s.Vec()
		s.Sub(v, v, d) // 0, or NaN for NaN and ±Inf
		s.Add(d, fin, fin)
		if !s.F64 {
			acc.Add(v)
			return
		}
		twoSum(s, acc.Lo(), comp, v)
	})
	if s.F64 {
		acc.Add(comp) // the lanes' corrections, then their sums
	}
	Store(acc.Sum(), ReturnIndex(0))
	r := GP64()
	XORQ(r, r)
	s.IfAny(x86.LT, lo, s.C(0), func() { MOVQ(U32(1), r) })
	s.IfAny(x86.UNORD, fin, fin, func() { MOVQ(U32(1), r) })
	Store(r, ReturnIndex(1))
	s.End()
}

// twoSum adds v to the compensated lane sums (sum, comp): Knuth's TwoSum
// recovers each addition's rounding error exactly, whatever the operands'
// magnitudes, and comp collects them.
func twoSum(s *x86.ISA, sum, comp, v reg.VecVirtual) {
	t, bp, ap := s.Vec(), s.Vec(), s.Vec()
	s.Add(v, sum, t)   // t = sum + v
	s.Sub(sum, t, bp)  // bp = t − sum
	s.Sub(bp, t, ap)   // ap = t − bp
	s.Sub(ap, sum, ap) // sum − ap
	s.Sub(bp, v, bp)   // v − bp
	s.Add(ap, bp, bp)
	s.Add(bp, comp, comp)
	s.Mov(t, sum)
}
