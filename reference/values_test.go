package reference

import (
	"errors"
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

var inf = math.Inf(1)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(want) != math.IsNaN(got) || (!math.IsNaN(want) && math.Abs(got-want) > tol && got != want) {
		t.Errorf("%s = %.10g, want %.10g", what, got, want)
	}
}

func nearAll(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		near(t, what, got[i], want[i], tol)
	}
}

// Numbers printed in the seed article (loss-functions-article.txt).
func TestSeedArticleValues(t *testing.T) {
	r := must(CrossEntropy([]float64{1000, 999, 998}, []int32{0}, 1, 3, nil))
	near(t, "CE [1000 999 998] target 0", r.Loss, 0.407606, 5e-7)
	near(t, "its lse", r.LSE[0], 1000.407606, 5e-7)

	p := []float64{0.3, 0.7, 0.6, 0.2}
	y := []float64{1, 1, 0, 0}
	near(t, "BCE", must(BCE(p, y, 1, 4, nil)).Loss, 0.6750, 5e-5)
	asym := &kernels.BinaryOptions[float64]{Asymmetric: &kernels.Asymmetric{FalseNegative: 1, FalsePositive: 3}}
	near(t, "asymmetric BCE, false positives 3×", must(BCE(p, y, 1, 4, asym)).Loss, 1.2447, 5e-5)

	clip := &kernels.BinaryOptions[float64]{Clip: 1e-7, Reduction: kernels.None, Loss: make([]float64, 3)}
	r = must(BCE([]float64{0, 1, 0.5}, []float64{1, 0, 1}, 1, 3, clip))
	nearAll(t, "ε-clipped BCE", r.Items, []float64{16.118096, 16.118096, 0.693147}, 5e-6)

	// Label smoothing ε = 0.1, K = 5, target 3 is CE against [0.02 0.02 0.02 0.92 0.02].
	x := []float64{0.3, -1.2, 2.5, 0.7, 0.1}
	sm := must(CrossEntropy(x, []int32{3}, 1, 5, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 0.1}))
	pt := must(CrossEntropyProbs(x, []float64{0.02, 0.02, 0.02, 0.92, 0.02}, 1, 5, nil))
	near(t, "smoothed CE vs its probability target", sm.Loss, pt.Loss, 1e-15)
	nearAll(t, "their gradients", sm.Grad, pt.Grad, 1e-15)

	// Focal modulating factors (1 − p_t)^γ: 0.0001 at p_t = 0.99, 0.81 at 0.1 (γ = 2).
	noAlpha := &kernels.FocalOptions[float64]{Alpha: -1, Gamma: 2}
	near(t, "focal at p_t = 0.99", must(FocalProbs([]float64{0.99}, []float64{1}, 1, 1, noAlpha)).Loss, 1e-4*-math.Log(0.99), 1e-18)
	near(t, "focal at p_t = 0.1", must(FocalProbs([]float64{0.9}, []float64{0}, 1, 1, noAlpha)).Loss, 0.81*-math.Log(0.1), 1e-14)

	// Softmax of the stable-softmax example.
	nearAll(t, "softmax [1000 999 998]", must(Softmax([]float64{1000, 999, 998}, 1, 3)).Out,
		[]float64{0.66524096, 0.24472847, 0.09003057}, 5e-9)
}

// Values computed with PyTorch 1.13 (float64) where it is right, and the
// documented deviations where it is not.
func TestPyTorchEdgeValues(t *testing.T) {
	nan := math.NaN()
	ce := func(x []float64, y int32, o *kernels.CrossEntropyOptions[float64]) *Result {
		return must(CrossEntropy(x, []int32{y}, 1, len(x), o))
	}
	r := ce([]float64{-inf, 0, 1}, 0, nil)
	near(t, "−inf target logit: loss", r.Loss, inf, 0)
	nearAll(t, "its gradient", r.Grad, []float64{-1, 0.2689414213699951, 0.7310585786300049}, 1e-15)
	r = ce([]float64{-inf, 0, 1}, 1, nil)
	near(t, "−inf other logit: loss", r.Loss, 1.3132616875182228, 1e-15)
	nearAll(t, "its gradient", r.Grad, []float64{0, -0.7310585786300049, 0.7310585786300049}, 1e-15)
	r = ce([]float64{-inf, 0, 1}, 1, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 0.1})
	near(t, "smoothing with a −inf logit: loss", r.Loss, inf, 0)
	nearAll(t, "its gradient", r.Grad, []float64{-0.03333333333333333, -0.6643919119633382, 0.6977252452966716}, 1e-15)
	for _, x := range [][]float64{{inf, 0, 1}, {inf, inf, 1}, {-inf, -inf, -inf}, {nan, 0, 1}} {
		r = ce(x, 1, nil)
		near(t, "non-finite row: loss", r.Loss, nan, 0)
		nearAll(t, "its gradient", r.Grad, []float64{nan, nan, nan}, 0)
	}
	near(t, "lse of a +inf row", ce([]float64{inf, inf, 1}, 1, nil).LSE[0], inf, 0)
	near(t, "lse of a −inf row", ce([]float64{-inf, -inf}, 1, nil).LSE[0], -inf, 0)
	r = ce([]float64{1e4, -1e4, 0}, 1, nil)
	near(t, "±1e4 logits", r.Loss, 20000, 0)
	nearAll(t, "their gradient", r.Grad, []float64{1, -1, 0}, 0)
	r = ce([]float64{1, 2, 3}, 1, &kernels.CrossEntropyOptions[float64]{Weight: []float64{1, 0, 1}})
	near(t, "mean over zero weight", r.Loss, nan, 0)
	nearAll(t, "its gradient", r.Grad, []float64{nan, nan, nan}, 0)

	// Every target ignored: NaN (gradient 0), or 0 with EmptyMeanZero.
	all := must(CrossEntropy([]float64{1, 2, 3, 4}, []int32{-100, -100}, 2, 2, nil))
	near(t, "all ignored, mean", all.Loss, nan, 0)
	nearAll(t, "its gradient", all.Grad, []float64{0, 0, 0, 0}, 0)
	all = must(CrossEntropy([]float64{1, 2, 3, 4}, []int32{-100, -100}, 2, 2, &kernels.CrossEntropyOptions[float64]{EmptyMean: kernels.EmptyMeanZero}))
	near(t, "all ignored, EmptyMeanZero", all.Loss, 0, 0)

	bl := func(x, y []float64) *Result {
		return must(BCEWithLogits(x, y, 1, len(x), &kernels.BinaryOptions[float64]{Reduction: kernels.None, Loss: make([]float64, len(x))}))
	}
	r = bl([]float64{-inf, inf, -inf, inf, nan}, []float64{0, 1, 1, 0, 1})
	nearAll(t, "BCE-with-logits at ±inf (PyTorch: NaN at 0 and 1)", r.Items, []float64{0, 0, inf, inf, nan}, 0)
	nearAll(t, "its gradient", r.Grad, []float64{0, 0, -1, 1, nan}, 0)
	r = bl([]float64{-30}, []float64{0})
	near(t, "BCE-with-logits at x=−30, y=0 is log1p(e^−30)", r.Items[0], math.Log1p(math.Exp(-30)), 1e-28)

	r = must(BCE([]float64{0, 1, 0, 1, 0.5}, []float64{0, 1, 1, 0, 0.5}, 1, 5, &kernels.BinaryOptions[float64]{Reduction: kernels.None, Loss: make([]float64, 5)}))
	nearAll(t, "BCE clamp at −100", r.Items, []float64{0, 0, 100, 100, 0.6931471805599453}, 1e-15)
	// PyTorch prints ∓1.0000000039958e12 (its guard is float32(1e-12)); lossfuse divides by 1e-12.
	nearAll(t, "its guarded gradient", r.Grad, []float64{0, 0, -1e12, 1e12, 0}, 1e-3)

	// Sigmoid focal with γ < 1 at saturation: finite (torchvision: NaN gradient).
	r = must(SigmoidFocal([]float64{800, -800}, []float64{1, 0}, 1, 2, &kernels.FocalOptions[float64]{Alpha: 0.25, Gamma: 0.5}))
	near(t, "saturated focal loss", r.Loss, 0, 0)
	nearAll(t, "its gradient", r.Grad, []float64{0, 0}, 0)
	r = must(SigmoidFocal([]float64{-800}, []float64{1}, 1, 1, &kernels.FocalOptions[float64]{Alpha: -1, Gamma: 0.5}))
	near(t, "misclassified saturated focal", r.Loss, 800, 1e-12)
	near(t, "its gradient", r.Grad[0], -1, 1e-15)
}

func TestErrorsAreClassified(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"n=0", second(CrossEntropy(x, nil, 0, 4, nil)), kernels.ErrShape},
		{"len(logits)", second(CrossEntropy(x, []int32{0}, 1, 3, nil)), kernels.ErrLength},
		{"target ≥ K", second(CrossEntropy(x, []int32{4}, 1, 4, nil)), kernels.ErrTarget},
		{"−100 with NoIgnore", second(CrossEntropy(x, []int32{-100}, 1, 4, &kernels.CrossEntropyOptions[float64]{Ignore: kernels.NoIgnore()})), kernels.ErrTarget},
		{"negative weight", second(CrossEntropy(x, []int32{0}, 1, 4, &kernels.CrossEntropyOptions[float64]{Weight: []float64{1, -1, 1, 1}})), kernels.ErrWeight},
		{"smoothing > 1", second(CrossEntropy(x, []int32{0}, 1, 4, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 1.5})), kernels.ErrOption},
		{"none without RowLoss", second(CrossEntropy(x, []int32{0}, 1, 4, &kernels.CrossEntropyOptions[float64]{Reduction: kernels.None})), kernels.ErrLength},
		{"gamma < 0", second(SoftmaxFocal(x, []int32{0}, 1, 4, &kernels.SoftmaxFocalOptions[float64]{Gamma: -1})), kernels.ErrOption},
		{"pos_weight on BCE", second(BCE(x, x, 1, 4, &kernels.BinaryOptions[float64]{PosWeight: x})), kernels.ErrOption},
		{"clip on logits", second(BCEWithLogits(x, x, 1, 4, &kernels.BinaryOptions[float64]{Clip: 0.1})), kernels.ErrOption},
		{"delta < 0", second(Huber(x, x, &kernels.HuberOptions[float64]{Delta: -1})), kernels.ErrOption},
		{"empty regression", second(MSE([]float64{}, nil, nil)), kernels.ErrShape},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
}

func second[A, B any](_ A, b B) B { return b }
