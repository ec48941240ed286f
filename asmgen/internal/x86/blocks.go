package x86

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/poly"
)

// Comparison predicates of VCMPPS.
const (
	EQ    = 0x00 // ordered, quiet
	LT    = 0x11 // ordered, quiet
	LE    = 0x12 // ordered, quiet
	UNORD = 0x03
	NEQ   = 0x0c // ordered, quiet
	NEQU  = 0x04 // unordered or not equal, quiet
	GE    = 0x1d // ordered, quiet
	GT    = 0x1e // ordered, quiet
)

var (
	Inf    = float32(math.Inf(1))
	NegInf = float32(math.Inf(-1))
)

// Mask is the lane mask of a tail of n < Lanes elements: an opmask register
// on AVX-512, a vector of all-ones/zero lanes on AVX2.
type Mask struct {
	s *ISA
	k reg.OpmaskVirtual
	v reg.VecVirtual
}

// TailMask builds the mask of the first n lanes from the count in n
// (0 ≤ n ≤ Lanes), which it does not modify.
func (s *ISA) TailMask(n reg.GPVirtual) Mask {
	if s.ZMM {
		// RIP-relative addressing takes no index: take the table's address.
		tab := GP64()
		LEAQ(maskTable16(), tab)
		k := K()
		KMOVW(Mem{Base: tab, Index: n, Scale: 2}, k)
		return Mask{s: s, k: k}
	}
	neg := GP64()
	MOVQ(n, neg)
	NEGQ(neg)
	tab := GP64()
	LEAQ(maskTable8(), tab)
	v := YMM()
	// float64: n lanes are 2n all-ones dwords, at offset 32−8n.
	VMOVDQU(Mem{Base: tab, Disp: 32, Index: neg, Scale: uint8(s.Size())}, v)
	return Mask{s: s, v: v}
}

var mask16, mask8 Mem

// maskTable16 holds (1<<i)−1 for i = 0..16 as uint16: the AVX-512 tail masks.
func maskTable16() Mem {
	if mask16.Symbol.Name == "" {
		m := GLOBL("lfmask16", 0x8|0x100)
		for i := 0; i <= 16; i++ {
			DATA(2*i, U16(uint16(1<<i-1)))
		}
		mask16 = m
	}
	return mask16
}

// maskTable8 is eight all-ones int32 then eight zeros: the 32 bytes at
// offset 32−4n are the AVX2 mask of the first n lanes.
func maskTable8() Mem {
	if mask8.Symbol.Name == "" {
		m := GLOBL("lfmask8", 0x8|0x100)
		for i := 0; i < 16; i++ {
			v := uint32(0)
			if i < 8 {
				v = 0xffffffff
			}
			DATA(4*i, U32(v))
		}
		mask8 = m
	}
	return mask8
}

// Load reads the masked lanes of m into a new register; the other lanes get
// fill (a register, or nil for zero). Masked-off lanes are never accessed.
func (k Mask) Load(m Mem, fill reg.VecVirtual) reg.VecVirtual {
	v := k.s.Vec()
	if k.s.F64 {
		if k.s.ZMM {
			if fill == nil {
				VMOVUPD_Z(m, k.k, v)
			} else {
				VMOVAPD(fill, v)
				VMOVUPD(m, k.k, v)
			}
			return v
		}
		VMASKMOVPD(m, k.v, v)
		if fill != nil {
			VBLENDVPD(k.v, v, fill, v)
		}
		return v
	}
	if k.s.ZMM {
		if fill == nil {
			VMOVUPS_Z(m, k.k, v)
		} else {
			VMOVAPS(fill, v)
			VMOVUPS(m, k.k, v)
		}
		return v
	}
	VMASKMOVPS(m, k.v, v)
	if fill != nil {
		VBLENDVPS(k.v, v, fill, v)
	}
	return v
}

// Fill sets the lanes of v outside the mask to those of val.
func (k Mask) Fill(v, val reg.VecVirtual) {
	if k.s.F64 {
		if k.s.ZMM {
			t := k.s.Vec()
			VMOVAPD(val, t)
			VMOVAPD(v, k.k, t)
			VMOVAPD(t, v)
			return
		}
		VBLENDVPD(k.v, v, val, v)
		return
	}
	if k.s.ZMM {
		t := k.s.Vec()
		VMOVAPS(val, t)
		VMOVAPS(v, k.k, t)
		VMOVAPS(t, v)
		return
	}
	VBLENDVPS(k.v, v, val, v) // mask lanes: v, others: val
}

// Store writes the masked lanes of v to m and nothing else.
func (k Mask) Store(v reg.VecVirtual, m Mem) {
	if k.s.F64 {
		if k.s.ZMM {
			VMOVUPD(v, k.k, m)
		} else {
			VMASKMOVPD(v, k.v, m)
		}
		return
	}
	if k.s.ZMM {
		VMOVUPS(v, k.k, m)
		return
	}
	VMASKMOVPS(v, k.v, m)
}

// Where sets dst = val in the lanes where (x pred y) holds; x is a register,
// y and val registers or memory.
func (s *ISA) Where(pred uint8, x reg.VecVirtual, y, val Op, dst reg.VecVirtual) {
	if s.ZMM && isZeroConst(val) {
		// Keep the lanes where the predicate fails (pred^4 is its
		// negation, NaN cases included) and zero the rest: no load.
		k := K()
		if s.F64 {
			s.Op(VCMPPD, Imm(uint64(pred^4)), y, x, k)
			VMOVAPD_Z(dst, k, dst)
		} else {
			s.Op(VCMPPS, Imm(uint64(pred^4)), y, x, k)
			VMOVAPS_Z(dst, k, dst)
		}
		return
	}
	if s.F64 {
		if s.ZMM {
			k := K()
			s.Op(VCMPPD, Imm(uint64(pred)), y, x, k)
			s.loadMasked(val, k, dst)
			return
		}
		m := YMM()
		s.Op(VCMPPD, Imm(uint64(pred)), y, x, m)
		VBLENDVPD(m, val, dst, dst)
		return
	}
	if s.ZMM {
		k := K()
		s.Op(VCMPPS, Imm(uint64(pred)), y, x, k)
		s.loadMasked(val, k, dst)
		return
	}
	m := YMM()
	s.Op(VCMPPS, Imm(uint64(pred)), y, x, m)
	VBLENDVPS(m, val, dst, dst)
}

// allLanes combines the lanes of v pairwise with op until every lane holds
// the combination of all of them (a horizontal reduction, broadcast).
func (s *ISA) allLanes(v reg.VecVirtual, op func(a, b, dst Op)) {
	t := s.Vec()
	if s.F64 {
		if s.ZMM {
			VSHUFF64X2(Imm(0x4e), v, v, t) // swap 256-bit halves
			op(t, v, v)
			VSHUFF64X2(Imm(0xb1), v, v, t) // swap 128-bit quarters
			op(t, v, v)
		} else {
			VPERM2F128(Imm(0x01), v, v, t)
			op(t, v, v)
		}
		VPERMILPD(Imm(0x55), v, t) // swap neighbours
		op(t, v, v)
		return
	}
	if s.ZMM {
		VSHUFF32X4(Imm(0x4e), v, v, t) // swap 256-bit halves
		op(t, v, v)
		VSHUFF32X4(Imm(0xb1), v, v, t) // swap 128-bit quarters
		op(t, v, v)
	} else {
		VPERM2F128(Imm(0x01), v, v, t)
		op(t, v, v)
	}
	VPERMILPS(Imm(0x4e), v, t) // swap 64-bit pairs
	op(t, v, v)
	VPERMILPS(Imm(0xb1), v, t) // swap neighbours
	op(t, v, v)
}

// AllMax replaces every lane of v by the maximum over its lanes.
func (s *ISA) AllMax(v reg.VecVirtual) {
	s.allLanes(v, func(a, b, d Op) { s.Max(a, b, d) })
}

// AllSum replaces every lane of v by the sum of its lanes.
func (s *ISA) AllSum(v reg.VecVirtual) {
	s.allLanes(v, func(a, b, d Op) { s.Add(a, b, d) })
}

// ExpConsts are the constants Exp reads; Preload them before a hot loop.
func ExpConsts() []float32 {
	c := []float32{poly.ExpMin, poly.ExpMax, poly.Log2E, poly.Ln2Hi, poly.Ln2Lo, 1}
	return append(c, poly.F32(poly.Exp[:])...)
}

// Exp returns e^x in a new register (x is not modified); see package poly
// for the reduction, the polynomial and the handling of ±Inf and NaN.
func (s *ISA) Exp(x reg.VecVirtual) reg.VecVirtual {
	if s.F64 {
		return s.exp64(x)
	}
	return s.exp32(x, false)
}

// ExpFlushMin: ExpFlush returns 0 below this input, the largest float32 ≤
// ln 2^−125, so that every result it keeps is p·2^n with n ≥ −125, p ≥ ½:
// normal, formed by one exponent multiply.
const ExpFlushMin = -86.64339

// ExpFlush is Exp with results below about 2^−125 flushed to 0, for the
// softmax passes, whose exponentials are summed against a sum ≥ 1 or
// scaled by a coefficient that makes such values negligible against the
// row's largest output (the accuracy contract lets results below the
// smallest normal flush). On AVX2 it drops the two-factor scaling that
// gradual underflow needs (4 of 24 instructions); elsewhere it is Exp.
// Exact for x ≤ 88; above, up to ExpMax, it may overflow to +Inf early
// (softmax's exponents x − max are ≤ 20, or +Inf).
func (s *ISA) ExpFlush(x reg.VecVirtual) reg.VecVirtual {
	if s.F64 || s.ZMM {
		return s.Exp(x)
	}
	return s.exp32(x, true)
}

func (s *ISA) exp32(x reg.VecVirtual, flush bool) reg.VecVirtual {
	c := poly.F32(poly.Exp[:])
	lowest := float32(poly.ExpMin)
	if flush {
		lowest = ExpFlushMin
	}
	t := s.Vec()
	var low reg.VecVirtual
	if s.ZMM {
		// No lower clamp: lanes below ExpMin are zeroed by VSCALEFPS's
		// mask below, whatever n and r became there (−Inf: NaN).
		VMINPS(x, s.FR(poly.ExpMax), t) // NaN: x is the operand returned
	} else {
		// Lanes below ExpMin (result 0) compute e^0 and are zeroed at the
		// end, so that no multiply underflows (a microcode assist).
		low = YMM()
		s.Op(VCMPPS, Imm(1), s.F(lowest), x, low) // x < ExpMin (NaN: false)
		VANDNPS(x, low, t)
		VMINPS(t, s.FR(poly.ExpMax), t) // NaN: t is the operand returned
	}
	n := s.Vec()
	s.Op(VMULPS, s.F(poly.Log2E), t, n)
	if s.ZMM {
		VRNDSCALEPS(Imm(0), n, n) // round to nearest even
	} else {
		VROUNDPS(Imm(0), n, n)
	}
	s.Op(VFNMADD231PS, s.F(poly.Ln2Hi), n, t) // t = x − n·Ln2Hi, exact
	s.Op(VFNMADD231PS, s.F(poly.Ln2Lo), n, t)
	p := s.Vec()
	s.Load(s.F(c[4]), p)
	for i := 3; i >= 0; i-- {
		s.Op(VFMADD213PS, s.F(c[i]), t, p) // p = p·r + c[i]
	}
	r2 := s.Vec()
	VMULPS(t, t, r2)
	VFMADD213PS(t, r2, p) // p = r + r²·q
	s.Op(VADDPS, s.F(1), p, p)
	if s.ZMM {
		// p·2^n with IEEE overflow and gradual underflow; lanes below
		// ExpMin (result 0) are zeroed by the mask instead, since an
		// underflowing result costs a microcode assist (17× the time of
		// the whole exp for masked logits such as −1e9).
		k := K()
		s.Op(VCMPPS, Imm(5), s.F(poly.ExpMin), x, k) // x ≥ ExpMin or NaN (NLT_US)
		VSCALEFPS_Z(n, p, k, p)
		return p
	}
	if flush {
		// n in [−125, 128]: 2^n from its exponent field in one multiply
		// (n = 128 gives the bits of +Inf: overflow).
		e := YMM()
		VCVTPS2DQ(n, e)
		s.Op(VPADDD, s.U(127), e, e)
		VPSLLD(Imm(23), e, e)
		VMULPS(e, p, p)
		VANDNPS(p, low, p)
		return p
	}
	// p·2^n as p·2^(n>>1)·2^(n−n>>1): both factors are normal for every
	// n in [−150, 128], so overflow and subnormal results round once.
	n1, n2 := YMM(), YMM()
	VCVTPS2DQ(n, n2)
	VPSRAD(Imm(1), n2, n1)
	VPSUBD(n1, n2, n2)
	s.Op(VPADDD, s.U(127), n1, n1)
	VPSLLD(Imm(23), n1, n1)
	s.Op(VPADDD, s.U(127), n2, n2)
	VPSLLD(Imm(23), n2, n2)
	VMULPS(n1, p, p)
	VMULPS(n2, p, p)
	VANDNPS(p, low, p)
	return p
}

// LogConsts are the constants Log reads.
func LogConsts() []float32 {
	c := []float32{math.Float32frombits(sqrtHalfBits), math.Float32frombits(0x7fffff), 1, -0.5, poly.Ln2Hi, poly.Ln2Lo}
	return append(c, poly.F32(poly.Log[:])...)
}

const sqrtHalfBits = 0x3f3504f3 // √½ as float32 bits

// Log returns log x in a new register for x ≥ 0 normal or +Inf or NaN
// (never negative or subnormal: callers feed it sums ≥ 1, 1+e, or 0). With
// special set, x = 0 gives −Inf, x = +Inf gives +Inf and NaN stays NaN;
// without it those lanes are unspecified (cheaper when the caller knows
// they do not occur or propagates NaN another way).
func (s *ISA) Log(x reg.VecVirtual, special bool) reg.VecVirtual {
	if s.F64 {
		return s.log64(x, special)
	}
	c := poly.F32(poly.Log[:])
	// x = 2^k·m with m in [√½, √2): subtract √½'s bits so that the exponent
	// field is k and the low bits plus √½'s bits rebuild m.
	i := s.Vec()
	s.Op(VPSUBD, s.U(sqrtHalfBits), x, i)
	k := s.Vec()
	VPSRAD(Imm(23), i, k)
	if s.ZMM {
		s.Op(VPANDD, s.U(0x7fffff), i, i)
	} else {
		VPAND(s.U(0x7fffff), i, i)
	}
	s.Op(VPADDD, s.U(sqrtHalfBits), i, i)
	f := i
	s.Op(VSUBPS, s.F(1), f, f) // f = m − 1, exact
	kf := k
	VCVTDQ2PS(k, kf)
	q := s.Vec()
	s.Load(s.F(c[6]), q)
	for j := 5; j >= 0; j-- {
		s.Op(VFMADD213PS, s.F(c[j]), f, q)
	}
	f2, f3 := s.Vec(), s.Vec()
	VMULPS(f, f, f2)
	VMULPS(f, f2, f3)
	r := s.Vec()
	s.Op(VMULPS, s.F(poly.Ln2Lo), kf, r)
	VFMADD231PS(q, f3, r)                     // + f³·q
	s.Op(VFMADD231PS, s.F(-0.5), f2, r)       // − f²/2
	VADDPS(f, r, r)                           // + f
	s.Op(VFMADD231PS, s.F(poly.Ln2Hi), kf, r) // + k·ln2
	if special {
		s.Where(EQ, x, s.F(0), s.F(NegInf), r)
		s.Where(EQ, x, s.F(Inf), s.F(Inf), r)
		s.Where(UNORD, x, x, x, r)
	}
	return r
}

// Log1p returns log(1+e) in a new register for e in [−½, 1] (the e^−|x| of
// softplus, or −p for log(1 − p)); NaN lanes are unspecified, callers
// propagate NaN from x. 1 + e is then in [½, 2], a normal input of Log,
// and its rounding error c is exact.
func (s *ISA) Log1p(e reg.VecVirtual) reg.VecVirtual {
	if s.F64 {
		return s.log1p64(e)
	}
	u := s.Vec()
	s.Op(VADDPS, s.F(1), e, u)
	// c = e − (u − 1) is the rounding error of u; log1p e ≈ log u + c/u.
	c := s.Vec()
	s.Op(VSUBPS, s.F(1), u, c)
	VSUBPS(c, e, c)
	l := s.Log(u, false)
	rcp := s.Vec()
	if s.ZMM {
		VRCP14PS(u, rcp)
	} else {
		VRCPPS(u, rcp)
	}
	// One Newton step: c is as large as e when e is tiny, so 1/u needs
	// float32 accuracy, not the 12 bits of the estimate.
	t := s.Vec()
	s.Load(s.F(2), t)
	VFNMADD231PS(rcp, u, t) // t = 2 − u·rcp
	VMULPS(t, rcp, rcp)
	VFMADD231PS(rcp, c, l)
	return l
}

// Log1pUnit returns log(1+e) in a new register for e in [0, 1] (the
// e^−|x| of softplus) as e + e²·q(e), q the minimax polynomial of package
// poly: no range reduction, about half Log1p's instructions. NaN lanes
// propagate. float64 takes Log1p.
func (s *ISA) Log1pUnit(e reg.VecVirtual) reg.VecVirtual {
	if s.F64 {
		return s.log1p64(e)
	}
	c := poly.F32(poly.Log1pUnit[:])
	q := s.Vec()
	s.Load(s.F(c[len(c)-1]), q)
	for i := len(c) - 2; i >= 0; i-- {
		s.Op(VFMADD213PS, s.F(c[i]), e, q) // q = q·e + c[i]
	}
	e2 := s.Vec()
	VMULPS(e, e, e2)
	VFMADD213PS(e, e2, q) // e²·q + e
	return q
}

// F64Acc is a float64 accumulator of float32 lanes (two vectors of
// float64), so that long sums of losses do not lose float32 precision.
type F64Acc struct {
	s      *ISA
	lo, hi reg.VecVirtual
}

// NewF64Acc allocates and zeroes an accumulator.
func (s *ISA) NewF64Acc() F64Acc {
	a := F64Acc{s: s, lo: s.Vec(), hi: s.Vec()}
	VXORPS(a.lo, a.lo, a.lo)
	VXORPS(a.hi, a.hi, a.hi)
	return a
}

// Add converts the float32 lanes of v to float64 and adds them.
func (a F64Acc) Add(v reg.VecVirtual) {
	if a.s.F64 { // already float64: one vector
		VADDPD(v, a.lo, a.lo)
		return
	}
	lo, hi := a.s.Vec(), a.s.Vec()
	if a.s.ZMM {
		VCVTPS2PD(v.AsY(), lo)
		VEXTRACTF32X8(Imm(1), v, hi.AsY())
		VCVTPS2PD(hi.AsY(), hi)
	} else {
		VCVTPS2PD(v.AsX(), lo)
		VEXTRACTF128(Imm(1), v, hi.AsX())
		VCVTPS2PD(hi.AsX(), hi)
	}
	VADDPD(lo, a.lo, a.lo)
	VADDPD(hi, a.hi, a.hi)
}

// AddCompensated adds the float64 lanes of v with each lane's rounding
// error kept in the second vector (TwoSum), so that a long float64 sum of
// terms of both signs loses nothing to cancellation against its own
// rounding: Sum folds the errors back in. float32 lanes take Add (their
// float64 sum is exact enough).
func (a F64Acc) AddCompensated(v reg.VecVirtual) {
	if !a.s.F64 {
		a.Add(v)
		return
	}
	s, bb, t := a.s.Vec(), a.s.Vec(), a.s.Vec()
	VADDPD(v, a.lo, s)  // s = acc + v
	VSUBPD(a.lo, s, bb) // bb = s − acc
	VSUBPD(bb, s, t)    // s − bb
	VSUBPD(t, a.lo, t)  // acc − (s − bb)
	VSUBPD(bb, v, bb)   // v − bb
	VADDPD(bb, t, t)    // the rounding error of acc + v
	// An infinite sum has no rounding error (TwoSum gives NaN there):
	// the error is dropped, so that an infinite total stays infinite.
	a.s.Where(UNORD, t, t, a.s.C(0), t)
	VADDPD(t, a.hi, a.hi)
	VMOVAPD(s, a.lo)
}

// Lo is the accumulator's register of float64 lanes that Add uses for
// float64 vectors, for callers that accumulate it their own way.
func (a F64Acc) Lo() reg.VecVirtual { return a.lo }

// Sum returns the total in the low lane of an XMM register.
func (a F64Acc) Sum() reg.VecVirtual {
	VADDPD(a.hi, a.lo, a.lo)
	if a.s.ZMM {
		t := YMM()
		VEXTRACTF64X4(Imm(1), a.lo, t)
		VADDPD(t, a.lo.AsY(), a.lo.AsY())
	}
	x := XMM()
	if a.s.ZMM {
		VEXTRACTF64X2(Imm(1), a.lo.AsY(), x) // EVEX: X16–X31 allowed
	} else {
		VEXTRACTF128(Imm(1), a.lo.AsY(), x)
	}
	VADDPD(x, a.lo.AsX(), x)
	t := XMM()
	VPERMILPD(Imm(1), x, t)
	VADDSD(t, x, x)
	return x
}

// TanhConsts are the constants Tanh reads besides Exp's.
func TanhConsts() []float32 {
	return append([]float32{poly.TanhSmall, 2}, poly.F32(poly.Tanh[:])...)
}

// Tanh returns tanh u in a new register (u is not modified): the odd
// polynomial of package poly below |u| = TanhSmall, 1 − 2/(e^{2|u|} + 1)
// above, with u's sign. ±Inf give ±1 and NaN stays NaN.
func (s *ISA) Tanh(u reg.VecVirtual) reg.VecVirtual {
	if s.F64 {
		return s.tanh64(u)
	}
	c := poly.F32(poly.Tanh[:])
	a := s.Vec()
	s.Op(VANDPS, s.U(0x7fffffff), u, a) // |u|
	t := s.Vec()
	VADDPS(a, a, t)
	e := s.Exp(t)
	s.Op(VADDPS, s.F(1), e, e)
	r := s.Vec()
	VDIVPS(e, s.FR(2), r) // 2/(e^{2|u|} + 1)
	big := s.Vec()
	s.Load(s.F(1), big)
	VSUBPS(r, big, big)
	s2 := s.Vec()
	VMULPS(a, a, s2)
	q := s.Vec()
	s.Load(s.F(c[4]), q)
	for i := 3; i >= 0; i-- {
		s.Op(VFMADD213PS, s.F(c[i]), s2, q) // q = q·u² + c[i]
	}
	VMULPS(a, s2, s2)     // |u|³
	VFMADD213PS(a, s2, q) // |u| + |u|³·q
	s.Where(LT, a, s.F(poly.TanhSmall), q, big)
	sign := s.Vec()
	s.Op(VANDPS, s.U(0x80000000), u, sign)
	VORPS(sign, big, big)
	return big
}
