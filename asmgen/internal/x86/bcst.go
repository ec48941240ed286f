package x86

import (
	"reflect"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Vector constants are 64-byte RODATA symbols (a full ZMM), but Go's linker
// aligns data to at most 32 bytes on amd64: whether they sit at 0 or 32
// mod 64 depends on the rest of the binary, and at 32 every full-width ZMM
// load of one straddles two cache lines (Distill's pass 1, which reads its
// exp constants from memory, ran 2.5× slower in such a binary). On AVX-512
// an instruction whose source is a constant therefore reads it as an
// embedded broadcast of its first element ({1to16} or {1to8}), which no
// alignment can split. AVX2 reads the first 32 bytes, which never straddle.

// bcstForms maps an instruction to its embedded-broadcast form, with the
// broadcast element's width in bytes.
var bcstForms = map[uintptr]struct {
	f     func(...Op)
	width int
}{}

func init() {
	for _, p := range []struct {
		f, b  func(...Op)
		width int
	}{
		{VADDPS, VADDPS_BCST, 4}, {VADDPD, VADDPD_BCST, 8},
		{VSUBPS, VSUBPS_BCST, 4}, {VSUBPD, VSUBPD_BCST, 8},
		{VMULPS, VMULPS_BCST, 4}, {VMULPD, VMULPD_BCST, 8},
		{VDIVPS, VDIVPS_BCST, 4}, {VDIVPD, VDIVPD_BCST, 8},
		{VMAXPS, VMAXPS_BCST, 4}, {VMAXPD, VMAXPD_BCST, 8},
		{VMINPS, VMINPS_BCST, 4}, {VMINPD, VMINPD_BCST, 8},
		{VFMADD213PS, VFMADD213PS_BCST, 4}, {VFMADD213PD, VFMADD213PD_BCST, 8},
		{VFMADD231PS, VFMADD231PS_BCST, 4}, {VFMADD231PD, VFMADD231PD_BCST, 8},
		{VFNMADD231PS, VFNMADD231PS_BCST, 4}, {VFNMADD231PD, VFNMADD231PD_BCST, 8},
		{VFMSUB213PS, VFMSUB213PS_BCST, 4}, {VFMSUB213PD, VFMSUB213PD_BCST, 8},
		{VCMPPS, VCMPPS_BCST, 4}, {VCMPPD, VCMPPD_BCST, 8},
		{VANDPS, VANDPS_BCST, 4}, {VANDPD, VANDPD_BCST, 8},
		{VPADDD, VPADDD_BCST, 4}, {VPADDQ, VPADDQ_BCST, 8},
		{VPSUBD, VPSUBD_BCST, 4}, {VPSUBQ, VPSUBQ_BCST, 8},
		{VPANDD, VPANDD_BCST, 4}, {VPANDQ, VPANDQ_BCST, 8},
		{VPORD, VPORD_BCST, 4}, {VPORQ, VPORQ_BCST, 8},
		{VPXORD, VPXORD_BCST, 4}, {VPXORQ, VPXORQ_BCST, 8},
		{VXORPS, VXORPS_BCST, 4}, {VXORPD, VXORPD_BCST, 8},
		{VORPS, VORPS_BCST, 4}, {VORPD, VORPD_BCST, 8},
		{VANDNPS, VANDNPS_BCST, 4}, {VANDNPD, VANDNPD_BCST, 8},
	} {
		bcstForms[reflect.ValueOf(p.f).Pointer()] = struct {
			f     func(...Op)
			width int
		}{p.b, p.width}
	}
}

// constWidth is the width in bytes of the repeating element of a vector
// constant operand (lfc_: 4, lfd_: 8), or 0 for any other operand.
func constWidth(op Op) int {
	m, ok := op.(Mem)
	if !ok || m.Index != nil || m.Disp != 0 { // a symbol, addressed off SB
		return 0
	}
	switch {
	case strings.HasPrefix(m.Symbol.Name, "lfc_"):
		return 4
	case strings.HasPrefix(m.Symbol.Name, "lfd_"):
		return 8
	}
	return 0
}

// Op emits f(ops...), on AVX-512 in f's embedded-broadcast form where a
// source is a vector constant whose element is no wider than the
// broadcast's (a 4-byte constant broadcast as 8 bytes is two copies of
// itself).
func (s *ISA) Op(f func(...Op), ops ...Op) {
	if s.ZMM {
		if b, ok := bcstForms[reflect.ValueOf(f).Pointer()]; ok {
			for _, op := range ops {
				w := constWidth(op)
				if w != 0 && w > b.width && !masked(ops) {
					// A bitwise op on 64-bit constants: the PD form is
					// the same operation on 8-byte elements (but its mask
					// would select 8-byte lanes).
					if pd, ok := bitwisePD[reflect.ValueOf(f).Pointer()]; ok {
						pd(ops...)
						return
					}
				}
				if w != 0 && w <= b.width {
					b.f(ops...)
					return
				}
			}
		}
	}
	f(ops...)
}

// masked reports whether ops hold an opmask register.
func masked(ops []Op) bool {
	for _, op := range ops {
		if r, ok := op.(reg.Register); ok && r.Kind() == reg.KindOpmask {
			return true
		}
	}
	return false
}

// bitwisePD maps a bitwise PS instruction to the broadcast form of its PD
// twin, for 64-bit constant operands.
var bitwisePD = map[uintptr]func(...Op){}

func init() {
	for _, p := range []struct{ ps, pd func(...Op) }{
		{VXORPS, VXORPD_BCST}, {VORPS, VORPD_BCST}, {VANDPS, VANDPD_BCST}, {VANDNPS, VANDNPD_BCST},
	} {
		bitwisePD[reflect.ValueOf(p.ps).Pointer()] = p.pd
	}
}

// Load sets d to a (a register, memory, or a vector constant: on AVX-512
// a broadcast of its element, for the reason above).
func (s *ISA) Load(a Op, d Op) {
	if s.ZMM {
		switch constWidth(a) {
		case 4:
			VBROADCASTSS(a, d)
			return
		case 8:
			VBROADCASTSD(a, d)
			return
		}
	}
	VMOVUPS(a, d)
}

// loadMasked sets the lanes of d selected by k to a (AVX-512 only), a
// vector constant read as a broadcast like Load's. k has a bit per element
// of the ISA's type, so the broadcast is of that width: a 4-byte constant
// is two copies of itself as 8 bytes, but an 8-byte one has no 4-byte
// element and is read whole.
func (s *ISA) loadMasked(a Op, k Op, d Op) {
	w := constWidth(a)
	switch {
	case s.F64 && w != 0:
		VBROADCASTSD(a, k, d)
	case s.F64:
		VMOVUPD(a, k, d)
	case w == 4:
		VBROADCASTSS(a, k, d)
	default:
		VMOVUPS(a, k, d)
	}
}

// isZeroConst reports whether op is the vector constant 0 (all bits clear).
func isZeroConst(op Op) bool {
	m, ok := op.(Mem)
	return ok && constWidth(op) != 0 && strings.Trim(m.Symbol.Name[len("lfc_"):], "0") == ""
}
