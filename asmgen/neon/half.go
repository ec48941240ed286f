package neon

import "fmt"

// Half-precision conversions between float32 and IEEE binary16, which
// Go's assembler does not know (issue 18's float16 slices). Arm ARM
// "Advanced SIMD two-register miscellaneous": 0 Q 0 01110 0 sz 10000
// opcode 10 Rn Rd with sz = 0 (single ⇄ half), opcode 10110 for FCVTN
// and 10111 for FCVTL; Q selects the upper half of the 16-bit vector
// (FCVTN2, FCVTL2). Both round and handle NaNs by FPCR: Go leaves it at
// round-to-nearest-even, no flush to zero, no default NaN, IEEE half.

func halfConv(opcode uint32, d, n V, upper bool) (uint32, error) {
	if err := checkRegs(d, n); err != nil {
		return 0, err
	}
	w := uint32(0b01110)<<24 | 0b10000<<17 | opcode<<12 | 0b10<<10 | uint32(n)<<5 | uint32(d)
	if upper {
		w |= 1 << 30
	}
	return w, nil
}

// Fcvtn16 encodes FCVTN Vd.4H, Vn.4S (four float32 rounded into the low
// half of d, the high half cleared) or, with upper, FCVTN2 Vd.8H, Vn.4S
// (into the high half, the low half kept).
func Fcvtn16(d, n V, upper bool) (Inst, error) {
	w, err := halfConv(0b10110, d, n, upper)
	if err != nil {
		return Inst{}, err
	}
	if upper {
		return Inst{w, fmt.Sprintf("fcvtn2 v%d.8h, v%d.4s", d, n)}, nil
	}
	return Inst{w, fmt.Sprintf("fcvtn v%d.4h, v%d.4s", d, n)}, nil
}

// Fcvtl16 encodes FCVTL Vd.4S, Vn.4H (the low four binary16 lanes of n
// widened) or, with upper, FCVTL2 Vd.4S, Vn.8H (the high four).
func Fcvtl16(d, n V, upper bool) (Inst, error) {
	w, err := halfConv(0b10111, d, n, upper)
	if err != nil {
		return Inst{}, err
	}
	if upper {
		return Inst{w, fmt.Sprintf("fcvtl2 v%d.4s, v%d.8h", d, n)}, nil
	}
	return Inst{w, fmt.Sprintf("fcvtl v%d.4s, v%d.4h", d, n)}, nil
}

// FCVTN16 rounds the four float32 lanes of n to binary16 in the low half
// of d; FCVTN216 into the high half.
func (e *Emitter) FCVTN16(d, n V)  { e.inst(Fcvtn16(d, n, false)) }
func (e *Emitter) FCVTN216(d, n V) { e.inst(Fcvtn16(d, n, true)) }

// FCVTL16 widens the low four binary16 lanes of n to float32; FCVTL216
// the high four.
func (e *Emitter) FCVTL16(d, n V)  { e.inst(Fcvtl16(d, n, false)) }
func (e *Emitter) FCVTL216(d, n V) { e.inst(Fcvtl16(d, n, true)) }
