package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/poly"
	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

// The soft-label sigmoid focal kernels raise γ·log m by shift·ln 2 below
// shiftAt, so that m^γ·2^shift stays normal while m^γ would not (float32:
// 2^−96 and e^−80 ≈ 1.8e-35 are normal; float64: 2^−1000 and e^−700).
const (
	focalShift32, focalShiftAt32 = 96, -80
	focalShift64, focalShiftAt64 = 1000, -700
)

// binaryOptions selects a variant of an element-wise binary loss kernel:
// which outputs it writes and whether it reads per-element weights.
type binaryOptions struct {
	grad, loss, weighted bool

	// softFlag: the kernel handles hard labels y ∈ {0, 1} only and also
	// returns how many vectors held another label (the caller then redoes
	// the call with the generic kernel).
	softFlag bool
	// xRange: with softFlag, count vectors holding an x outside [0, 1]
	// (probability inputs) instead of labels other than 0 and 1.
	xRange bool
	// compensated: float64 losses are summed with each lane's rounding
	// error kept (terms of both signs, KLDiv).
	compensated bool
	// twice: the gradient is twice the body's, the factor 2 applied last
	// (MSE: 2·d overflows where 2·d·w·scale does not).
	twice bool
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
				r = append(r, binaryOptions{grad: g, loss: l, weighted: w})
			}
		}
	}
	return r
}

// binaryKernel emits the frame shared by the binary losses: it walks x, y
// (and w) with a masked tail, calls body for each vector to get the loss
// and gradient vectors (gradient before GradScale and weight), applies the
// weight (weightedGrad for the gradient), writes what the variant writes
// and returns Σ loss in float64.
func binaryKernel(s *x86.ISA, name, doc string, o binaryOptions, consts []float32,
	body func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual), params ...string) {
	addFamily(family{name: name, params: params, soft: o.softFlag, f64: s.F64})
	name = name + o.suffix() + suffix(s)
	sig := "func(x, y, w, grad, loss *float32, n int"
	for _, p := range params {
		if p[0] == '*' { // a per-element input, read alongside x
			sig += ", " + p[1:] + " *float32"
		} else {
			sig += ", " + p + " float32"
		}
	}
	sig += ", scale float32) float64"
	if o.softFlag {
		sig = sig[:len(sig)-len("float64")] + "(sum float64, soft int)"
	}
	TEXT(name, NOSPLIT, sigT(s, sig))
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
	vecs := map[string]reg.GPVirtual{}
	for _, p := range params {
		if p[0] == '*' {
			vecs[p] = Load(Param(p[1:]), GP64()).(reg.GPVirtual)
		}
	}
	var curJ reg.GPVirtual
	var curMask *x86.Mask
	// Scalar parameters are broadcast from the argument frame where used:
	// a load costs less than pinning a register AVX2 does not have.
	// "*name" parameters are the element at j of that input.
	param := func(name string) reg.VecVirtual {
		if p, ok := vecs[name]; ok {
			return s.LoadAt(curMask, s.At(p, curJ), nil)
		}
		b, err := Param(name).Resolve()
		if err != nil {
			panic(err)
		}
		return s.Broadcast(b.Addr)
	}
	if !s.F64 {
		s.Preload(consts...)
	} else if consts != nil {
		s.PreloadExp()
	}
	// Losses are summed in T for x86.SumBlock vectors per lane, then in
	// float64 (the contract's BlockT): converting every vector to float64
	// was an eighth of BCE's time (Zen 5).
	var acc x86.F64Acc
	var blk *x86.BlockSum
	if o.compensated {
		acc = s.NewF64Acc()
	} else {
		blk = s.NewBlockSum()
	}
	var soft reg.GPVirtual
	if o.softFlag {
		soft = GP64()
		XORQ(soft, soft)
	}
	sp := s.NewSpan(n)
	each := func(body func(j reg.GPVirtual, mk *x86.Mask)) {
		if o.compensated {
			sp.Each(body)
		} else {
			sp.EachBlock(x86.SumBlock, body, blk.Flush)
		}
	}
	each(func(j reg.GPVirtual, mk *x86.Mask) {
		curJ, curMask = j, mk
		xv := s.LoadAt(mk, s.At(x, j), nil)
		yv := s.LoadAt(mk, s.At(y, j), nil)
		if o.softFlag && o.xRange {
			s.IfAny(x86.LT, xv, s.C(0), func() { INCQ(soft) })
			s.IfAny(x86.GT, xv, s.C(1), func() { INCQ(soft) })
		} else if o.softFlag {
			// Count vectors with a label other than 0 or 1 (zero-filled
			// tail lanes are 0); NaN labels count too.
			t := s.Vec()
			VMOVUPS(yv, t)
			s.Where(x86.EQ, yv, s.C(1), s.C(0), t)
			s.IfAny(x86.NEQU, t, s.C(0), func() { INCQ(soft) })
		}
		l, g := body(xv, yv, param)
		if o.weighted {
			wv := s.LoadAt(mk, s.At(w, j), nil)
			s.Mul(wv, l, l)
			if o.grad {
				weightedGrad(s, g, wv, param("scale"))
			}
		} else if o.grad {
			s.Mul(param("scale"), g, g)
		}
		if o.grad && o.twice {
			s.Add(g, g, g)
		}
		if o.loss {
			s.StoreAt(mk, l, s.At(loss, j))
		}
		s.ZeroOff(mk, l) // masked-off lanes must not reach the sum
		if o.compensated {
			acc.AddCompensated(l)
		} else {
			blk.Add(l)
		}
		if o.grad {
			s.StoreAt(mk, g, s.At(grad, j))
		}
	})
	var sum reg.VecVirtual
	if o.compensated {
		sum = acc.Sum()
	} else {
		sum = blk.Sum64()
	}
	Store(sum, ReturnIndex(0))
	if o.softFlag {
		Store(soft, ReturnIndex(1))
	}
	s.End()
}

// weightedGrad sets g = w·g·scale: g·(w·scale), or (w·g)·scale in the
// lanes where w·scale is below the normal range, so that no partial
// product underflows where the gradient is a normal number. w·g alone
// underflows for a small residual and weight under a mean over a small Σw
// (float32 Huber d = 1e-30, w = 4.6e-20: 0 where w·g·scale is 2.4e-34);
// w·scale alone for a w tiny beside Σw and a large g (MSE d = 1e19,
// w = 2e-20 beside weights of 1e30: 0 where the gradient is 2e-32). Both
// underflow only where the gradient is below the normal range itself or w
// is subnormal. Neither overflows where the gradient does not: the scales
// are 1/Σw (w·scale ≤ 1) or 1/n or 1 (w·scale ≤ w), and the fallback's w·g
// is at most |g| (w·scale below the smallest normal with a normal scale
// means w < 1).
func weightedGrad(s *x86.ISA, g, w, scale reg.VecVirtual) {
	tiny := 0x1p-126
	if s.F64 {
		tiny = 0x1p-1022
	}
	c, t := s.Vec(), s.Vec()
	s.Mul(w, scale, c)
	s.Mul(w, g, t)
	s.Mul(scale, t, t)
	s.Mul(c, g, g)
	s.Where(x86.LT, c, s.C(tiny), t, g) // NaN c (a NaN scale) keeps g·c
}

// sigmoidParts returns e = exp(−|x|), σ(x), σ(−x) and log1p(e): the
// pieces every logit loss shares (one exp, one log1p, one division). Both
// σ(x) and σ(−x) = 1 − σ(x) are formed directly so that neither cancels.
// Without withLog1p, l1p is nil.
func sigmoidParts(s *x86.ISA, x reg.VecVirtual, withLog1p bool) (e, sp, sn, l1p reg.VecVirtual) {
	na := s.Vec()
	s.Op(VORPS, s.SignBit(), x, na) // −|x|
	e = s.Exp(na)
	d := s.Vec()
	s.Add(s.C(1), e, d)
	r := s.Vec()
	s.Div(d, s.CR(1), r) // 1/(1+e): σ(|x|)
	er := s.Vec()
	s.Mul(r, e, er) // e/(1+e): σ(−|x|)
	// σ(|x|) = 1 − σ(−|x|): rounds correctly where 1/(1+e) would round
	// 1+e first (e < 2^−24 gives 1 instead of 1 − e).
	s.Sub(er, s.CR(1), r)
	sp, sn = s.Vec(), s.Vec()
	if s.ZMM {
		// One compare and two blends (x ≥ 0: σ(x) = σ(|x|)).
		k := K()
		if s.F64 {
			s.Op(VCMPPD, Imm(x86.GE), s.C(0), x, k)
			VBLENDMPD(r, er, k, sp)
			VBLENDMPD(er, r, k, sn)
		} else {
			s.Op(VCMPPS, Imm(x86.GE), s.C(0), x, k)
			VBLENDMPS(r, er, k, sp)
			VBLENDMPS(er, r, k, sn)
		}
	} else {
		VMOVAPS(er, sp)
		VMOVAPS(r, sn)
		s.Where(x86.GE, x, s.C(0), r, sp) // x ≥ 0: σ(x) = σ(|x|)
		s.Where(x86.GE, x, s.C(0), er, sn)
	}
	s.Where(x86.UNORD, x, x, x, sp)
	if withLog1p {
		l1p = s.Log1pUnit(e)
	}
	return e, sp, sn, l1p
}

// bceLogits emits BCE with logits, pos·y·softplus(−x) + neg·(1−y)·softplus(x)
// with gradient (pos·y + neg·(1−y))·σ(x) − pos·y, as generic.bceLogits:
// a term whose coefficient is 0 is left out, so x = ±Inf gives 0, not NaN.
func bceLogits(s *x86.ISA, o binaryOptions, posWeighted bool) {
	// Pinning exp's constants (AVX-512) leaves registers for the rest;
	// log's are read from memory.
	consts := x86.ExpConsts()
	name, params := "bceLogits", []string{"pos", "neg"}
	doc := "%s computes BCE with logits over n elements: loss pos·y·softplus(−x) + neg·(1−y)·softplus(x), gradient scale·(neg·(1−y)·σ(x) − pos·y·σ(−x)), both times w; returns Σ loss."
	if posWeighted {
		name, params = "bceLogitsPW", []string{"*pw", "pos", "neg"}
		doc = "%s is bceLogits with pos multiplied by pw[i] (PyTorch's pos_weight laid out per element)."
	}
	binaryKernel(s, name, doc,
		o, consts, func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			_, sp, sn, l1p := sigmoidParts(s, x, true)
			cp, cn := s.Vec(), s.Vec()
			s.Mul(param("pos"), y, cp) // pos·y
			if posWeighted {
				s.Mul(param("*pw"), cp, cp)
			}
			s.Mov(s.C(1), cn)
			s.Sub(y, cn, cn)
			s.Mul(param("neg"), cn, cn) // neg·(1−y)
			spn, spp := s.Vec(), s.Vec()
			t := s.Vec()
			VXORPS(t, t, t)
			s.Sub(x, t, t)         // −x
			s.Max(t, s.CR(0), spn) // NaN: −x is returned
			s.Add(l1p, spn, spn)   // softplus(−x)
			s.Max(x, s.CR(0), spp)
			s.Add(l1p, spp, spp) // softplus(x)
			s.Mul(cp, spn, spn)
			s.Where(x86.EQ, cp, s.C(0), s.C(0), spn)
			s.Mul(cn, spp, spp)
			s.Where(x86.EQ, cn, s.C(0), s.C(0), spp)
			l = spn
			s.Add(spp, l, l)
			// Both coefficients 0 dropped both terms: a NaN logit stays NaN.
			s.Where(x86.UNORD, x, x, x, l)
			// (cp+cn)·σ(x) − cp = cn·σ(x) − cp·σ(−x), which does not cancel
			// at saturation.
			t2 := s.Vec()
			s.Mul(sn, cp, t2)
			g = cn
			s.FMS213(t2, sp, g) // cn·σ(x) − cp·σ(−x)
			return l, g
		}, params...)
}

// bceLogitsUnit is bceLogits with pos = neg = 1 (no pos_weight, the common
// call): loss max(x, 0) − x·y + log1p(e^−|x|), one fused multiply-add
// where the general form weighs two softplus terms and drops a zero
// coefficient's term in each of them; gradient (1−y)·σ(x) − y·σ(−x), which
// does not cancel at saturation. A vector with an infinite x takes the
// general form's values there (its terms are then ∞ − ∞): y·softplus(−x)
// + (1−y)·softplus(x) with a zero coefficient's term left out.
func bceLogitsUnit(s *x86.ISA, o binaryOptions) {
	binaryKernel(s, "bceLogitsUnit",
		"%s is bceLogits with pos = neg = 1: loss max(x, 0) − x·y + log1p(e^−|x|), gradient scale·((1−y)·σ(x) − y·σ(−x)), both times w; returns Σ loss.",
		o, x86.ExpConsts(), func(x, y reg.VecVirtual, _ func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			var sp, sn, l1p reg.VecVirtual
			if o.grad {
				_, sp, sn, l1p = sigmoidParts(s, x, true)
			} else { // the loss alone: no sigmoid, no division
				na := s.Vec()
				s.Op(VORPS, s.SignBit(), x, na) // −|x|
				l1p = s.Log1pUnit(s.Exp(na))
			}
			l = s.Vec()
			s.Max(x, s.CR(0), l)  // NaN: x, which the product below keeps
			VFNMADD231PS(y, x, l) // max(x, 0) − x·y, rounded once
			s.Add(l1p, l, l)
			ax := s.Vec()
			s.Op(VANDPS, s.AbsMask(), x, ax)
			s.IfAny(x86.EQ, ax, s.C(math.Inf(1)), func() {
				// x = ±Inf: softplus(x) is ∞ or 0 and softplus(−x) the
				// other; the ∞ term counts unless its coefficient is 0.
				c := s.Vec()
				s.Mov(s.C(1), c)
				s.Sub(y, c, c)                   // 1 − y, the coefficient of softplus(+∞)
				s.Where(x86.LT, x, s.C(0), y, c) // x = −∞: y, that of softplus(−x)
				t := s.Vec()
				s.Mul(s.CR(math.Inf(1)), c, t)        // c·∞ (NaN c stays NaN)
				s.Where(x86.EQ, c, s.C(0), s.C(0), t) // a zero coefficient leaves the term out
				s.Where(x86.EQ, ax, s.C(math.Inf(1)), t, l)
			})
			if !o.grad {
				return l, nil
			}
			cn := s.Vec()
			s.Mov(s.C(1), cn)
			s.Sub(y, cn, cn) // 1 − y
			t2 := s.Vec()
			s.Mul(sn, y, t2)
			g = cn
			s.FMS213(t2, sp, g) // (1−y)·σ(x) − y·σ(−x)
			return l, g
		})
}

// focalGamma selects the sigmoid focal variant by γ: the modulating factor
// σ(z)^γ is free for γ = 0, one multiply for 1 and two for 2; other γ take
// exp(−γ·softplus(−z)).
type focalGamma int

const (
	gamma0 focalGamma = iota
	gamma1
	gamma2
	gammaAny
)

var focalNames = [...]string{"focalG0", "focalG1", "focalG2", "focalGAny"}

// sigmoidFocal emits sigmoid focal loss for hard labels in the closed form
// of generic.sigmoidFocal: z = (1−2y)·x, loss α_t·softplus(z)·σ(z)^γ and
// gradient (1−2y)·α_t·σ(z)^γ·(σ(z) + γ·σ(−z)·softplus(z)); it has no
// (1−p_t)^(γ−1) factor, so it is finite for every γ ≥ 0 at saturation.
// α_t = a0 + a1·y (a0 = 1−α, a1 = 2α−1; 1 and 0 without α).
func sigmoidFocal(s *x86.ISA, gm focalGamma, o binaryOptions) {
	o.softFlag = true
	params := []string{"a0", "a1"}
	if gm == gammaAny {
		params = append(params, "gamma")
	}
	binaryKernel(s, focalNames[gm],
		"%s computes sigmoid focal loss over n elements with labels in {0, 1}: loss α_t·softplus(z)·σ(z)^γ with z = (1−2y)·x, and its gradient times scale, both times w; it returns Σ loss and the number of vectors holding other labels (their outputs are then not valid).",
		o, x86.ExpConsts(), func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			sgn := s.Vec()
			s.Mov(s.C(1), sgn)
			s.FNMA231(s.C(2), y, sgn) // 1 − 2y
			z := s.Vec()
			s.Mul(sgn, x, z)
			_, sz, snz, l1p := sigmoidParts(s, z, true)
			spz := s.Vec()
			s.Max(z, s.CR(0), spz) // NaN: z is returned
			s.Add(l1p, spz, spz)   // softplus(z) = −log p_t
			at := param("a1")
			s.FMA213(param("a0"), y, at) // α_t = a0 + a1·y
			var mod reg.VecVirtual
			switch gm {
			case gamma1:
				mod = sz
			case gamma2:
				mod = s.Vec()
				s.Mul(sz, sz, mod)
			case gammaAny:
				t := s.Vec()
				VXORPS(t, t, t)
				s.Sub(z, t, t) // −z
				s.Max(t, s.CR(0), t)
				s.Add(l1p, t, t) // softplus(−z)
				s.Mul(param("gamma"), t, t)
				s.Op(VXORPS, s.SignBit(), t, t)
				mod = s.Exp(t) // exp(−γ·softplus(−z)) = σ(z)^γ
			}
			// inner = σ(z) + γ·σ(−z)·softplus(z), without 0·Inf at z = +Inf.
			inner := sz
			if gm != gamma0 {
				inner = s.Vec()
				s.Mul(spz, snz, inner)
				s.Where(x86.EQ, snz, s.C(0), s.C(0), inner)
				switch gm {
				case gamma1:
				case gamma2:
					s.Add(inner, inner, inner)
				default:
					s.Mul(param("gamma"), inner, inner)
				}
				s.Add(sz, inner, inner)
			}
			l = spz
			s.Mul(at, l, l)
			g = inner
			s.Mul(at, g, g)
			s.Mul(sgn, g, g)
			if mod != nil {
				s.Mul(mod, l, l)
				s.Where(x86.EQ, mod, s.C(0), s.C(0), l) // 0·Inf → 0, as generic
				s.Mul(mod, g, g)
			}
			return l, g
		}, params...)
}

var focalSoftNames = [...]string{"focalSoftG0", "focalSoftG1", "focalSoftG2", "focalSoftGAny"}

// sigmoidFocalSoft emits sigmoid focal loss for any label y in [0, 1]
// (torchvision's form; generic.sigmoidFocal for soft labels): with
// ce = y·softplus(−x) + (1−y)·softplus(x) and m = 1 − p_t =
// y·σ(−x) + (1−y)·σ(x), loss α_t·m^γ·ce and gradient
// α_t·(m^γ·(p − y) + γ·m^γ·(dm/m)·ce), dm = (1−2y)·σ(x)·σ(−x) the
// derivative of m (|dm/m| ≤ 2, so m^(γ−1) is never formed). m is a sum of
// non-negative terms and p − y = (1−y)·σ(x) − y·σ(−x) cancels only where
// the true value is small. A zero coefficient's term is left out (ce at
// x = ±Inf; the dm term where dm = 0, its limit), so hard labels in the
// same call are exact too; they take the cheaper sigmoidFocal when a whole
// call has them.
func sigmoidFocalSoft(s *x86.ISA, gm focalGamma, o binaryOptions) {
	params := []string{"a0", "a1"}
	if gm == gammaAny {
		params = append(params, "gamma")
	}
	binaryKernel(s, focalSoftNames[gm],
		"%s computes sigmoid focal loss over n elements with labels in [0, 1]: loss α_t·(1−p_t)^γ·ce with ce = BCE with logits, and its gradient times scale, both times w; it returns Σ loss.",
		o, x86.ExpConsts(), func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			_, sp, sn, l1p := sigmoidParts(s, x, true)
			cn := s.Vec()
			s.Mov(s.C(1), cn)
			s.Sub(y, cn, cn) // 1 − y
			// ce, each term only where its coefficient is not 0.
			spn, spp := s.Vec(), s.Vec()
			VXORPS(spn, spn, spn)
			s.Sub(x, spn, spn)       // −x
			s.Max(spn, s.CR(0), spn) // NaN: −x is returned
			s.Add(l1p, spn, spn)     // softplus(−x)
			s.Max(x, s.CR(0), spp)
			s.Add(l1p, spp, spp) // softplus(x)
			s.Mul(y, spn, spn)
			s.Where(x86.EQ, y, s.C(0), s.C(0), spn)
			s.Mul(cn, spp, spp)
			s.Where(x86.EQ, cn, s.C(0), s.C(0), spp)
			ce := spn
			s.Add(spp, ce, ce)
			s.Where(x86.UNORD, x, x, x, ce)
			// m = y·σ(−x) + (1−y)·σ(x) and d = p − y = (1−y)·σ(x) − y·σ(−x).
			ysn := s.Vec()
			s.Mul(y, sn, ysn)
			m, d := s.Vec(), cn
			s.Mov(cn, m)
			s.FMA213(ysn, sp, m)
			s.FMS213(ysn, sp, d)
			at := param("a1")
			s.FMA213(param("a0"), y, at) // α_t = a0 + a1·y
			l = s.Vec()
			s.Mul(at, ce, l)
			g = d
			if gm == gamma0 {
				s.Mul(at, g, g)
				return l, g
			}
			// term = γ·m^γ·(dm/m)·ce: dm·ce for γ = 1, 2·m·dm·ce for γ = 2.
			dm := s.Vec()
			s.Mov(s.C(1), dm)
			s.FNMA231(s.C(2), y, dm) // 1 − 2y
			s.Mul(sp, dm, dm)
			s.Mul(sn, dm, dm)
			term := s.Vec()
			var mg, mgs reg.VecVirtual // mgs pairs with the loss l as scaled
			switch gm {
			case gamma1:
				mg = m
				s.Mul(ce, dm, term)
			case gamma2:
				mg = s.Vec()
				s.Mul(m, m, mg)
				s.Mul(ce, dm, term)
				s.Mul(m, term, term)
				s.Add(term, term, term)
				// The loss as (α_t·ce·m)·m: m² alone underflows where
				// m²·ce does not (x → −∞: m ≈ y, ce ≈ y·|x|).
				s.Mul(m, l, l)
				mgs = m
			default:
				// m^γ = exp(γ·log m) underflows where the loss m^γ·ce does
				// not (m ≥ 1 − y while ce ≈ (1 − y)·x: γ = 20, x = 3e31,
				// y = 0.994 lost 11% to a subnormal m^γ). Below focalShiftAt
				// the exponent is raised by focalShift·ln 2 (Cody–Waite, as
				// exp's reduction) and ce scaled by 2^−focalShift instead.
				sh, lim := focalShift32, focalShiftAt32
				if s.F64 {
					sh, lim = focalShift64, focalShiftAt64
				}
				lm := logSafe(s, m)
				s.Mul(param("gamma"), lm, lm)
				shn, fac := s.Vec(), s.Vec()
				VXORPS(shn, shn, shn)
				s.Where(x86.LT, lm, s.C(float64(lim)), s.C(float64(sh)), shn)
				s.Mov(s.C(1), fac)
				s.Where(x86.LT, lm, s.C(float64(lim)), s.C(math.Ldexp(1, -sh)), fac)
				hi, lo := float64(poly.Ln2Hi), float64(poly.Ln2Lo)
				if s.F64 {
					hi, lo = poly.Ln2Hi64, poly.Ln2Lo64
				}
				s.FMA231(s.C(hi), shn, lm)
				s.FMA231(s.C(lo), shn, lm)
				mgs = s.Exp(lm) // m^γ·2^shift; 0 at m = 0
				mg = s.Vec()
				s.Mul(fac, mgs, mg)
				s.Mul(fac, l, l)   // α_t·ce·2^−shift
				s.Div(m, dm, term) // dm/m
				s.Mul(ce, term, term)
				s.Mul(fac, term, term)
				s.Mul(mgs, term, term)
				s.Mul(param("gamma"), term, term)
			}
			if mgs == nil {
				mgs = mg
			}
			s.Where(x86.EQ, dm, s.C(0), s.C(0), term)
			// ce = +Inf needs the infinite side's coefficient, and m ≥ that
			// coefficient > 0: the loss is +Inf even where m^γ underflows.
			mgl := s.Vec()
			s.Mov(mgs, mgl)
			s.Where(x86.EQ, ce, s.C(math.Inf(1)), s.C(1), mgl)
			s.Mul(mgl, l, l)
			s.FMA213(term, mg, g) // m^γ·(p − y) + term
			s.Mul(at, g, g)
			return l, g
		}, params...)
}

// regression emits MSE, L1, Huber (δ = p) or SmoothL1 (β = p) on the
// residual d = x − y, as generic.regressionTerm.
func regression(s *x86.ISA, kind int, o binaryOptions) {
	names := [...]string{"mse", "l1", "huber", "smoothL1"}
	o.twice = kind == 0
	binaryKernel(s, names[kind],
		"%s computes a regression loss over n elements on d = x − y (p is Huber's δ or SmoothL1's β) and its gradient times scale (MSE: 2·d, the factor 2 applied last), both times w; it returns Σ loss.",
		o, nil, func(x, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			d := s.Vec()
			s.Sub(y, x, d)
			l, g = s.Vec(), s.Vec()
			// sign(d): ±1, 0 at 0, NaN at NaN.
			sgn := func() reg.VecVirtual {
				t := s.Vec()
				s.Op(VANDPS, s.SignBit(), d, t)
				s.Op(VORPS, s.C(1), t, t)
				s.Where(x86.EQ, d, s.C(0), s.C(0), t)
				s.Where(x86.UNORD, d, d, d, t)
				return t
			}
			switch kind {
			case 0: // MSE: the gradient's factor 2 comes after the weight
				// and scale (twice), so that 2·d cannot overflow where
				// 2d/n is finite, nor w·2·scale where w·d·2·scale is.
				s.Mul(d, d, l)
				g = d
			case 1: // L1
				s.Op(VANDPS, s.AbsMask(), d, l)
				g = sgn()
			default:
				p := param("p")
				ad := s.Vec()
				s.Op(VANDPS, s.AbsMask(), d, ad)
				half := s.Vec()
				s.Mul(s.C(0.5), p, half) // p/2
				sq := s.Vec()
				s.Mul(d, d, sq)
				s.Mul(s.C(0.5), sq, sq) // d²/2
				s.Sub(half, ad, l)      // |d| − p/2
				if kind == 2 {          // Huber: p·(|d| − p/2) and p·sign(d) outside
					s.Mul(p, l, l)
					s.Mul(sgn(), p, g)
					s.Where(x86.LT, ad, p, sq, l)
					s.Where(x86.LT, ad, p, d, g)
				} else { // SmoothL1: d²/(2β) and d/β inside
					s.Mov(sgn(), g)
					s.Div(p, sq, sq)
					inner := s.Vec()
					s.Div(p, d, inner)
					s.Where(x86.LT, ad, p, sq, l)
					s.Where(x86.LT, ad, p, inner, g)
				}
			}
			return l, g
		}, "p")
}

// bceProb emits BCE on probabilities p = x, as generic.bceProb: loss
// −pos·y·log p − neg·(1−y)·log(1−p) and gradient
// (neg·(1−y)·p − pos·y·(1−p))/(p·(1−p)). Without clip each log is clamped
// at −100 and the denominator at 1e-12 (PyTorch); with clip, p below lo is
// taken as lo and above hi as hi (loglo = log lo, loghi = log hi = log1p(−lo),
// from the caller in float64) with zero gradient there. log(1−p) is
// log1p(−p), which keeps p's digits where p is small. It returns the
// number of vectors holding a p outside [0, 1] (the caller then redoes the
// call with the generic kernel, which gives NaN there).
func bceProb(s *x86.ISA, o binaryOptions, clip bool) {
	o.softFlag, o.xRange = true, true
	name, params := "bceProb", []string{"pos", "neg"}
	doc := "%s computes BCE on probabilities over n elements with PyTorch's clamp of each log at −100 and of p·(1−p) at 1e-12; both outputs times w; returns Σ loss and the number of vectors with p outside [0, 1]."
	if clip {
		name, params = "bceProbClip", []string{"pos", "neg", "lo", "hi", "loglo", "loghi"}
		doc = "%s computes BCE on probabilities clipped to [lo, hi] (zero gradient outside); both outputs times w; returns Σ loss and the number of vectors with p outside [0, 1]."
	}
	binaryKernel(s, name, doc, o, x86.LogConsts(), func(p, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
		cp, cn := s.Vec(), s.Vec()
		s.Mul(param("pos"), y, cp) // pos·y
		s.Mov(s.C(1), cn)
		s.Sub(y, cn, cn)
		s.Mul(param("neg"), cn, cn) // neg·(1−y)
		// log p, subnormal p scaled by 2^mant first (the log block takes
		// normal inputs).
		tiny, mant := 0x1p-126, 24.0
		if s.F64 {
			tiny, mant = 0x1p-1022, 52
		}
		ps := s.Vec()
		s.Mov(p, ps)
		sub := s.Vec()
		s.Mul(s.C(math.Ldexp(1, int(mant))), p, sub)
		s.Where(x86.LT, p, s.C(tiny), sub, ps)
		lp := s.Log(ps, true)
		corr := s.Vec()
		s.Sub(s.C(mant*math.Ln2), lp, corr)
		s.Where(x86.LT, p, s.C(tiny), corr, lp)
		np := s.Vec()
		s.Op(VXORPS, s.SignBit(), p, np)
		lq := s.Log1p(np) // log(1 − p)
		q := s.Vec()
		s.Mov(s.C(1), q)
		s.Sub(p, q, q) // 1 − p
		den := s.Vec()
		s.Mul(q, p, den)
		if clip {
			// loghi is log(1 − lo) (log1p(−lo) where 1 − lo rounds to 1).
			// p is clipped high where p > hi or 1 − p < lo: hi = 1 − lo may
			// round to 1 while 1 − p = 0 (p = 1), which then gives −log lo.
			lo, hi := param("lo"), param("hi")
			llo, lhi := param("loglo"), param("loghi")
			ph := s.Vec()
			s.Mov(p, ph)
			s.Where(x86.LT, q, lo, s.C(2), ph)
			s.Where(x86.EQ, p, s.C(1), lhi, lq) // not used below unless p in [lo, hi]; keeps it finite
			s.Where(x86.LT, p, lo, llo, lp)
			s.Where(x86.LT, p, lo, lhi, lq)
			s.Where(x86.GT, ph, hi, lhi, lp)
			s.Where(x86.GT, ph, hi, llo, lq)
		} else {
			s.Max(lp, s.CR(-100), lp) // NaN: lp is returned
			s.Max(lq, s.CR(-100), lq)
			s.Where(x86.EQ, p, s.C(1), s.C(-100), lq) // log 0
			s.Max(s.C(1e-12), den, den)               // NaN p: the numerator is NaN
		}
		l = s.Vec()
		s.Mul(cp, lp, l)
		s.FMA231(cn, lq, l)
		s.Op(VXORPS, s.SignBit(), l, l)
		// (cn·p − cp·(1−p)) / den, without forming cn·p or cp·(1−p), which
		// underflow for subnormal p (0 instead of a gradient of 1e-34).
		g = s.Vec()
		if clip {
			// den = p·(1−p) unclamped (p ≥ lo may be subnormal, 1/den
			// overflow): cn/(1−p) − cp/p.
			b := s.Vec()
			s.Div(p, cp, b)
			s.Div(q, cn, g)
			s.Sub(b, g, g)
		} else {
			// den ≥ 1e-12, so r = 1/den ≤ 1e12, p·r and (1−p)·r are finite.
			r := s.Vec()
			s.Mov(s.C(1), r)
			s.Div(den, r, r)
			pr := s.Vec()
			s.Mul(p, r, pr)
			s.Mul(q, r, r)
			s.Mul(cp, r, g)     // cp·(1−p)/den
			s.FMS213(g, pr, cn) // cn·p/den − cp·(1−p)/den
			g = cn
		}
		if clip {
			zero := s.Vec()
			VXORPS(zero, zero, zero)
			s.Where(x86.LT, p, param("lo"), zero, g)
			s.Where(x86.GT, p, param("hi"), zero, g)
		}
		return l, g
	}, params...)
}

// logSafe is s.Log (special cases included) for any v ≥ 0, subnormal v
// scaled into the normal range first.
func logSafe(s *x86.ISA, v reg.VecVirtual) reg.VecVirtual {
	tiny, mant := 0x1p-126, 24.0
	if s.F64 {
		tiny, mant = 0x1p-1022, 52
	}
	vs := s.Vec()
	s.Mov(v, vs)
	sub := s.Vec()
	s.Mul(s.C(math.Ldexp(1, int(mant))), v, sub)
	s.Where(x86.LT, v, s.C(tiny), sub, vs)
	l := s.Log(vs, true)
	corr := s.Vec()
	s.Sub(s.C(mant*math.Ln2), l, corr)
	s.Where(x86.LT, v, s.C(tiny), corr, l)
	return l
}

var focalProbNames = [...]string{"focalProbG0", "focalProbG1", "focalProbG2", "focalProbGAny"}

// focalProbs emits the seed article's focal loss on probabilities with
// PyTorch's clamps, as generic.focalProb without Clip: loss
// −α_t·q^γ·log p_t and gradient α_t·(γ·q^(γ−1)·log p_t − q^γ/max(p_t, 1e-12))·(2y−1),
// with p_t = y·p + (1−y)·(1−p) and q = y·(1−p) + (1−y)·p formed as sums of
// non-negative terms (no cancellation); log p_t is log1p(−q) where q < ½ and
// is clamped at −100. It returns the number of vectors holding a p outside
// [0, 1] (the caller redoes those calls with the generic kernel).
func focalProbs(s *x86.ISA, gm focalGamma, o binaryOptions, clip bool) {
	o.softFlag, o.xRange = true, true
	params := []string{"a0", "a1"}
	if gm == gammaAny {
		params = append(params, "gamma")
	}
	name := focalProbNames[gm]
	doc := "%s computes focal loss on probabilities over n elements (log p_t clamped at −100, p_t at 1e-12 in the gradient), both outputs times w; it returns Σ loss and the number of vectors with p outside [0, 1]."
	if clip {
		name = "focalProbClip" + name[len("focalProb"):]
		params = append(params, "lo", "hi")
		doc = "%s computes focal loss on probabilities clipped to [lo, hi] (zero gradient outside; p_t at 1e-12 in the gradient), both outputs times w; it returns Σ loss and the number of vectors with p outside [0, 1]."
	}
	binaryKernel(s, name, doc,
		o, x86.LogConsts(), func(p, y reg.VecVirtual, param func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
			one := s.CR(1)
			np, ny := s.Vec(), s.Vec()
			s.Sub(p, one, np) // 1 − p
			s.Sub(y, one, ny) // 1 − y
			pc := p
			if clip {
				// p below lo is lo; above hi (or with 1 − p below lo: hi may
				// round to 1) it is 1 − lo, whose complement is lo itself,
				// not 1 − hi (which rounds: 6e-8 off a clip of 1e-4 in float32).
				// lo and hi are read from the frame at each use: AVX2 has no
				// register to keep them in across the logs.
				high := s.Vec()
				s.Mov(p, high)
				s.Where(x86.LT, np, param("lo"), s.C(2), high)
				pc = s.Vec()
				s.Mov(p, pc)
				s.Where(x86.LT, p, param("lo"), param("lo"), pc)
				t := s.Vec()
				s.Sub(param("lo"), one, t) // 1 − lo
				s.Where(x86.LT, p, param("lo"), t, np)
				s.Where(x86.GT, high, param("hi"), t, pc)
				s.Where(x86.GT, high, param("hi"), param("lo"), np)
			}
			pt, q := s.Vec(), s.Vec()
			s.Mul(np, ny, pt)
			s.FMA231(y, pc, pt) // y·p + (1−y)·(1−p)
			s.Mul(pc, ny, q)
			s.FMA231(y, np, q) // y·(1−p) + (1−y)·p
			at := param("a1")
			s.FMA213(param("a0"), y, at) // α_t = a0 + a1·y
			if clip {
				// y's last use is the gradient's sign 2y − 1: ½ there makes
				// it 0 where p is clipped (no gradient), and frees p now.
				s.Where(x86.LT, p, param("lo"), s.C(0.5), y)
				s.Where(x86.GT, p, param("hi"), s.C(0.5), y)
			}
			nq := s.Vec()
			s.Op(VXORPS, s.SignBit(), q, nq)
			lpt := s.Log1p(nq)
			lbig := logSafe(s, pt)
			s.Where(x86.GE, q, s.C(0.5), lbig, lpt)
			s.Where(x86.UNORD, q, q, q, lpt)
			if !clip { // PyTorch's clamp; a clip keeps p_t ≥ lo instead
				s.Max(lpt, s.CR(-100), lpt) // NaN: lpt is returned
			}
			// mod = q^γ and dm = γ·q^(γ−1) (0 where q = 0, as generic), or
			// directly dml = dm·log p_t.
			var mod, dm, dml reg.VecVirtual
			switch gm {
			case gamma1:
				mod = q
				dm = s.Vec() // written below: not the pinned constant
				s.Mov(s.C(1), dm)
			case gamma2:
				mod = s.Vec()
				s.Mul(q, q, mod)
				dm = s.Vec()
				s.Add(q, q, dm)
			case gammaAny:
				lq := logSafe(s, q)
				gam := param("gamma")
				t := s.Vec()
				s.Mul(gam, lq, t)
				mod = s.Exp(t)
				// dm·log p_t as γ·q^γ·(log p_t / q): q^(γ−1) overflows for
				// tiny q and γ < 1 where the product is tiny (log p_t ≈ −q),
				// and |log p_t / q| ≤ 2 for q < ½.
				r := s.Vec()
				s.Div(q, lpt, r)
				zero := s.Vec()
				VXORPS(zero, zero, zero)
				s.Where(x86.EQ, q, s.C(0), zero, r) // q = 0: the term is 0
				dml = s.Vec()
				s.Mul(gam, mod, dml)
				s.Mul(r, dml, dml)
			}
			l = s.Vec()
			s.Mul(at, lpt, l)
			if mod != nil {
				s.Mul(mod, l, l)
			}
			s.Op(VXORPS, s.SignBit(), l, l)
			// d = dm·log p_t − mod/max(p_t, 1e-12)
			den := s.Vec()
			s.Max(pt, s.CR(1e-12), den) // NaN: pt is returned
			d := s.Vec()
			if mod != nil {
				s.Div(den, mod, d)
			} else {
				s.Div(den, one, d)
			}
			switch {
			case dml != nil:
				s.Sub(d, dml, dml) // dm·log p_t − …
				d = dml
			case dm != nil:
				s.FMS213(d, lpt, dm) // dm·log p_t − …
				d = dm
			default:
				s.Op(VXORPS, s.SignBit(), d, d)
			}
			sgn := s.Vec()
			s.Add(y, y, sgn)
			s.Sub(one, sgn, sgn) // 2y − 1
			g = s.Vec()
			s.Mul(at, d, g)
			s.Mul(sgn, g, g)
			return l, g
		}, params...)
}

// klDiv emits PyTorch's kl_div over n elements, x = log q, y = p (or
// log p with logTarget): loss p·(log p − x) (e^t·(t − x)), 0 where p = 0
// unless x is NaN (PyTorch's 0·(−Inf) is NaN there), gradient −p·scale.
// With log targets a finite t whose e^t underflows keeps the least
// subnormal (floorUnderflow), so that beside x = −Inf the term is +Inf.
func klDiv(s *x86.ISA, o binaryOptions, logTarget bool) {
	name, consts := "klDiv", x86.LogConsts()
	doc := "%s computes kl_div over n elements: loss y·(log y − x), 0 where y = 0 (x not NaN), gradient −y·scale; returns Σ loss."
	if logTarget {
		name, consts = "klDivLog", x86.ExpConsts()
		doc = "%s computes kl_div with log targets over n elements: loss e^y·(y − x), 0 where e^y = 0 (x not NaN), gradient −e^y·scale; returns Σ loss."
	}
	o.compensated = true // p·(log p − x) has both signs: 8198 float64 terms lost 57u plainly
	binaryKernel(s, name, doc, o, consts, func(x, y reg.VecVirtual, _ func(string) reg.VecVirtual) (l, g reg.VecVirtual) {
		p := y
		l = s.Vec()
		if logTarget {
			p = s.Exp(y)
			floorUnderflow(s, y, p)
			s.Sub(x, y, l) // t − x
		} else {
			// log p, a subnormal p scaled by 2^mant first (the log block
			// takes normal inputs), as bceProb.
			tiny, mant := 0x1p-126, 24.0
			if s.F64 {
				tiny, mant = 0x1p-1022, 52
			}
			ps, sub := s.Vec(), s.Vec()
			s.Mov(p, ps)
			s.Mul(s.C(math.Ldexp(1, int(mant))), p, sub)
			s.Where(x86.LT, p, s.C(tiny), sub, ps)
			lp := s.Log(ps, true)
			corr := s.Vec()
			s.Sub(s.C(mant*math.Ln2), lp, corr)
			s.Where(x86.LT, p, s.C(tiny), corr, lp)
			s.Sub(x, lp, l) // log p − x
		}
		s.Mul(p, l, l)
		s.Where(x86.EQ, p, s.C(0), s.C(0), l)
		s.Where(x86.UNORD, x, x, x, l)
		g = s.Vec()
		s.Op(VXORPS, s.SignBit(), p, g)
		return l, g
	})
}
