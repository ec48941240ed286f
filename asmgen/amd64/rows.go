package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// rescaleMargin: pass 1 rescales its running sum only when a logit exceeds
// the reference maximum by more than this. e^20 times any row length that
// fits in memory stays far below float32 overflow, so the sum cannot
// overflow, and typical rows never rescale after their first element.
const rescaleMargin = 20

type lseOptions struct {
	split    bool // write m[i] and ls[i] = log Σ exp(x − m[i]) instead of lse = m + ls
	dot      bool // also Σ_j w_j·(x_j − m[i]) per row (label smoothing); implies split
	weighted bool // with class weights w (else w_j = 1)
	capped   bool // logits soft-capped first: z = cap·tanh(x/cap) (params cap, inv = 1/cap)
}

// softCap returns the transform z = cap·tanh(x·inv) for capped kernels (nil
// otherwise); masked-off lanes (mk) are set back to −Inf so that they still
// add nothing to the row's sums.
func softCap(s *x86.ISA, capped bool, negInf reg.VecVirtual) func(v reg.VecVirtual, mk *x86.Mask) reg.VecVirtual {
	if !capped {
		return nil
	}
	return func(v reg.VecVirtual, mk *x86.Mask) reg.VecVirtual {
		t := s.Vec()
		s.Mul(broadcastParam(s, "inv"), v, t)
		z := s.Tanh(t)
		s.Mul(broadcastParam(s, "cap"), z, z)
		if mk != nil {
			mk.Fill(z, orNegInf(s, negInf))
		}
		return z
	}
}

// capWithFactor is z = cap·tanh(v·inv) and the cap's derivative
// dz/dv = 1 − tanh², in new registers (pass 2 of the capped kernels).
func capWithFactor(s *x86.ISA, v reg.VecVirtual) (z, fac reg.VecVirtual) {
	t := s.Vec()
	s.Mul(broadcastParam(s, "inv"), v, t)
	th := s.Tanh(t)
	z = s.Vec()
	s.Mul(broadcastParam(s, "cap"), th, z)
	fac = s.Vec()
	s.Mov(s.C(1), fac)
	s.FNMA231(th, th, fac) // 1 − tanh²
	return z, fac
}

// orNegInf is negInf, or −Inf loaded into a new register where the caller
// keeps none.
func orNegInf(s *x86.ISA, negInf reg.VecVirtual) reg.VecVirtual {
	if negInf != nil {
		return negInf
	}
	return s.CR(math.Inf(-1))
}

// rowLoop emits the loop over n rows; body gets the row index i. The row
// pointers in ptrs advance by k elements after each row.
func rowLoop(n, k reg.GPVirtual, ptrs []reg.GPVirtual, body func(i reg.GPVirtual)) {
	i := GP64()
	loop, done := x86.NewLabel("row"), x86.NewLabel("rowsdone")
	XORQ(i, i)
	Label(loop)
	CMPQ(i, n)
	JAE(LabelRef(done))
	body(i)
	for _, p := range ptrs {
		LEAQ(Mem{Base: p, Index: k, Scale: 4}, p)
	}
	INCQ(i)
	JMP(LabelRef(loop))
	Label(done)
}

// rowLoopT is rowLoop for rows of the ISA's element type.
func rowLoopT(s *x86.ISA, n, k reg.GPVirtual, ptrs []reg.GPVirtual, body func(i reg.GPVirtual)) {
	if !s.F64 {
		rowLoop(n, k, ptrs, body)
		return
	}
	i := GP64()
	loop, done := x86.NewLabel("row"), x86.NewLabel("rowsdone")
	XORQ(i, i)
	Label(loop)
	CMPQ(i, n)
	JAE(LabelRef(done))
	body(i)
	for _, p := range ptrs {
		LEAQ(Mem{Base: p, Index: k, Scale: 8}, p)
	}
	INCQ(i)
	JMP(LabelRef(loop))
	Label(done)
}

// lseRows is pass 1 of softmax cross-entropy and of the row primitives:
// log Σ_j exp(x_ij) by an online maximum and sum in one read. The split
// form keeps the reference maximum m and log of the sum apart, so that
// callers can form x − lse as (x − m) − ls without cancelling in float32.
func lseRows(s *x86.ISA, o lseOptions) {
	name, sig := "lseRows", "func(x *float32, n, k int, lse *float32)"
	doc := []string{"%s writes lse[i] = log Σ_j exp(x[i*k+j]) for each of n rows, reading x once."}
	split := "%s writes, for each of n rows, m[i] (a reference maximum) and ls[i] = log Σ_j exp(x[i*k+j] − m[i]), reading x once."
	switch {
	case o.dot && o.weighted:
		name, sig = "maxLogDotWRows", "func(x *float32, n, k int, w, m, ls, dot *float32)"
		doc = []string{split, "It also writes dot[i] = Σ_j w[j]·(x[i*k+j] − m[i]), taking terms with w[j] = 0 as 0."}
	case o.dot:
		name, sig = "maxLogDotRows", "func(x *float32, n, k int, m, ls, dot *float32)"
		doc = []string{split, "It also writes dot[i] = Σ_j (x[i*k+j] − m[i])."}
	case o.split:
		name, sig = "maxLogRows", "func(x *float32, n, k int, m, ls *float32)"
		doc = []string{split}
	}
	o.split = o.split || o.dot
	if o.capped {
		name += "C"
		sig = sig[:len(sig)-1] + ", cap, inv float32)"
		doc = append(doc, "The logits are soft-capped first: z = cap·tanh(x·inv), inv = 1/cap.")
	}
	name = name + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, doc...)
	s.Begin()
	sz := uint8(s.Size())
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	var lse, mOut, lsOut reg.GPVirtual
	if o.split {
		mOut = Load(Param("m"), GP64()).(reg.GPVirtual)
		lsOut = Load(Param("ls"), GP64()).(reg.GPVirtual)
	} else {
		lse = Load(Param("lse"), GP64()).(reg.GPVirtual)
	}
	var w, dot reg.GPVirtual
	if o.dot {
		dot = Load(Param("dot"), GP64()).(reg.GPVirtual)
	}
	ptrs := []reg.GPVirtual{x}
	if o.weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	s.PreloadExp()
	s.PreloadC(rescaleMargin, -s.MaxFinite(), s.MaxFinite())
	negInf := s.CR(math.Inf(-1))
	if o.capped && !s.ZMM {
		// AVX2 has 16 registers and the soft-capped rows need them all
		// (tanh, exp, the two-level sum, dot): −Inf is loaded where a
		// tail needs it instead of held across the loop.
		negInf = nil
	}
	sp := s.NewSpan(k)
	transform := softCap(s, o.capped, negInf)

	rowLoopT(s, n, k, ptrs, func(i reg.GPVirtual) {
		// dot = Σ_j w_j·(x_j − m) relative to the current reference m, with
		// ws = Σ w_j of the lanes seen so far, so that a move of m by δ
		// adds δ·ws: no term is taken relative to an outlier like x[0].
		var acc, ws reg.VecVirtual
		var each func(v, mref reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask)
		var shift func(d reg.VecVirtual)
		if o.dot {
			acc, ws = s.Vec(), s.Vec()
			VXORPS(acc, acc, acc)
			VXORPS(ws, ws, ws)
			each = func(v, mref reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask) {
				t := s.Vec()
				s.Sub(mref, v, t)
				if o.weighted {
					wv := s.LoadAt(mk, s.At(w, j), nil)
					s.Mul(wv, t, t)
					s.Where(x86.EQ, wv, s.C(0), s.C(0), t) // 0·(−Inf) and the tail
					s.Add(wv, ws, ws)
				} else {
					s.ZeroOff(mk, t)
					one := s.Vec()
					s.Mov(s.C(1), one)
					s.ZeroOff(mk, one)
					s.Add(one, ws, ws)
				}
				s.Add(t, acc, acc)
			}
			shift = func(d reg.VecVirtual) {
				t := s.Vec()
				s.Mul(ws, d, t)
				s.Where(x86.EQ, ws, s.C(0), s.C(0), t) // 0·(−Inf)
				s.Add(t, acc, acc)
			}
		}
		m, l := onlineLSE(s, x, sp, negInf, o.split, each, shift, transform)
		if o.split {
			s.StoreScalar(m, Mem{Base: mOut, Index: i, Scale: sz})
			s.StoreScalar(l, Mem{Base: lsOut, Index: i, Scale: sz})
		} else {
			s.Add(m, l, l)
			s.StoreScalar(l, Mem{Base: lse, Index: i, Scale: sz})
		}
		if o.dot {
			s.AllSum(acc)
			s.StoreScalar(acc, Mem{Base: dot, Index: i, Scale: sz})
		}
	})
	s.End()
}

// onlineLSE emits pass 1 over the row at x: the online maximum and sum of
// exponentials (arXiv 1805.02867), rescaling only when a logit exceeds the
// reference by rescaleMargin. It returns vectors with every lane equal to
// m, the reference maximum (with exact, the true maximum, so that x − m is
// exact near it), and l = log Σ_j exp(x_j − m). each, if not nil, gets
// every loaded vector (masked-off lanes hold the reference, or −Inf with a
// transform: each must not count them) and the current reference.
//
// shift, if not nil, is called with m_old − m_new (≤ 0, every lane) each
// time the reference moves, so that sums kept relative to m can follow it.
// transform, if not nil, maps every loaded vector (and the first logit)
// before use: the soft-cap.
func onlineLSE(s *x86.ISA, x reg.GPVirtual, sp x86.Span, negInf reg.VecVirtual, exact bool,
	each func(v, m reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask), shift func(delta reg.VecVirtual),
	transform func(v reg.VecVirtual, mk *x86.Mask) reg.VecVirtual) (m, l reg.VecVirtual) {
	m, l, _ = onlineLSEHooks(s, x, sp, negInf, exact, each, shift, transform, lseHooks{})
	return m, l
}

// lseHooks lets a pass 1 keep the exponentials it computes (the stash of
// lseStashRow): exp gets e = exp(x_j − ref) of every vector (0 in masked-off
// lanes) and rescale(j) is emitted where the reference moves, before the
// vector at j.
type lseHooks struct {
	exp     func(e reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask)
	rescale func(j reg.GPVirtual)
	// loop, if set, runs the per-vector body in place of the span's
	// EachBlock, for a kernel that fuses another pass into the same loop;
	// it must call flush after every x86.SumBlock vectors at most (the
	// two-level sum).
	loop func(body func(j reg.GPVirtual, mk *x86.Mask), flush func())
	// flush, if set, runs with the sum's flush at every block end, for
	// another two-level sum the caller keeps (x86.BlockSum).
	flush func()
	// load and first, if set, read the row instead of float32 loads from
	// x: load the vector at element j (mk: the tail, masked-off lanes
	// fill), first the row's first element in every lane (the 16-bit
	// rows of stash16.go).
	load  func(mk *x86.Mask, j reg.GPVirtual, fill reg.VecVirtual) reg.VecVirtual
	first func() reg.VecVirtual
}

// onlineLSEHooks is onlineLSE with hooks; it also returns ref, the
// reference the sum was taken against before the exact re-reference (m =
// ref without exact).
func onlineLSEHooks(s *x86.ISA, x reg.GPVirtual, sp x86.Span, negInf reg.VecVirtual, exact bool,
	each func(v, m reg.VecVirtual, j reg.GPVirtual, mk *x86.Mask), shift func(delta reg.VecVirtual),
	transform func(v reg.VecVirtual, mk *x86.Mask) reg.VecVirtual, hooks lseHooks) (m, l, ref reg.VecVirtual) {
	// The reference starts at the row's first logit, clamped to a finite
	// value so that −Inf rows give a sum of 0 (lse −Inf) and +Inf logits
	// give an infinite sum rather than Inf − Inf.
	if hooks.first != nil {
		m = hooks.first()
	} else {
		m = s.Broadcast(Mem{Base: x})
	}
	if transform != nil {
		m = transform(m, nil)
	}
	s.Max(m, s.CR(-s.MaxFinite()), m) // NaN stays: m is the operand returned
	s.Min(m, s.CR(s.MaxFinite()), m)
	thr := s.Vec()
	s.Add(s.C(rescaleMargin), m, thr)
	// Two levels (x86.BlockSum): a lane's float32 sum holds at most
	// x86.SumBlock terms before it is flushed into float64.
	sum := s.NewBlockSum()
	var top reg.VecVirtual
	if exact {
		top = s.Vec()
		VMOVAPS(m, top)
	}
	iterate := func(body func(j reg.GPVirtual, mk *x86.Mask), flush func()) {
		sp.EachBlock(x86.SumBlock, body, flush)
	}
	if hooks.loop != nil {
		iterate = hooks.loop
	}
	iterate(func(j reg.GPVirtual, mk *x86.Mask) {
		if mk == nil {
			s.PrefetchAhead(x, j)
		}
		// Masked-off lanes hold the reference (≤ the maximum, below the
		// rescale threshold) and their exponentials are zeroed: filling
		// with −Inf would make exp underflow there, and an underflowing
		// result costs a microcode assist per vector on Intel (100+ cycles
		// per row of a short-row batch). The soft-cap refills −Inf.
		fill := m
		if transform != nil && mk != nil {
			fill = orNegInf(s, negInf)
		}
		var v reg.VecVirtual
		if hooks.load != nil {
			v = hooks.load(mk, j, fill)
		} else {
			v = s.LoadAt(mk, s.At(x, j), fill)
		}
		if transform != nil {
			v = transform(v, mk)
		}
		s.IfAny(x86.GT, v, thr, func() {
			// Rare: move the reference up to this vector's maximum.
			t := s.Vec()
			VMOVAPS(v, t)
			s.AllMax(t)
			s.Min(t, s.CR(s.MaxFinite()), t)
			d := s.Vec()
			s.Sub(t, m, d)
			sum.Scale(s.Exp(d))
			if shift != nil {
				shift(d)
			}
			VMOVAPS(t, m)
			s.Add(s.C(rescaleMargin), m, thr)
			if hooks.rescale != nil {
				hooks.rescale(j)
			}
		})
		if exact {
			s.Max(v, top, top)
		}
		d := s.Vec()
		s.Sub(m, v, d)
		e := s.ExpFlush(d)
		s.ZeroOff(mk, e)
		sum.Add(e)
		if hooks.exp != nil {
			hooks.exp(e, j, mk)
		}
		if each != nil {
			each(v, m, j, mk)
		}
	}, func() {
		sum.Flush()
		if hooks.flush != nil {
			hooks.flush()
		}
	})
	ref = m
	var f reg.VecVirtual
	if exact {
		// Re-reference the sum to the true maximum (m ≤ top).
		s.AllMax(top)
		s.Min(top, s.CR(s.MaxFinite()), top)
		d := s.Vec()
		s.Sub(top, m, d)
		f = s.Exp(d)
		if shift != nil {
			shift(d)
		}
		m = top
	}
	return m, s.Log(sum.Total(f), true), ref
}

// maxThenStash is pass 1 for a row that fits in L1: the exact maximum m
// (loads and maxima only; prefetching ahead), then e_j = exp(x_j − m)
// written to stash (which may be x) and summed. With m exact no rescaling
// is needed, and the caller's pass 2 scales the stash instead of taking a
// second exp. It returns m (clamped to finite values, NaN kept) and Σe in
// every lane.
func maxThenStash(s *x86.ISA, x, stash reg.GPVirtual, sp x86.Span, negInf reg.VecVirtual) (m, sum reg.VecVirtual) {
	m = s.Vec()
	VMOVAPS(negInf, m)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		if mk == nil {
			s.PrefetchAhead(x, j)
		}
		v := s.LoadAt(mk, s.At(x, j), negInf)
		s.Max(v, m, m)
	})
	s.AllMax(m)
	s.Max(m, s.CR(-s.MaxFinite()), m) // NaN: m is the operand returned
	s.Min(m, s.CR(s.MaxFinite()), m)
	bs := s.NewBlockSum() // two levels, as onlineLSE
	sp.EachBlock(x86.SumBlock, func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(x, j), m) // m: exp(0), zeroed, no underflow
		s.Sub(m, v, v)
		e := s.ExpFlush(v)
		s.ZeroOff(mk, e)
		bs.Add(e)
		s.StoreAt(mk, e, s.At(stash, j))
	}, bs.Flush)
	return m, bs.Total(nil)
}

// expAffineRows is pass 2 of softmax cross-entropy and Softmax:
// dst_ij = coef_i·exp((x_ij − m_i) − ls_i) − bias_i (·w_j when weighted),
// with m and ls from the split pass 1.
// dst may be x (in-place gradient).
// With streamed set (the NT variants) dst is written with non-temporal
// stores: for gradients too large to stay in the caches.
func expAffineRows(s *x86.ISA, weighted, capped, streamed bool) {
	name, sig := "expAffineRows", "func(x, dst *float32, n, k int, m, ls, coef, bias *float32)"
	doc := "%s writes dst[i*k+j] = coef[i]·exp((x[i*k+j] − m[i]) − ls[i]) − bias[i] for n rows of k; dst may be x."
	if weighted {
		name, sig = "expAffineWRows", "func(x, dst *float32, n, k int, m, ls, coef, bias, w *float32)"
		doc = "%s writes dst[i*k+j] = coef[i]·exp((x[i*k+j] − m[i]) − ls[i]) − bias[i]·w[j] for n rows of k; dst may be x."
	}
	docs := []string{doc}
	if capped {
		name += "C"
		sig = sig[:len(sig)-1] + ", cap, inv float32)"
		docs = append(docs, "The logits are soft-capped first (z = cap·tanh(x·inv)) and dst is multiplied by the cap's derivative 1 − (z·inv)².")
	}
	if streamed {
		name += "NT"
		docs = append(docs, "dst is written with non-temporal stores, bypassing the caches.")
	}
	name += suffix(s)
	TEXT(name, NOSPLIT, sigT(s, sig))
	Pragma("noescape")
	docf(name, docs...)
	s.Begin()
	sz := uint8(s.Size())
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	mIn := Load(Param("m"), GP64()).(reg.GPVirtual)
	lsIn := Load(Param("ls"), GP64()).(reg.GPVirtual)
	coef := Load(Param("coef"), GP64()).(reg.GPVirtual)
	bias := Load(Param("bias"), GP64()).(reg.GPVirtual)
	var w reg.GPVirtual
	if weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	s.PreloadExp()
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, dst}, func(i reg.GPVirtual) {
		mv := s.Broadcast(Mem{Base: mIn, Index: i, Scale: sz})
		lv := s.Broadcast(Mem{Base: lsIn, Index: i, Scale: sz})
		cf := s.Broadcast(Mem{Base: coef, Index: i, Scale: sz})
		b := s.Broadcast(Mem{Base: bias, Index: i, Scale: sz})
		each := func(j reg.GPVirtual, mk *x86.Mask, store func(reg.VecVirtual, Mem)) {
			// Masked-off lanes hold m, so that their (discarded) exp does not
			// underflow into a microcode assist.
			v := s.LoadAt(mk, s.At(x, j), mv)
			var fac reg.VecVirtual
			if capped {
				v, fac = capWithFactor(s, v)
			}
			s.Sub(mv, v, v)
			s.Sub(lv, v, v)
			e := s.ExpFlush(v)
			if weighted {
				bw := s.LoadAt(mk, s.At(w, j), nil)
				s.Mul(b, bw, bw)
				s.FMS213(bw, cf, e) // e = cf·e − b·w
			} else {
				s.FMS213(b, cf, e) // e = cf·e − b
			}
			if capped {
				s.Mul(fac, e, e)
			}
			store(e, s.At(dst, j))
		}
		sp.EachOut(dst, streamed, each)
	})
	s.EndOut(streamed)
}

// subRows is LogSoftmax's pass 2: dst_ij = (x_ij − m_i) − ls_i (dst may
// be x); x − m is exact near the maximum, where log-softmax is small.
func subRows(s *x86.ISA) {
	name := "subRows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(x, dst *float32, n, k int, m, ls *float32)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i*k+j] = (x[i*k+j] − m[i]) − ls[i] for n rows of k; dst may be x.")
	s.Begin()
	sz := uint8(s.Size())
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	mIn := Load(Param("m"), GP64()).(reg.GPVirtual)
	lsIn := Load(Param("ls"), GP64()).(reg.GPVirtual)
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, dst}, func(i reg.GPVirtual) {
		mv := s.Broadcast(Mem{Base: mIn, Index: i, Scale: sz})
		lv := s.Broadcast(Mem{Base: lsIn, Index: i, Scale: sz})
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			v := s.LoadAt(mk, s.At(x, j), nil)
			s.Sub(mv, v, v)
			s.Sub(lv, v, v)
			s.StoreAt(mk, v, s.At(dst, j))
		})
	})
	s.End()
}

// softmaxRows is Softmax for rows that fit in L1, one call for all rows:
// per row maxThenStash writes e = exp(x − m) to dst, then dst is scaled by
// 1/Σe in place. Rows holding +Inf or only −Inf (Σe = +Inf or 0) become NaN,
// as PyTorch.
func softmaxRows(s *x86.ISA) {
	name := "softmaxRows" + suffix(s)
	TEXT(name, NOSPLIT, sigT(s, "func(x, dst *float32, n, k int)"))
	Pragma("noescape")
	docf(name, "%s writes dst[i*k+j] = softmax of row i of x for n rows of k; dst may be x.")
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	k := Load(Param("k"), GP64()).(reg.GPVirtual)
	s.PreloadExp()
	s.PreloadC(-s.MaxFinite(), s.MaxFinite())
	negInf := s.CR(math.Inf(-1))
	sp := s.NewSpan(k)
	rowLoopT(s, n, k, []reg.GPVirtual{x, dst}, func(i reg.GPVirtual) {
		_, sum := maxThenStash(s, x, dst, sp, negInf)
		r := s.Vec()
		s.Mov(s.C(1), r)
		s.Div(sum, r, r)
		s.Where(x86.EQ, sum, s.C(math.Inf(1)), s.C(math.NaN()), r)
		s.Where(x86.EQ, sum, s.C(0), s.C(math.NaN()), r)
		sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
			e := s.LoadAt(mk, s.At(dst, j), nil)
			s.Mul(r, e, e)
			s.StoreAt(mk, e, s.At(dst, j))
		})
	})
	s.End()
}
