package main

import (
	"fmt"
	"strings"

	"github.com/lossfuse/lossfuse/asmgen/neon"
)

// kind is the Go type of a parameter or result.
type kind int

const (
	slice32 kind = iota // []float32
	slice64             // []float64
	f32                 // float32
	f64                 // float64
	none
	slice16 // []uint16 (16-bit float bits)
)

func (k kind) size() int {
	switch k {
	case slice32, slice64, slice16:
		return 24
	case f32:
		return 4
	case f64:
		return 8
	}
	return 0
}

func (k kind) goType() string {
	return [...]string{"[]float32", "[]float64", "float32", "float64", "", "[]uint16"}[k]
}

type param struct {
	name string
	k    kind
}

// signature is one assembly function and its Go declaration. Offsets
// follow Go's ABI0 frame layout: arguments in order, each aligned to its
// size, results from the next 8-byte boundary.
type signature struct {
	name   string
	params []param
	ret    kind
	doc    string // "name is …" comment for the stub
}

func align(off, a int) int { return (off + a - 1) / a * a }

// offsets returns each parameter's frame offset, the result's, and the
// total argument size.
func (s signature) offsets() (offs []int, retOff, total int) {
	off := 0
	for _, p := range s.params {
		a := p.k.size()
		if a > 8 {
			a = 8
		}
		off = align(off, a)
		offs = append(offs, off)
		off += p.k.size()
	}
	if s.ret == none {
		return offs, off, off
	}
	off = align(off, 8)
	return offs, off, off + s.ret.size()
}

// stub is the //go:noescape declaration.
func (s signature) stub() string {
	var ps []string
	for _, p := range s.params {
		ps = append(ps, p.name+" "+p.k.goType())
	}
	r := ""
	if s.ret != none {
		r = " " + s.ret.goType()
	}
	return fmt.Sprintf("%s//\n//go:noescape\nfunc %s(%s)%s\n", comment(s.doc), s.name, strings.Join(ps, ", "), r)
}

func comment(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(doc), "\n") {
		b.WriteString("// " + l + "\n")
	}
	return b.String()
}

// fn is an assembly function being emitted: its signature and the emitter.
type fn struct {
	*neon.Emitter
	sig    signature
	arr    neon.Arr
	labels string // suffix that keeps labels unique per function

	consts    map[string]neon.V // constant registers by name (blocks.go)
	nextConst neon.V
	maxWork   int      // highest work register used
	inLoop    bool     // constants must be loaded before the loop
	extra     []neon.V // logCore64's two extra scratch registers per element

	memCoefs    bool              // polynomial coefficients from memory (blocks.go)
	memBase     map[string]string // table → register holding its address
	lastCoef    int
	lastCoefReg neon.V
}

// text starts the function.
func (f *fn) text() {
	_, _, total := f.sig.offsets()
	f.Raw("")
	f.Raw("// func %s", strings.TrimPrefix(strings.Split(f.sig.stub(), "func ")[1], ""))
	f.Raw("TEXT ·%s(SB), NOSPLIT, $0-%d", f.sig.name, total)
}

func (f *fn) param(name string) (param, int) {
	offs, _, _ := f.sig.offsets()
	for i, p := range f.sig.params {
		if p.name == name {
			return p, offs[i]
		}
	}
	f.Errorf("%s: no parameter %s", f.sig.name, name)
	return param{}, 0
}

// loadSlice loads a slice's base pointer and, if lenReg is not "", its length.
func (f *fn) loadSlice(name, baseReg, lenReg string) {
	_, off := f.param(name)
	f.Op("MOVD %s_base+%d(FP), %s", name, off, baseReg)
	if lenReg != "" {
		f.Op("MOVD %s_len+%d(FP), %s", name, off+8, lenReg)
	}
}

// loadScalar broadcasts a float parameter into every lane of v.
func (f *fn) loadScalar(name string, v neon.V) {
	p, off := f.param(name)
	if p.k == f32 {
		f.Op("FMOVS %s+%d(FP), F%d", name, off, v)
		f.Op("VDUP V%d.S[0], V%d.S4", v, v)
	} else {
		f.Op("FMOVD %s+%d(FP), F%d", name, off, v)
		f.Op("VDUP V%d.D[0], V%d.D2", v, v)
	}
}

// storeRet stores lane 0 of v as the result.
func (f *fn) storeRet(v neon.V) {
	_, off, _ := f.sig.offsets()
	if f.sig.ret == f32 {
		f.Op("FMOVS F%d, ret+%d(FP)", v, off)
	} else {
		f.Op("FMOVD F%d, ret+%d(FP)", v, off)
	}
}

// constant broadcasts the bit pattern bits into every lane of v.
func (f *fn) constant(v neon.V, bits uint64) {
	if f.arr == neon.S4 {
		f.Op("MOVW $0x%08x, R9", uint32(bits))
		f.Op("VDUP R9, V%d.S4", v)
	} else {
		f.Op("MOVD $0x%016x, R9", bits)
		f.Op("VDUP R9, V%d.D2", v)
	}
}

func (f *fn) label(s string) string { return s + "_" + f.labels }

// Go-syntax helpers for the instructions Go's assembler knows. Go writes
// operands in reverse order: VFMLA Vm, Vn, Vd is Vd += Vn·Vm.

func (f *fn) ar() string { return f.arr.Go() }

// fmla: d += n·m.
func (f *fn) fmla(d, n, m neon.V) {
	f.Op("VFMLA V%d.%s, V%d.%s, V%d.%s", m, f.ar(), n, f.ar(), d, f.ar())
}

// fmls: d −= n·m.
func (f *fn) fmls(d, n, m neon.V) {
	f.Op("VFMLS V%d.%s, V%d.%s, V%d.%s", m, f.ar(), n, f.ar(), d, f.ar())
}

// mov: d = n.
func (f *fn) mov(d, n neon.V) { f.Op("VMOV V%d.B16, V%d.B16", n, d) }

// iadd / isub: integer lanes.
func (f *fn) iadd(d, n, m neon.V) {
	f.Op("VADD V%d.%s, V%d.%s, V%d.%s", m, f.ar(), n, f.ar(), d, f.ar())
}
func (f *fn) isub(d, n, m neon.V) {
	f.Op("VSUB V%d.%s, V%d.%s, V%d.%s", m, f.ar(), n, f.ar(), d, f.ar())
}

// and: d = n & m.
func (f *fn) and(d, n, m neon.V) { f.Op("VAND V%d.B16, V%d.B16, V%d.B16", m, n, d) }

// bit: d = m ? n : d (bitwise insert if true).
func (f *fn) bit(d, n, m neon.V) { f.Op("VBIT V%d.B16, V%d.B16, V%d.B16", m, n, d) }

// bif: d = m ? d : n (bitwise insert if false).
func (f *fn) bif(d, n, m neon.V) { f.Op("VBIF V%d.B16, V%d.B16, V%d.B16", m, n, d) }

// bsl: d = d ? n : m (bitwise select by d).
func (f *fn) bsl(d, n, m neon.V) { f.Op("VBSL V%d.B16, V%d.B16, V%d.B16", m, n, d) }

func (f *fn) zero(v neon.V) { f.Op("VEOR V%d.B16, V%d.B16, V%d.B16", v, v, v) }
