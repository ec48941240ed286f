package kernels

import (
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// BCEWithLogitsHalf is BCEWithLogits on 16-bit logits and targets (both
// bfloat16 or both float16), with every option of BCEWithLogits (weights,
// PosWeight and Loss are float32). The math runs in float32 on the inputs'
// exact values; the gradient is written in the inputs' type (rounded to
// nearest even) or, with a []float32 grad, in float32. A 16-bit grad may be
// x itself.
//
// The elements are widened a block of rows at a time into a pooled
// float32 buffer that stays in cache, the backend's float32 kernel runs on
// the block, and its gradient is narrowed into grad: no allocation once
// warm.
func BCEWithLogitsHalf[H Half, G HalfGrad](x, y []H, n, k int, grad []G, o *BinaryOptions[float32]) (float32, error) {
	return binaryHalf(args.BCEWithLogits, x, y, n, k, grad, o, -1, 0)
}

// SigmoidFocalHalf is SigmoidFocal on 16-bit logits and targets, as
// BCEWithLogitsHalf is BCEWithLogits.
func SigmoidFocalHalf[H Half, G HalfGrad](x, y []H, n, k int, grad []G, o *FocalOptions[float32]) (float32, error) {
	if o == nil {
		d := DefaultFocal[float32]()
		o = &d
	}
	return binaryHalf(args.SigmoidFocal, x, y, n, k, grad, &o.BinaryOptions, focalAlpha(o.Alpha), o.Gamma)
}

func binaryHalf[H Half, G HalfGrad](kind args.BinaryKind, x, y []H, n, k int, grad []G, o *BinaryOptions[float32], alpha, gamma float64) (float32, error) {
	if o == nil {
		o = &BinaryOptions[float32]{}
	}
	var c binaryCall[float32]
	if err := c.check(kind, len(x), len(y), n, k, grad == nil, len(grad), o, alpha, gamma); err != nil {
		return 0, err
	}
	if !sameHalf[H, G]() {
		return 0, wrapf(ErrOption, "grad of %s for %s inputs: the gradient is the inputs' type or float32", halfName[G](), halfName[H]())
	}
	f16 := isF16[H]()
	if err := checkUnit16("y", halfBits(y), f16); err != nil {
		return 0, err
	}
	bs := &buffers{
		out:     [3]span{spanOf(grad), spanOf(o.Loss)},
		in:      [4]span{spanOf(x), spanOf(y), spanOf(c.weight), spanOf(o.PosWeight)},
		inPlace: 3, names: c.names,
	}
	if err := bs.check(); err != nil {
		return 0, err
	}
	t := halfBinaryTask{a: c.args(kind, n, k, o, alpha, gamma), x: halfBits(x), y: halfBits(y), f16: f16,
		cw: o.ClassWeight, rw: o.RowWeight, rows: halfBlockRows(n, k)}
	if grad != nil {
		if isFloat32[G]() {
			t.g32 = unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(grad))), len(grad))
		} else {
			t.g16 = halfBits(grad)
		}
	}
	blocks := (n + t.rows - 1) / t.rows
	var sum float64
	if o.Runner.parallel(n*k) && blocks > 1 {
		sum = spread(o.Runner, t, blocks)
	} else {
		for b := range blocks {
			sum += t.runBlock(b)
		}
	}
	loss, _ := reduce(o.Reduction, EmptyMeanNaN, sum, c.norm)
	return float32(loss), nil
}

// halfBinaryTask is a 16-bit binary loss in blocks of whole rows (class
// and pos weights broadcast along them): a is the float32 call it stands
// for, with X, Y and Grad set per block.
type halfBinaryTask struct {
	a      args.Binary[float32]
	x, y   []uint16
	f16    bool
	g16    []uint16
	g32    []float32
	cw, rw []float32 // ClassWeight, RowWeight
	rows   int
}

func (t *halfBinaryTask) runBlock(b int) float64 {
	k := t.a.K
	lo := b * t.rows
	hi := min(lo+t.rows, t.a.N)
	m := (hi - lo) * k
	im := impl[float32]()
	s := halfScratchPool.Get().(*halfScratch)
	buf := s.get(2 * m)
	bx, by := buf[:m], buf[m:]
	if t.g32 != nil {
		bx = t.g32[lo*k : hi*k] // widened into, then overwritten in place
	}
	widen16(im, bx, t.x[lo*k:hi*k], t.f16)
	widen16(im, by, t.y[lo*k:hi*k], t.f16)
	blk := t.a
	blk.N, blk.X, blk.Y = hi-lo, bx, by
	if t.a.Weight != nil {
		blk.Weight = t.a.Weight[lo*k : hi*k]
	}
	if t.a.Loss != nil {
		blk.Loss = t.a.Loss[lo*k : hi*k]
	}
	if t.g16 != nil || t.g32 != nil {
		blk.Grad = bx
	}
	var sum float64
	switch {
	case t.cw != nil:
		sum = classWeighted(blk, t.cw)
	case t.rw != nil:
		sum = rowWeighted(blk, t.rw[lo:hi])
	default:
		sum = im.Binary(blk)
	}
	if t.g16 != nil {
		narrow16(im, t.g16[lo*k:hi*k], bx, t.f16)
	}
	halfScratchPool.Put(s)
	return sum
}

// widen16 and narrow16 convert a block with the backend's conversions.
func widen16(im *args.Impl[float32], dst []float32, src []uint16, f16 bool) {
	if f16 {
		im.F16ToF32(dst, src)
	} else {
		im.BF16ToF32(dst, src)
	}
}

func narrow16(im *args.Impl[float32], dst []uint16, src []float32, f16 bool) {
	if f16 {
		im.F32ToF16(dst, src)
	} else {
		im.F32ToBF16(dst, src)
	}
}

// checkUnit16 rejects a 16-bit value outside [0, 1] (NaN passes, as in
// checkUnitOn): widened a chunk at a time into a pooled buffer and
// scanned by the backend's vector scan.
func checkUnit16(name string, h []uint16, f16 bool) error {
	im := impl[float32]()
	s := halfScratchPool.Get().(*halfScratch)
	defer halfScratchPool.Put(s)
	buf := s.get(halfBlockElems)
	for off := 0; off < len(h); off += halfBlockElems {
		chunk := h[off:min(off+halfBlockElems, len(h))]
		w := buf[:len(chunk)]
		widen16(im, w, chunk, f16)
		if !im.OutsideUnit(w) {
			continue
		}
		for i, v := range w {
			if v < 0 || v > 1 {
				return wrapf(ErrTarget, "%s[%d]=%v outside [0, 1]", name, off+i, v)
			}
		}
	}
	return nil
}
