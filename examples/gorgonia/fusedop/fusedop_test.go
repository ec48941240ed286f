package fusedop_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lossfuse/lossfuse/examples/gorgonia/fusedop"
	"github.com/lossfuse/lossfuse/examples/internal/dataset"
	"github.com/lossfuse/lossfuse/examples/internal/harness"
)

// graph is a softmax classifier y = x·W + b on a fixed batch, with one of
// the two losses.
type graph struct {
	g      *G.ExprGraph
	w, b   *G.Node
	cost   *G.Node
	vm     G.VM
	solver G.Solver
}

const (
	batch = 96
	k     = 10
)

// newGraph builds the classifier on the first rows of the digits training
// split, with weights drawn from seed, and the fused or the reference loss.
func newGraph[T float32 | float64](t *testing.T, fused bool, eps float64, seed uint64) *graph {
	t.Helper()
	all, err := dataset.Digits()
	if err != nil {
		t.Fatal(err)
	}
	train, test := dataset.Split(all, 0.25, 1, true)
	dataset.Standardize(train, test)
	d := train.D
	xs := make([]T, batch*d)
	for i := range xs {
		xs[i] = T(train.X[i])
	}
	labels := train.Labels()[:batch]
	rng := rand.New(rand.NewPCG(seed, 3))
	ws := make([]T, d*k)
	for i := range ws {
		ws[i] = T(rng.NormFloat64() / math.Sqrt(float64(d)))
	}
	bs := make([]T, k)
	for i := range bs {
		bs[i] = T(0.1 * rng.NormFloat64())
	}

	var dt tensor.Dtype = tensor.Float64
	if _, ok := any(T(0)).(float32); ok {
		dt = tensor.Float32
	}
	gr := &graph{g: G.NewGraph()}
	x := G.NewMatrix(gr.g, dt, G.WithShape(batch, d), G.WithName("x"),
		G.WithValue(tensor.New(tensor.WithShape(batch, d), tensor.WithBacking(xs))))
	gr.w = G.NewMatrix(gr.g, dt, G.WithShape(d, k), G.WithName("W"),
		G.WithValue(tensor.New(tensor.WithShape(d, k), tensor.WithBacking(ws))))
	gr.b = G.NewVector(gr.g, dt, G.WithShape(k), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(k), tensor.WithBacking(bs))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(x, gr.w)), gr.b, nil, []byte{0}))
	if fused {
		y := G.NewVector(gr.g, tensor.Int32, G.WithShape(batch), G.WithName("labels"),
			G.WithValue(tensor.New(tensor.WithShape(batch), tensor.WithBacking(labels))))
		gr.cost, err = fusedop.SoftmaxCrossEntropy(logits, y, eps)
	} else {
		ts := make([]T, batch*k)
		fusedop.Targets(ts, labels, k, eps)
		y := G.NewMatrix(gr.g, dt, G.WithShape(batch, k), G.WithName("targets"),
			G.WithValue(tensor.New(tensor.WithShape(batch, k), tensor.WithBacking(ts))))
		gr.cost, err = fusedop.Reference(logits, y)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(gr.cost, gr.w, gr.b); err != nil {
		t.Fatal(err)
	}
	gr.vm = G.NewTapeMachine(gr.g, G.BindDualValues(gr.w, gr.b))
	gr.solver = G.NewMomentum(G.WithLearnRate(0.1), G.WithMomentum(0.9))
	t.Cleanup(func() { gr.vm.Close() })
	return gr
}

// step runs one forward and backward pass and returns the cost and the
// gradients of W and b (copied), then applies the solver.
func (gr *graph) step(t *testing.T) (cost float64, gw, gb []float64) {
	t.Helper()
	if err := gr.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	cost = toF64(t, gr.cost.Value())[0]
	for _, p := range []struct {
		n   *G.Node
		dst *[]float64
	}{{gr.w, &gw}, {gr.b, &gb}} {
		g, err := p.n.Grad()
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = toF64(t, g)
	}
	if err := gr.solver.Step(G.NodesToValueGrads(G.Nodes{gr.w, gr.b})); err != nil {
		t.Fatal(err)
	}
	gr.vm.Reset()
	return cost, gw, gb
}

func toF64(t *testing.T, v G.Value) []float64 {
	t.Helper()
	switch x := v.Data().(type) {
	case float64:
		return []float64{x}
	case float32:
		return []float64{float64(x)}
	case []float64:
		return append([]float64(nil), x...)
	case []float32:
		out := make([]float64, len(x))
		for i, f := range x {
			out[i] = float64(f)
		}
		return out
	}
	t.Fatalf("value %T holds %T", v, v.Data())
	return nil
}

// The fused operation must give gorgonia's own cost and gradients of W and
// b on the same data, step after step of training, within bounds for
// rounding through the matrix products and gorgonia's own log-softmax:
// relative 1e-11 in float64 and 1e-5 in float32 (measured: 1.2e-14 and
// 2.1e-6 over the 20 steps).
func TestMatchesGorgonia(t *testing.T) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, eps float64)
	}{
		{"float64", func(t *testing.T, eps float64) { compare[float64](t, eps, 1e-11) }},
		{"float32", func(t *testing.T, eps float64) { compare[float32](t, eps, 1e-5) }},
	} {
		for _, eps := range []float64{0, 0.1} {
			t.Run(fmt.Sprintf("%s/eps=%v", c.name, eps), func(t *testing.T) { c.run(t, eps) })
		}
	}
}

func compare[T float32 | float64](t *testing.T, eps, tol float64) {
	fused, ref := newGraph[T](t, true, eps, 5), newGraph[T](t, false, eps, 5)
	var first, last, worst float64
	const steps = 20
	for s := 0; s < steps; s++ {
		cf, gwf, gbf := fused.step(t)
		cr, gwr, gbr := ref.step(t)
		if d := harness.RelDiff(cf, cr); d > tol {
			t.Errorf("ε=%v step %d: cost %.9g, gorgonia %.9g (rel. diff %.1e > %.0e)", eps, s, cf, cr, d, tol)
		}
		if d := harness.MaxNormDiff(gwf, gwr); d > tol {
			t.Errorf("ε=%v step %d: ∂cost/∂W differs from gorgonia's by %.1e (max-norm, relative) > %.0e", eps, s, d, tol)
		}
		if d := harness.MaxNormDiff(gbf, gbr); d > tol {
			t.Errorf("ε=%v step %d: ∂cost/∂b differs from gorgonia's by %.1e > %.0e", eps, s, d, tol)
		}
		worst = max(worst, harness.RelDiff(cf, cr), harness.MaxNormDiff(gwf, gwr), harness.MaxNormDiff(gbf, gbr))
		if s == 0 {
			first = cf
		}
		last = cf
	}
	if !(last < first/2) {
		t.Errorf("ε=%v: cost %.4f → %.4f in %d steps on one batch, want it at least halved", eps, first, last, steps)
	}
	t.Logf("ε=%v: cost %.6f → %.6f over %d steps; largest relative difference from gorgonia's cost and gradients %.1e", eps, first, last, steps, worst)
}
