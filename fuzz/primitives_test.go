package fuzz

import (
	"fmt"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

const (
	primSoftmax = iota
	primLogSoftmax
	primLogSumExp
	primSigmoid
	primLogSigmoid
	primSoftplus
)

var primitiveNames = []string{"Softmax", "LogSoftmax", "LogSumExp", "Sigmoid", "LogSigmoid", "Softplus"}

// FuzzPrimitives covers the row-wise and element-wise primitives.
func FuzzPrimitives(f *testing.F) { fuzzFamily(f, decodePrimitiveFamily) }

func decodePrimitiveFamily(s *source) runnable {
	op := s.intn("op", len(primitiveNames))
	return byType(s,
		func(s *source) kernelCase[float32] { return decodePrimitive[float32](s, op) },
		func(s *source) kernelCase[float64] { return decodePrimitive[float64](s, op) })
}

var (
	rowKinds     = []int{faultShape, faultLength, faultOverlap}
	elementKinds = []int{faultLength, faultOverlap}
)

type primitiveCase[T kernels.Float] struct {
	op           int
	n, k         int // rows; element-wise ops use n = 1, k = length
	x            []T
	inPlace      bool
	shift        int
	runner       int // fuzzRunners
	fault        fault
	callN, callK int
	bufs         []buf[T]
}

func (c *primitiveCase[T]) rows() bool { return c.op <= primLogSumExp }

func decodePrimitive[T kernels.Float](s *source, op int) *primitiveCase[T] {
	c := &primitiveCase[T]{op: op}
	if c.rows() {
		c.n, c.k = decodeShape(s)
		c.fault = decodeFault(s, rowKinds...)
	} else {
		c.n, c.k = 1, decodeLength(s, true)
		c.fault = decodeFault(s, elementKinds...)
	}
	c.shift = s.intn("shift", 16)
	c.inPlace = s.intn("inplace", 2) == 1 && op != primLogSumExp
	c.x = floats[T](s, "x", realDist, c.n*c.k)
	c.runner = s.intn("runner", runnerChoices) // drawn last: see fuzzRunners
	c.callN, c.callK = c.n, c.k
	if c.fault.kind == faultShape {
		c.callN, c.callK = badShape(c.fault.how, c.n, c.k)
	}
	c.bufs = c.buffers()
	return c
}

func (c *primitiveCase[T]) buffers() []buf[T] {
	dst := c.n * c.k
	if c.op == primLogSumExp {
		dst = c.n
	}
	b := []buf[T]{
		{name: "x", n: c.n * c.k, data: c.x, anchor: -1},
		{name: "dst", n: dst, out: true, anchor: -1},
	}
	if c.inPlace {
		b[1].anchor = 0
	}
	f := &c.fault
	switch f.kind {
	case faultLength:
		i := f.what % 2
		if !c.rows() {
			i = 1 // x sets the length of an element-wise call
		}
		b[i].n = badLength(f.how, b[i].n)
		b[i].data = resize(b[i].data, b[i].n)
		b[1].anchor = -1
		f.refBlind = i == 1
	case faultOverlap:
		// dst identical to x is the allowed in-place call, except for a
		// LogSumExp with K > 1, where the lengths differ anyway.
		off, ok := partialOffset(f.how, b[1].n, b[0].n, false)
		if !ok {
			f.kind, f.want = faultNone, nil
			break
		}
		b[1].anchor, b[1].off = 0, off
	}
	return b
}

func (c *primitiveCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }
func (c *primitiveCase[T]) faultOf() fault          { return c.fault }

func (c *primitiveCase[T]) call(a *arena[T]) (T, error) {
	x, dst := a.get("x"), a.get("dst")
	o := &kernels.PrimitiveOptions{Runner: fuzzRunners[c.runner]}
	switch c.op {
	case primSoftmax:
		return 0, kernels.Softmax(dst, x, c.callN, c.callK, o)
	case primLogSoftmax:
		return 0, kernels.LogSoftmax(dst, x, c.callN, c.callK, o)
	case primLogSumExp:
		return 0, kernels.LogSumExp(dst, x, c.callN, c.callK, o)
	case primSigmoid:
		return 0, kernels.Sigmoid(dst, x, o)
	case primLogSigmoid:
		return 0, kernels.LogSigmoid(dst, x, o)
	}
	return 0, kernels.Softplus(dst, x, o)
}

func (c *primitiveCase[T]) String() string {
	var zero T
	return describe("func", primitiveNames[c.op], "type", fmt.Sprintf("%T", zero), "n", c.n, "k", c.k,
		"call", [2]int{c.callN, c.callK}, "fault", c.fault.kind, "inplace", c.inPlace, "shift", c.shift, "runner", c.runner, "x", c.x)
}
