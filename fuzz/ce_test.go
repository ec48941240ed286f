package fuzz

import (
	"fmt"
	"testing"

	"github.com/lossfuse/lossfuse/internal/shardtest"
	"github.com/lossfuse/lossfuse/kernels"
)

// The three losses that share the softmax row kernel.
const (
	ceInt    = iota // CrossEntropy
	ceProbs         // CrossEntropyProbs
	ceFocal         // SoftmaxFocal
	ceShards        // CrossEntropy through the vocabulary-shard calls
	ceNLL           // NLL: log-probabilities (any reals) and integer targets
)

var ceNames = []string{"CrossEntropy", "CrossEntropyProbs", "SoftmaxFocal", "CrossEntropyShards", "NLL"}

func FuzzCrossEntropy(f *testing.F)      { fuzzFamily(f, ceDecoder(ceInt)) }
func FuzzCrossEntropyProbs(f *testing.F) { fuzzFamily(f, ceDecoder(ceProbs)) }
func FuzzSoftmaxFocal(f *testing.F)      { fuzzFamily(f, ceDecoder(ceFocal)) }

// FuzzCrossEntropyShards is FuzzCrossEntropy through CrossEntropyShard,
// Combine (or Rebase and sums), CrossEntropyShardLoss and
// CrossEntropyShardGrad, the classes cut into 1 to 5 shards at drawn
// points. Its inputs are valid (TestShardErrors covers bad input of the
// shard calls); the reference is CrossEntropy's over the whole row.
func FuzzCrossEntropyShards(f *testing.F) { fuzzFamily(f, ceDecoder(ceShards)) }

// FuzzNLL is NLL with the same targets, class weights, ignore indices,
// reductions and faults as FuzzCrossEntropy (no smoothing, z-loss or
// soft-cap: NLL has none).
func FuzzNLL(f *testing.F) { fuzzFamily(f, ceDecoder(ceNLL)) }

// FuzzCrossEntropyHalf is FuzzCrossEntropy through CrossEntropyHalf: the
// logits are rounded to bfloat16 or float16 (the type decision, "f64",
// picks the format: 0 bfloat16, 1 float16), the gradient is written in
// that format or in float32, and the reference is CrossEntropy's on the
// widened logits (a 16-bit gradient as one more rounding,
// reference.RoundGrad). Its faults are those that carry over to the 16-bit
// copies: shapes, lengths, targets, weights and options.
func FuzzCrossEntropyHalf(f *testing.F) { fuzzFamily(f, ceHalfDecoder(ceInt)) }

// FuzzCrossEntropyProbsHalf is FuzzCrossEntropyProbs through
// CrossEntropyProbsHalf, as FuzzCrossEntropyHalf is FuzzCrossEntropy: the
// logits and the probability targets are both rounded to the drawn format.
func FuzzCrossEntropyProbsHalf(f *testing.F) { fuzzFamily(f, ceHalfDecoder(ceProbs)) }

// FuzzSoftmaxFocalHalf is FuzzSoftmaxFocal through SoftmaxFocalHalf, as
// FuzzCrossEntropyHalf is FuzzCrossEntropy.
func FuzzSoftmaxFocalHalf(f *testing.F) { fuzzFamily(f, ceHalfDecoder(ceFocal)) }

func ceDecoder(variant int) decoder {
	return func(s *source) runnable {
		return byType(s,
			func(s *source) kernelCase[float32] { return decodeCE[float32](s, variant, false) },
			func(s *source) kernelCase[float64] { return decodeCE[float64](s, variant, false) })
	}
}

// ceHalfDecoder decodes the variant's 16-bit twin: float32 cases whose
// first decision ("f64", as the element type of the other targets) is the
// 16-bit format.
func ceHalfDecoder(variant int) decoder {
	return func(s *source) runnable { return typed[float32]{decodeCE[float32](s, variant, true)} }
}

// The faults each variant can have (probability targets have no targets to
// break; the list's length sets how often each kind is drawn).
var (
	ceKinds      = []int{faultShape, faultLength, faultTarget, faultWeight, faultOption, faultOverlap}
	ceProbsKinds = []int{faultShape, faultLength, faultLength, faultWeight, faultOption, faultOverlap}
	ceFocalKinds = ceKinds
)

// Option tables: the zero value (PyTorch's default) first and most often.
var (
	smoothings  = []float64{0, 0, 0.1, 0.5, 1, 1e-8, 0.999, 0.3}
	zLosses     = []float64{0, 0, 1e-4, 1e-2, 1, 100, 1e4}
	softCaps    = []float64{0, 0, 30, 1, 0.01, 50, 1e-300, 1e300}
	normalizers = []float64{0, 0, 0, 1, 7.5, 0.25, 1e-3, 1e6}
	gammas      = []float64{0, 2, 0.5, 1, 5, 0.1, 1e-3, 20, 1e-300}

	// Invalid values of the scalar options (each outside its domain).
	badSmoothings = []float64{-0.1, 1.0000001, nan(), inf(1), -1e-300}
	badNonNeg     = []float64{-1, nan(), inf(1), -1e-300, inf(-1)}
)

// ceCase is one decoded call of the cross-entropy family.
type ceCase[T kernels.Float] struct {
	variant  int
	n, k     int
	logits   []T
	probs    []T // ceProbs
	targets  []int32
	weight   []T // class weights, or focal alpha
	opts     kernels.CrossEntropyOptions[T]
	runner   int   // fuzzRunners
	cuts     []int // ceShards: 0 = c₀ < c₁ < … < c_S = k
	grouping int   // ceShards: how the stats are combined (shardedCE)
	gamma    float64
	grad     int  // gradSeparate, gradInPlace or gradNone
	half     bool // the 16-bit kernel (float32 cases only)
	f16      bool // half: float16 inputs (else bfloat16)
	grad32   bool // half: a float32 gradient (else the inputs' type)
	rowLoss  bool
	rowLSE   bool
	shift    int
	fault    fault

	callN, callK int      // the shape passed (differs from n, k under faultShape)
	bufs         []buf[T] // the float buffers' layout
}

const (
	gradSeparate = iota
	gradInPlace
	gradNone
)

// decodeCE decodes a case of the variant, or of its 16-bit twin (half):
// the twin draws its format first and its grad32 decision after the
// logits, rounds the logits and probability targets to the format, and
// has no overlap faults; its other decisions are the variant's, in order.
func decodeCE[T kernels.Float](s *source, variant int, half bool) *ceCase[T] {
	c := &ceCase[T]{variant: variant, half: half}
	if half {
		c.f16 = s.intn("f64", 2) == 1
	}
	c.n, c.k = decodeShape(s)
	kinds := [][]int{ceKinds, ceProbsKinds, ceFocalKinds, ceKinds, ceKinds}[variant]
	if half {
		kinds = noOverlap(kinds)
	}
	c.fault = decodeFault(s, kinds...)
	if variant == ceShards {
		c.fault = fault{kind: faultNone}
	}
	c.shift = s.intn("shift", 16)
	o := &c.opts
	o.Reduction = kernels.Reduction(s.intn("reduction", 3))
	o.EmptyMean = kernels.EmptyMean(s.intn("emptymean", 2))
	c.grad = s.intn("grad", 3)
	c.rowLoss = s.intn("rowloss", 2) == 1 || o.Reduction == kernels.None
	withWeight := s.intn("weight", 2) == 1
	switch variant {
	case ceFocal:
		c.gamma = option[T](s, "gamma", gammas)
	case ceNLL:
		o.Normalizer = option[T](s, "normalizer", normalizers)
	default:
		c.rowLSE = s.intn("rowlse", 2) == 1
		o.LabelSmoothing = option[T](s, "smoothing", smoothings)
		o.ZLoss = option[T](s, "zloss", zLosses)
		o.SoftCap = option[T](s, "softcap", softCaps)
		o.Normalizer = option[T](s, "normalizer", normalizers)
	}
	if variant != ceProbs {
		switch s.intn("ignore", 4) {
		case 1:
			o.Ignore = kernels.IgnoreIndex(int32(s.intn("ignore.class", 256) % c.k)) // a real class
		case 2:
			o.Ignore = kernels.NoIgnore()
		case 3:
			o.Ignore = kernels.IgnoreIndex(-1)
		}
	}

	c.logits = floats[T](s, "x", realDist, c.n*c.k)
	if half {
		c.grad32 = s.intn("grad32", 2) == 1
		c.round16(c.logits)
	}
	if variant == ceProbs {
		pd := probDist
		if s.intn("domain", 8) == 7 {
			pd = probAnyDist // unnormalised, negative, infinite targets
		}
		c.probs = floats[T](s, "t", pd, c.n*c.k)
		if half {
			c.round16(c.probs) // ErrTarget is decided on the rounded values
		}
	} else {
		c.targets = decodeTargets(s, c.n, c.k, o.Ignore)
	}
	if withWeight || c.fault.kind == faultWeight {
		c.weight = floats[T](s, "w", weightDist, c.k)
	}
	if variant == ceShards {
		c.cuts = decodeCuts(s, c.k)
		c.grouping = s.intn("grouping", 3)
	}
	c.runner = s.intn("runner", runnerChoices) // drawn last: see fuzzRunners
	c.callN, c.callK = c.n, c.k
	c.applyFault()
	c.bufs = c.buffers()
	return c
}

// decodeTargets draws N class indices in [0, K), with ignored rows (all of
// them in some cases, none in others) when ignore is on. Modes 4 and 5 take
// their rows from a generator seeded by one byte.
func decodeTargets(s *source, n, k int, ignore kernels.Ignore) []int32 {
	idx, has := ignore.Index()
	mode := s.intn("y.mode", 6) // 0, 1, 4: mixed; 2: every row ignored; 3, 5: none
	src := s
	if mode >= 4 {
		src = generator(s.intn("y.seed", 256), "y")
		mode = []int{0, 3}[mode-4]
	}
	out := make([]int32, n)
	for i := range out {
		if src.script != nil && mode == 2 && has {
			s.out = append(s.out, 0)
			out[i] = idx
			continue
		}
		if src.script != nil {
			v := int32(s.script.Int("y"))
			switch {
			case has && v == idx && mode != 3:
				s.out = append(s.out, 0)
			case mode == 2:
				panic("seed script: y.mode 2 ignores every row")
			default:
				s.out = append(s.out, 255, byte(v), byte(v>>8))
			}
			out[i] = v
			continue
		}
		b := src.next(true)
		if has && (mode == 2 || mode < 2 && b < 40) {
			out[i] = idx
			continue
		}
		u := int(src.next(true)) | int(src.next(true))<<8
		out[i] = int32(u % k)
	}
	return out
}

// applyFault breaks the case in the way its fault says.
func (c *ceCase[T]) applyFault() {
	f := &c.fault
	switch f.kind {
	case faultShape:
		// The slices keep the valid sizes: the shape check comes first.
		c.callN, c.callK = badShape(f.how, c.n, c.k)
	case faultLength:
		if f.what%7 == 6 && c.targets != nil {
			c.targets = resize(c.targets, badLength(f.how, c.n))
			f.what = -1 // buffers() leaves the float buffers alone
		}
	case faultTarget:
		idx, has := c.opts.Ignore.Index()
		bad := []int32{int32(c.k), -1, int32(c.k) + 1000, -100, -1 << 31, 1<<31 - 1, int32(c.k) + 1}
		v := bad[f.how%len(bad)]
		for has && v == idx {
			v-- // the ignore index is valid: step off it (−1 → −2 when −1 is ignored)
		}
		if v >= 0 && int(v) < c.k {
			v = int32(c.k)
		}
		c.targets[f.what%c.n] = v
	case faultWeight:
		c.weight[f.what%c.k] = T(negativeWeights[f.how%len(negativeWeights)])
	case faultOption:
		o := &c.opts
		switch what := f.what % 6; {
		case what == 0:
			o.Reduction = kernels.Reduction(3 + f.how%250)
		case c.variant == ceFocal:
			c.gamma = badNonNeg[f.how%len(badNonNeg)]
		case c.variant == ceNLL:
			o.Normalizer = badNonNeg[f.how%len(badNonNeg)]
		case what == 1:
			o.LabelSmoothing = badSmoothings[f.how%len(badSmoothings)]
		case what == 2:
			o.ZLoss = badNonNeg[f.how%len(badNonNeg)]
		case what == 3:
			o.SoftCap = badNonNeg[f.how%len(badNonNeg)]
		default:
			o.Normalizer = badNonNeg[f.how%len(badNonNeg)]
		}
	}
}

// buffers lays out the call's float buffers, with the length and overlap
// faults applied.
func (c *ceCase[T]) buffers() []buf[T] {
	nk := c.n * c.k
	b := []buf[T]{
		{name: "logits", n: nk, data: c.logits, anchor: -1},
		{name: "probs", n: nk, data: c.probs, anchor: -1, absent: c.variant != ceProbs},
		{name: "weight", n: c.k, data: c.weight, anchor: -1, absent: c.weight == nil},
		{name: "grad", n: nk, out: true, anchor: -1, absent: c.grad == gradNone},
		{name: "rowloss", n: c.n, out: true, anchor: -1, absent: !c.rowLoss},
		{name: "rowlse", n: c.n, out: true, anchor: -1, absent: !c.rowLSE},
	}
	const logits, probs, weight, grad, rowloss, rowlse = 0, 1, 2, 3, 4, 5
	if c.grad == gradInPlace {
		b[grad].anchor = logits
	}
	f := &c.fault
	switch f.kind {
	case faultLength:
		if f.what < 0 {
			return b
		}
		i := f.what % len(b)
		if i == rowlse && !c.hasRowLSE() {
			i = grad // SoftmaxFocal and NLL have no RowLSE
		}
		if b[i].absent {
			if i == rowloss && c.opts.Reduction == kernels.None {
				return b // None without RowLoss: an ErrLength of its own
			}
			if i == probs || i == weight {
				i = logits
			}
			b[i].absent = false
			if i == grad {
				b[i].anchor = -1
			}
		}
		b[i].n = badLength(f.how, b[i].n)
		f.refBlind = i == grad // the reference takes no gradient buffer
		if b[i].data != nil {
			b[i].data = resize(b[i].data, b[i].n)
		}
		if i == grad && b[i].anchor >= 0 {
			b[i].anchor = -1 // an in-place gradient of another length is an overlap, not a length fault
		}
	case faultOverlap:
		c.overlap(b, f)
	}
	return b
}

// overlap places one output partly over another buffer.
func (c *ceCase[T]) overlap(b []buf[T], f *fault) {
	const logits, probs, weight, grad, rowloss, rowlse = 0, 1, 2, 3, 4, 5
	type pair struct{ out, on int }
	pairs := []pair{{grad, logits}, {rowloss, logits}, {rowlse, rowloss}, {rowloss, grad}, {grad, weight}, {rowloss, weight}, {grad, probs}, {rowlse, logits}}
	for try := 0; try < len(pairs); try++ {
		p := pairs[(f.what+try)%len(pairs)]
		if p.on == probs && c.variant != ceProbs || p.on == weight && c.weight == nil {
			continue
		}
		if (p.on == rowlse || p.out == rowlse) && !c.hasRowLSE() {
			continue
		}
		// Identical is bad unless it is the in-place gradient over the logits.
		identicalBad := !(p.on == logits)
		off, ok := partialOffset(f.how, b[p.out].n, b[p.on].n, identicalBad)
		if !ok {
			continue
		}
		b[p.out].absent, b[p.on].absent = false, false
		if p.out == grad && c.grad == gradInPlace {
			c.grad = gradSeparate
		}
		if p.on == grad {
			b[grad].anchor = -1
		}
		b[p.out].anchor, b[p.out].off = p.on, off
		if p.out == rowloss {
			c.rowLoss = true
		}
		if p.out == rowlse {
			c.rowLSE = true
		}
		if p.out == grad && c.grad == gradNone {
			c.grad = gradSeparate
		}
		return
	}
	// No partial overlap exists (N×K = 1 with nothing else to overlap):
	// the case stays valid.
	f.kind, f.want = faultNone, nil
}

// hasRowLSE reports whether the variant's options have RowLSE.
func (c *ceCase[T]) hasRowLSE() bool { return c.variant != ceFocal && c.variant != ceNLL }

// round rounds v to the case's 16-bit format (half) and back.
func (c *ceCase[T]) round(v float32) float32 { return round16(c.f16, v) }

// round16 rounds s to the case's 16-bit format in place.
func (c *ceCase[T]) round16(s []T) {
	for i, v := range s {
		s[i] = T(c.round(float32(v)))
	}
}

// name is the kernel's name.
func (c *ceCase[T]) name() string {
	if c.half {
		return ceNames[c.variant] + "Half"
	}
	return ceNames[c.variant]
}

func resize[T any](s []T, n int) []T {
	out := make([]T, n)
	copy(out, s)
	return out
}

func (c *ceCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }
func (c *ceCase[T]) faultOf() fault {
	if !finiteWeights(c.weight) {
		return withValues(c.fault, kernels.ErrWeight)
	}
	if c.variant == ceProbs && !unitValues(c.probs) {
		return withValues(c.fault, kernels.ErrTarget)
	}
	return c.fault
}

func (c *ceCase[T]) call(a *arena[T]) (T, error) {
	o := c.opts
	o.RowLoss, o.RowLSE = a.get("rowloss"), a.get("rowlse")
	o.Weight = a.get("weight")
	o.Runner = fuzzRunners[c.runner]
	logits, grad := a.get("logits"), a.get("grad")
	targets := append([]int32(nil), c.targets...)
	var loss T
	var err error
	switch {
	case c.half:
		var l float32
		l, err = c.callHalf(a, targets, any(&o).(*kernels.CrossEntropyOptions[float32]))
		loss = T(l)
	case c.variant == ceInt:
		loss, err = kernels.CrossEntropy(logits, targets, c.callN, c.callK, grad, &o)
	case c.variant == ceProbs:
		loss, err = kernels.CrossEntropyProbs(logits, a.get("probs"), c.callN, c.callK, grad, &o)
	case c.variant == ceShards:
		loss, err = shardtest.CrossEntropy(logits, targets, c.callN, c.callK, grad, &o, c.cuts, c.grouping)
	case c.variant == ceNLL:
		no := nllOptions(o)
		loss, err = kernels.NLL(logits, targets, c.callN, c.callK, grad, &no)
	default:
		fo := c.focalOptions(o)
		loss, err = kernels.SoftmaxFocal(logits, targets, c.callN, c.callK, grad, &fo)
	}
	for i := range targets {
		if targets[i] != c.targets[i] {
			panic(fmt.Sprintf("targets[%d] changed from %d to %d", i, c.targets[i], targets[i]))
		}
	}
	return loss, err
}

func (c *ceCase[T]) String() string {
	var zero T
	o := c.opts
	ig, has := o.Ignore.Index()
	return describe("func", c.name(),
		"type", fmt.Sprintf("%T", zero), "n", c.n, "k", c.k, "call", [2]int{c.callN, c.callK},
		"fault", c.fault.kind, "reduction", o.Reduction, "emptymean", o.EmptyMean,
		"ignore", fmt.Sprint(ig, has), "smoothing", o.LabelSmoothing, "zloss", o.ZLoss, "softcap", o.SoftCap,
		"normalizer", o.Normalizer, "gamma", c.gamma, "f16", c.f16, "grad32", c.grad32, "grad", []string{"separate", "inplace", "none"}[c.grad],
		"rowloss", c.rowLoss, "rowlse", c.rowLSE, "shift", c.shift, "runner", c.runner, "cuts", c.cuts, "grouping", c.grouping,
		"logits", c.logits, "targets", c.targets, "probs", c.probs, "weight", c.weight)
}

// nllOptions are NLL's options from the family's (the fields NLL has).
func nllOptions[T kernels.Float](o kernels.CrossEntropyOptions[T]) kernels.NLLOptions[T] {
	return kernels.NLLOptions[T]{Reduction: o.Reduction, Weight: o.Weight, Ignore: o.Ignore, EmptyMean: o.EmptyMean,
		Normalizer: o.Normalizer, RowLoss: o.RowLoss, Runner: o.Runner}
}

// callHalf runs the 16-bit kernel on 16-bit copies of the arena's logits
// (and probabilities) in the case's format (runHalf).
func (c *ceCase[T]) callHalf(a *arena[T], targets []int32, o *kernels.CrossEntropyOptions[float32]) (float32, error) {
	c32 := any(c).(*ceCase[float32])
	a32 := any(a).(*arena[float32])
	in := [][]float32{a32.get("logits")}
	if c.variant == ceProbs {
		in = append(in, a32.get("probs"))
	}
	hc := halfCall{name: c.name(), in: in, grad: a32.get("grad"), gradNone: c.grad == gradNone, grad32: c.grad32}
	return callHalf(c.f16, hc, ceHalfKernel[kernels.BF16](c32, targets, o), ceHalfKernel[kernels.F16](c32, targets, o))
}
