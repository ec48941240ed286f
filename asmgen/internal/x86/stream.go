package x86

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

var labels int

// NewLabel returns a fresh label name starting with prefix, so that inlined
// blocks never collide.
func NewLabel(prefix string) string {
	labels++
	return fmt.Sprintf("%s_%d", prefix, labels)
}

// Span is the loop structure over k elements: Full counts the elements in
// whole vectors and Tail masks the remaining k − Full (< Lanes) lanes.
type Span struct {
	s    *ISA
	K    reg.GPVirtual
	Full reg.GPVirtual
	Tail Mask
}

// NewSpan computes Full and the tail mask of k once, outside any row loop.
func (s *ISA) NewSpan(k reg.GPVirtual) Span {
	full := GP64()
	MOVQ(k, full)
	// Round down to whole vectors (Lanes is a power of two).
	shift := uint64(0)
	for 1<<shift < s.Lanes {
		shift++
	}
	SHRQ(Imm(shift), full)
	SHLQ(Imm(shift), full)
	rem := GP64()
	MOVQ(k, rem)
	SUBQ(full, rem)
	return Span{s: s, K: k, Full: full, Tail: s.TailMask(rem)}
}

// Each emits a loop over the span calling body(j, nil) for the whole vector
// at element index j, then body(j, &mask) once for the masked tail if any.
// body must not modify j.
func (sp Span) Each(body func(j reg.GPVirtual, m *Mask)) {
	j := GP64()
	loop, tail, done := NewLabel("loop"), NewLabel("tail"), NewLabel("done")
	XORQ(j, j)
	Label(loop)
	CMPQ(j, sp.Full)
	JAE(LabelRef(tail))
	body(j, nil)
	ADDQ(Imm(uint64(sp.s.Lanes)), j)
	JMP(LabelRef(loop))
	Label(tail)
	CMPQ(j, sp.K)
	JAE(LabelRef(done))
	body(j, &sp.Tail)
	Label(done)
}

// EachBlock is Each with flush() emitted after every run of at most n
// whole vectors (and after the last, partial one), before the tail: the
// loop of a BlockSum. The whole vectors run in an inner loop with one
// taken branch per vector, the block's end computed once per block.
// float64 spans, whose sums have one level, loop as Each.
func (sp Span) EachBlock(n int, body func(j reg.GPVirtual, m *Mask), flush func()) {
	if sp.s.F64 {
		sp.Each(body)
		return
	}
	j, end := GP64(), GP64()
	outer, inner, tail, done := NewLabel("blk"), NewLabel("loop"), NewLabel("tail"), NewLabel("done")
	XORQ(j, j)
	Label(outer)
	CMPQ(j, sp.Full)
	JAE(LabelRef(tail))
	LEAQ(Mem{Base: j, Disp: n * sp.s.Lanes}, end)
	CMPQ(end, sp.Full)
	CMOVQHI(sp.Full, end)
	Label(inner) // j < end here
	body(j, nil)
	ADDQ(Imm(uint64(sp.s.Lanes)), j)
	CMPQ(j, end)
	JB(LabelRef(inner))
	flush()
	JMP(LabelRef(outer))
	Label(tail)
	CMPQ(j, sp.K)
	JAE(LabelRef(done))
	body(j, &sp.Tail)
	Label(done)
}

// At is the memory operand of element j of the float32 array at base.
func At(base, j reg.GPVirtual) Mem { return Mem{Base: base, Index: j, Scale: 4} }

// LoadAt reads a whole vector (m == nil) or the masked tail, with fill in
// masked-off lanes (nil: zero).
func (s *ISA) LoadAt(m *Mask, mem Mem, fill reg.VecVirtual) reg.VecVirtual {
	if m != nil {
		return m.Load(mem, fill)
	}
	v := s.Vec()
	VMOVUPS(mem, v)
	return v
}

// StoreAt writes a whole vector or the masked tail.
func (s *ISA) StoreAt(m *Mask, v reg.VecVirtual, mem Mem) {
	if m != nil {
		m.Store(v, mem)
		return
	}
	VMOVUPS(v, mem)
}

// ZeroOff clears the lanes of v outside the mask (m == nil: none).
func (s *ISA) ZeroOff(m *Mask, v reg.VecVirtual) {
	if m == nil {
		return
	}
	if s.ZMM && s.F64 {
		VMOVAPD_Z(v, m.k, v)
		return
	}
	if s.ZMM {
		VMOVAPS_Z(v, m.k, v)
		return
	}
	VANDPS(m.v, v, v)
}

// Broadcast loads the float32 at mem into every lane of a new register.
func (s *ISA) Broadcast(mem Mem) reg.VecVirtual {
	v := s.Vec()
	if s.F64 {
		VBROADCASTSD(mem, v)
		return v
	}
	VBROADCASTSS(mem, v)
	return v
}

// IfAny emits then(), run only when (x pred y) holds in some lane.
func (s *ISA) IfAny(pred uint8, x reg.VecVirtual, y Op, then func()) {
	skip := NewLabel("skip")
	if s.F64 {
		if s.ZMM {
			k := K()
			s.Op(VCMPPD, Imm(uint64(pred)), y, x, k)
			KORTESTB(k, k)
		} else {
			m := YMM()
			s.Op(VCMPPD, Imm(uint64(pred)), y, x, m)
			VTESTPD(m, m)
		}
		JZ(LabelRef(skip))
		then()
		Label(skip)
		return
	}
	if s.ZMM {
		k := K()
		s.Op(VCMPPS, Imm(uint64(pred)), y, x, k)
		KORTESTW(k, k)
	} else {
		m := YMM()
		s.Op(VCMPPS, Imm(uint64(pred)), y, x, m)
		VTESTPS(m, m)
	}
	JZ(LabelRef(skip))
	then()
	Label(skip)
}

var iota16 Mem

// Iota is the memory operand of the int32 lanes 0, 1, …, 15.
func Iota() Mem {
	if iota16.Symbol.Name == "" {
		iota16 = GLOBL("lfiota", 0x8|0x100)
		for i := 0; i < 16; i++ {
			DATA(4*i, U32(uint32(i)))
		}
	}
	return iota16
}

var iotaBytes Mem

// LoadIota sets d to the int32 lanes 0, 1, …, Lanes−1 (or the int64 lanes
// 0…7 with q). AVX-512 widens them from a 16-byte table: a 64-byte load of
// Iota would straddle two cache lines at the 32-byte alignment Go's linker
// gives it (see bcst.go).
func (s *ISA) LoadIota(d reg.VecVirtual, q bool) {
	if !s.ZMM {
		if q {
			panic("LoadIota: int64 lanes on AVX2")
		}
		VMOVUPS(Iota(), d)
		return
	}
	if iotaBytes.Symbol.Name == "" {
		iotaBytes = GLOBL("lfiotab", 0x8|0x100)
		for i := 0; i < 16; i++ {
			DATA(i, U8(uint8(i)))
		}
	}
	if q {
		VPMOVZXBQ(iotaBytes, d)
		return
	}
	VPMOVZXBD(iotaBytes, d)
}

// AddI32 adds the integer c to every int32 lane of v.
func (s *ISA) AddI32(c int, v reg.VecVirtual) {
	s.Op(VPADDD, s.U(uint32(c)), v, v)
}

// ZeroLane clears the lanes of v where the int32 lanes of idx equal those
// of y.
func (s *ISA) ZeroLane(idx, y, v reg.VecVirtual) {
	if s.F64 {
		if s.ZMM {
			k := K()
			VPCMPQ(Imm(4), y, idx, k) // idx ≠ y
			VMOVAPD_Z(v, k, v)
			return
		}
		m := YMM()
		VPCMPEQQ(y, idx, m)
		VANDNPD(v, m, v)
		return
	}
	if s.ZMM {
		k := K()
		VPCMPD(Imm(4), y, idx, k) // idx ≠ y
		VMOVAPS_Z(v, k, v)
		return
	}
	m := YMM()
	VPCMPEQD(y, idx, m)
	VANDNPS(v, m, v) // v & ^m
}

// EachStreamed is Each for loops that write dst with non-temporal stores,
// which bypass the caches: an output too large for them then costs one
// write instead of a read for ownership plus a write-back, and does not
// evict the inputs an earlier pass left in L2 and L3. Those stores need
// dst+j on a vector boundary, so body runs for a masked head of fewer than
// Lanes elements first (none if dst is aligned), then for whole aligned
// vectors, then for the masked tail. body writes its result with store,
// which is the masked store for head and tail. dst must be element-aligned
// (a Go slice is). A function using it must end with SFENCE (EndStreamed).
func (sp Span) EachStreamed(dst reg.GPVirtual, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem))) {
	sp.eachAlignedTo(dst, body, sp.s.StoreNT)
}

// EachAligned is EachStreamed with ordinary stores: the whole vectors are
// written to vector-aligned addresses, so that none splits a cache line
// (a row of a call whose K is not a multiple of the vector width starts
// anywhere; on Intel, AVX-512 stores that each split a line took a
// long-row kernel to 2.2× its time). The output stays cached.
func (sp Span) EachAligned(dst reg.GPVirtual, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem))) {
	sp.eachAlignedTo(dst, body, func(v reg.VecVirtual, mem Mem) { sp.s.StoreAt(nil, v, mem) })
}

// eachAlignedTo is EachStreamed with whole for the aligned whole vectors'
// stores.
func (sp Span) eachAlignedTo(dst reg.GPVirtual, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem)), whole func(v reg.VecVirtual, mem Mem)) {
	s := sp.s
	loop, tail, done := NewLabel("ntloop"), NewLabel("nttail"), NewLabel("ntdone")
	j := GP64()
	XORQ(j, j)
	h := sp.streamHead(dst)
	TESTQ(h, h)
	JZ(LabelRef(loop))
	head := s.TailMask(h)
	body(j, &head, head.Store)
	MOVQ(h, j)
	Label(loop)
	end := GP64()
	LEAQ(Mem{Base: j, Disp: s.Lanes}, end)
	CMPQ(end, sp.K)
	JA(LabelRef(tail))
	body(j, nil, whole)
	MOVQ(end, j)
	JMP(LabelRef(loop))
	Label(tail)
	sp.streamTail(j, done, body)
}

// streamHead returns, in a new register, the elements before dst reaches a
// vector boundary, at most K: the masked head of a streamed loop.
func (sp Span) streamHead(dst reg.GPVirtual) reg.GPVirtual {
	s := sp.s
	shift := uint64(2)
	if s.F64 {
		shift = 3
	}
	h := GP64()
	MOVQ(dst, h)
	NEGQ(h)
	ANDQ(Imm(uint64(s.Bytes()-1)), h)
	SHRQ(Imm(shift), h)
	CMPQ(h, sp.K)
	CMOVQHI(sp.K, h)
	return h
}

// streamTail emits body for the masked tail j…K of a streamed loop, if
// any, and the loop's done label.
func (sp Span) streamTail(j reg.GPVirtual, done string, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem))) {
	rem := GP64()
	MOVQ(sp.K, rem)
	SUBQ(j, rem)
	JZ(LabelRef(done))
	t := sp.s.TailMask(rem)
	body(j, &t, t.Store)
	Label(done)
}

// EachStreamedBlock is EachStreamed with flush() emitted after the head
// and after every run of at most n aligned whole vectors, before the tail
// (as EachBlock; float64: as EachStreamed).
func (sp Span) EachStreamedBlock(dst reg.GPVirtual, n int, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem)), flush func()) {
	s := sp.s
	if s.F64 {
		sp.EachStreamed(dst, body)
		return
	}
	outer, inner, tail, done := NewLabel("ntblk"), NewLabel("ntloop"), NewLabel("nttail"), NewLabel("ntdone")
	j := GP64()
	XORQ(j, j)
	h := sp.streamHead(dst)
	TESTQ(h, h)
	JZ(LabelRef(outer))
	head := s.TailMask(h)
	body(j, &head, head.Store)
	flush()
	MOVQ(h, j)
	Label(outer)
	end, be := GP64(), GP64()
	LEAQ(Mem{Base: j, Disp: s.Lanes}, end)
	CMPQ(end, sp.K)
	JA(LabelRef(tail))
	LEAQ(Mem{Base: j, Disp: n * s.Lanes}, be)
	CMPQ(be, sp.K)
	CMOVQHI(sp.K, be)
	Label(inner) // j + Lanes ≤ be here
	body(j, nil, s.StoreNT)
	ADDQ(Imm(uint64(s.Lanes)), j)
	LEAQ(Mem{Base: j, Disp: s.Lanes}, end)
	CMPQ(end, be)
	JBE(LabelRef(inner))
	flush()
	JMP(LabelRef(outer))
	Label(tail)
	sp.streamTail(j, done, body)
}

// EachOutBlock is EachOut with flush() as EachBlock.
func (sp Span) EachOutBlock(dst reg.GPVirtual, streamed bool, n int, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem)), flush func()) {
	if streamed {
		sp.EachStreamedBlock(dst, n, body, flush)
		return
	}
	sp.EachBlock(n, func(j reg.GPVirtual, m *Mask) {
		body(j, m, func(v reg.VecVirtual, mem Mem) { sp.s.StoreAt(m, v, mem) })
	}, flush)
}

// EachOut is EachStreamed when streamed is set, else Each with ordinary
// (masked in the tail) stores handed to body as store: one kernel body
// serves both variants. End the function with EndOut(streamed).
func (sp Span) EachOut(dst reg.GPVirtual, streamed bool, body func(j reg.GPVirtual, m *Mask, store func(v reg.VecVirtual, mem Mem))) {
	if streamed {
		sp.EachStreamed(dst, body)
		return
	}
	sp.Each(func(j reg.GPVirtual, m *Mask) {
		body(j, m, func(v reg.VecVirtual, mem Mem) { sp.s.StoreAt(m, v, mem) })
	})
}

// EndOut is EndStreamed after streamed stores, else End.
func (s *ISA) EndOut(streamed bool) {
	if streamed {
		s.EndStreamed()
		return
	}
	s.End()
}

// StoreNT writes the whole vector v to the vector-aligned mem with a
// non-temporal store.
func (s *ISA) StoreNT(v reg.VecVirtual, mem Mem) {
	if s.F64 {
		VMOVNTPD(v, mem)
		return
	}
	VMOVNTPS(v, mem)
}

// EndStreamed is End for functions that used non-temporal stores: SFENCE
// orders them before every later store, as Go's memory model expects of
// ordinary ones.
func (s *ISA) EndStreamed() {
	SFENCE()
	s.End()
}

// PrefetchDistance is how far ahead of the element being read PrefetchAhead
// asks for data, in bytes. Pass 1 over logits streamed from DRAM is
// compute-bound per vector yet issues too few loads for the hardware
// prefetchers to hide DRAM latency. On Sapphire Rapids, LogSumExp over
// 1024×8192 float32 from DRAM took 1.04–1.45 ns per element on AVX2 without
// prefetching and 0.43–0.54 with it, AVX-512 at 4096×8192 0.66 and 0.42;
// 1024 bytes ahead was slower, 8192 no better (docs/benchmarks.md).
var PrefetchDistance = 4096

// PrefetchAhead hints that element j + PrefetchDistance/Size of the array at
// base will be read soon. A prefetch never faults, so it may point past the
// end of the slice.
func (s *ISA) PrefetchAhead(base, j reg.GPVirtual) {
	m := s.At(base, j)
	m.Disp += PrefetchDistance
	PREFETCHT0(m)
}
