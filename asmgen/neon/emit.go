package neon

import (
	"bytes"
	"fmt"
)

// Emitter accumulates one assembly file. It keeps the first error (a bad
// operand anywhere makes Bytes fail) so generator code need not check each
// instruction.
type Emitter struct {
	buf   bytes.Buffer
	err   error
	n     int    // instructions emitted so far
	words []Inst // every hand-encoded instruction, in order
}

// Err returns the first error met.
func (e *Emitter) Err() error { return e.err }

// Bytes returns the file, or the first error.
func (e *Emitter) Bytes() ([]byte, error) { return e.buf.Bytes(), e.err }

// Words lists every hand-encoded instruction emitted (for the tests that
// check them against the GNU assembler).
func (e *Emitter) Words() []Inst { return e.words }

// Count is the number of instructions emitted so far; the difference of
// two counts is the size of the code between them.
func (e *Emitter) Count() int { return e.n }

// Raw writes a line as is (directives, #include, blank lines).
func (e *Emitter) Raw(format string, args ...any) {
	fmt.Fprintf(&e.buf, format, args...)
	e.buf.WriteByte('\n')
}

// Comment writes a comment line.
func (e *Emitter) Comment(format string, args ...any) {
	e.Raw("\t// "+format, args...)
}

// Label starts a label line.
func (e *Emitter) Label(name string) { e.Raw("%s:", name) }

// Op writes one instruction in Go's assembler syntax.
func (e *Emitter) Op(format string, args ...any) {
	e.Raw("\t"+format, args...)
	e.n++
}

// Errorf records an error found by generator code.
func (e *Emitter) Errorf(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf(format, args...)
	}
}

func (e *Emitter) inst(in Inst, err error) {
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	e.words = append(e.words, in)
	e.Op("WORD $0x%08x // %s", in.Word, in.Asm)
}

// Floating-point three-register instructions: Vd = Vn op Vm lane-wise.

func (e *Emitter) FADD(a Arr, d, n, m V)  { e.inst(ThreeSame("fadd", a, d, n, m)) }
func (e *Emitter) FSUB(a Arr, d, n, m V)  { e.inst(ThreeSame("fsub", a, d, n, m)) }
func (e *Emitter) FMUL(a Arr, d, n, m V)  { e.inst(ThreeSame("fmul", a, d, n, m)) }
func (e *Emitter) FDIV(a Arr, d, n, m V)  { e.inst(ThreeSame("fdiv", a, d, n, m)) }
func (e *Emitter) FMAX(a Arr, d, n, m V)  { e.inst(ThreeSame("fmax", a, d, n, m)) }
func (e *Emitter) FMIN(a Arr, d, n, m V)  { e.inst(ThreeSame("fmin", a, d, n, m)) }
func (e *Emitter) FABD(a Arr, d, n, m V)  { e.inst(ThreeSame("fabd", a, d, n, m)) }
func (e *Emitter) FADDP(a Arr, d, n, m V) { e.inst(ThreeSame("faddp", a, d, n, m)) }
func (e *Emitter) FMAXP(a Arr, d, n, m V) { e.inst(ThreeSame("fmaxp", a, d, n, m)) }

// FMAXNM and FMINNM return the number when one operand is NaN.
func (e *Emitter) FMAXNM(a Arr, d, n, m V) { e.inst(ThreeSame("fmaxnm", a, d, n, m)) }
func (e *Emitter) FMINNM(a Arr, d, n, m V) { e.inst(ThreeSame("fminnm", a, d, n, m)) }

// Compares set a lane to all ones when the relation holds, else zero.

func (e *Emitter) FCMEQ(a Arr, d, n, m V) { e.inst(ThreeSame("fcmeq", a, d, n, m)) }
func (e *Emitter) FCMGE(a Arr, d, n, m V) { e.inst(ThreeSame("fcmge", a, d, n, m)) }
func (e *Emitter) FCMGT(a Arr, d, n, m V) { e.inst(ThreeSame("fcmgt", a, d, n, m)) }

// Compares against zero.

func (e *Emitter) FCMGTZ(a Arr, d, n V) { e.inst(TwoMisc("fcmgt", a, d, n)) }
func (e *Emitter) FCMGEZ(a Arr, d, n V) { e.inst(TwoMisc("fcmge", a, d, n)) }
func (e *Emitter) FCMEQZ(a Arr, d, n V) { e.inst(TwoMisc("fcmeq", a, d, n)) }
func (e *Emitter) FCMLEZ(a Arr, d, n V) { e.inst(TwoMisc("fcmle", a, d, n)) }
func (e *Emitter) FCMLTZ(a Arr, d, n V) { e.inst(TwoMisc("fcmlt", a, d, n)) }

// Floating-point two-register instructions.

func (e *Emitter) FABS(a Arr, d, n V)   { e.inst(TwoMisc("fabs", a, d, n)) }
func (e *Emitter) FNEG(a Arr, d, n V)   { e.inst(TwoMisc("fneg", a, d, n)) }
func (e *Emitter) FSQRT(a Arr, d, n V)  { e.inst(TwoMisc("fsqrt", a, d, n)) }
func (e *Emitter) FRINTN(a Arr, d, n V) { e.inst(TwoMisc("frintn", a, d, n)) }
func (e *Emitter) FRINTM(a Arr, d, n V) { e.inst(TwoMisc("frintm", a, d, n)) }
func (e *Emitter) FRINTZ(a Arr, d, n V) { e.inst(TwoMisc("frintz", a, d, n)) }
func (e *Emitter) FCVTZS(a Arr, d, n V) { e.inst(TwoMisc("fcvtzs", a, d, n)) }
func (e *Emitter) FCVTNS(a Arr, d, n V) { e.inst(TwoMisc("fcvtns", a, d, n)) }
func (e *Emitter) SCVTF(a Arr, d, n V)  { e.inst(TwoMisc("scvtf", a, d, n)) }
func (e *Emitter) FRECPE(a Arr, d, n V) { e.inst(TwoMisc("frecpe", a, d, n)) }

// Integer shifts by an immediate. Go's assembler has VSHL and VUSHR but
// not SSHR; all three are encoded here so the tests cover them alike.

func (e *Emitter) SSHR(a Arr, d, n V, s int) { e.inst(Shift("sshr", a, d, n, s)) }
func (e *Emitter) USHR(a Arr, d, n V, s int) { e.inst(Shift("ushr", a, d, n, s)) }
func (e *Emitter) SHL(a Arr, d, n V, s int)  { e.inst(Shift("shl", a, d, n, s)) }

// Reductions to a scalar in lane 0 of d.

func (e *Emitter) FMAXV(d, n V)              { e.inst(Across("fmaxv", d, n)) }
func (e *Emitter) FMINV(d, n V)              { e.inst(Across("fminv", d, n)) }
func (e *Emitter) FADDPScalar(a Arr, d, n V) { e.inst(Pairwise("faddp", a, d, n)) }
func (e *Emitter) FMAXPScalar(a Arr, d, n V) { e.inst(Pairwise("fmaxp", a, d, n)) }

// FCVTL widens the low two float32 lanes of n to float64; FCVTL2 the high two.
func (e *Emitter) FCVTL(d, n V)  { e.inst(Fcvtl(d, n, false)) }
func (e *Emitter) FCVTL2(d, n V) { e.inst(Fcvtl(d, n, true)) }
