package fuzz

import (
	"fmt"
	"math"
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
	primSoftplusBeta
	primSoftmaxBackward
	primLogSoftmaxBackward
	primLogSumExpBackward
	primSigmoidBackward
	primLogSigmoidBackward
	primSoftplusBackward // SoftplusBetaBackward unless β = 1 and no threshold
)

var primitiveNames = []string{"Softmax", "LogSoftmax", "LogSumExp", "Sigmoid", "LogSigmoid", "Softplus",
	"SoftplusBeta", "SoftmaxBackward", "LogSoftmaxBackward", "LogSumExpBackward", "SigmoidBackward", "LogSigmoidBackward", "SoftplusBackward"}

// softplusBetas and softplusThresholds are the β and thresholds drawn for
// SoftplusBeta and the Softplus backward: PyTorch's defaults (1, 20), the
// exact form (1, +Inf), negative and tiny β, thresholds at and below 0.
var (
	softplusBetas      = []float64{1, 2, 0.5, -1, 1e-3, 100, -0.25}
	softplusThresholds = []float64{math.Inf(1), 20, 0, -5, 10, 1e30}
)

// FuzzPrimitives covers the row-wise and element-wise primitives and their
// backward passes.
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
	x            []T // the input, or the saved tensor of a backward pass (y or x)
	dy, lse      []T // backward passes: dy (N for LogSumExpBackward), lse (LogSumExpBackward)
	beta, thr    T   // SoftplusBeta and the Softplus backward
	inPlace      bool
	inPlaceDy    bool // a backward pass writes dx over dy
	shift        int
	runner       int // fuzzRunners
	fault        fault
	callN, callK int
	bufs         []buf[T]
}

func (c *primitiveCase[T]) rows() bool { return primRows(c.op) }

// primRows reports whether op takes N rows of K (not a flat length).
func primRows(op int) bool {
	return op <= primLogSumExp || op >= primSoftmaxBackward && op <= primLogSumExpBackward
}

func (c *primitiveCase[T]) backward() bool { return c.op >= primSoftmaxBackward }

// dyLen is the length of dy: N for LogSumExpBackward, N×K otherwise.
func (c *primitiveCase[T]) dyLen() int {
	if c.op == primLogSumExpBackward {
		return c.n
	}
	return c.n * c.k
}

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
	xDist := realDist
	if (op == primSoftmaxBackward || op == primSigmoidBackward) && s.intn("ydist", 2) == 1 {
		xDist = probDist // a softmax or sigmoid output, as the forward leaves it
	}
	c.x = floats[T](s, "x", xDist, c.n*c.k)
	if op == primSoftplusBeta || op == primSoftplusBackward {
		c.beta = T(softplusBetas[s.intn("beta", len(softplusBetas))])
		c.thr = T(softplusThresholds[s.intn("thr", len(softplusThresholds))])
	}
	if c.backward() {
		c.inPlaceDy = !c.inPlace && op != primLogSumExpBackward && s.intn("inplacedy", 2) == 1
		c.dy = floats[T](s, "dy", realDist, c.dyLen())
		if op == primLogSumExpBackward {
			c.lse = floats[T](s, "lse", realDist, c.n)
		}
	}
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
	if c.backward() {
		b = append(b, buf[T]{name: "dy", n: c.dyLen(), data: c.dy, anchor: -1})
		if c.op == primLogSumExpBackward {
			b = append(b, buf[T]{name: "lse", n: c.n, data: c.lse, anchor: -1})
		}
	}
	if c.inPlace {
		b[1].anchor = 0
	}
	if c.inPlaceDy {
		b[2].anchor = 1 // dy laid over dst (an anchor must come first)
	}
	f := &c.fault
	switch f.kind {
	case faultLength:
		i := f.what % len(b)
		if !c.rows() && i == 0 {
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
	dy, lse := a.opt("dy"), a.opt("lse")
	switch c.op {
	case primSoftplusBeta:
		return 0, kernels.SoftplusBeta(dst, x, c.beta, c.thr, o)
	case primSoftmaxBackward:
		return 0, kernels.SoftmaxBackward(dst, dy, x, c.callN, c.callK, o)
	case primLogSoftmaxBackward:
		return 0, kernels.LogSoftmaxBackward(dst, dy, x, c.callN, c.callK, o)
	case primLogSumExpBackward:
		return 0, kernels.LogSumExpBackward(dst, dy, x, lse, c.callN, c.callK, o)
	case primSigmoidBackward:
		return 0, kernels.SigmoidBackward(dst, dy, x, o)
	case primLogSigmoidBackward:
		return 0, kernels.LogSigmoidBackward(dst, dy, x, o)
	case primSoftplusBackward:
		if c.exactSoftplus() {
			return 0, kernels.SoftplusBackward(dst, dy, x, o)
		}
		return 0, kernels.SoftplusBetaBackward(dst, dy, x, c.beta, c.thr, o)
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

// exactSoftplus reports whether the Softplus backward call is the exact
// form (β = 1, no threshold), which SoftplusBackward takes.
func (c *primitiveCase[T]) exactSoftplus() bool {
	return c.beta == 1 && math.IsInf(float64(c.thr), 1)
}

func (c *primitiveCase[T]) String() string {
	var zero T
	return describe("func", primitiveNames[c.op], "type", fmt.Sprintf("%T", zero), "n", c.n, "k", c.k,
		"call", [2]int{c.callN, c.callK}, "fault", c.fault.kind, "inplace", c.inPlace, "inplacedy", c.inPlaceDy,
		"beta", c.beta, "thr", c.thr, "shift", c.shift, "runner", c.runner, "x", c.x, "dy", c.dy, "lse", c.lse)
}
