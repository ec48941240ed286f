package main

import (
	"math"
	"math/big"
	"strings"

	"github.com/lossfuse/lossfuse/asmgen/internal/poly"
	"github.com/lossfuse/lossfuse/asmgen/neon"
)

// Constants live in the top registers, allocated downwards from V31 by
// name, loaded once before a kernel's loop. Work registers are V0 upwards.

// alloc reserves a constant register by name without loading it (for
// scalar arguments broadcast by loadScalar).
func (f *fn) alloc(name string) neon.V {
	if f.consts == nil {
		f.consts = map[string]neon.V{}
		f.nextConst = 31
	}
	if r, ok := f.consts[name]; ok {
		return r
	}
	r := f.nextConst
	f.nextConst--
	f.consts[name] = r
	return r
}

func (f *fn) k(name string, v32 float32, v64 float64) neon.V {
	if _, ok := f.consts[name]; ok {
		return f.consts[name]
	}
	if f.inLoop {
		f.Errorf("%s: constant %s first needed inside the loop; load it before", f.sig.name, name)
	}
	r := f.alloc(name)
	if f.arr == neon.S4 {
		f.constant(r, uint64(math.Float32bits(v32)))
	} else {
		f.constant(r, math.Float64bits(v64))
	}
	return r
}

// lane is one lane of a register: a coefficient of a packed table.
type lane struct {
	r neon.V
	i int
	// mem marks a coefficient read from memory (f.memCoefs): coefficient i
	// of the table whose base address is in register base.
	mem  bool
	base string
}

// tables are the read-only DATA tables of the file, by symbol.
var (
	tables     = map[string][]uint64{}
	tableOrder []string
)

// packed loads coefficients into consecutive lanes of as few constant
// registers as they need (four float32 or two float64 per register), from a
// DATA table named sym. Polynomials take their coefficients from it with
// VDUP by element, so a degree-6 polynomial costs two registers, not seven.
func (f *fn) packed(sym string, v32 []float32, v64 []float64) []lane {
	var bits []uint64
	if f.arr == neon.S4 {
		for _, v := range v32 {
			bits = append(bits, uint64(math.Float32bits(v)))
		}
	} else {
		for _, v := range v64 {
			bits = append(bits, math.Float64bits(v))
		}
	}
	if f.memCoefs {
		return f.memTable(sym, bits)
	}
	l := f.lanes()
	n := (len(bits) + l - 1) / l
	if r, ok := f.consts[sym+"#0"]; ok {
		out := make([]lane, len(bits))
		for i := range out {
			out[i] = lane{r: r - neon.V(i/l), i: i % l}
		}
		return out
	}
	for len(bits)%l != 0 {
		bits = append(bits, 0)
	}
	if _, ok := tables[sym]; !ok {
		tables[sym] = bits
		tableOrder = append(tableOrder, sym)
	}
	if f.inLoop {
		f.Errorf("%s: table %s first needed inside the loop; load it before", f.sig.name, sym)
	}
	f.Op("MOVD $·%s<>(SB), R10", sym)
	var first neon.V
	for j := 0; j < n; j++ {
		r := f.alloc(sym + "#" + itoa(j))
		if j == 0 {
			first = r
		}
		f.Op("VLD1.P 16(R10), [V%d.%s]", r, f.ar())
	}
	var out []lane
	cnt := len(v32)
	if f.arr == neon.D2 {
		cnt = len(v64)
	}
	for i := 0; i < cnt; i++ {
		out = append(out, lane{r: first - neon.V(i/l), i: i % l})
	}
	return out
}

// memTable serves a polynomial's coefficients from memory when the
// registers are full (float64 BCE and focal): the table is stored highest
// degree first, its address kept in a general register, and each Horner
// step loads the next coefficient with LD1R (VLD1R.P), which costs what the
// VDUP by element it replaces does; coefBegin rewinds the pointer, R10.
func (f *fn) memTable(sym string, bits []uint64) []lane {
	rev := sym + "Rev"
	if _, ok := tables[rev]; !ok {
		r := make([]uint64, len(bits))
		for i, b := range bits {
			r[len(bits)-1-i] = b
		}
		tables[rev] = r
		tableOrder = append(tableOrder, rev)
	}
	if f.memBase == nil {
		f.memBase = map[string]string{}
	}
	base, ok := f.memBase[rev]
	if !ok {
		if f.inLoop {
			f.Errorf("%s: table %s first needed inside the loop", f.sig.name, rev)
		}
		base = "R" + itoa(11+len(f.memBase))
		f.memBase[rev] = base
		f.Op("MOVD $·%s<>(SB), %s", rev, base)
	}
	out := make([]lane, len(bits))
	for i := range out {
		out[i] = lane{i: i, mem: true, base: base}
	}
	return out
}

// coefBegin prepares a Horner evaluation that starts at coefficient top.
func (f *fn) coefBegin(c []lane) {
	if len(c) > 0 && c[0].mem {
		f.Op("MOVD %s, R10", c[0].base)
		f.lastCoef = -1
	}
}

// dup broadcasts a packed lane into every lane of d.
func (f *fn) dup(d neon.V, c lane) {
	if c.mem { // the next coefficient, once per Horner step
		if c.i == f.lastCoef {
			f.mov(d, f.lastCoefReg)
			return
		}
		f.Op("VLD1R.P %d(R10), [V%d.%s]", f.esize(), d, f.ar())
		f.lastCoef, f.lastCoefReg = c.i, d
		return
	}
	if f.arr == neon.S4 {
		f.Op("VDUP V%d.S[%d], V%d.S4", c.r, c.i, d)
	} else {
		f.Op("VDUP V%d.D[%d], V%d.D2", c.r, c.i, d)
	}
}

// emitTables writes the DATA tables at the end of the file.
func emitTables(e *neon.Emitter) {
	for _, sym := range tableOrder {
		bits := tables[sym]
		e.Raw("")
		size := 16 * ((len(bits)*4 + 15) / 16)
		if strings.Contains(sym, "F64") {
			for i, b := range bits {
				e.Raw("DATA ·%s<>+%d(SB)/8, $0x%016x", sym, 8*i, b)
			}
			size = 8 * len(bits)
		} else {
			for i, b := range bits {
				e.Raw("DATA ·%s<>+%d(SB)/4, $0x%08x", sym, 4*i, b)
			}
		}
		e.Raw("GLOBL ·%s<>(SB), RODATA|NOPTR, $%d", sym, size)
	}
}

// kbits is a constant given as raw lane bits.
func (f *fn) kbits(name string, b32 uint32, b64 uint64) neon.V {
	return f.k(name, math.Float32frombits(b32), math.Float64frombits(b64))
}

// expPoly64 are the coefficients of (e^r − 1 − r)/r² for float64 lanes:
// the Taylor coefficients 1/k!, k = 2 … 13. On |r| ≤ ln2/2 the truncation
// error is below r¹⁴/14! ≈ 4e-18 relative, so the float64 evaluation
// dominates, as poly.Exp's minimax error does for float32.
func expPoly64() []float64 {
	c := make([]float64, 12)
	fact := 2.0
	for i := range c {
		c[i] = 1 / fact
		fact *= float64(i + 3)
	}
	return c
}

// ln2Split64 is the Cody–Waite split of ln 2 for float64 lanes: Hi is ln 2
// rounded to float64 (x − n·Hi is exact under a fused multiply-add, as
// for float32 in package poly) and Lo the next 53 bits.
func ln2Split64() (hi, lo float64) {
	ln2, _, _ := big.ParseFloat("0.693147180559945309417232121458176568075500134360255254120680009", 10, 200, big.ToNearestEven)
	hi, _ = ln2.Float64()
	lo, _ = new(big.Float).Sub(ln2, big.NewFloat(hi)).Float64()
	return hi, lo
}

// Clamp range of the float64 exp argument: above it e^x overflows to
// +Inf, below it e^x is below half the smallest subnormal and rounds to 0.
const (
	expMax64 = 709.8
	expMin64 = -746.0
)

type expK struct {
	log2e, hi, lo, max, min, one neon.V
	coef                         []lane
}

// expConsts loads the constants of exp (once per function; call it before
// the loop so that the loads stay out of it).
func (f *fn) expConsts() expK {
	var c expK
	c.log2e = f.k("log2e", poly.Log2E, math.Log2E)
	if f.arr == neon.S4 {
		c.hi = f.k("ln2hi", poly.Ln2Hi, 0)
		c.lo = f.k("ln2lo", poly.Ln2Lo, 0)
		c.max = f.k("expmax", poly.ExpMax, 0)
		c.min = f.k("expmin", poly.ExpMin, 0)
		c.coef = f.packed("expPolyF32", poly.F32(poly.Exp[:]), nil)
	} else {
		h, l := ln2Split64()
		c.hi = f.k("ln2hi", 0, h)
		c.lo = f.k("ln2lo", 0, l)
		c.max = f.k("expmax", 0, expMax64)
		c.min = f.k("expmin", 0, expMin64)
		c.coef = f.packed("expPolyF64", nil, expPoly64())
	}
	c.one = f.k("one", 1, 1) // also the bits of 2^0: the exponent bias in place
	return c
}

// exp replaces each register of xs by e^x, lane-wise. t supplies one
// scratch register per element of xs and u two; the vectors are interleaved step by
// step so that independent instructions sit next to each other.
//
// e^x = 2^n·p(r), n = round(x·log2e), r = x − n·ln2 (two FMAs, Cody–Waite),
// p(r) = 1 + r + r²·q(r) (package poly). 2^n is applied as 2^a·2^b with
// a = n>>1, b = n − a: the first scaling adds a to p's exponent field
// (exact, p·2^a stays normal), the second multiplies by 2^b so that the
// one rounding of a subnormal result happens there. x is clamped first:
// overflow gives +Inf, underflow 0, NaN stays NaN (FMIN/FMAX propagate it).
func (f *fn) exp(xs, t, u []neon.V) {
	a := f.arr
	c := f.expConsts()
	log2e, hi, lo, cmax, cmin, coef, one := c.log2e, c.hi, c.lo, c.max, c.min, c.coef, c.one
	shift := 23
	if a == neon.D2 {
		shift = 52
	}
	each := func(g func(i int)) {
		for i := range xs {
			g(i)
		}
	}
	each(func(i int) { f.FMIN(a, xs[i], xs[i], cmax) })
	each(func(i int) { f.FMAX(a, xs[i], xs[i], cmin) })
	each(func(i int) { f.FMUL(a, t[i], xs[i], log2e) })
	each(func(i int) { f.FRINTN(a, t[i], t[i]) })
	each(func(i int) { f.fmls(xs[i], t[i], hi) })
	each(func(i int) { f.fmls(xs[i], t[i], lo) })
	each(func(i int) { f.FCVTZS(a, t[i], t[i]) }) // n as an integer; x is now r
	// q(r) by Horner from the top coefficient, alternating between two
	// registers (u[i] and u[len(xs)+i]) so that each step is one MOV and
	// one FMA.
	n := len(xs)
	p := func(i int) neon.V { return u[i] }
	s := func(i int) neon.V { return u[n+i] }
	top := len(coef) - 1
	f.coefBegin(coef)
	each(func(i int) { f.dup(p(i), coef[top]) })
	cur, nxt := p, s
	for j := top - 1; j >= 0; j-- {
		each(func(i int) { f.dup(nxt(i), coef[j]) })
		each(func(i int) { f.fmla(nxt(i), cur(i), xs[i]) })
		cur, nxt = nxt, cur
	}
	each(func(i int) { f.FMUL(a, nxt(i), xs[i], xs[i]) }) // r²
	each(func(i int) { f.fmla(xs[i], nxt(i), cur(i)) })   // r + r²·q
	each(func(i int) { f.FADD(a, xs[i], xs[i], one) })    // p(r)
	each(func(i int) { f.SSHR(a, cur(i), t[i], 1) })      // a = n>>1
	each(func(i int) { f.isub(t[i], t[i], cur(i)) })      // b = n − a
	each(func(i int) { f.SHL(a, cur(i), cur(i), shift) }) // a in the exponent field
	each(func(i int) { f.iadd(xs[i], xs[i], cur(i)) })    // p·2^a
	each(func(i int) { f.SHL(a, t[i], t[i], shift) })     //
	each(func(i int) { f.iadd(t[i], t[i], one) })         // 2^b
	each(func(i int) { f.FMUL(a, xs[i], xs[i], t[i]) })   // p·2^a·2^b
}

type logK struct {
	off, mant, one, half, hi, lo neon.V
	coef                         []lane
}

// logConsts loads the constants of logCore.
func (f *fn) logConsts() logK {
	if f.arr == neon.D2 {
		return f.logConsts64()
	}
	var c logK
	c.off = f.kbits("sqrt1_2", math.Float32bits(poly.Sqrt1_2), 0)
	c.mant = f.kbits("mant", 0x007fffff, 0)
	c.one = f.k("one", 1, 1)
	c.half = f.k("half", 0.5, 0.5)
	c.hi = f.k("ln2hi", poly.Ln2Hi, 0)
	c.lo = f.k("ln2lo", poly.Ln2Lo, 0)
	c.coef = f.packed("logPolyF32", poly.F32(poly.Log[:]), nil)
	return c
}

// logCore replaces each register of xs by log(x) for x > 0 normal
// (package poly: x = 2^k·m, m ∈ [√½, √2), f = m − 1,
// log(1+f) = f − f²/2 + f³·q(f)). adj, when not nil, holds integers to
// subtract from k (the subnormal rescaling); t, u, w are scratch, one
// per element. Float64 lanes go to logCore64.
func (f *fn) logCore(xs, t, u, w []neon.V, adj []neon.V) {
	if f.arr == neon.D2 {
		f.logCore64(xs, t, u, w, adj)
		return
	}
	a := f.arr
	c := f.logConsts()
	off, mant, one, half, hi, lo, coef := c.off, c.mant, c.one, c.half, c.hi, c.lo, c.coef
	each := func(g func(i int)) {
		for i := range xs {
			g(i)
		}
	}
	each(func(i int) { f.isub(xs[i], xs[i], off) })  // bits − bits(√½)
	each(func(i int) { f.SSHR(a, t[i], xs[i], 23) }) // k
	each(func(i int) { f.and(xs[i], xs[i], mant) })
	each(func(i int) { f.iadd(xs[i], xs[i], off) }) // m ∈ [√½, √2)
	if adj != nil {
		each(func(i int) { f.isub(t[i], t[i], adj[i]) })
	}
	each(func(i int) { f.SCVTF(a, t[i], t[i]) })
	each(func(i int) { f.FSUB(a, xs[i], xs[i], one) }) // f
	top := len(coef) - 1
	f.coefBegin(coef)
	each(func(i int) { f.dup(u[i], coef[top]) })
	cur, nxt := u, w
	for j := top - 1; j >= 0; j-- {
		each(func(i int) { f.dup(nxt[i], coef[j]) })
		each(func(i int) { f.fmla(nxt[i], cur[i], xs[i]) })
		cur, nxt = nxt, cur
	}
	each(func(i int) { f.FMUL(a, nxt[i], xs[i], xs[i]) })   // f²
	each(func(i int) { f.FMUL(a, cur[i], cur[i], xs[i]) })  // f·q
	each(func(i int) { f.FMUL(a, cur[i], cur[i], nxt[i]) }) // f³·q
	each(func(i int) { f.fmls(cur[i], nxt[i], half) })      // − f²/2
	each(func(i int) { f.fmla(cur[i], t[i], lo) })          // + k·ln2lo
	each(func(i int) { f.FADD(a, xs[i], xs[i], cur[i]) })   // + f
	each(func(i int) { f.fmla(xs[i], t[i], hi) })           // + k·ln2hi
}

// logPoly64 are the coefficients 2/(2j+1), j = 1 … 9, of
// (log((1+s)/(1−s)) − 2s)/(s·z) = Σ_j 2/(2j+1)·z^(j−1), z = s², the atanh
// series. With m ∈ [√½, √2), |s| = |f/(2+f)| ≤ 0.1716 and z ≤ 0.0295, so
// the first omitted term is below z¹⁰/21 ≈ 2e-17 relative: float64
// rounding dominates, and no minimax fit is needed.
func logPoly64() []float64 {
	c := make([]float64, 9)
	for j := range c {
		c[j] = 2 / float64(2*j+3)
	}
	return c
}

// logConsts64 loads the constants of logCore64.
func (f *fn) logConsts64() logK {
	var c logK
	c.off = f.kbits("sqrt1_2", 0, math.Float64bits(math.Sqrt2/2))
	c.mant = f.kbits("mant", 0, 0x000fffffffffffff)
	c.one = f.k("one", 1, 1)
	c.half = f.k("two", 2, 2) // 2 + f, the denominator of s
	h, l := ln2Split64()
	c.hi = f.k("ln2hi", 0, h)
	c.lo = f.k("ln2lo", 0, l)
	c.coef = f.packed("logPolyF64", nil, logPoly64())
	return c
}

// logCore64 is logCore for float64 lanes: x = 2^k·m, m ∈ [√½, √2),
// f = m − 1, s = f/(2+f), log(1+f) = 2s + s·z·Q(z) = f + s·(z·Q(z) − f).
// It needs two more scratch registers per element, in f.extra. adj is as
// for logCore.
func (f *fn) logCore64(xs, t, u, w, adj []neon.V) {
	a := f.arr
	c := f.logConsts64()
	two := c.half
	S, Z := f.extra[:len(xs)], f.extra[len(xs):]
	each := func(g func(i int)) {
		for i := range xs {
			g(i)
		}
	}
	each(func(i int) { f.isub(xs[i], xs[i], c.off) })
	each(func(i int) { f.SSHR(a, t[i], xs[i], 52) }) // k
	each(func(i int) { f.and(xs[i], xs[i], c.mant) })
	each(func(i int) { f.iadd(xs[i], xs[i], c.off) }) // m
	if adj != nil {
		each(func(i int) { f.isub(t[i], t[i], adj[i]) })
	}
	each(func(i int) { f.SCVTF(a, t[i], t[i]) })
	each(func(i int) { f.FSUB(a, xs[i], xs[i], c.one) }) // f
	each(func(i int) { f.FADD(a, S[i], xs[i], two) })
	each(func(i int) { f.FDIV(a, S[i], xs[i], S[i]) }) // s
	each(func(i int) { f.FMUL(a, Z[i], S[i], S[i]) })  // z
	top := len(c.coef) - 1
	f.coefBegin(c.coef)
	each(func(i int) { f.dup(u[i], c.coef[top]) })
	cur, nxt := u, w
	for j := top - 1; j >= 0; j-- {
		each(func(i int) { f.dup(nxt[i], c.coef[j]) })
		each(func(i int) { f.fmla(nxt[i], cur[i], Z[i]) })
		cur, nxt = nxt, cur
	}
	each(func(i int) { f.FMUL(a, cur[i], cur[i], Z[i]) })  // z·Q(z)
	each(func(i int) { f.FSUB(a, cur[i], cur[i], xs[i]) }) // − f
	each(func(i int) { f.FMUL(a, cur[i], cur[i], S[i]) })  // s·(z·Q − f)
	each(func(i int) { f.fmla(cur[i], t[i], c.lo) })       // + k·ln2lo
	each(func(i int) { f.FADD(a, xs[i], xs[i], cur[i]) })  // + f
	each(func(i int) { f.fmla(xs[i], t[i], c.hi) })        // + k·ln2hi
}
