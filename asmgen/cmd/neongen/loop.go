package main

import "github.com/lossfuse/lossfuse/asmgen/neon"

// stream is one slice a loop reads or writes: the register holding its
// pointer and the vector registers its elements go through, one per
// unrolled vector (at least the largest unroll).
type stream struct {
	ptr  string
	regs []neon.V
	// fill, when set, is copied into regs[0] before a partial vector is
	// loaded, so that the lanes past the end hold a neutral value (−Inf
	// for a max or a sum of exponentials) instead of stale data.
	fill    neon.V
	hasFill bool
}

func (f *fn) esize() int {
	if f.arr == neon.D2 {
		return 8
	}
	return 4
}

func (f *fn) lanes() int { return 16 / f.esize() }

// vlist is "[V0.S4, V1.S4]" for the first n registers.
func (f *fn) vlist(regs []neon.V) string {
	s := "["
	for i, r := range regs {
		if i > 0 {
			s += ", "
		}
		s += "V" + itoa(int(r)) + "." + f.ar()
	}
	return s + "]"
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// load / store move n full vectors and advance the pointer (VLD1 and VST1
// take at most four registers).
func (f *fn) load(s stream, n int) {
	for i := 0; i < n; i += 4 {
		m := min(4, n-i)
		f.Op("VLD1.P %d(%s), %s", 16*m, s.ptr, f.vlist(s.regs[i:i+m]))
	}
}

func (f *fn) store(s stream, n int) {
	for i := 0; i < n; i += 4 {
		m := min(4, n-i)
		f.Op("VST1.P %s, %d(%s)", f.vlist(s.regs[i:i+m]), 16*m, s.ptr)
	}
}

func (f *fn) lane(r neon.V, i int) string {
	if f.arr == neon.D2 {
		return "V" + itoa(int(r)) + ".D[" + itoa(i) + "]"
	}
	return "V" + itoa(int(r)) + ".S[" + itoa(i) + "]"
}

// loopInfo records the instruction count of a kernel's main loop.
type loopInfo struct {
	name   string
	insts  int // instructions in one iteration of the unrolled loop
	vecs   int // vectors per iteration
	dtype  string
	remark string
}

var loops []loopInfo

// loop emits the standard three-stage loop over the R1 elements of the
// streams: blocks of u vectors, then single vectors, then the last
// 1 … lanes−1 elements moved lane by lane (LD1/ST1 single structure), so
// that nothing outside a slice is ever read or written and the partial
// vector goes through the same body as a full one. body(n) computes the
// outputs from the inputs for n unrolled vectors.
func (f *fn) loop(u int, ins, outs []stream, body func(n int)) {
	l := f.lanes()
	es := f.esize()
	big, one, onePre, tail, done := f.label("big"), f.label("one"), f.label("onepre"), f.label("tail"), f.label("done")
	f.inLoop = true
	defer func() { f.inLoop = false }()
	f.Op("SUBS $%d, R1, R1", u*l)
	f.Op("BLT %s", onePre)
	f.Label(big)
	start := f.Count()
	for _, s := range ins {
		f.load(s, u)
	}
	body(u)
	for _, s := range outs {
		f.store(s, u)
	}
	f.Op("SUBS $%d, R1, R1", u*l)
	f.Op("BGE %s", big)
	loops = append(loops, loopInfo{name: f.sig.name, insts: f.Count() - start, vecs: u, dtype: map[neon.Arr]string{neon.S4: "f32", neon.D2: "f64"}[f.arr]})
	f.Label(onePre)
	f.Op("ADDS $%d, R1, R1", u*l-l) // R1 = remaining − lanes
	f.Op("BLT %s", tail)
	f.Label(one)
	for _, s := range ins {
		f.load(s, 1)
	}
	body(1)
	for _, s := range outs {
		f.store(s, 1)
	}
	f.Op("SUBS $%d, R1, R1", l)
	f.Op("BGE %s", one)
	f.Label(tail)
	f.Op("ADDS $%d, R1, R1", l) // remaining, 0 … lanes−1
	f.Op("BEQ %s", done)
	for _, s := range ins {
		if s.hasFill {
			f.mov(s.regs[0], s.fill)
		} else {
			f.zero(s.regs[0])
		}
	}
	// Lane 0 always; lanes 1 and 2 when R1 says so (float32 only).
	skip := f.label("lanes")
	for _, s := range ins {
		f.Op("VLD1.P %d(%s), %s", es, s.ptr, f.lane(s.regs[0], 0))
	}
	if l == 4 {
		f.Op("CMP $2, R1")
		f.Op("BLT %s", skip)
		for _, s := range ins {
			f.Op("VLD1.P %d(%s), %s", es, s.ptr, f.lane(s.regs[0], 1))
		}
		f.Op("BEQ %s", skip)
		for _, s := range ins {
			f.Op("VLD1.P %d(%s), %s", es, s.ptr, f.lane(s.regs[0], 2))
		}
	}
	f.Label(skip)
	body(1)
	for _, s := range outs {
		f.Op("VST1.P %s, %d(%s)", f.lane(s.regs[0], 0), es, s.ptr)
	}
	if l == 4 && len(outs) > 0 {
		f.Op("CMP $2, R1")
		f.Op("BLT %s", done)
		for _, s := range outs {
			f.Op("VST1.P %s, %d(%s)", f.lane(s.regs[0], 1), es, s.ptr)
		}
		f.Op("BEQ %s", done)
		for _, s := range outs {
			f.Op("VST1.P %s, %d(%s)", f.lane(s.regs[0], 2), es, s.ptr)
		}
	}
	f.Label(done)
}
