package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// The stashed long-row path of softmax cross-entropy on 16-bit logits with
// a gradient of the same format (kernels.CrossEntropyHalf): the kernels of
// stash.go reading bfloat16 or float16 rows and writing the gradient in
// that format, so that each element moves 2 bytes in and 2 out. The math
// and the stash stay float32.
//
// The row's last partial vector is not read or written in 16 bits: there
// are no 16-bit masked moves on AVX2, and one code path keeps the ISAs
// alike. The Go driver widens the row's tail into xtail (float32, read
// under the usual mask) and copies the gradient's tail out of dtail (a
// whole vector of 16-bit values, of which the tail's lanes count).

// halfFormat is a 16-bit element format.
type halfFormat struct {
	name string // in kernel names: BF16, F16
	f16  bool   // IEEE binary16 (else bfloat16)
}

var halfFormats = []halfFormat{{"BF16", false}, {"F16", true}}

// bf16Consts are roundBF16's integer lane constants: kept in registers on
// AVX-512, where an instruction may not read a full-width constant table.
// roundBF16Widened needs the first two.
var bf16Consts = []uint32{1, 0x7fff, 0x7fffffff, 0x7f800000, 0x40}

// preloadNarrow pins roundBF16Widened's constants for a kernel that
// narrows to f.
func preloadNarrow(s *x86.ISA, f halfFormat) {
	if f.f16 || !s.ZMM {
		return
	}
	for _, c := range bf16Consts[:2] {
		s.Preload(math.Float32frombits(c))
	}
}

// halfReg is a register of half the ISA's width: Lanes 16-bit values.
func halfReg(s *x86.ISA) reg.VecVirtual {
	if s.ZMM {
		return YMM()
	}
	return XMM()
}

// widen16 returns the float32 values of the Lanes 16-bit elements in src
// (memory, or a halfReg).
func widen16(s *x86.ISA, src Op, f16 bool) reg.VecVirtual {
	v := s.Vec()
	if f16 {
		VCVTPH2PS(src, v)
		return v
	}
	VPMOVZXWD(src, v)
	VPSLLD(Imm(16), v, v)
	return v
}

// narrow16 writes the Lanes values of v rounded to the format (to nearest,
// ties to even) to dst. v is computed from widened inputs of the format
// (see roundBF16Widened).
func narrow16(s *x86.ISA, v reg.VecVirtual, dst Mem, f16 bool) {
	if f16 {
		VCVTPS2PH(Imm(0), v, dst) // imm 0: round to nearest even
		return
	}
	r := roundBF16Widened(s, v)
	if s.ZMM {
		VPMOVDW(r, dst)
		return
	}
	// No VPMOVDW on AVX2: pack each 128-bit lane's four words (twice),
	// then take quadwords 0 and 2.
	VPACKUSDW(r, r, r)
	VPERMQ(Imm(0x08), r, r)
	VMOVDQU(r.AsX(), dst)
}

// rowHooks16 reads a 16-bit row at x for onlineLSEHooks: whole vectors
// widened from x, the tail from the widened copy at xtail.
func rowHooks16(s *x86.ISA, h *lseHooks, x, xtail reg.GPVirtual, f16 bool) {
	h.load = func(mk *x86.Mask, j reg.GPVirtual, fill reg.VecVirtual) reg.VecVirtual {
		if mk != nil {
			return s.LoadAt(mk, Mem{Base: xtail}, fill)
		}
		return widen16(s, Mem{Base: x, Index: j, Scale: 2}, f16)
	}
	h.first = func() reg.VecVirtual {
		w := halfReg(s)
		VPBROADCASTW(Mem{Base: x}, w)
		return widen16(s, w, f16)
	}
}

// store16 writes pass 2's vector v at element j of the 16-bit gradient
// row dst, or the tail's into dtail.
func store16(s *x86.ISA, v reg.VecVirtual, mk *x86.Mask, dst, dtail, j reg.GPVirtual, f16 bool) {
	if mk != nil {
		narrow16(s, v, Mem{Base: dtail}, f16)
		return
	}
	narrow16(s, v, Mem{Base: dst, Index: j, Scale: 2}, f16)
}

// scaleRow16 is scaleRow writing the 16-bit gradient row dst (its tail's
// lanes into dtail).
func scaleRow16(s *x86.ISA, f halfFormat) {
	name := "scaleRow" + f.name + suffix(s)
	TEXT(name, NOSPLIT, "func(src *float32, dst, dtail *uint16, k int, c, b float32)")
	Pragma("noescape")
	docf(name,
		"%s writes dst[j] = c·src[j] − b rounded to "+f.name+" for the whole vectors of j < k,",
		"and the last k mod Lanes of them to dtail (a whole vector).")
	s.Begin()
	src := Load(Param("src"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	dtail := Load(Param("dtail"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	c, b := broadcastParam(s, "c"), broadcastParam(s, "b")
	preloadNarrow(s, f)
	sp := s.NewSpan(k)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(src, j), nil)
		s.FMS213(b, c, v) // c·v − b
		store16(s, v, mk, dst, dtail, j, f.f16)
	})
	s.End()
}

// lseStashScaleRow16 is lseStashScaleRow on 16-bit rows: pass 1 of the row
// x and scaleRow16 of the previous row's stash into dst in one loop; with
// g32 dst is a float32 row (the G32 variants: scaleRow's stores, the tail
// under the usual mask), written with non-temporal stores when streamed
// (G32NT: a float32 gradient of a large call, as lseStashScaleRowNT; the
// 16-bit gradient's half-line non-temporal stores measured slower).
func lseStashScaleRow16(s *x86.ISA, f halfFormat, g32, streamed bool) {
	name := "lseStashScaleRow" + f.name
	sig := "func(x *uint16, xtail, stash, prev *float32, dst, dtail *uint16, k int, c, b float32, out *float32) int"
	pass2 := "scaleRow" + f.name + "(prev, dst, dtail, k, c, b)"
	if g32 {
		name += "G32"
		sig = "func(x *uint16, xtail, stash, prev, dst *float32, k int, c, b float32, out *float32) int"
		pass2 = "scaleRow(prev, dst, k, c, b)"
	}
	if streamed {
		name += "NT"
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	docs := []string{"%s is lseStashRow" + f.name + "(x, xtail, stash, k, out) and " + pass2 + " in one loop;",
		"it returns lseStashRow's result. The stashes and rows must not overlap, except dst with x's previous row (in place)."}
	if streamed {
		docs = append(docs, "dst is written with non-temporal stores, bypassing the caches.")
	}
	docf(name, docs...)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	xtail := Load(Param("xtail"), GP64()).(reg.GPVirtual)
	stash := Load(Param("stash"), GP64()).(reg.GPVirtual)
	prev := Load(Param("prev"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	var dtail reg.GPVirtual
	if !g32 {
		dtail = Load(Param("dtail"), GP64()).(reg.GPVirtual)
	}
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	out := Load(Param("out"), GP64()).(reg.GPVirtual)
	s.PreloadExp()
	s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
	c, b := broadcastParam(s, "c"), broadcastParam(s, "b")
	if !g32 {
		preloadNarrow(s, f)
	}
	negInf := s.CR(math.Inf(-1))
	sp := s.NewSpan(k)
	moved := GP64()
	XORQ(moved, moved)
	hooks := stashHooks(s, stash, moved)
	rowHooks16(s, &hooks, x, xtail, f.f16)
	if g32 {
		hooks.loop = scaleRowLoop(s, sp, prev, dst, c, b, streamed) // lseStashScaleRow's
	} else {
		hooks.loop = func(body func(j reg.GPVirtual, mk *x86.Mask), flush func()) {
			sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
				body(j, mk)
				v := s.LoadAt(mk, s.At(prev, j), nil)
				s.FMS213(b, c, v) // c·v − b
				store16(s, v, mk, dst, dtail, j, f.f16)
			}, flush)
		}
	}
	m, l, ref := onlineLSEHooks(s, x, sp, negInf, true, nil, nil, nil, hooks)
	storeStashOut(s, out, m, l, ref)
	Store(moved, ReturnIndex(0))
	s.EndOut(streamed)
}
