// Package neon writes Plan 9 arm64 assembly for Advanced SIMD (NEON)
// kernels. Go's arm64 assembler has no mnemonics for most vector
// floating-point instructions (FADD, FMUL, FMAX, FRINTN, FCVTZS, … on
// vectors), so this package encodes those itself and emits them as
//
//	WORD $0x4e23d441 // fadd v1.4s, v2.4s, v3.4s
//
// with the GNU assembler's spelling as the comment. Everything Go's
// assembler does know (VLD1, VST1, VFMLA, VDUP, VADD, VBSL, scalar FP, …)
// is written with Go's own mnemonics through Emitter.Op.
//
// Every encoding function range-checks its operands; the tables name the
// encoding class (Arm Architecture Reference Manual, DDI 0487, C4.1 "A64
// instruction set encoding") and each instruction's page (C7.2). encode_test.go compares every encoding with the GNU assembler's.
package neon

import "fmt"

// V is a SIMD&FP register, V0 … V31.
type V uint8

// Arr is a vector arrangement: four 32-bit lanes or two 64-bit lanes,
// always the full 128-bit register (Q = 1).
type Arr uint8

const (
	S4 Arr = iota // 4 × float32 / int32
	D2            // 2 × float64 / int64
)

// sz is the arrangement's size bit in the floating-point encodings.
func (a Arr) sz() uint32 {
	if a == D2 {
		return 1
	}
	return 0
}

// bits is the lane width.
func (a Arr) bits() int {
	if a == D2 {
		return 64
	}
	return 32
}

func (a Arr) gnu() string {
	if a == D2 {
		return "2d"
	}
	return "4s"
}

// Go is the arrangement suffix in Go's assembler syntax (V1.S4).
func (a Arr) Go() string {
	if a == D2 {
		return "D2"
	}
	return "S4"
}

// Scalar is the scalar register prefix of a lane in GNU syntax ("s" or "d").
func (a Arr) scalar() string {
	if a == D2 {
		return "d"
	}
	return "s"
}

// Inst is one encoded instruction: its 32-bit word and its GNU spelling.
type Inst struct {
	Word uint32
	Asm  string
}

func checkArr(a Arr) error {
	if a != S4 && a != D2 {
		return fmt.Errorf("neon: bad arrangement %d", a)
	}
	return nil
}

func checkRegs(rs ...V) error {
	for _, r := range rs {
		if r > 31 {
			return fmt.Errorf("neon: register V%d out of range", r)
		}
	}
	return nil
}

func vreg(r V, a Arr) string { return fmt.Sprintf("v%d.%s", r, a.gnu()) }

// Advanced SIMD three same, floating point (Arm ARM "Advanced
// SIMD three same"): 0 Q U 01110 a sz 1 Rm opcode 1 Rn Rd, with Q = 1.
// The table gives U, a and the 5-bit opcode of each instruction.
var threeSame = map[string]struct{ u, a, opc uint32 }{
	"fadd":   {0, 0, 0b11010}, // FADD (vector)
	"fsub":   {0, 1, 0b11010}, // FSUB (vector)
	"fmul":   {1, 0, 0b11011}, // FMUL (vector)
	"fdiv":   {1, 0, 0b11111}, // FDIV (vector)
	"fmax":   {0, 0, 0b11110}, // FMAX (vector)
	"fmin":   {0, 1, 0b11110}, // FMIN (vector)
	"fmaxnm": {0, 0, 0b11000}, // FMAXNM (vector)
	"fminnm": {0, 1, 0b11000}, // FMINNM (vector)
	"fcmeq":  {0, 0, 0b11100}, // FCMEQ (register)
	"fcmge":  {1, 0, 0b11100}, // FCMGE (register)
	"fcmgt":  {1, 1, 0b11100}, // FCMGT (register)
	"fabd":   {1, 1, 0b11010}, // FABD
	"faddp":  {1, 0, 0b11010}, // FADDP (vector)
	"fmaxp":  {1, 0, 0b11110}, // FMAXP (vector)
	"fminp":  {1, 1, 0b11110}, // FMINP (vector)
}

// ThreeSame encodes a floating-point "three same" instruction
// op Vd.<T>, Vn.<T>, Vm.<T> (op one of the keys of the table above).
func ThreeSame(op string, a Arr, d, n, m V) (Inst, error) {
	f, ok := threeSame[op]
	if !ok {
		return Inst{}, fmt.Errorf("neon: %s is not a three-same FP instruction", op)
	}
	if err := checkArr(a); err != nil {
		return Inst{}, err
	}
	if err := checkRegs(d, n, m); err != nil {
		return Inst{}, err
	}
	w := 1<<30 | f.u<<29 | 0b01110<<24 | f.a<<23 | a.sz()<<22 | 1<<21 |
		uint32(m)<<16 | f.opc<<11 | 1<<10 | uint32(n)<<5 | uint32(d)
	return Inst{w, fmt.Sprintf("%s %s, %s, %s", op, vreg(d, a), vreg(n, a), vreg(m, a))}, nil
}

// Advanced SIMD two-register miscellaneous, floating point (Arm ARM
// "Advanced SIMD two-register miscellaneous"):
// 0 Q U 01110 a sz 10000 opcode 10 Rn Rd, Q = 1. zero marks the compare
// against #0.0 forms.
var twoMisc = map[string]struct {
	u, a, opc uint32
	zero      bool
}{
	"fabs":   {0, 1, 0b01111, false}, // FABS (vector)
	"fneg":   {1, 1, 0b01111, false}, // FNEG (vector)
	"fsqrt":  {1, 1, 0b11111, false}, // FSQRT (vector)
	"frintn": {0, 0, 0b11000, false}, // FRINTN (vector)
	"frintm": {0, 0, 0b11001, false}, // FRINTM (vector)
	"frintz": {0, 1, 0b11001, false}, // FRINTZ (vector)
	"fcvtzs": {0, 1, 0b11011, false}, // FCVTZS (vector, integer)
	"fcvtns": {0, 0, 0b11010, false}, // FCVTNS (vector)
	"scvtf":  {0, 0, 0b11101, false}, // SCVTF (vector, integer)
	"frecpe": {0, 1, 0b11101, false}, // FRECPE
	"fcmgt":  {0, 1, 0b01100, true},  // FCMGT (zero)
	"fcmge":  {1, 1, 0b01100, true},  // FCMGE (zero)
	"fcmeq":  {0, 1, 0b01101, true},  // FCMEQ (zero)
	"fcmle":  {1, 1, 0b01101, true},  // FCMLE (zero)
	"fcmlt":  {0, 1, 0b01110, true},  // FCMLT (zero)
}

// TwoMisc encodes a floating-point two-register instruction op Vd.<T>,
// Vn.<T>; the compares (fcmgt, fcmge, fcmeq, fcmle, fcmlt) are the forms
// against #0.0.
func TwoMisc(op string, a Arr, d, n V) (Inst, error) {
	f, ok := twoMisc[op]
	if !ok {
		return Inst{}, fmt.Errorf("neon: %s is not a two-register FP instruction", op)
	}
	if err := checkArr(a); err != nil {
		return Inst{}, err
	}
	if err := checkRegs(d, n); err != nil {
		return Inst{}, err
	}
	w := 1<<30 | f.u<<29 | 0b01110<<24 | f.a<<23 | a.sz()<<22 | 0b10000<<17 |
		f.opc<<12 | 0b10<<10 | uint32(n)<<5 | uint32(d)
	s := fmt.Sprintf("%s %s, %s", op, vreg(d, a), vreg(n, a))
	if f.zero {
		s += ", #0.0"
	}
	return Inst{w, s}, nil
}

// Shift by immediate (Arm ARM "Advanced SIMD shift by
// immediate"): 0 Q U 011110 immh:immb opcode 1 Rn Rd, Q = 1. Right shifts
// by s ∈ [1, esize] store 2·esize − s in immh:immb; left shifts by
// s ∈ [0, esize) store esize + s.
var shifts = map[string]struct {
	u, opc uint32
	right  bool
}{
	"sshr": {0, 0b00000, true},  // SSHR
	"ushr": {1, 0b00000, true},  // USHR
	"shl":  {0, 0b01010, false}, // SHL
}

// Shift encodes op Vd.<T>, Vn.<T>, #s for op sshr, ushr or shl on integer
// lanes of the arrangement's width.
func Shift(op string, a Arr, d, n V, s int) (Inst, error) {
	f, ok := shifts[op]
	if !ok {
		return Inst{}, fmt.Errorf("neon: %s is not a shift-by-immediate instruction", op)
	}
	if err := checkArr(a); err != nil {
		return Inst{}, err
	}
	if err := checkRegs(d, n); err != nil {
		return Inst{}, err
	}
	es := a.bits()
	var imm int
	if f.right {
		if s < 1 || s > es {
			return Inst{}, fmt.Errorf("neon: %s shift %d not in [1, %d]", op, s, es)
		}
		imm = 2*es - s
	} else {
		if s < 0 || s >= es {
			return Inst{}, fmt.Errorf("neon: %s shift %d not in [0, %d)", op, s, es)
		}
		imm = es + s
	}
	w := 1<<30 | f.u<<29 | 0b011110<<23 | uint32(imm)<<16 | f.opc<<11 | 1<<10 |
		uint32(n)<<5 | uint32(d)
	return Inst{w, fmt.Sprintf("%s %s, %s, #%d", op, vreg(d, a), vreg(n, a), s)}, nil
}

// Across lanes (Arm ARM "Advanced SIMD across lanes"), 4S only:
// 0 1 U 01110 o1 0 11000 opcode 10 Rn Rd.
var across = map[string]struct{ u, o1, opc uint32 }{
	"fmaxv":   {1, 0, 0b01111}, // FMAXV
	"fminv":   {1, 1, 0b01111}, // FMINV
	"fmaxnmv": {1, 0, 0b01100}, // FMAXNMV
}

// Across encodes op Sd, Vn.4S (a reduction of the four float32 lanes).
func Across(op string, d, n V) (Inst, error) {
	f, ok := across[op]
	if !ok {
		return Inst{}, fmt.Errorf("neon: %s is not an across-lanes FP instruction", op)
	}
	if err := checkRegs(d, n); err != nil {
		return Inst{}, err
	}
	w := 1<<30 | f.u<<29 | 0b01110<<24 | f.o1<<23 | 0b11000<<17 | f.opc<<12 |
		0b10<<10 | uint32(n)<<5 | uint32(d)
	return Inst{w, fmt.Sprintf("%s s%d, %s", op, d, vreg(n, S4))}, nil
}

// Advanced SIMD scalar pairwise (Arm ARM "Advanced SIMD scalar
// pairwise"): 01 U 11110 o1 sz 11000 opcode 10 Rn Rd.
var pairwise = map[string]struct{ u, o1, opc uint32 }{
	"faddp": {1, 0, 0b01101}, // FADDP (scalar)
	"fmaxp": {1, 0, 0b01111}, // FMAXP (scalar)
	"fminp": {1, 1, 0b01111}, // FMINP (scalar)
}

// Pairwise encodes op Sd, Vn.2S (a == S4: the low two float32 lanes) or
// op Dd, Vn.2D (a == D2).
func Pairwise(op string, a Arr, d, n V) (Inst, error) {
	f, ok := pairwise[op]
	if !ok {
		return Inst{}, fmt.Errorf("neon: %s is not a scalar pairwise FP instruction", op)
	}
	if err := checkArr(a); err != nil {
		return Inst{}, err
	}
	if err := checkRegs(d, n); err != nil {
		return Inst{}, err
	}
	w := 1<<30 | f.u<<29 | 0b11110<<24 | f.o1<<23 | a.sz()<<22 | 0b11000<<17 |
		f.opc<<12 | 0b10<<10 | uint32(n)<<5 | uint32(d)
	src := "2s"
	if a == D2 {
		src = "2d"
	}
	return Inst{w, fmt.Sprintf("%s %s%d, v%d.%s", op, a.scalar(), d, n, src)}, nil
}

// Fcvtl encodes FCVTL Vd.2D, Vn.2S (the low two float32 lanes widened to
// float64) or, with upper, FCVTL2 Vd.2D, Vn.4S (the high two). Arm ARM
// "Advanced SIMD two-register miscellaneous": 0 Q 0 01110 0 sz 10000 10111
// 10 Rn Rd with sz = 1 (single to double); Q selects the half. FCVTL,
// FCVTL2 page in C7.2.
func Fcvtl(d, n V, upper bool) (Inst, error) {
	if err := checkRegs(d, n); err != nil {
		return Inst{}, err
	}
	w := uint32(0b01110)<<24 | 1<<22 | 0b10000<<17 | 0b10111<<12 | 0b10<<10 | uint32(n)<<5 | uint32(d)
	if upper {
		return Inst{w | 1<<30, fmt.Sprintf("fcvtl2 v%d.2d, v%d.4s", d, n)}, nil
	}
	return Inst{w, fmt.Sprintf("fcvtl v%d.2d, v%d.2s", d, n)}, nil
}
