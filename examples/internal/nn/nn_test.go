package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// Backward must give the gradients of L = Σ dy ⊙ (x·W + b) with respect to
// W, b and x, checked here against finite differences.
func TestLinearGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, in, out = 3, 4, 2
	l := NewLinear(in, out, 1, rng)
	for i := range l.B {
		l.B[i] = rng.NormFloat64()
	}
	x := mat.NewDense(n, in, nil)
	dy := mat.NewDense(n, out, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < in; j++ {
			x.Set(i, j, rng.NormFloat64())
		}
		for j := 0; j < out; j++ {
			dy.Set(i, j, rng.NormFloat64())
		}
	}
	loss := func() float64 {
		y := mat.NewDense(n, out, nil)
		l.Forward(x, y)
		return mat.Sum(elementwise(y, dy))
	}
	dx := mat.NewDense(n, in, nil)
	l.Backward(x, dy, dx)
	check := func(name string, p []float64, grad []float64) {
		for i := range p {
			const h = 1e-6
			orig := p[i]
			p[i] = orig + h
			up := loss()
			p[i] = orig - h
			down := loss()
			p[i] = orig
			if fd := (up - down) / (2 * h); !(math.Abs(fd-grad[i]) <= 1e-8) {
				t.Errorf("%s[%d]: gradient %.10g, finite difference %.10g", name, i, grad[i], fd)
			}
		}
	}
	check("W", Data(l.W), Data(l.GradW))
	check("b", l.B, l.GradB)
	check("x", Data(x), Data(dx))
}

func elementwise(a, b *mat.Dense) *mat.Dense {
	var c mat.Dense
	c.MulElem(a, b)
	return &c
}

func TestStepAndBatches(t *testing.T) {
	p, g, v := []float64{1}, []float64{2}, []float64{0}
	step(p, g, v, 0.1, 0.9) // v = −0.2, p = 0.8
	step(p, g, v, 0.1, 0.9) // v = −0.18 − 0.2 = −0.38, p = 0.42
	if !(math.Abs(p[0]-0.42) <= 1e-15) || !(math.Abs(v[0]+0.38) <= 1e-15) {
		t.Errorf("momentum steps gave p=%v v=%v, want 0.42 and −0.38", p[0], v[0])
	}
	seen := make([]int, 10)
	b := Batches(10, 4, rand.New(rand.NewPCG(1, 2)))
	if len(b) != 3 || len(b[2]) != 2 {
		t.Fatalf("batches %v, want sizes 4, 4, 2", b)
	}
	for _, batch := range b {
		for _, i := range batch {
			seen[i]++
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("row %d appears %d times in an epoch", i, c)
		}
	}
}
