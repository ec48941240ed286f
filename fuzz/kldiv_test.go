package fuzz

import (
	"fmt"
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// FuzzKLDiv covers KLDiv: log-probability inputs against probability
// targets (or log-probabilities with LogTarget), every reduction, the
// gradient separate, in place or absent, the pointwise losses.
func FuzzKLDiv(f *testing.F) { fuzzFamily(f, decodeKLDivFamily) }

func decodeKLDivFamily(s *source) runnable {
	return byType(s,
		func(s *source) kernelCase[float32] { return decodeKLDiv[float32](s) },
		func(s *source) kernelCase[float64] { return decodeKLDiv[float64](s) })
}

var klKinds = []int{faultShape, faultLength, faultTarget, faultOption, faultOverlap}

type klCase[T kernels.Float] struct {
	n, k         int
	x, t         []T
	logTarget    bool
	reduction    kernels.Reduction
	grad         int
	loss         bool
	shift        int
	runner       int // fuzzRunners
	fault        fault
	callN, callK int
	bufs         []buf[T]
}

func decodeKLDiv[T kernels.Float](s *source) *klCase[T] {
	c := &klCase[T]{}
	c.n, c.k = decodeShape(s)
	c.fault = decodeFault(s, klKinds...)
	c.shift = s.intn("shift", 16)
	c.reduction = kernels.Reduction(s.intn("reduction", 4)) // Mean, Sum, None, BatchMean
	c.logTarget = s.intn("logtarget", 2) == 1
	c.grad = s.intn("grad", 3)
	c.loss = s.intn("loss", 2) == 1 || c.reduction == kernels.None
	c.x = floats[T](s, "x", realDist, c.n*c.k)
	c.t = floats[T](s, "t", probDist, c.n*c.k)
	if c.logTarget {
		for i, v := range c.t { // log-probabilities: log of the drawn probabilities (0 → −Inf)
			c.t[i] = T(logOf(float64(v)))
		}
	}
	c.runner = s.intn("runner", runnerChoices) // drawn last: see fuzzRunners
	c.callN, c.callK = c.n, c.k
	f := &c.fault
	switch f.kind {
	case faultShape:
		c.callN, c.callK = badShape(f.how, c.n, c.k)
	case faultTarget:
		bad := []float64{-0.25, 1.5, inf(1), -1e-30}
		if c.logTarget {
			bad = []float64{0.5, inf(1), 1e-30, 100}
		}
		c.t[f.what%len(c.t)] = T(bad[f.how%len(bad)])
	case faultOption:
		c.reduction = kernels.Reduction(4 + f.how%250)
	}
	c.bufs = c.buffers()
	return c
}

// logOf is log v for a probability (NaN stays NaN, 0 gives −Inf).
func logOf(v float64) float64 { return math.Log(v) }

func (c *klCase[T]) buffers() []buf[T] {
	nk := c.n * c.k
	b := []buf[T]{
		{name: "x", n: nk, data: c.x, anchor: -1},
		{name: "t", n: nk, data: c.t, anchor: -1},
		{name: "grad", n: nk, out: true, anchor: -1, absent: c.grad == gradNone},
		{name: "loss", n: nk, out: true, anchor: -1, absent: !c.loss},
	}
	return lossFaults(b, &c.fault, &c.grad, &c.loss, c.reduction == kernels.None)
}

func (c *klCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }

func (c *klCase[T]) faultOf() fault {
	for _, v := range c.t {
		if c.logTarget && v > 0 || !c.logTarget && (v < 0 || v > 1) {
			return withValues(c.fault, kernels.ErrTarget)
		}
	}
	return c.fault
}

func (c *klCase[T]) options(a *arena[T]) kernels.KLDivOptions[T] {
	return kernels.KLDivOptions[T]{Reduction: c.reduction, LogTarget: c.logTarget, Loss: a.get("loss"), Runner: fuzzRunners[c.runner]}
}

func (c *klCase[T]) call(a *arena[T]) (T, error) {
	o := c.options(a)
	return kernels.KLDiv(a.get("x"), a.get("t"), c.callN, c.callK, a.get("grad"), &o)
}

func (c *klCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	o := c.options(a)
	return reference.KLDiv(a.get("x"), a.get("t"), c.callN, c.callK, &o)
}

func (c *klCase[T]) check(r *reference.Result, a *arena[T], loss T) error {
	return located(reference.Check(r, reference.Got[T]{CheckLoss: true, Loss: loss, Items: a.get("loss"), Grad: a.get("grad")}),
		func(_ string, i int) string { return fmt.Sprintf("x %s t %s", at(c.x, i), at(c.t, i)) })
}

func (c *klCase[T]) output(name string) string {
	return map[string]string{"items": "loss", "grad": "grad"}[name]
}

func (c *klCase[T]) known(string, *reference.Result, elem) []string { return nil }
func (c *klCase[T]) domain() string                                 { return "" }

func (c *klCase[T]) String() string {
	var zero T
	return describe("func", "KLDiv", "type", fmt.Sprintf("%T", zero), "n", c.n, "k", c.k, "call", [2]int{c.callN, c.callK},
		"fault", c.fault.kind, "reduction", c.reduction, "logtarget", c.logTarget,
		"grad", []string{"separate", "inplace", "none"}[c.grad], "loss", c.loss, "shift", c.shift, "runner", c.runner,
		"x", c.x, "t", c.t)
}
