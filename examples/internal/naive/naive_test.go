package naive

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Known values, worked out by hand.
func TestValues(t *testing.T) {
	g := make([]float64, 4)
	ln2 := math.Ln2
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"CE uniform", CrossEntropy([]float64{0, 0}, []int32{1}, 1, 2, 0, g), ln2},
		// (1−ε)·log 2 + ε/2·(log 2 + log 2) = log 2 for equal logits, any ε.
		{"CE smoothed uniform", CrossEntropy([]float64{3, 3}, []int32{0}, 1, 2, 0.3, g), ln2},
		// logits [log 3, 0]: p = [3/4, 1/4]; target 1 with ε = 0.2:
		// 0.8·log 4 + 0.1·(log 4/3 + log 4).
		{"CE smoothed", CrossEntropy([]float64{math.Log(3), 0}, []int32{1}, 1, 2, 0.2, g),
			0.8*math.Log(4) + 0.1*(math.Log(4.0/3)+math.Log(4))},
		{"BCE x=0", BCEWithLogits([]float64{0, 0}, []float64{0, 1}, 1, g), ln2},
		{"BCE pos_weight", BCEWithLogits([]float64{0, 0}, []float64{0, 1}, 3, g), 2 * ln2},
		// p_t = ½, so (1−p_t)² = ¼; α_t = α for y = 1.
		{"focal x=0", SigmoidFocal([]float64{0}, []float64{1}, 0.25, 2, g), 0.25 * 0.25 * ln2},
		{"MSE", MSE([]float64{1, 2}, []float64{0, 0}, g), 2.5},
		{"Huber", Huber([]float64{0.5, 3}, []float64{0, 0}, 1, g), (0.125 + 2.5) / 2},
	} {
		if !(math.Abs(c.got-c.want) <= 1e-15) {
			t.Errorf("%s = %.17g, want %.17g", c.name, c.got, c.want)
		}
	}
}

// Each gradient must match central finite differences of its loss.
func TestGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, k = 5, 4
	x := make([]float64, n*k)
	for i := range x {
		x[i] = 3 * rng.NormFloat64()
	}
	y := make([]float64, n*k)
	for i := range y {
		y[i] = float64(rng.IntN(2))
	}
	targets := []int32{0, 3, 1, 2, 3}
	for _, c := range []struct {
		name string
		f    func(x, g []float64) float64
	}{
		{"CrossEntropy", func(x, g []float64) float64 { return CrossEntropy(x, targets, n, k, 0.1, g) }},
		{"BCEWithLogits", func(x, g []float64) float64 { return BCEWithLogits(x, y, 1.7, g) }},
		{"SigmoidFocal", func(x, g []float64) float64 { return SigmoidFocal(x, y, 0.6, 2, g) }},
		{"SigmoidFocal γ=1.5", func(x, g []float64) float64 { return SigmoidFocal(x, y, -1, 1.5, g) }},
		{"MSE", func(x, g []float64) float64 { return MSE(x, y, g) }},
		{"Huber", func(x, g []float64) float64 { return Huber(x, y, 1.3, g) }},
	} {
		grad := make([]float64, len(x))
		c.f(append([]float64(nil), x...), grad)
		scratch := make([]float64, len(x))
		for i := range x {
			const h = 1e-6
			xp := append([]float64(nil), x...)
			xm := append([]float64(nil), x...)
			xp[i] += h
			xm[i] -= h
			fd := (c.f(xp, scratch) - c.f(xm, scratch)) / (2 * h)
			if !(math.Abs(fd-grad[i]) <= 1e-7) {
				t.Errorf("%s: grad[%d] = %.10g, finite difference %.10g", c.name, i, grad[i], fd)
			}
		}
	}
}
