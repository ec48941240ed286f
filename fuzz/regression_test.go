package fuzz

import (
	"fmt"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

const (
	regMSE = iota
	regL1
	regHuber
	regSmoothL1
)

var regressionNames = []string{"MSE", "L1", "Huber", "SmoothL1"}

// FuzzRegression covers MSE, L1, Huber and SmoothL1.
func FuzzRegression(f *testing.F) { fuzzFamily(f, decodeRegressionFamily) }

func decodeRegressionFamily(s *source) runnable {
	kind := s.intn("kind", 4)
	return byType(s,
		func(s *source) kernelCase[float32] { return decodeRegression[float32](s, kind) },
		func(s *source) kernelCase[float64] { return decodeRegression[float64](s, kind) })
}

var regressionKinds = []int{faultShape, faultLength, faultWeight, faultOption, faultOverlap}

var (
	params    = []float64{1, 0.5, 1e-3, 10, 1e4, 1e-300, 1e300, 5e-324, 0} // 0: the zero value, δ = β = 1
	badParams = []float64{-0.5, -1, nan(), inf(1), -1e-300, inf(-1)}
)

type regressionCase[T kernels.Float] struct {
	kind      int
	n         int
	x, y, w   []T
	param     float64
	reduction kernels.Reduction
	emptyMean kernels.EmptyMean
	grad      int
	loss      bool
	shift     int
	runner    int // fuzzRunners
	fault     fault
	bufs      []buf[T]
}

func decodeRegression[T kernels.Float](s *source, kind int) *regressionCase[T] {
	c := &regressionCase[T]{kind: kind}
	c.n = decodeLength(s, false)
	c.fault = decodeFault(s, regressionKinds...)
	c.shift = s.intn("shift", 16)
	c.reduction = kernels.Reduction(s.intn("reduction", 3))
	c.emptyMean = kernels.EmptyMean(s.intn("emptymean", 2))
	c.grad = s.intn("grad", 3)
	c.loss = s.intn("loss", 2) == 1 || c.reduction == kernels.None
	withWeight := s.intn("weight", 2) == 1
	c.param = 1
	if kind >= regHuber {
		c.param = option[T](s, "param", params)
	}
	c.x = floats[T](s, "x", realDist, c.n)
	c.y = floats[T](s, "y", realDist, c.n)
	if withWeight || c.fault.kind == faultWeight {
		c.w = floats[T](s, "w", weightDist, c.n)
	}
	c.runner = s.intn("runner", runnerChoices) // drawn last: see fuzzRunners
	f := &c.fault
	switch f.kind {
	case faultShape: // no elements
		c.n, c.x, c.y, c.w = 0, nil, nil, nil
		c.grad, c.loss = gradNone, false
		if c.reduction == kernels.None {
			c.reduction = kernels.Sum
		}
	case faultWeight:
		c.w[f.what%c.n] = T(negativeWeights[f.how%len(negativeWeights)])
	case faultOption:
		if f.what%2 == 0 || kind < regHuber {
			c.reduction = kernels.Reduction(3 + f.how%250)
		} else {
			c.param = badParams[f.how%len(badParams)]
		}
	}
	c.bufs = c.buffers()
	return c
}

func (c *regressionCase[T]) buffers() []buf[T] {
	b := []buf[T]{
		{name: "x", n: c.n, data: c.x, anchor: -1},
		{name: "y", n: c.n, data: c.y, anchor: -1},
		{name: "weight", n: c.n, data: c.w, anchor: -1, absent: c.w == nil},
		{name: "grad", n: c.n, out: true, anchor: -1, absent: c.grad == gradNone},
		{name: "loss", n: c.n, out: true, anchor: -1, absent: !c.loss},
	}
	const x, y, weight, grad, loss = 0, 1, 2, 3, 4
	if c.grad == gradInPlace {
		b[grad].anchor = x
	}
	f := &c.fault
	switch f.kind {
	case faultShape:
		b[x].data, b[y].data = []T{}, []T{}
	case faultLength:
		i := 1 + f.what%(len(b)-1) // x sets the length; every other buffer can be wrong
		if b[i].absent {
			if i == loss && c.reduction == kernels.None {
				return b
			}
			if i == weight {
				i = y
			}
			b[i].absent = false
		}
		b[i].n = badLength(f.how, b[i].n)
		f.refBlind = i == grad // the reference takes no gradient buffer
		if b[i].data != nil {
			b[i].data = resize(b[i].data, b[i].n)
		}
		if i == grad {
			b[i].anchor = -1
		}
	case faultOverlap:
		type pair struct{ out, on int }
		pairs := []pair{{grad, x}, {loss, grad}, {grad, y}, {loss, x}, {grad, weight}, {loss, y}}
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

func (c *regressionCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }
func (c *regressionCase[T]) faultOf() fault {
	if !finiteWeights(c.w) {
		return withValues(c.fault, kernels.ErrWeight)
	}
	return c.fault
}

func (c *regressionCase[T]) options(a *arena[T]) kernels.RegressionOptions[T] {
	return kernels.RegressionOptions[T]{Reduction: c.reduction, Weight: a.get("weight"), EmptyMean: c.emptyMean, Loss: a.get("loss"), Runner: fuzzRunners[c.runner]}
}

// inputs returns the prediction and target (nil under a shape fault: no
// elements at all).
func (c *regressionCase[T]) inputs(a *arena[T]) (x, y []T) {
	if c.fault.kind == faultShape {
		return nil, nil
	}
	return a.get("x"), a.get("y")
}

func (c *regressionCase[T]) call(a *arena[T]) (T, error) {
	o := c.options(a)
	x, y := c.inputs(a)
	grad := a.get("grad")
	switch c.kind {
	case regMSE:
		return kernels.MSE(x, y, grad, &o)
	case regL1:
		return kernels.L1(x, y, grad, &o)
	case regHuber:
		return kernels.Huber(x, y, grad, &kernels.HuberOptions[T]{RegressionOptions: o, Delta: c.param})
	}
	return kernels.SmoothL1(x, y, grad, &kernels.SmoothL1Options[T]{RegressionOptions: o, Beta: c.param})
}

func (c *regressionCase[T]) String() string {
	var zero T
	return describe("func", regressionNames[c.kind], "type", fmt.Sprintf("%T", zero), "n", c.n,
		"fault", c.fault.kind, "reduction", c.reduction, "emptymean", c.emptyMean, "param", c.param,
		"grad", []string{"separate", "inplace", "none"}[c.grad], "loss", c.loss, "shift", c.shift, "runner", c.runner,
		"x", c.x, "y", c.y, "weight", c.w)
}
