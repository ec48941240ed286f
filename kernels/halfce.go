package kernels

import (
	"math"
	"sync"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Half is a 16-bit floating-point element type: the inputs of the 16-bit
// kernels (CrossEntropyHalf, CrossEntropyProbsHalf, SoftmaxFocalHalf,
// BCEWithLogitsHalf, SigmoidFocalHalf).
type Half interface{ BF16 | F16 }

// HalfGrad is the element type a 16-bit kernel writes its gradient in: the
// inputs' own 16-bit type, or float32. A gradient of the other 16-bit type
// (F16 for BF16 logits) is an error.
type HalfGrad interface{ BF16 | F16 | float32 }

// CrossEntropyHalf is CrossEntropy on 16-bit logits (bfloat16 or IEEE
// float16), with every option of CrossEntropy. The math runs in float32 on
// the logits' exact float32 values, so the loss, RowLoss and RowLSE are
// CrossEntropy's on the widened logits; the gradient is written in the
// logits' type (rounded to nearest, ties to even, from the float32
// gradient) or, with a []float32 grad, in float32 unrounded. A 16-bit grad
// may be logits itself (in place); a float32 grad must not share memory
// with the logits. The class weights and per-row outputs are float32.
//
// For forward only, pass a nil gradient of the logits' type (or float32):
//
//	loss, err := kernels.CrossEntropyHalf(logits, targets, n, k, []kernels.BF16(nil), nil)
//
// Where the backend has a native 16-bit kernel for the call (amd64: rows
// longer than 4096 with a gradient, without label smoothing or
// soft-capping) it reads the 16-bit rows and writes the gradient
// directly. Otherwise the rows are widened a block at a time into a
// float32 buffer that stays in cache (the float32 gradient itself when
// grad is float32), the backend's float32 kernel runs on the block, and
// its gradient is narrowed into grad; the buffer comes from a pool, so
// calls do not allocate once warm.
func CrossEntropyHalf[H Half, G HalfGrad](logits []H, targets []int32, n, k int, grad []G, o *CrossEntropyOptions[float32]) (float32, error) {
	if o == nil {
		o = &CrossEntropyOptions[float32]{}
	}
	var r rules
	r.length("targets", len(targets), n)
	t, err := newHalfCE(&r, logits, n, k, grad, o, "Weight")
	if err != nil {
		return 0, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := classTargets(targets, k, ignore, hasIgnore, o.Weight)
	if err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss), spanOf(o.RowLSE)},
		in:      [4]span{spanOf(logits), spanOf(targets), spanOf(o.Weight)},
		inPlace: 1, names: ceNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	t.a.Targets, t.a.Ignore, t.a.HasIgnore = targets, ignore, hasIgnore
	return t.run(o, norm), nil
}

// CrossEntropyProbsHalf is CrossEntropyProbs on 16-bit logits and
// probability targets (both bfloat16 or both float16), as CrossEntropyHalf
// is CrossEntropy.
func CrossEntropyProbsHalf[H Half, G HalfGrad](logits, probs []H, n, k int, grad []G, o *CrossEntropyOptions[float32]) (float32, error) {
	if o == nil {
		o = &CrossEntropyOptions[float32]{}
	}
	var r rules
	t, err := newHalfCE(&r, logits, n, k, grad, o, "Weight")
	if err != nil {
		return 0, err
	}
	if err := checkLen("probs", probs, n*k); err != nil {
		return 0, err
	}
	if err := checkUnit16("probs", halfBits(probs), t.f16); err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss), spanOf(o.RowLSE)},
		in:      [4]span{spanOf(logits), spanOf(probs), spanOf(o.Weight)},
		inPlace: 1, names: ceProbsNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	t.probs = halfBits(probs)
	return t.run(o, float64(n)), nil
}

// SoftmaxFocalHalf is SoftmaxFocal on 16-bit logits, as CrossEntropyHalf
// is CrossEntropy (Alpha and RowLoss are float32).
func SoftmaxFocalHalf[H Half, G HalfGrad](logits []H, targets []int32, n, k int, grad []G, o *SoftmaxFocalOptions[float32]) (float32, error) {
	if o == nil {
		o = &SoftmaxFocalOptions[float32]{}
	}
	ceo := CrossEntropyOptions[float32]{Reduction: o.Reduction, Weight: o.Alpha, Ignore: o.Ignore, EmptyMean: o.EmptyMean, RowLoss: o.RowLoss, Runner: o.Runner}
	var r rules
	r.length("targets", len(targets), n)
	r.inRange("Gamma", o.Gamma, 0, math.MaxFloat64)
	t, err := newHalfCE(&r, logits, n, k, grad, &ceo, "Alpha")
	if err != nil {
		return 0, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := classTargets[float32](targets, k, ignore, hasIgnore, nil) // α scales losses, the mean counts rows
	if err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.RowLoss)},
		in:      [4]span{spanOf(logits), spanOf(targets), spanOf(o.Alpha)},
		inPlace: 1, names: focalNames,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	t.a.Targets, t.a.Ignore, t.a.HasIgnore = targets, ignore, hasIgnore
	t.a.Focal, t.a.FocalGamma = true, float32(o.Gamma)
	return t.run(&ceo, norm), nil
}

// newHalfCE validates what the 16-bit cross-entropy entry points share
// (after the caller's own rules in r) and returns the call's task without
// targets.
func newHalfCE[H Half, G HalfGrad](r *rules, logits []H, n, k int, grad []G, o *CrossEntropyOptions[float32], weightName string) (halfCETask, error) {
	var t halfCETask
	if err := ceShape(r, len(logits), grad == nil, len(grad), n, k, o, weightName); err != nil {
		return t, err
	}
	if !sameHalf[H, G]() {
		return t, wrapf(ErrOption, "grad of %s for %s logits: the gradient is the logits' type or float32", halfName[G](), halfName[H]())
	}
	t = halfCETask{
		a: args.CE[float32]{N: n, K: k, Weight: o.Weight,
			Smoothing: float32(o.LabelSmoothing), ZLoss: float32(o.ZLoss), SoftCap: float32(o.SoftCap),
			RowLoss: o.RowLoss, RowLSE: o.RowLSE},
		x:    halfBits(logits),
		f16:  isF16[H](),
		rows: halfBlockRows(n, k),
	}
	if grad != nil {
		if isFloat32[G]() {
			t.g32 = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(grad))), len(grad))
		} else {
			t.g16 = halfBits(grad)
		}
	}
	return t, nil
}

// run runs a validated call (norm: the mean's denominator before
// o.Normalizer) and returns its reduced loss.
func (t halfCETask) run(o *CrossEntropyOptions[float32], norm float64) float32 {
	n, k := t.a.N, t.a.K
	if o.Normalizer > 0 {
		norm = o.Normalizer
	}
	t.a.GradScale = float32(scaleFor(o.Reduction, o.EmptyMean, norm))
	blocks := (n + t.rows - 1) / t.rows
	parallel := o.Runner.parallel(n*k) && blocks > 1
	var sum float64
	native := false
	if !parallel && (t.g16 != nil || t.g32 != nil) && t.probs == nil && impl[float32]().CrossEntropy16 != nil {
		// The whole call natively, as CrossEntropy runs one call (the
		// long-row kernels pipeline each row with the next).
		sum, native = impl[float32]().CrossEntropy16(args.CE16{A: t.a, X: t.x, F16: t.f16, Grad: t.g16, Grad32: t.g32})
	}
	switch {
	case native:
	case parallel:
		sum = spread(o.Runner, t, blocks)
	default:
		for b := range blocks {
			sum += t.runBlock(b)
		}
	}
	loss, _ := reduce(o.Reduction, o.EmptyMean, sum, norm)
	return float32(loss)
}

// halfBlockElems is about the elements of one block of short rows in a
// 16-bit call: 32 KiB of float32 that stays in L1 between the widening,
// the kernel and the narrowing.
const halfBlockElems = 8192

// halfLongElems is about the elements of a block of rows longer than
// 4096: 1 MiB of float32, several rows where they fit, so that
// the float32 kernel pipelines one row's second pass with the next row's
// first as in one call (blockRows); its buffer stays in L2 on current
// CPUs.
const halfLongElems = 1 << 18

// halfBlockRows is the rows per block of a 16-bit call over rows of k,
// a multiple of 64 where that is more than 64, as blockRows (the
// row-grouped kernels then see the groups of one call).
func halfBlockRows(n, k int) int {
	rows := max(1, halfBlockElems/k)
	if k > 4096 { // the long-row kernels (see halfLongElems)
		rows = max(1, halfLongElems/k)
	}
	if rows > 64 {
		rows = rows / 64 * 64
	}
	return min(rows, n)
}

// halfCETask is a 16-bit cross-entropy call in blocks of rows: a is the
// float32 call it stands for, with X and Grad set per block.
type halfCETask struct {
	a     args.CE[float32]
	x     []uint16 // the logits' bits
	probs []uint16 // probability targets (CrossEntropyProbsHalf), or nil
	f16   bool     // binary16 logits (else bfloat16)
	g16   []uint16 // the 16-bit gradient, or nil
	g32   []float32
	rows  int
}

func (t *halfCETask) runBlock(b int) float64 {
	k := t.a.K
	lo := b * t.rows
	hi := min(lo+t.rows, t.a.N)
	x := t.x[lo*k : hi*k]
	blk := t.a
	blk.N = hi - lo
	if t.a.Targets != nil {
		blk.Targets = t.a.Targets[lo:hi]
	}
	if t.a.RowLoss != nil {
		blk.RowLoss = t.a.RowLoss[lo:hi]
	}
	if t.a.RowLSE != nil {
		blk.RowLSE = t.a.RowLSE[lo:hi]
	}
	im := impl[float32]()
	if (t.g16 != nil || t.g32 != nil) && t.probs == nil && im.CrossEntropy16 != nil {
		c := args.CE16{A: blk, X: x, F16: t.f16}
		if t.g16 != nil {
			c.Grad = t.g16[lo*k : hi*k]
		} else {
			c.Grad32 = t.g32[lo*k : hi*k]
		}
		if sum, ok := im.CrossEntropy16(c); ok {
			return sum
		}
	}
	var buf []float32
	var s *halfScratch
	if t.g32 != nil {
		// The float32 gradient is the buffer: widened into, then
		// overwritten in place by the kernel.
		buf = t.g32[lo*k : hi*k]
		blk.Whole = t.a.N * k
	}
	if t.g32 == nil || t.probs != nil {
		s = halfScratchPool.Get().(*halfScratch)
		m := len(x)
		if t.probs != nil {
			m *= 2
		}
		sb := s.get(m)
		if t.g32 == nil {
			buf = sb[:len(x)]
			blk.Whole = len(buf) // the scratch is read back: never streamed
		}
		if t.probs != nil {
			p := sb[len(sb)-len(x):]
			widen16(im, p, t.probs[lo*k:hi*k], t.f16)
			blk.Probs = p
		}
	}
	widen16(im, buf, x, t.f16)
	blk.X = buf
	if t.g32 != nil || t.g16 != nil {
		blk.Grad = buf
	}
	sum := im.CrossEntropy(blk)
	if t.g16 != nil {
		narrow16(im, t.g16[lo*k:hi*k], buf, t.f16)
	}
	if s != nil {
		halfScratchPool.Put(s)
	}
	return sum
}

// halfScratch is a block's float32 buffer, from a pool: it grows to the
// longest block seen (halfLongElems, or one row longer than that), so a
// warm pool serves every call without allocating.
type halfScratch struct{ buf []float32 }

var halfScratchPool = sync.Pool{New: func() any { return new(halfScratch) }}

func (s *halfScratch) get(n int) []float32 {
	if cap(s.buf) < n {
		s.buf = make([]float32, max(n, halfBlockElems))
	}
	return s.buf[:n]
}

// halfBits views a slice of 16-bit floats as their raw bits.
func halfBits[H HalfGrad](s []H) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func isF16[H HalfGrad]() bool {
	var z H
	_, ok := any(z).(F16)
	return ok
}

func isFloat32[G HalfGrad]() bool {
	var z G
	_, ok := any(z).(float32)
	return ok
}

// sameHalf reports whether a gradient of G may go with logits of H: the
// same type, or float32.
func sameHalf[H Half, G HalfGrad]() bool {
	return isFloat32[G]() || isF16[H]() == isF16[G]()
}

func halfName[H HalfGrad]() string {
	switch {
	case isFloat32[H]():
		return "float32"
	case isF16[H]():
		return "F16"
	}
	return "BF16"
}
