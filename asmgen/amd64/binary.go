package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// binaryOptions selects a variant of an element-wise binary loss kernel:
// which outputs it writes and whether it reads per-element weights.
type binaryOptions struct {
	grad, loss, weighted bool
}

func (o binaryOptions) suffix() string {
	s := ""
	if o.grad {
		s += "G"
	}
	if o.loss {
		s += "L"
	}
	if o.weighted {
		s += "W"
	}
	return s
}

// allBinaryOptions lists the eight variants of each binary kernel.
func allBinaryOptions() []binaryOptions {
	var r []binaryOptions
	for _, g := range []bool{false, true} {
		for _, l := range []bool{false, true} {
			for _, w := range []bool{false, true} {
				r = append(r, binaryOptions{g, l, w})
			}
		}
	}
	return r
}

// binaryKernel emits the frame shared by the binary losses: it walks x, y
// (and w) with a masked tail, calls body for each vector to get the loss
// and gradient vectors (gradient before GradScale and weight), applies the
// weight, writes what the variant writes and returns Σ loss in float64.
func binaryKernel(s *x86.ISA, name, doc string, o binaryOptions, consts []float32,
	body func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual), params ...string) {
	name = name + o.suffix() + suffix(s)
	sig := "func(x, y, w, grad, loss *float32, n int"
	for _, p := range params {
		sig += ", " + p + " float32"
	}
	sig += ", scale float32) float64"
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	docf(name, doc, fmt.Sprintf("Variant %q: writes grad %v, loss %v; weighted %v (unused pointers may be nil).", o.suffix(), o.grad, o.loss, o.weighted))
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	y := Load(Param("y"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	var w, grad, loss reg.GPVirtual
	if o.weighted {
		w = Load(Param("w"), GP64()).(reg.GPVirtual)
	}
	if o.grad {
		grad = Load(Param("grad"), GP64()).(reg.GPVirtual)
	}
	if o.loss {
		loss = Load(Param("loss"), GP64()).(reg.GPVirtual)
	}
	// Scalar parameters are broadcast from the argument frame where used:
	// a load costs less than pinning a register AVX2 does not have.
	param := func(name string) reg.VecVirtual {
		b, err := Param(name).Resolve()
		if err != nil {
			panic(err)
		}
		v := s.Vec()
		VBROADCASTSS(b.Addr, v)
		return v
	}
	s.Preload(consts...)
	acc := s.NewF64Acc()
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		xv := s.LoadAt(mk, x86.At(x, j), nil)
		yv := s.LoadAt(mk, x86.At(y, j), nil)
		l, g := body(xv, yv, param)
		if o.weighted {
			wv := s.LoadAt(mk, x86.At(w, j), nil)
			VMULPS(wv, l, l)
			if o.grad {
				VMULPS(wv, g, g)
			}
		}
		if o.loss {
			s.StoreAt(mk, l, x86.At(loss, j))
		}
		s.ZeroOff(mk, l) // masked-off lanes must not reach the sum
		acc.Add(l)
		if o.grad {
			VMULPS(param("scale"), g, g)
			s.StoreAt(mk, g, x86.At(grad, j))
		}
	})
	sum := acc.Sum()
	Store(sum, ReturnIndex(0))
	s.End()
}

// sigmoidParts returns e = exp(−|x|), σ(x), σ(−x) and log1p(e): the
// pieces every logit loss shares (one exp, one log1p, one division). Both
// σ(x) and σ(−x) = 1 − σ(x) are formed directly so that neither cancels.
// Without withLog1p, l1p is nil.
func sigmoidParts(s *x86.ISA, x reg.VecVirtual, withLog1p bool) (e, sp, sn, l1p reg.VecVirtual) {
	na := s.Vec()
	VORPS(s.U(0x80000000), x, na) // −|x|
	e = s.Exp(na)
	d := s.Vec()
	VADDPS(s.F(1), e, d)
	r := s.Vec()
	VDIVPS(d, s.FR(1), r) // 1/(1+e): σ(|x|)
	er := s.Vec()
	VMULPS(r, e, er) // e/(1+e): σ(−|x|)
	// σ(|x|) = 1 − σ(−|x|): rounds correctly where 1/(1+e) would round
	// 1+e first (e < 2^−24 gives 1 instead of 1 − e).
	VMOVUPS(s.F(1), r)
	VSUBPS(er, r, r)
	sp, sn = s.Vec(), s.Vec()
	VMOVAPS(er, sp)
	VMOVAPS(r, sn)
	s.Where(x86.GE, x, s.F(0), r, sp) // x ≥ 0: σ(x) = σ(|x|)
	s.Where(x86.GE, x, s.F(0), er, sn)
	s.Where(x86.UNORD, x, x, x, sp)
	if withLog1p {
		l1p = s.Log1p(e)
	}
	return e, sp, sn, l1p
}

// bceLogits emits BCE with logits, pos·y·softplus(−x) + neg·(1−y)·softplus(x)
// with gradient (pos·y + neg·(1−y))·σ(x) − pos·y, as generic.bceLogits:
// a term whose coefficient is 0 is left out, so x = ±Inf gives 0, not NaN.
func bceLogits(s *x86.ISA, o binaryOptions) {
	// Pinning exp's constants (AVX-512) leaves registers for the rest;
	// log's are read from memory.
	consts := x86.ExpConsts()
	binaryKernel(s, "bceLogits",
		"%s computes BCE with logits over n elements: loss pos·y·softplus(−x) + neg·(1−y)·softplus(x), gradient scale·((pos·y + neg·(1−y))·σ(x) − pos·y), both times w; returns Σ loss.",
		o, consts, func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			_, sp, sn, l1p := sigmoidParts(s, x, true)
			cp, cn := s.Vec(), s.Vec()
			VMULPS(param("pos"), y, cp) // pos·y
			VMOVUPS(s.F(1), cn)
			VSUBPS(y, cn, cn)
			VMULPS(param("neg"), cn, cn) // neg·(1−y)
			spn, spp := s.Vec(), s.Vec()
			t := s.Vec()
			VXORPS(t, t, t)
			VSUBPS(x, t, t)         // −x
			VMAXPS(t, s.FR(0), spn) // NaN: −x is returned
			VADDPS(l1p, spn, spn)   // softplus(−x)
			VMAXPS(x, s.FR(0), spp)
			VADDPS(l1p, spp, spp) // softplus(x)
			VMULPS(cp, spn, spn)
			s.Where(x86.EQ, cp, s.F(0), s.F(0), spn)
			VMULPS(cn, spp, spp)
			s.Where(x86.EQ, cn, s.F(0), s.F(0), spp)
			l = spn
			VADDPS(spp, l, l)
			// (cp+cn)·σ(x) − cp = cn·σ(x) − cp·σ(−x), which does not cancel
			// at saturation.
			t2 := s.Vec()
			VMULPS(sn, cp, t2)
			g = cn
			VFMSUB213PS(t2, sp, g) // cn·σ(x) − cp·σ(−x)
			return l, g
		}, "pos", "neg")
}
