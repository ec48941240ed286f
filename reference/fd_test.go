package reference

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// lossFn evaluates a reference loss at input v (the argument the gradient
// is taken with respect to) and returns the whole result.
type lossFn func(v []float64) *Result

// checkFD compares r.Grad with central differences of the reference's own
// returned loss, in float64.
func checkFD(t *testing.T, name string, f lossFn, v []float64) {
	t.Helper()
	r := f(v)
	for i := range v {
		h := 1e-6 * math.Max(1, math.Abs(v[i]))
		w := append([]float64(nil), v...)
		w[i] = v[i] + h
		up := f(w).Loss
		w[i] = v[i] - h
		down := f(w).Loss
		fd := (up - down) / (2 * h)
		if d := math.Abs(fd - r.Grad[i]); d > 2e-6*math.Max(1, math.Abs(fd)) || math.IsNaN(d) {
			t.Errorf("%s: grad[%d] = %.10g, central difference %.10g", name, i, r.Grad[i], fd)
		}
	}
}

func must(r *Result, err error) *Result {
	if err != nil {
		panic(err)
	}
	return r
}

func randn(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * scale
	}
	return v
}

func uniform(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

func TestGradientsMatchFiniteDifferencesCE(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const n, k = 4, 5
	targets := []int32{3, -100, 0, 4}
	weight := []float64{0.5, 2, 1, 0.25, 3}
	probs := uniform(rng, n*k, 0, 1)
	for i := 0; i < n; i++ { // rows of probabilities summing to 1
		var s float64
		for _, p := range probs[i*k : i*k+k] {
			s += p
		}
		for j := range probs[i*k : i*k+k] {
			probs[i*k+j] /= s
		}
	}
	for _, red := range []kernels.Reduction{kernels.Mean, kernels.Sum} {
		for _, w := range [][]float64{nil, weight} {
			for _, eps := range []float64{0, 0.1} {
				for _, zl := range []float64{0, 0.01} {
					for _, capv := range []float64{0, 2.5} {
						o := kernels.CrossEntropyOptions[float64]{Reduction: red, Weight: w, LabelSmoothing: eps, ZLoss: zl, SoftCap: capv}
						name := fmt.Sprintf("red=%v w=%v eps=%v z=%v cap=%v", red, w != nil, eps, zl, capv)
						x := randn(rng, n*k, 2)
						checkFD(t, "CE "+name, func(v []float64) *Result { return must(CrossEntropy(v, targets, n, k, &o)) }, x)
						checkFD(t, "CEProbs "+name, func(v []float64) *Result { return must(CrossEntropyProbs(v, probs, n, k, &o)) }, x)
					}
				}
			}
		}
	}
	for _, gam := range []float64{0, 0.5, 1, 2, 5} {
		for _, alpha := range [][]float64{nil, weight} {
			o := kernels.SoftmaxFocalOptions[float64]{Gamma: gam, Alpha: alpha}
			x := randn(rng, n*k, 2)
			checkFD(t, fmt.Sprintf("SoftmaxFocal γ=%v α=%v", gam, alpha != nil), func(v []float64) *Result {
				return must(SoftmaxFocal(v, targets, n, k, &o))
			}, x)
		}
	}
}

func TestGradientsMatchFiniteDifferencesBinary(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const n, k = 3, 4
	hard := make([]float64, n*k)
	for i := range hard {
		hard[i] = float64(rng.Intn(2))
	}
	soft := uniform(rng, n*k, 0.05, 0.95)
	weight := uniform(rng, n*k, 0, 2)
	posw := []float64{0.5, 1, 3, 2}
	for _, y := range [][]float64{hard, soft} {
		for _, w := range [][]float64{nil, weight} {
			for _, red := range []kernels.Reduction{kernels.Mean, kernels.Sum} {
				name := fmt.Sprintf("soft=%v w=%v red=%v", &y[0] == &soft[0], w != nil, red)
				x := randn(rng, n*k, 3)
				p := uniform(rng, n*k, 0.02, 0.98)
				for _, pw := range [][]float64{nil, posw} {
					for _, asym := range []*kernels.Asymmetric{nil, {FalseNegative: 1, FalsePositive: 3}} {
						o := kernels.BinaryOptions[float64]{Reduction: red, Weight: w, PosWeight: pw, Asymmetric: asym}
						checkFD(t, "BCEWithLogits "+name, func(v []float64) *Result { return must(BCEWithLogits(v, y, n, k, &o)) }, x)
						if pw == nil {
							checkFD(t, "BCE "+name, func(v []float64) *Result { return must(BCE(v, y, n, k, &o)) }, p)
							o.Clip = 0.01
							checkFD(t, "BCE clip "+name, func(v []float64) *Result { return must(BCE(v, y, n, k, &o)) }, p)
						}
					}
				}
				for _, gam := range []float64{0, 0.5, 1, 2, 5} {
					for _, alpha := range []float64{-1, 0.25} {
						o := kernels.FocalOptions[float64]{BinaryOptions: kernels.BinaryOptions[float64]{Reduction: red, Weight: w}, Alpha: alpha, Gamma: gam}
						fname := fmt.Sprintf("%s γ=%v α=%v", name, gam, alpha)
						checkFD(t, "SigmoidFocal "+fname, func(v []float64) *Result { return must(SigmoidFocal(v, y, n, k, &o)) }, x)
						checkFD(t, "FocalProbs "+fname, func(v []float64) *Result { return must(FocalProbs(v, y, n, k, &o)) }, p)
						o.Clip = 0.01
						checkFD(t, "FocalProbs clip "+fname, func(v []float64) *Result { return must(FocalProbs(v, y, n, k, &o)) }, p)
					}
				}
			}
		}
	}
}

func TestGradientsMatchFiniteDifferencesRegression(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const n = 12
	target := randn(rng, n, 2)
	weight := uniform(rng, n, 0, 2)
	for _, w := range [][]float64{nil, weight} {
		for _, red := range []kernels.Reduction{kernels.Mean, kernels.Sum} {
			o := kernels.RegressionOptions[float64]{Reduction: red, Weight: w}
			name := fmt.Sprintf("w=%v red=%v", w != nil, red)
			x := randn(rng, n, 2)
			for i := range x { // keep clear of the kinks at 0 and ±1
				if d := math.Abs(x[i] - target[i]); d < 0.01 || math.Abs(d-1) < 0.01 {
					x[i] += 0.05
				}
			}
			checkFD(t, "MSE "+name, func(v []float64) *Result { return must(MSE(v, target, &o)) }, x)
			checkFD(t, "L1 "+name, func(v []float64) *Result { return must(L1(v, target, &o)) }, x)
			checkFD(t, "Huber "+name, func(v []float64) *Result {
				return must(Huber(v, target, &kernels.HuberOptions[float64]{RegressionOptions: o, Delta: 1}))
			}, x)
			checkFD(t, "SmoothL1 "+name, func(v []float64) *Result {
				return must(SmoothL1(v, target, &kernels.SmoothL1Options[float64]{RegressionOptions: o, Beta: 1}))
			}, x)
		}
	}
}

// The primitives have no gradient; check them against each other and the
// definitions instead: softmax = exp(log_softmax), lse = x_j − log_softmax_j,
// and σ, log σ, softplus against their derivatives' relations.
func TestPrimitivesConsistent(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const n, k = 3, 7
	x := randn(rng, n*k, 5)
	sm := must(Softmax(x, n, k)).Out
	ls := must(LogSoftmax(x, n, k)).Out
	lse := must(LogSumExp(x, n, k)).Out
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < k; j++ {
			e := i*k + j
			s += sm[e]
			if d := math.Abs(math.Exp(ls[e]) - sm[e]); d > 1e-15 {
				t.Errorf("exp(log_softmax) − softmax = %g at %d", d, e)
			}
			if d := math.Abs(x[e] - ls[e] - lse[i]); d > 1e-13 {
				t.Errorf("x − log_softmax − lse = %g at %d", d, e)
			}
		}
		if !(math.Abs(s-1) <= 1e-15) {
			t.Errorf("row %d of softmax sums to %v", i, s)
		}
	}
	v := randn(rng, 50, 10)
	sg := must(Sigmoid(v)).Out
	lsg := must(LogSigmoid(v)).Out
	sp := must(Softplus(v)).Out
	for i, xv := range v {
		h := 1e-6 * math.Max(1, math.Abs(xv))
		up, down := must(Softplus([]float64{xv + h})).Out[0], must(Softplus([]float64{xv - h})).Out[0]
		if d := math.Abs((up-down)/(2*h) - sg[i]); d > 1e-8 {
			t.Errorf("softplus'(%v) − σ = %g", xv, d)
		}
		if d := math.Abs(lsg[i] - math.Log(sg[i])); d > 1e-12*math.Max(1, math.Abs(lsg[i])) {
			t.Errorf("log σ(%v): %v vs log(σ) %v", xv, lsg[i], math.Log(sg[i]))
		}
		if d := math.Abs(sp[i] - xv + lsg[i]); d > 1e-12*math.Max(1, math.Abs(xv)) { // softplus(x) − x = −log σ(x)
			t.Errorf("softplus(%v) − x + log σ = %g", xv, d)
		}
	}
}
