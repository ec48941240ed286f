package fuzz

import (
	"fmt"
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// FuzzDistill covers Distill: student and teacher logits at a temperature,
// with and without T² scaling, labels that ignore rows, every reduction
// and EmptyMean, the gradient separate, in place or absent, per-row losses,
// and the three divergences (JSD at mixing weights down to 1e−30 and up to
// 1 − 2⁻²⁰).
func FuzzDistill(f *testing.F) { fuzzFamily(f, decodeDistillFamily) }

func decodeDistillFamily(s *source) runnable {
	return byType(s,
		func(s *source) kernelCase[float32] { return decodeDistill[float32](s) },
		func(s *source) kernelCase[float64] { return decodeDistill[float64](s) })
}

var distillKinds = []int{faultShape, faultLength, faultOption, faultOverlap}

// distillTemps are valid temperatures in both types (0 means 1); with T²
// scaling 1e15² stays inside float32.
var distillTemps = []float64{0, 1, 2, 0.5, 4, 0.01, 100, 1e-20, 1e15, 1.7}

// distillBetas are JSD's valid mixing weights in both types (0 means 0.5).
var distillBetas = []float64{0, 0.5, 0.1, 0.9, 0.3, 1e-30, 1 - 0x1p-20, 1e-6}

// distillBadBetas are invalid in both types: 1 − 2⁻⁶⁰ rounds to 1.
var distillBadBetas = []float64{1, -0.5, math.NaN(), 2, math.Inf(1), 1 - 0x1p-60, -1e-300}

type distillCase[T kernels.Float] struct {
	n, k         int
	s, t         []T
	labels       []int32
	temp         float64
	scaleT2      bool
	divergence   kernels.Divergence
	beta         float64
	reduction    kernels.Reduction
	empty        kernels.EmptyMean
	grad         int
	rowLoss      bool
	shift        int
	runner       int // fuzzRunners
	fault        fault
	callN, callK int
	bufs         []buf[T]
}

func decodeDistill[T kernels.Float](s *source) *distillCase[T] {
	c := &distillCase[T]{}
	c.n, c.k = decodeShape(s)
	c.fault = decodeFault(s, distillKinds...)
	c.shift = s.intn("shift", 16)
	c.reduction = kernels.Reduction(s.intn("reduction", 4)) // Mean, Sum, None, BatchMean
	c.empty = kernels.EmptyMean(s.intn("emptymean", 2))
	c.temp = distillTemps[s.intn("temp", len(distillTemps))]
	c.scaleT2 = s.intn("t2", 2) == 1
	c.grad = s.intn("grad", 3)
	c.rowLoss = s.intn("rowloss", 2) == 1 || c.reduction == kernels.None
	c.s = floats[T](s, "x", realDist, c.n*c.k)
	c.t = floats[T](s, "t", realDist, c.n*c.k)
	if s.intn("labels", 2) == 1 {
		c.labels = decodeTargets(s, c.n, c.k, kernels.Ignore{})
	}
	c.runner = s.intn("runner", runnerChoices)
	// Drawn after the runner, for the same reason (an input that ends
	// before draws 0): the findings found before these existed keep their
	// meaning, ForwardKL.
	c.divergence = kernels.Divergence(s.intn("divergence", 3))
	if c.divergence == kernels.JSD {
		c.beta = distillBetas[s.intn("beta", len(distillBetas))]
	}
	c.callN, c.callK = c.n, c.k
	f := &c.fault
	switch f.kind {
	case faultShape:
		c.callN, c.callK = badShape(f.how, c.n, c.k)
	case faultLength:
		if f.what%5 == 4 && c.labels != nil {
			c.labels = resize(c.labels, badLength(f.how, c.n))
			f.what = -1 // buffers() leaves the float buffers alone
		}
	case faultOption:
		switch {
		case c.divergence == kernels.ForwardKL: // the older options, as before the divergences
		case f.what%3 == 0:
			c.divergence, c.beta = kernels.JSD, distillBadBetas[f.how%len(distillBadBetas)]
			return c.withBuffers()
		case f.what%3 == 1:
			c.divergence, c.beta = kernels.ReverseKL, 0.3 // β with a KL divergence
			return c.withBuffers()
		default:
			c.divergence = kernels.Divergence(3 + f.how%250)
			return c.withBuffers()
		}
		switch f.what % 3 {
		case 0:
			c.reduction = kernels.Reduction(4 + f.how%250)
		case 1:
			c.empty = kernels.EmptyMean(2 + f.how%250)
		default:
			c.temp = []float64{-1, math.NaN(), math.Inf(1), -1e-30, math.Inf(-1)}[f.how%5]
		}
	}
	return c.withBuffers()
}

func (c *distillCase[T]) withBuffers() *distillCase[T] {
	c.bufs = c.buffers()
	return c
}

func (c *distillCase[T]) buffers() []buf[T] {
	nk := c.n * c.k
	b := []buf[T]{
		{name: "s", n: nk, data: c.s, anchor: -1},
		{name: "t", n: nk, data: c.t, anchor: -1},
		{name: "grad", n: nk, out: true, anchor: -1, absent: c.grad == gradNone},
		{name: "rowloss", n: c.n, out: true, anchor: -1, absent: !c.rowLoss},
	}
	return lossFaults(b, &c.fault, &c.grad, &c.rowLoss, c.reduction == kernels.None)
}

func (c *distillCase[T]) layout() ([]buf[T], int) { return c.bufs, c.shift }

func (c *distillCase[T]) faultOf() fault {
	if c.fault.kind == faultNone && c.scaleT2 {
		// A valid temperature whose T² leaves T's range is an option error.
		if t := c.temp; t != 0 && float64(T(t*t)) > maxFinite[T]() {
			return fault{kind: faultOption, want: kernels.ErrOption}
		}
	}
	return c.fault
}

// maxFinite is the largest finite value of T.
func maxFinite[T kernels.Float]() float64 {
	if float64(T(1+0x1p-30)) == 1 {
		return math.MaxFloat32
	}
	return math.MaxFloat64
}

func (c *distillCase[T]) options(a *arena[T]) kernels.DistillOptions[T] {
	return kernels.DistillOptions[T]{Divergence: c.divergence, Beta: c.beta, Temperature: c.temp, ScaleT2: c.scaleT2, Reduction: c.reduction, Labels: c.labels,
		EmptyMean: c.empty, RowLoss: a.get("rowloss"), Runner: fuzzRunners[c.runner]}
}

func (c *distillCase[T]) call(a *arena[T]) (T, error) {
	o := c.options(a)
	return kernels.Distill(a.get("s"), a.get("t"), c.callN, c.callK, a.get("grad"), &o)
}

func (c *distillCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	o := c.options(a)
	return reference.Distill(a.get("s"), a.get("t"), c.callN, c.callK, &o)
}

func (c *distillCase[T]) check(r *reference.Result, a *arena[T], loss T) error {
	return located(reference.Check(r, reference.Got[T]{CheckLoss: true, Loss: loss, Items: a.get("rowloss"), Grad: a.get("grad")}),
		func(name string, i int) string {
			if name == "items" {
				return fmt.Sprintf("row %d", i)
			}
			return fmt.Sprintf("s %s t %s", at(c.s, i), at(c.t, i))
		})
}

func (c *distillCase[T]) output(name string) string {
	return map[string]string{"items": "rowloss", "grad": "grad"}[name]
}

func (c *distillCase[T]) known(string, *reference.Result, elem) []string { return nil }
func (c *distillCase[T]) domain() string                                 { return "" }

func (c *distillCase[T]) String() string {
	var zero T
	return describe("func", "Distill", "type", fmt.Sprintf("%T", zero), "n", c.n, "k", c.k, "call", [2]int{c.callN, c.callK},
		"fault", c.fault.kind, "divergence", c.divergence, "beta", c.beta, "reduction", c.reduction, "empty", c.empty, "temp", c.temp, "t2", c.scaleT2,
		"grad", []string{"separate", "inplace", "none"}[c.grad], "rowloss", c.rowLoss, "shift", c.shift, "runner", c.runner,
		"labels", c.labels, "s", c.s, "t", c.t)
}
