package x86

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/poly"
)

// The element-type generic operations: one kernel body emits the PS forms
// for float32 and the PD forms for float64. Operands follow Avo's order
// (sources first, destination last).

func (s *ISA) Add(a, b, d Op) { s.pick(VADDPS, VADDPD, a, b, d) }
func (s *ISA) Sub(a, b, d Op) { s.pick(VSUBPS, VSUBPD, a, b, d) }
func (s *ISA) Mul(a, b, d Op) { s.pick(VMULPS, VMULPD, a, b, d) }
func (s *ISA) Div(a, b, d Op) { s.pick(VDIVPS, VDIVPD, a, b, d) }
func (s *ISA) Max(a, b, d Op) { s.pick(VMAXPS, VMAXPD, a, b, d) }
func (s *ISA) Min(a, b, d Op) { s.pick(VMINPS, VMINPD, a, b, d) }

// FMA213: d = b·d + a. FMA231: d = a·b + d. FNMA231: d = d − a·b.
// FMS213: d = b·d − a.
func (s *ISA) FMA213(a, b, d Op)  { s.pick(VFMADD213PS, VFMADD213PD, a, b, d) }
func (s *ISA) FMA231(a, b, d Op)  { s.pick(VFMADD231PS, VFMADD231PD, a, b, d) }
func (s *ISA) FNMA231(a, b, d Op) { s.pick(VFNMADD231PS, VFNMADD231PD, a, b, d) }
func (s *ISA) FMS213(a, b, d Op)  { s.pick(VFMSUB213PS, VFMSUB213PD, a, b, d) }

func (s *ISA) pick(f32, f64 func(ops ...Op), ops ...Op) {
	if s.F64 {
		s.Op(f64, ops...)
	} else {
		s.Op(f32, ops...)
	}
}

// Mov copies a register or loads a constant (VMOVUPS: bitwise, so the
// same for both element types).
func (s *ISA) Mov(a Op, d reg.VecVirtual) { s.Load(a, d) }

// StoreScalar writes the low element of v to m.
func (s *ISA) StoreScalar(v reg.VecVirtual, m Mem) {
	if s.F64 {
		VMOVSD(v.AsX(), m)
		return
	}
	VMOVSS(v.AsX(), m)
}

// At is the memory operand of element j of the array at base.
func (s *ISA) At(base, j reg.GPVirtual) Mem {
	return Mem{Base: base, Index: j, Scale: uint8(s.Size())}
}

// ConstU64 returns the memory operand of a vector with every 64-bit lane equal to v.
func ConstU64(v uint64) Mem {
	name := fmt.Sprintf("lfd_%016x", v)
	if m, ok := constTable[name]; ok {
		return m
	}
	m := GLOBL(name, 0x8|0x100) // RODATA|NOPTR
	for i := 0; i < 8; i++ {
		DATA(8*i, U64(v))
	}
	constTable[name] = m
	return m
}

// C returns an operand holding v (rounded to the element type) in every
// lane: a pinned register or the memory constant, as F.
func (s *ISA) C(v float64) Op {
	if !s.F64 {
		return s.F(float32(v))
	}
	return s.U64(math.Float64bits(v))
}

// U64 is C for a 64-bit integer lane value.
func (s *ISA) U64(v uint64) Op {
	m := ConstU64(v)
	if r, ok := s.consts[m.Symbol.Name]; ok {
		return r
	}
	return m
}

// CR is FR for either element type.
func (s *ISA) CR(v float64) reg.VecVirtual {
	if !s.F64 {
		return s.FR(float32(v))
	}
	if r, ok := s.C(v).(reg.VecVirtual); ok {
		return r
	}
	r := s.Vec()
	if math.Float64bits(v) == 0 {
		VXORPS(r, r, r) // the zero idiom: no load
		return r
	}
	s.Load(ConstU64(math.Float64bits(v)), r)
	return r
}

// PreloadC is Preload for either element type.
func (s *ISA) PreloadC(vs ...float64) {
	if !s.F64 {
		f := make([]float32, len(vs))
		for i, v := range vs {
			f[i] = float32(v)
		}
		s.Preload(f...)
		return
	}
	if !s.ZMM {
		return
	}
	for _, v := range vs {
		m := ConstU64(math.Float64bits(v))
		if _, ok := s.consts[m.Symbol.Name]; !ok {
			r := s.Vec()
			s.Load(m, r)
			s.consts[m.Symbol.Name] = r
		}
	}
}

// PreloadExp pins the constants Exp reads (AVX-512).
func (s *ISA) PreloadExp() {
	if !s.F64 {
		s.Preload(ExpConsts()...)
		return
	}
	// The polynomial only: the float64 exp has twice float32's
	// coefficients, and the kernels need the rest of the 32 registers.
	s.PreloadC(poly.Exp64[:]...)
}

// PreloadLog pins the constants Log reads (AVX-512).
func (s *ISA) PreloadLog() {
	if !s.F64 {
		s.Preload(LogConsts()...)
		return
	}
	c := []float64{1, 2, 0.5, poly.Ln2Hi64, poly.Ln2Lo64}
	s.PreloadC(append(c, poly.Log64[:]...)...)
}

// MaxFinite is the largest finite value of the element type.
func (s *ISA) MaxFinite() float64 {
	if s.F64 {
		return math.MaxFloat64
	}
	return math.MaxFloat32
}

// exp64 is Exp for float64 lanes (package poly: degree-13 Taylor
// polynomial after the two-constant reduction).
func (s *ISA) exp64(x reg.VecVirtual) reg.VecVirtual {
	c := poly.Exp64
	// As the float32 Exp: lanes below ExpMin64 are zeroed (AVX-512: by the
	// mask of VSCALEFPD; AVX2: computed as e^0 and cleared) rather than
	// underflowing, which costs a microcode assist.
	t := s.Vec()
	var low reg.VecVirtual
	if s.ZMM {
		VMINPD(x, s.CR(poly.ExpMax64), t) // NaN: x is the operand returned
	} else {
		low = YMM()
		VCMPPD(Imm(1), s.CR(poly.ExpMin64), x, low) // x < ExpMin64 (NaN: false)
		VANDNPD(x, low, t)
		VMINPD(t, s.CR(poly.ExpMax64), t)
	}
	n := s.Vec()
	s.Op(VMULPD, s.C(poly.Log2E64), t, n)
	if s.ZMM {
		VRNDSCALEPD(Imm(0), n, n)
	} else {
		VROUNDPD(Imm(0), n, n)
	}
	s.Op(VFNMADD231PD, s.C(poly.Ln2Hi64), n, t) // exact: n·Ln2Hi64 has ≤ 43 bits
	s.Op(VFNMADD231PD, s.C(poly.Ln2Lo64), n, t)
	p := s.Vec()
	s.Load(s.C(c[len(c)-1]), p)
	for i := len(c) - 2; i >= 0; i-- {
		s.Op(VFMADD213PD, s.C(c[i]), t, p)
	}
	r2 := s.Vec()
	VMULPD(t, t, r2)
	VFMADD213PD(t, r2, p) // r + r²·q
	s.Op(VADDPD, s.C(1), p, p)
	if s.ZMM {
		k := K()
		VCMPPD(Imm(5), s.CR(poly.ExpMin64), x, k) // x ≥ ExpMin64 or NaN (NLT_US)
		VSCALEFPD_Z(n, p, k, p)
		return p
	}
	// p·2^(n>>1)·2^(n−n>>1): both factors normal for n in [−1076, 1024].
	n1, n2 := XMM(), XMM()
	VCVTPD2DQY(n, n2)
	VPSRAD(Imm(1), n2, n1)
	VPSUBD(n1, n2, n2)
	s.Op(VPADDD, s.U(1023), n1, n1)
	s.Op(VPADDD, s.U(1023), n2, n2)
	f1, f2 := YMM(), YMM()
	VPMOVZXDQ(n1, f1)
	VPMOVZXDQ(n2, f2)
	VPSLLQ(Imm(52), f1, f1)
	VPSLLQ(Imm(52), f2, f2)
	VMULPD(f1, p, p)
	VMULPD(f2, p, p)
	VANDNPD(p, low, p)
	return p
}

// log64 is Log for float64 lanes (package poly: fdlibm's arrangement of
// the atanh series).
func (s *ISA) log64(x reg.VecVirtual, special bool) reg.VecVirtual {
	c := poly.Log64
	// i = bits(x) − bits(√½) + 1024<<52: its top 12 bits are k + 1024 ≥ 0
	// (so a logical shift suffices on AVX2), its low 52 bits plus √½'s
	// rebuild m.
	i := s.Vec()
	bias := uint64(poly.Sqrt1_2Bits64)
	bias -= 1024 << 52 // wraps
	s.Op(VPSUBQ, s.U64(bias), x, i)
	u := s.Vec()
	VPSRLQ(Imm(52), i, u)
	const two52 = 0x4330000000000000 // 2^52: OR-ing u into its mantissa gives 2^52 + u
	kf := u
	if s.ZMM {
		s.Op(VPORQ, s.U64(two52), u, kf)
		s.Op(VPANDQ, s.U64(1<<52-1), i, i)
	} else {
		VPOR(s.U64(two52), u, kf)
		VPAND(s.U64(1<<52-1), i, i)
	}
	s.Op(VSUBPD, s.C(0x1p52+1024), kf, kf) // k, exactly
	s.Op(VPADDQ, s.U64(poly.Sqrt1_2Bits64), i, i)
	f := i
	s.Op(VSUBPD, s.C(1), f, f) // m − 1, exact
	d := s.Vec()
	s.Op(VADDPD, s.C(2), f, d)
	sv := s.Vec()
	VDIVPD(d, f, sv) // s = f/(2+f)
	z := s.Vec()
	VMULPD(sv, sv, z)
	q := s.Vec()
	s.Load(s.C(c[len(c)-1]), q)
	for j := len(c) - 2; j >= 0; j-- {
		s.Op(VFMADD213PD, s.C(c[j]), z, q)
	}
	VMULPD(z, q, q) // R
	h := s.Vec()
	VMULPD(f, f, h)
	s.Op(VMULPD, s.C(0.5), h, h) // f²/2
	VADDPD(h, q, q)              // f²/2 + R
	b := s.Vec()
	s.Op(VMULPD, s.C(poly.Ln2Lo64), kf, b)
	VFMADD231PD(q, sv, b) // s·(f²/2 + R) + k·ln2lo
	VSUBPD(b, h, h)       // f²/2 − …
	VSUBPD(f, h, h)       // … − f
	r := s.Vec()
	s.Op(VMULPD, s.C(poly.Ln2Hi64), kf, r) // exact
	VSUBPD(h, r, r)
	if special {
		s.Where(EQ, x, s.C(0), s.C(math.Inf(-1)), r)
		s.Where(EQ, x, s.C(math.Inf(1)), s.C(math.Inf(1)), r)
		s.Where(UNORD, x, x, x, r)
	}
	return r
}

// log1p64 is Log1p for float64 lanes: log u + (e − (u − 1))/u, u = 1 + e.
func (s *ISA) log1p64(e reg.VecVirtual) reg.VecVirtual {
	u := s.Vec()
	s.Op(VADDPD, s.C(1), e, u)
	c := s.Vec()
	s.Op(VSUBPD, s.C(1), u, c)
	VSUBPD(c, e, c)
	l := s.Log(u, false)
	VDIVPD(u, c, c)
	VADDPD(c, l, l)
	return l
}

// SignBit is the operand with only the sign bit of every element set.
func (s *ISA) SignBit() Op {
	if s.F64 {
		return s.U64(1 << 63)
	}
	return s.U(0x80000000)
}

// AbsMask is the operand with every bit but the sign set.
func (s *ISA) AbsMask() Op {
	if s.F64 {
		return s.U64(1<<63 - 1)
	}
	return s.U(0x7fffffff)
}

var iota8q Mem

// LaneIndex returns y broadcast to every lane and the lane numbers 0, 1, …
// as integers of the element width (int32 or int64), for ZeroLane; AddI
// then steps the lane numbers by Lanes.
func (s *ISA) LaneIndex(y reg.GPVirtual) (yv, idx reg.VecVirtual) {
	yv, idx = s.Vec(), s.Vec()
	if !s.F64 {
		VMOVD(y.As32(), yv.AsX())
		VPBROADCASTD(yv.AsX(), yv)
		s.LoadIota(idx, false)
		return yv, idx
	}
	VMOVQ(y, yv.AsX())
	VPBROADCASTQ(yv.AsX(), yv)
	if !s.ZMM {
		if iota8q.Symbol.Name == "" {
			iota8q = GLOBL("lfiotaq", 0x8|0x100)
			for i := 0; i < 8; i++ {
				DATA(8*i, U64(uint64(i)))
			}
		}
		VMOVUPS(iota8q, idx) // 4 of them: 32 bytes never straddle
		return yv, idx
	}
	s.LoadIota(idx, true)
	return yv, idx
}

// AddI adds c to every integer lane of v (lanes of the element width).
func (s *ISA) AddI(c int, v reg.VecVirtual) {
	if !s.F64 {
		s.AddI32(c, v)
		return
	}
	s.Op(VPADDQ, s.U64(uint64(c)), v, v)
}

// SumBlock is the number of vectors a BlockSum adds in its float32 level
// before flushing it into the float64 one: a lane's float32 sum then has
// at most SumBlock terms, and loses at most (SumBlock − 1)·u of them,
// whatever the row's length (reference.SumBlock32 charges it).
const SumBlock = 16

// BlockSum is a two-level sum of vectors of positive terms (a row's
// exponentials): Add accumulates in a float32 vector, which Flush adds into
// an F64Acc; the caller flushes after every SumBlock adds at most (the
// loops Span.EachBlock and EachOutBlock call it), so that the float32
// level's error is bounded by SumBlock terms per lane instead of the row's
// length over the lane count, and the flush is amortised over SumBlock
// vectors. For float64 elements it is one plain vector accumulator and
// Flush does nothing. On AVX2 the float64 level lives in the frame, not in
// two of the 16 registers: it is touched once a block, and the soft-capped
// rows (tanh, exp, the sum and a dot product) need every register.
type BlockSum struct {
	s   *ISA
	v   reg.VecVirtual // the float32 level (float64: the only one)
	acc F64Acc
	mem Mem // AVX2 float32: the float64 level, two vectors of 4 lanes
}

// NewBlockSum allocates and zeroes a two-level sum.
func (s *ISA) NewBlockSum() *BlockSum {
	b := &BlockSum{s: s, v: s.Vec()}
	VXORPS(b.v, b.v, b.v)
	switch {
	case s.F64:
	case s.ZMM:
		b.acc = s.NewF64Acc()
	default:
		b.mem = AllocLocal(64)
		VMOVUPD(b.v, b.mem)
		VMOVUPD(b.v, b.mem.Offset(32))
	}
	return b
}

// inFrame reports whether the float64 level is in the frame (AVX2).
func (b *BlockSum) inFrame() bool { return !b.s.F64 && !b.s.ZMM }

// f64Halves widens the float32 vector v into two float64 vectors.
func (b *BlockSum) f64Halves(v reg.VecVirtual) (lo, hi reg.VecVirtual) {
	lo, hi = b.s.Vec(), b.s.Vec()
	VCVTPS2PD(v.AsX(), lo)
	VEXTRACTF128(Imm(1), v, hi.AsX())
	VCVTPS2PD(hi.AsX(), hi)
	return lo, hi
}

// Add adds the vector e (masked-off lanes must hold 0).
func (b *BlockSum) Add(e reg.VecVirtual) { b.s.Add(e, b.v, b.v) }

// AddProduct adds a·b lane-wise with one rounding (masked-off lanes of a
// or b must hold 0).
func (b *BlockSum) AddProduct(a, c reg.VecVirtual) { b.s.FMA231(a, c, b.v) }

// Flush moves the float32 level into the float64 one.
func (b *BlockSum) Flush() {
	if !b.s.F64 {
		b.flush()
	}
}

func (b *BlockSum) flush() {
	if b.inFrame() {
		lo, hi := b.f64Halves(b.v)
		VADDPD(b.mem, lo, lo)
		VADDPD(b.mem.Offset(32), hi, hi)
		VMOVUPD(lo, b.mem)
		VMOVUPD(hi, b.mem.Offset(32))
	} else {
		b.acc.Add(b.v)
	}
	VXORPS(b.v, b.v, b.v)
}

// Scale multiplies both levels by f, which holds the same value in every
// lane (the rescale of an online log-sum-exp).
func (b *BlockSum) Scale(f reg.VecVirtual) {
	b.s.Mul(f, b.v, b.v)
	if b.s.F64 {
		return
	}
	d := b.s.Vec()
	if b.s.ZMM {
		VCVTPS2PD(f.AsY(), d)
	} else {
		VCVTPS2PD(f.AsX(), d)
	}
	if b.inFrame() {
		for _, off := range []int{0, 32} {
			t := b.s.Vec()
			VMULPD(b.mem.Offset(off), d, t)
			VMOVUPD(t, b.mem.Offset(off))
		}
		return
	}
	VMULPD(d, b.acc.lo, b.acc.lo)
	VMULPD(d, b.acc.hi, b.acc.hi)
}

// Sum64 returns the sum as a float64 in the low lane of an XMM register.
// The sum must not be used afterwards.
func (b *BlockSum) Sum64() reg.VecVirtual {
	if b.s.F64 {
		hi := b.s.Vec()
		VXORPS(hi, hi, hi)
		return F64Acc{s: b.s, lo: b.v, hi: hi}.Sum()
	}
	b.flush()
	if b.inFrame() {
		b.acc = F64Acc{s: b.s, lo: b.s.Vec(), hi: b.s.Vec()}
		VMOVUPD(b.mem, b.acc.lo)
		VMOVUPD(b.mem.Offset(32), b.acc.hi)
	}
	return b.acc.Sum()
}

// Total returns the sum in every lane of a new register, times f (nil: 1;
// else the same value in every lane) before the float32 sum is rounded
// once from float64 to float32. The sum must not be used afterwards.
func (b *BlockSum) Total(f reg.VecVirtual) reg.VecVirtual {
	if b.s.F64 {
		b.s.AllSum(b.v)
		if f != nil {
			b.s.Mul(f, b.v, b.v)
		}
		return b.v
	}
	b.flush()
	if b.inFrame() {
		b.acc = F64Acc{s: b.s, lo: b.s.Vec(), hi: b.s.Vec()}
		VMOVUPD(b.mem, b.acc.lo)
		VMOVUPD(b.mem.Offset(32), b.acc.hi)
	}
	x := b.acc.Sum()
	if f != nil {
		t := XMM()
		VCVTSS2SD(f.AsX(), t, t)
		VMULSD(t, x, x)
	}
	VCVTSD2SS(x, x, x)
	r := b.s.Vec()
	VBROADCASTSS(x, r)
	return r
}

// tanh64 is Tanh for float64 lanes, with one formula for every |u|:
// tanh |u| = −E/(2 + E), E = expm1(−2|u|) ∈ (−1, 0]. E comes from exp64's
// reduction, −2|u| = n·ln2 + r: with P = e^r − 1 = r + r²·q(r) (the
// polynomial before its 1 is added), E = 2^n·P + (2^n − 1), one FMA whose
// terms cannot cancel badly (n ≤ 0, and for n = −1 the sum is in
// [−0.65, −0.3]); for n = 0 it is P itself, accurate for small |u|, where
// 1 − 2/(e^{2|u|} + 1) would cancel. −2|u| is clamped at −40, where
// tanh rounds to 1 (2e^−40 is below half an ULP of 1), which keeps 2^n
// normal. ±Inf give ±1, NaN stays NaN.
func (s *ISA) tanh64(u reg.VecVirtual) reg.VecVirtual {
	c := poly.Exp64
	x := s.Vec()
	s.Op(VANDPD, s.AbsMask(), u, x)
	s.Op(VMULPD, s.C(-2), x, x)
	VMAXPD(x, s.CR(-40), x) // NaN: x is the operand returned
	n := s.Vec()
	s.Op(VMULPD, s.C(poly.Log2E64), x, n)
	if s.ZMM {
		VRNDSCALEPD(Imm(0), n, n)
	} else {
		VROUNDPD(Imm(0), n, n)
	}
	s.Op(VFNMADD231PD, s.C(poly.Ln2Hi64), n, x)
	s.Op(VFNMADD231PD, s.C(poly.Ln2Lo64), n, x)
	p := s.Vec()
	s.Load(s.C(c[len(c)-1]), p)
	for i := len(c) - 2; i >= 0; i-- {
		s.Op(VFMADD213PD, s.C(c[i]), x, p)
	}
	r2 := s.Vec()
	VMULPD(x, x, r2)
	VFMADD213PD(x, r2, p) // P = r + r²·q
	// 2^n for n in [−58, 0].
	pn := s.Vec()
	if s.ZMM {
		VSCALEFPD(n, s.CR(1), pn)
	} else {
		ni := XMM()
		VCVTPD2DQY(n, ni)
		s.Op(VPADDD, s.U(1023), ni, ni)
		VPMOVZXDQ(ni, pn)
		VPSLLQ(Imm(52), pn, pn)
	}
	e := s.Vec()
	s.Op(VSUBPD, s.C(1), pn, e) // 2^n − 1, exact
	VFMADD231PD(pn, p, e)       // E = 2^n·P + (2^n − 1)
	d := s.Vec()
	s.Op(VADDPD, s.C(2), e, d)
	VDIVPD(d, e, e)
	s.Op(VANDPD, s.AbsMask(), e, e) // −E/(2 + E) = tanh |u| (+0 at u = 0)
	sign := s.Vec()
	s.Op(VANDPD, s.SignBit(), u, sign)
	VORPD(sign, e, e)
	return e
}
