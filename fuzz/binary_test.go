package fuzz

import (
	"fmt"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// The element-wise binary losses.
const (
	binLogits      = iota // BCEWithLogits
	binProbs              // BCE
	binFocalLogits        // SigmoidFocal
	binFocalProbs         // FocalProbs
)

var binaryNames = []string{"BCEWithLogits", "BCE", "SigmoidFocal", "FocalProbs"}

func FuzzBCEWithLogits(f *testing.F) { fuzzFamily(f, binaryDecoder(binLogits)) }
func FuzzBCE(f *testing.F)           { fuzzFamily(f, binaryDecoder(binProbs)) }

// FuzzSigmoidFocal covers focal loss on logits and on probabilities.
func FuzzSigmoidFocal(f *testing.F) { fuzzFamily(f, binaryDecoder(binFocalLogits)) }

// FuzzBCEWithLogitsHalf is FuzzBCEWithLogits through BCEWithLogitsHalf:
// the logits and the targets are rounded to bfloat16 or float16 (the
// type decision, "f64", picks the format: 0 bfloat16, 1 float16), the
// gradient is written in that format (separate or in place over x) or in
// float32, and the reference is BCEWithLogits' on the widened values (a
// 16-bit gradient as one more rounding, reference.RoundGrad). Targets
// outside [0, 1] after the rounding are ErrTarget. Its faults are those
// that carry over to the 16-bit copies: shapes, lengths, weights and
// options.
func FuzzBCEWithLogitsHalf(f *testing.F) { fuzzFamily(f, binaryHalfDecoder(binLogits)) }

// FuzzSigmoidFocalHalf is FuzzSigmoidFocal's focal loss on logits (there
// is no 16-bit FocalProbs) through SigmoidFocalHalf, as
// FuzzBCEWithLogitsHalf is FuzzBCEWithLogits.
func FuzzSigmoidFocalHalf(f *testing.F) { fuzzFamily(f, binaryHalfDecoder(binFocalLogits)) }

func binaryDecoder(variant int) decoder {
	return func(s *source) runnable {
		v := variant
		if v == binFocalLogits && s.intn("probs", 2) == 1 {
			v = binFocalProbs
		}
		return byType(s,
			func(s *source) kernelCase[float32] { return decodeBinary[float32](s, v, false) },
			func(s *source) kernelCase[float64] { return decodeBinary[float64](s, v, false) })
	}
}

// binaryHalfDecoder decodes the variant's 16-bit twin (BCEWithLogits or
// SigmoidFocal): float32 cases whose first decision ("f64", as the element
// type of the other targets) is the 16-bit format.
func binaryHalfDecoder(variant int) decoder {
	return func(s *source) runnable { return typed[float32]{decodeBinary[float32](s, variant, true)} }
}

var binaryKinds = []int{faultShape, faultLength, faultWeight, faultOption, faultOverlap}

var (
	clips     = []float64{0, 0, 1e-7, 0.5, 1e-3, 0.25, 1e-45, 1e-50, 0.1}
	asymVals  = []float64{1, 3, 0, 0.5, 10, 1e300}
	alphas    = []float64{0.25, -1, 0, 0.5, 1, 0.75, -0.5}
	badClips  = []float64{-0.1, 0.6, nan(), inf(1), -1e-300}
	badAlphas = []float64{1.5, nan(), inf(1), 1.0000001}
)

// How the weight buffer is passed: per element (Weight), per class
// (ClassWeight, length K) or per row (RowWeight, length N).
const (
	weightElems = iota
	weightClass
	weightRow
)

type binaryCase[T kernels.Float] struct {
	variant     int
	n, k        int
	x, y        []T
	weight, pos []T
	wmode       int  // weightElems, weightClass or weightRow: which option weight is
	twoWeights  bool // a fault: ClassWeight set beside weight
	runner      int  // fuzzRunners
	half        bool // the 16-bit kernel (float32 logits variants only)
	f16         bool // half: float16 inputs (else bfloat16)
	grad32      bool // half: a float32 gradient (else the inputs' type)
	asym        *kernels.Asymmetric
	reduction   kernels.Reduction
	clip        float64
	alpha       float64
	gamma       float64
	grad        int
	loss        bool
	shift       int
	fault       fault

	callN, callK int
	bufs         []buf[T]
}

func (c *binaryCase[T]) logits() bool { return c.variant == binLogits || c.variant == binFocalLogits }
func (c *binaryCase[T]) focal() bool  { return c.variant >= binFocalLogits }

// decodeBinary decodes a case of the variant, or of its 16-bit twin
// (half): the twin draws its format first and its grad32 decision after
// the targets, rounds x and y to the format, and has no overlap faults;
// its other decisions are the variant's, in order.
func decodeBinary[T kernels.Float](s *source, variant int, half bool) *binaryCase[T] {
	c := &binaryCase[T]{variant: variant, half: half}
	if half {
		c.f16 = s.intn("f64", 2) == 1
	}
	c.n, c.k = decodeShape(s)
	kinds := binaryKinds
	if half {
		kinds = noOverlap(kinds)
	}
	c.fault = decodeFault(s, kinds...)
	c.shift = s.intn("shift", 16)
	c.reduction = kernels.Reduction(s.intn("reduction", 3))
	c.grad = s.intn("grad", 3)
	c.loss = s.intn("loss", 2) == 1 || c.reduction == kernels.None
	withWeight := s.intn("weight", 2) == 1
	withPos := variant == binLogits && s.intn("posweight", 2) == 1
	if !c.focal() && s.intn("asym", 2) == 1 {
		c.asym = &kernels.Asymmetric{FalseNegative: option[T](s, "asym.fn", asymVals), FalsePositive: option[T](s, "asym.fp", asymVals)}
	}
	if !c.logits() {
		c.clip = option[T](s, "clip", clips)
	}
	if c.focal() {
		c.alpha = option[T](s, "alpha", alphas)
		c.gamma = option[T](s, "gamma", gammas)
	}
	// Now and then targets (and probabilities) outside [0, 1].
	pd := probDist
	if s.intn("domain", 8) == 7 {
		pd = probAnyDist
	}
	xd := pd
	if c.logits() {
		xd = realDist
	}
	nk := c.n * c.k
	c.x = floats[T](s, "x", xd, nk)
	c.y = floats[T](s, "y", pd, nk)
	if half {
		c.grad32 = s.intn("grad32", 2) == 1
		for _, v := range [][]T{c.x, c.y} {
			for i := range v {
				v[i] = T(round16(c.f16, float32(v[i])))
			}
		}
		// ErrTarget is decided on the rounded targets (faultOf): 1 + 2⁻²³
		// is 1 in both formats, −1e-40 is −0.
	}
	if withWeight || c.fault.kind == faultWeight {
		c.weight = floats[T](s, "w", weightDist, nk)
	}
	if withPos {
		c.pos = floats[T](s, "pw", weightDist, c.k)
	}
	if c.weight != nil {
		// Drawn last, so that inputs found before broadcast weights existed
		// decode as they did (an exhausted input draws 0).
		switch c.wmode = s.intn("weight.broadcast", 3); c.wmode {
		case weightClass:
			c.weight = c.weight[:c.k]
		case weightRow:
			c.weight = c.weight[:c.n]
		}
	}
	c.runner = s.intn("runner", runnerChoices) // drawn last: see fuzzRunners
	c.callN, c.callK = c.n, c.k
	c.applyFault()
	c.bufs = c.buffers()
	return c
}

func (c *binaryCase[T]) applyFault() {
	f := &c.fault
	switch f.kind {
	case faultShape:
		c.callN, c.callK = badShape(f.how, c.n, c.k)
	case faultWeight:
		neg := T(negativeWeights[f.how%len(negativeWeights)])
		if c.pos != nil && f.what%2 == 1 {
			c.pos[f.what/2%c.k] = neg
		} else {
			c.weight[f.what%len(c.weight)] = neg
		}
	case faultOption:
		switch f.what % 7 {
		case 6: // two weights at once
			if c.weight != nil {
				c.twoWeights = true
				break
			}
			c.reduction = kernels.Reduction(3 + f.how%250)
		case 0:
			c.reduction = kernels.Reduction(3 + f.how%250)
		case 1: // an option of another loss
			switch {
			case c.logits():
				c.clip = []float64{1e-7, 0.5, 0.25}[f.how%3]
			case c.variant == binProbs:
				c.pos = make([]T, c.k) // PosWeight: BCEWithLogits only
			default:
				c.asym = &kernels.Asymmetric{FalseNegative: 1, FalsePositive: 1}
			}
		case 2:
			if !c.logits() {
				c.clip = badClips[f.how%len(badClips)]
				break
			}
			fallthrough
		case 3:
			if c.focal() {
				c.gamma = badNonNeg[f.how%len(badNonNeg)]
				break
			}
			fallthrough
		case 4:
			if c.focal() {
				c.alpha = badAlphas[f.how%len(badAlphas)]
				break
			}
			fallthrough
		default:
			if c.focal() {
				c.gamma = badNonNeg[f.how%len(badNonNeg)]
				break
			}
			bad := badNonNeg[f.how%len(badNonNeg)]
			c.asym = &kernels.Asymmetric{FalseNegative: 1, FalsePositive: 1}
			if f.how%2 == 0 {
				c.asym.FalseNegative = bad
			} else {
				c.asym.FalsePositive = bad
			}
		}
	}
}

func (c *binaryCase[T]) buffers() []buf[T] {
	nk := c.n * c.k
	b := []buf[T]{
		{name: "x", n: nk, data: c.x, anchor: -1},
		{name: "y", n: nk, data: c.y, anchor: -1},
		{name: "weight", n: weightLen(c.wmode, c.n, c.k), data: c.weight, anchor: -1, absent: c.weight == nil},
		{name: "pos", n: c.k, data: c.pos, anchor: -1, absent: c.pos == nil},
		{name: "grad", n: nk, out: true, anchor: -1, absent: c.grad == gradNone},
		{name: "loss", n: nk, out: true, anchor: -1, absent: !c.loss},
	}
	const x, y, weight, pos, grad, loss = 0, 1, 2, 3, 4, 5
	if c.grad == gradInPlace {
		b[grad].anchor = x
	}
	f := &c.fault
	switch f.kind {
	case faultLength:
		i := f.what % len(b)
		if b[i].absent {
			if i == loss && c.reduction == kernels.None {
				return b
			}
			if i == weight || i == pos && c.variant != binLogits {
				i = y
			}
			b[i].absent = false
		}
		b[i].n = badLength(f.how, b[i].n)
		f.refBlind = i == grad // the reference takes no gradient buffer
		if b[i].data != nil || i == pos {
			b[i].data = resize(b[i].data, b[i].n)
		}
		if i == pos {
			c.pos = b[i].data
		}
		if i == grad {
			b[i].anchor = -1
		}
	case faultOverlap:
		type pair struct{ out, on int }
		pairs := []pair{{grad, x}, {loss, x}, {loss, grad}, {grad, y}, {grad, weight}, {loss, pos}, {loss, y}, {grad, pos}}
		for try := 0; try < len(pairs); try++ {
			p := pairs[(f.what+try)%len(pairs)]
			if b[p.on].absent && p.on != grad {
				continue
			}
			off, ok := partialOffset(f.how, b[p.out].n, b[p.on].n, p.on != x)
			if !ok {
				continue
			}
			b[p.out].absent, b[p.on].absent = false, false
			if p.on == grad {
				b[grad].anchor = -1
			}
			b[p.out].anchor, b[p.out].off = p.on, off
			return b
		}
		f.kind, f.want = faultNone, nil
	}
	return b
}

func (c *binaryCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }
func (c *binaryCase[T]) faultOf() fault {
	var valueErr error
	switch {
	case !finiteWeights(c.weight, c.pos):
		valueErr = kernels.ErrWeight
	case !unitValues(c.y) || !c.logits() && !unitValues(c.x):
		valueErr = kernels.ErrTarget
	}
	return withValues(c.fault, valueErr)
}

func (c *binaryCase[T]) options(a *arena[T]) kernels.BinaryOptions[T] {
	o := kernels.BinaryOptions[T]{
		Reduction: c.reduction, PosWeight: a.get("pos"),
		Asymmetric: c.asym, Clip: c.clip, Loss: a.get("loss"),
		Runner: fuzzRunners[c.runner],
	}
	w := a.get("weight")
	switch c.wmode {
	case weightClass:
		o.ClassWeight = w
	case weightRow:
		o.RowWeight = w
	default:
		o.Weight = w
	}
	if c.twoWeights {
		o.ClassWeight = make([]T, c.k)
		if c.wmode == weightClass {
			o.RowWeight = make([]T, c.n)
		}
	}
	return o
}

// weightLen is the weight buffer's length for a mode.
func weightLen(mode, n, k int) int {
	switch mode {
	case weightClass:
		return k
	case weightRow:
		return n
	}
	return n * k
}

func (c *binaryCase[T]) call(a *arena[T]) (T, error) {
	o := c.options(a)
	x, y, grad := a.get("x"), a.get("y"), a.get("grad")
	if c.half {
		l, err := c.callHalf(a, any(&o).(*kernels.BinaryOptions[float32]))
		return T(l), err
	}
	switch c.variant {
	case binLogits:
		return kernels.BCEWithLogits(x, y, c.callN, c.callK, grad, &o)
	case binProbs:
		return kernels.BCE(x, y, c.callN, c.callK, grad, &o)
	}
	fo := kernels.FocalOptions[T]{BinaryOptions: o, Alpha: c.alpha, Gamma: c.gamma}
	if c.variant == binFocalLogits {
		return kernels.SigmoidFocal(x, y, c.callN, c.callK, grad, &fo)
	}
	return kernels.FocalProbs(x, y, c.callN, c.callK, grad, &fo)
}

// callHalf runs the 16-bit kernel on 16-bit copies of the arena's x and
// y in the case's format (runHalf).
func (c *binaryCase[T]) callHalf(a *arena[T], o *kernels.BinaryOptions[float32]) (float32, error) {
	c32, a32 := any(c).(*binaryCase[float32]), any(a).(*arena[float32])
	hc := halfCall{name: c.name(), in: [][]float32{a32.get("x"), a32.get("y")}, grad: a32.get("grad"),
		gradNone: c.grad == gradNone, grad32: c.grad32}
	return callHalf(c.f16, hc, binaryHalfKernel[kernels.BF16](c32, o), binaryHalfKernel[kernels.F16](c32, o))
}

// name is the kernel's name.
func (c *binaryCase[T]) name() string {
	if c.half {
		return binaryNames[c.variant] + "Half"
	}
	return binaryNames[c.variant]
}

func (c *binaryCase[T]) String() string {
	var zero T
	asym := "nil"
	if c.asym != nil {
		asym = fmt.Sprint(*c.asym)
	}
	return describe("func", c.name(), "type", fmt.Sprintf("%T", zero), "f16", c.f16, "grad32", c.grad32,
		"n", c.n, "k", c.k, "call", [2]int{c.callN, c.callK}, "fault", c.fault.kind,
		"reduction", c.reduction, "asym", asym, "clip", c.clip, "alpha", c.alpha, "gamma", c.gamma,
		"grad", []string{"separate", "inplace", "none"}[c.grad], "loss", c.loss, "shift", c.shift, "runner", c.runner,
		"x", c.x, "y", c.y, "weight", c.weight, "weight.mode", []string{"elems", "class", "row"}[c.wmode],
		"two-weights", c.twoWeights, "posweight", c.pos)
}
