// Package x86 holds the building blocks every amd64 kernel generator shares:
// an ISA description that lets one kernel function emit AVX2+FMA (YMM) and
// AVX-512 (ZMM) code, vector constants, masked tails, horizontal reductions,
// and the vector exp and log built on the constants of package poly.
//
// Blocks allocate Avo virtual registers and never touch physical ones, so
// they can be inlined anywhere; each states its inputs and what it writes.
package x86

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// ISA describes one vector instruction set and element type: float32
// (AVX2, AVX512) or float64 (AVX2D, AVX512D, whose blocks emit the PD forms).
type ISA struct {
	Name  string // "avx2" or "avx512": suffix of every generated symbol
	Lanes int    // elements per vector
	ZMM   bool   // AVX-512 (opmask tails, 32 vector registers, VSCALEFPS)
	F64   bool   // float64 elements

	consts map[string]reg.VecVirtual // constants kept in registers (AVX-512)
}

var (
	AVX2   = &ISA{Name: "avx2", Lanes: 8}
	AVX512 = &ISA{Name: "avx512", Lanes: 16, ZMM: true}

	AVX2D   = &ISA{Name: "avx2", Lanes: 4, F64: true}
	AVX512D = &ISA{Name: "avx512", Lanes: 8, ZMM: true, F64: true}
)

// Size is the width of one element in bytes.
func (s *ISA) Size() int {
	if s.F64 {
		return 8
	}
	return 4
}

// Bytes is the width of one vector in bytes.
func (s *ISA) Bytes() int { return s.Size() * s.Lanes }

// Vec allocates a vector register of the ISA's width.
func (s *ISA) Vec() reg.VecVirtual {
	if s.ZMM {
		return ZMM()
	}
	return YMM()
}

// Begin must be called at the start of every function body: constants are
// cached per function.
func (s *ISA) Begin() { s.consts = map[string]reg.VecVirtual{} }

// End emits VZEROUPPER (avoids the SSE transition penalty in the caller) and RET.
func (s *ISA) End() {
	VZEROUPPER()
	RET()
}

// constTable is every vector constant, emitted once as 64-byte RODATA
// (a full ZMM; AVX2 reads the first 32 bytes).
var constTable = map[string]Mem{}

func bits32(v float32) uint32 { return math.Float32bits(v) }

// ConstU32 returns the memory operand of a vector with every lane equal to v.
func ConstU32(v uint32) Mem {
	name := fmt.Sprintf("lfc_%08x", v)
	if m, ok := constTable[name]; ok {
		return m
	}
	m := GLOBL(name, 0x8|0x100) // RODATA|NOPTR
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(v))
	}
	constTable[name] = m
	return m
}

// ConstF returns the memory operand of a vector with every lane equal to v.
func ConstF(v float32) Mem { return ConstU32(bits32(v)) }

// F returns an operand holding v in every lane, for any slot that takes
// m256/m512: the register Preload put it in, or else the memory constant
// (an L1 load, cheaper than pinning registers AVX2 does not have).
func (s *ISA) F(v float32) Op { return s.U(bits32(v)) }

// U is F for an integer lane value.
func (s *ISA) U(v uint32) Op {
	m := ConstU32(v)
	if r, ok := s.consts[m.Symbol.Name]; ok {
		return r
	}
	return m
}

// FR returns v in a register, for operand slots that need one. The result
// may be a pinned register: do not overwrite it.
func (s *ISA) FR(v float32) reg.VecVirtual {
	if r, ok := s.U(bits32(v)).(reg.VecVirtual); ok {
		return r
	}
	r := s.Vec()
	if bits32(v) == 0 {
		VXORPS(r, r, r) // the zero idiom: no load
		return r
	}
	s.Load(ConstF(v), r)
	return r
}

// Preload pins constants in registers for the rest of the function on
// AVX-512 (32 registers); it must run before any branch so that the load
// dominates every use. It does nothing on AVX2.
func (s *ISA) Preload(vs ...float32) {
	if !s.ZMM {
		return
	}
	for _, v := range vs {
		m := ConstF(v)
		if _, ok := s.consts[m.Symbol.Name]; !ok {
			r := s.Vec()
			s.Load(m, r)
			s.consts[m.Symbol.Name] = r
		}
	}
}
