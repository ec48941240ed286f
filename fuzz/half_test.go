package fuzz

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
)

// The 16-bit kernels (CrossEntropyHalf, CrossEntropyProbsHalf,
// SoftmaxFocalHalf, BCEWithLogitsHalf, SigmoidFocalHalf) are fuzzed as
// their float32 families with a half flag: the case is float32, its 16-bit
// inputs (logits, probability and binary targets) are rounded to the drawn
// format when decoded, so the arena and the reference hold the widened
// values, and the call runs the 16-bit kernel on 16-bit copies of the
// arena's inputs (runHalf). A 16-bit gradient is checked as one more
// rounding (reference.RoundGrad).

// half is a 16-bit input format.
type half interface{ kernels.BF16 | kernels.F16 }

// round16 rounds v to float16 (f16) or bfloat16, ties to even, and back.
func round16(f16 bool, v float32) float32 {
	if f16 {
		return kernels.F16FromFloat32(v).Float32()
	}
	return kernels.BF16FromFloat32(v).Float32()
}

// noOverlap is a family's fault kinds for its 16-bit twin: the overlap
// faults do not carry over to the 16-bit copies (the kernel sees buffers
// of its own).
func noOverlap(kinds []int) []int {
	return slices.DeleteFunc(slices.Clone(kinds), func(k int) bool { return k == faultOverlap })
}

// halfSentinel is a NaN in both 16-bit formats: the 16-bit buffers' spare
// elements past their ends, and a 16-bit gradient's elements before the
// call (so that one left unwritten shows as NaN).
const halfSentinel = 0x7e5e

func sentinels[H half](n int) []H {
	s := make([]H, n)
	for i := range s {
		s[i] = halfSentinel
	}
	return s
}

// halfKernel runs one 16-bit kernel on the 16-bit inputs in (in[0] the
// one a 16-bit gradient may be in place over) with the gradient g32 when
// it is non-nil, else g16 (nil: forward only).
type halfKernel[H half] func(in [][]H, g16 []H, g32 []float32) (float32, error)

// halfCall is what runHalf needs of a case: the kernel's name, the
// arena's 16-bit inputs (widened; nil for an absent one) and gradient,
// and the gradient decisions.
type halfCall struct {
	name     string
	in       [][]float32
	grad     []float32
	gradNone bool // no gradient drawn
	grad32   bool // a float32 gradient (else the inputs' type)
}

// runHalf runs a 16-bit kernel on 16-bit copies of the arena's inputs (and
// gradient): a float32 gradient is the arena's own buffer; a 16-bit one
// is widened into it after a successful call, and in place over in[0]
// where the arena's gradient is in place over in[0]. It panics (a
// failure, see runOn) where the kernel wrote past a 16-bit buffer, changed
// an input other than in place, or wrote the gradient before an error.
func runHalf[H half](from func(float32) H, to func(H) float32, c halfCall, run halfKernel[H]) (float32, error) {
	const spare = 8
	in := make([][]H, len(c.in))
	orig := make([][]H, len(c.in))
	for j, s := range c.in {
		if s == nil {
			continue
		}
		x := make([]H, len(s), len(s)+spare)
		for i, v := range s {
			x[i] = from(v)
		}
		orig[j] = append(slices.Clone(x), sentinels[H](spare)...)
		for i := len(x); i < cap(x); i++ {
			x[:cap(x)][i] = halfSentinel
		}
		in[j] = x
	}
	// unchanged reports whether input j and its spare elements are as
	// before the call (from = 0) or its spare elements are (from = len).
	unchanged := func(j, from int) bool {
		return in[j] == nil || slices.Equal(in[j][:cap(in[j])][from:], orig[j][from:])
	}
	inputsUnchanged := func(first int) bool {
		for j := first; j < len(in); j++ {
			if !unchanged(j, 0) {
				return false
			}
		}
		return true
	}
	switch {
	case c.gradNone && c.grad == nil:
		l, err := run(in, nil, nil)
		if !inputsUnchanged(0) {
			panic(c.name + " wrote to its 16-bit inputs (forward only)")
		}
		return l, err
	case c.grad32:
		l, err := run(in, nil, c.grad)
		if !inputsUnchanged(0) {
			panic(c.name + " wrote to its 16-bit inputs (float32 gradient)")
		}
		return l, err
	}
	x := in[0]
	inPlace := len(c.grad) > 0 && len(c.grad) == len(x) && unsafe.SliceData(c.grad) == unsafe.SliceData(c.in[0])
	g := x
	if !inPlace {
		g = make([]H, len(c.grad), len(c.grad)+spare)
		if c.grad == nil {
			g = nil
		}
		for i := range g[:cap(g)] {
			g[:cap(g)][i] = halfSentinel
		}
	}
	l, err := run(in, g, nil)
	switch {
	case !inPlace && !unchanged(0, 0):
		panic(c.name + " changed its 16-bit " + "input 0 (not in place)")
	case inPlace && !unchanged(0, len(x)):
		panic(c.name + " wrote past its 16-bit input 0")
	case !inputsUnchanged(1):
		panic(c.name + " changed a 16-bit input other than the first")
	case !inPlace && g != nil && !slices.Equal(g[len(g):cap(g)], sentinels[H](spare)):
		panic(c.name + " wrote past its 16-bit gradient")
	}
	if err != nil {
		if inPlace && !unchanged(0, 0) || !inPlace && !slices.Equal(g, sentinels[H](len(g))) {
			panic(c.name + " wrote its gradient before returning " + err.Error())
		}
		return l, err
	}
	for i, v := range g {
		c.grad[i] = to(v)
	}
	return l, nil
}

// callHalf runs c's kernel in c's format.
func callHalf(f16 bool, c halfCall, bf halfKernel[kernels.BF16], fh halfKernel[kernels.F16]) (float32, error) {
	if f16 {
		return runHalf(kernels.F16FromFloat32, kernels.F16.Float32, c, fh)
	}
	return runHalf(kernels.BF16FromFloat32, kernels.BF16.Float32, c, bf)
}

// ceHalfKernel is the 16-bit kernel of a cross-entropy case.
func ceHalfKernel[H half](c *ceCase[float32], targets []int32, o *kernels.CrossEntropyOptions[float32]) halfKernel[H] {
	n, k := c.callN, c.callK
	fo := c.focalOptions(*o)
	return func(in [][]H, g16 []H, g32 []float32) (float32, error) {
		switch {
		case c.variant == ceProbs && g32 != nil:
			return kernels.CrossEntropyProbsHalf(in[0], in[1], n, k, g32, o)
		case c.variant == ceProbs:
			return kernels.CrossEntropyProbsHalf(in[0], in[1], n, k, g16, o)
		case c.variant == ceFocal && g32 != nil:
			return kernels.SoftmaxFocalHalf(in[0], targets, n, k, g32, &fo)
		case c.variant == ceFocal:
			return kernels.SoftmaxFocalHalf(in[0], targets, n, k, g16, &fo)
		case c.variant != ceInt:
			panic(fmt.Sprintf("no 16-bit %s", ceNames[c.variant]))
		case g32 != nil:
			return kernels.CrossEntropyHalf(in[0], targets, n, k, g32, o)
		}
		return kernels.CrossEntropyHalf(in[0], targets, n, k, g16, o)
	}
}

// binaryHalfKernel is the 16-bit kernel of a binary case.
func binaryHalfKernel[H half](c *binaryCase[float32], o *kernels.BinaryOptions[float32]) halfKernel[H] {
	n, k := c.callN, c.callK
	fo := kernels.FocalOptions[float32]{BinaryOptions: *o, Alpha: c.alpha, Gamma: c.gamma}
	return func(in [][]H, g16 []H, g32 []float32) (float32, error) {
		switch {
		case c.variant == binFocalLogits && g32 != nil:
			return kernels.SigmoidFocalHalf(in[0], in[1], n, k, g32, &fo)
		case c.variant == binFocalLogits:
			return kernels.SigmoidFocalHalf(in[0], in[1], n, k, g16, &fo)
		case c.variant != binLogits:
			panic(fmt.Sprintf("no 16-bit %s", binaryNames[c.variant]))
		case g32 != nil:
			return kernels.BCEWithLogitsHalf(in[0], in[1], n, k, g32, o)
		}
		return kernels.BCEWithLogitsHalf(in[0], in[1], n, k, g16, o)
	}
}
