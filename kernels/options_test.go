package kernels_test

// Option semantics that a zero value or a policy decides: the Ignore zero
// value is PyTorch's −100 (never class 0), EmptyMean's NaN and zero, and
// the Normalizer, on every backend and both element types. Expected values
// come from other calls of the same kernel (a batch without the ignored
// rows, a sum divided by hand), not from the reference.

import (
	"errors"
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

func TestIgnoreZeroValue(t *testing.T) {
	for _, c := range []struct {
		g       kernels.Ignore
		index   int32
		ignores bool
	}{
		{kernels.Ignore{}, -100, true},
		{kernels.IgnoreIndex(0), 0, true},
		{kernels.IgnoreIndex(-1), -1, true},
		{kernels.IgnoreIndex(7), 7, true},
		{kernels.NoIgnore(), 0, false},
	} {
		if i, ok := c.g.Index(); ok != c.ignores || (ok && i != c.index) {
			t.Errorf("%#v.Index() = %d, %v; want %d, %v", c.g, i, ok, c.index, c.ignores)
		}
	}
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { ignoreSemantics[float32](t) })
		t.Run("float64", func(t *testing.T) { ignoreSemantics[float64](t) })
	})
}

func ignoreSemantics[T kernels.Float](t *testing.T) {
	const k = 5
	logits := []T{0.5, -1, 2, 0.25, 1, 3, 1, -2, 0, 0.5, -0.5, 1.5, 2.5, -1, 0}
	rows := func(idx ...int) []T {
		var out []T
		for _, i := range idx {
			out = append(out, logits[i*k:i*k+k]...)
		}
		return out
	}
	ce := func(x []T, targets []int32, o *kernels.CrossEntropyOptions[T]) (T, []T, error) {
		g := make([]T, len(x))
		l, err := kernels.CrossEntropy(x, targets, len(targets), k, g, o)
		return l, g, err
	}
	// The zero value skips −100 and keeps class 0: the loss equals the loss
	// of the batch without the −100 row, and that row's gradient is zero.
	l3, g3, err := ce(logits, []int32{0, -100, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l2, g2, _ := ce(rows(0, 2), []int32{0, 4}, nil)
	if l3 != l2 {
		t.Errorf("zero Ignore: loss %v, without the ignored row %v", l3, l2)
	}
	for j := 0; j < k; j++ {
		if g3[k+j] != 0 || g3[j] != g2[j] || g3[2*k+j] != g2[k+j] {
			t.Errorf("zero Ignore: gradient %v, want rows %v with zeros in row 1", g3, g2)
			break
		}
	}
	// IgnoreIndex(0) skips class 0 (what a zero value must not do) …
	l, _, err := ce(logits, []int32{0, 3, 4}, &kernels.CrossEntropyOptions[T]{Ignore: kernels.IgnoreIndex(0)})
	want, _, _ := ce(rows(1, 2), []int32{3, 4}, nil)
	if err != nil || l != want {
		t.Errorf("IgnoreIndex(0): loss %v (%v), without row 0 %v", l, err, want)
	}
	// … and then −100 is out of range, as it is with NoIgnore.
	for _, g := range []kernels.Ignore{kernels.IgnoreIndex(0), kernels.NoIgnore()} {
		if _, _, err := ce(logits, []int32{1, -100, 2}, &kernels.CrossEntropyOptions[T]{Ignore: g}); !errors.Is(err, kernels.ErrTarget) {
			t.Errorf("%#v with a −100 target: %v, want ErrTarget", g, err)
		}
	}
	// SoftmaxFocal shares the rule.
	sf := func(x []T, targets []int32) T {
		l, err := kernels.SoftmaxFocal(x, targets, len(targets), k, nil, &kernels.SoftmaxFocalOptions[T]{Gamma: 2})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if a, b := sf(logits, []int32{-100, 2, 1}), sf(rows(1, 2), []int32{2, 1}); a != b {
		t.Errorf("SoftmaxFocal zero Ignore: %v, without the ignored row %v", a, b)
	}
}

func TestEmptyMeanAndNormalizer(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { emptyMean[float32](t) })
		t.Run("float64", func(t *testing.T) { emptyMean[float64](t) })
	})
}

func allZero[T kernels.Float](s []T) bool {
	for _, v := range s {
		if v != 0 {
			return false
		}
	}
	return true
}

func allNaN[T kernels.Float](s []T) bool {
	for _, v := range s {
		if !math.IsNaN(float64(v)) {
			return false
		}
	}
	return true
}

func emptyMean[T kernels.Float](t *testing.T) {
	const n, k = 3, 4
	logits := []T{1, 2, 3, 4, -1, 0, 1, 0.5, 2, 2, -3, 1}
	ignored := []int32{-100, -100, -100}
	grad := make([]T, n*k)
	rowLoss := make([]T, n)
	check := func(name string, l T, err error, wantNaN bool, gradOK func([]T) bool) {
		t.Helper()
		switch {
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case wantNaN != math.IsNaN(float64(l)) || (!wantNaN && l != 0):
			t.Errorf("%s: loss %v, want %v", name, l, map[bool]string{true: "NaN", false: "0"}[wantNaN])
		case !gradOK(grad):
			t.Errorf("%s: gradient %v", name, grad)
		}
	}
	// Every target ignored: NaN by default (gradient 0, as PyTorch), 0 with EmptyMeanZero, 0 for a sum.
	l, err := kernels.CrossEntropy(logits, ignored, n, k, grad, &kernels.CrossEntropyOptions[T]{RowLoss: rowLoss})
	check("CE all ignored", l, err, true, allZero[T])
	if !allZero(rowLoss) {
		t.Errorf("CE all ignored: row losses %v", rowLoss)
	}
	l, err = kernels.CrossEntropy(logits, ignored, n, k, grad, &kernels.CrossEntropyOptions[T]{EmptyMean: kernels.EmptyMeanZero})
	check("CE all ignored, EmptyMeanZero", l, err, false, allZero[T])
	l, err = kernels.CrossEntropy(logits, ignored, n, k, grad, &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum})
	check("CE all ignored, sum", l, err, false, allZero[T])
	l, err = kernels.SoftmaxFocal(logits, ignored, n, k, grad, &kernels.SoftmaxFocalOptions[T]{Gamma: 2})
	check("SoftmaxFocal all ignored", l, err, true, allZero[T])
	l, err = kernels.SoftmaxFocal(logits, ignored, n, k, grad, &kernels.SoftmaxFocalOptions[T]{Gamma: 2, EmptyMean: kernels.EmptyMeanZero})
	check("SoftmaxFocal all ignored, EmptyMeanZero", l, err, false, allZero[T])

	// Every non-ignored target has class weight 0: NaN loss and gradient (PyTorch), or 0 and 0.
	w := []T{0, 1, 1, 1}
	zeroTargets := []int32{0, -100, 0}
	l, err = kernels.CrossEntropy(logits, zeroTargets, n, k, grad, &kernels.CrossEntropyOptions[T]{Weight: w})
	check("CE zero total weight", l, err, true, func(g []T) bool { return allNaN(g[:k]) && allZero(g[k:2*k]) && allNaN(g[2*k:]) })
	l, err = kernels.CrossEntropy(logits, zeroTargets, n, k, grad, &kernels.CrossEntropyOptions[T]{Weight: w, EmptyMean: kernels.EmptyMeanZero})
	check("CE zero total weight, EmptyMeanZero", l, err, false, allZero[T])

	// Regression with weights summing to 0.
	x, y, zw := logits[:6], logits[6:], make([]T, 6)
	grad = grad[:6]
	l, err = kernels.MSE(x, y, grad, &kernels.RegressionOptions[T]{Weight: zw})
	check("MSE zero weights", l, err, true, func([]T) bool { return true })
	l, err = kernels.Huber(x, y, grad, &kernels.HuberOptions[T]{RegressionOptions: kernels.RegressionOptions[T]{Weight: zw, EmptyMean: kernels.EmptyMeanZero}, Delta: 1})
	check("Huber zero weights, EmptyMeanZero", l, err, false, allZero[T])

	// Normalizer replaces the mean's denominator: the loss and gradient are
	// the sum's divided by it (up to one rounding of each).
	grad = make([]T, n*k)
	targets := []int32{1, -100, 3}
	sumGrad := make([]T, n*k)
	sum, _ := kernels.CrossEntropy(logits, targets, n, k, sumGrad, &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum, LabelSmoothing: 0.1})
	l, err = kernels.CrossEntropy(logits, targets, n, k, grad, &kernels.CrossEntropyOptions[T]{Normalizer: 8, LabelSmoothing: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	eps := 4 * 0x1p-52 // a few ULP of T
	if cfIs32[T]() {
		eps = 4 * 0x1p-23
	}
	if math.Abs(float64(l)-float64(sum)/8) > eps*math.Abs(float64(sum)) {
		t.Errorf("Normalizer 8: loss %v, sum/8 = %v", l, float64(sum)/8)
	}
	for i := range grad {
		if d := math.Abs(float64(grad[i]) - float64(sumGrad[i])/8); d > eps*math.Abs(float64(sumGrad[i])) {
			t.Errorf("Normalizer 8: grad[%d] %v, sum's /8 = %v", i, grad[i], float64(sumGrad[i])/8)
			break
		}
	}
	// Normalizer only affects a mean.
	if l2, _ := kernels.CrossEntropy(logits, targets, n, k, nil, &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum, Normalizer: 8, LabelSmoothing: 0.1}); l2 != sum {
		t.Errorf("Normalizer with a sum: %v, want %v", l2, sum)
	}
}

// TestFocalZeroValue: a zero-value FocalOptions weights no term by α (it
// once meant α = 0, which silently dropped every positive term): it equals
// torchvision's α < 0 bit for bit, all-positive targets give a positive
// loss, and α = 0.25 scales that loss by 0.25.
func TestFocalZeroValue(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { focalZeroValue[float32](t) })
		t.Run("float64", func(t *testing.T) { focalZeroValue[float64](t) })
	})
}

func focalZeroValue[T kernels.Float](t *testing.T) {
	x := []T{0.5, -1, 2, 0.25, 1, 3, 1, -2, 0, 0.5, -0.5, 1.5, 2.5, -1, 0, 0.125, -3, 4}
	p := make([]T, len(x))
	for i, v := range x {
		p[i] = T(1 / (1 + math.Exp(-float64(v))))
	}
	ones := make([]T, len(x))
	for i := range ones {
		ones[i] = 1
	}
	for _, f := range []struct {
		name string
		call func(in, y, g []T, o *kernels.FocalOptions[T]) (T, error)
		in   []T
	}{
		{"SigmoidFocal", func(in, y, g []T, o *kernels.FocalOptions[T]) (T, error) {
			return kernels.SigmoidFocal(in, y, 3, 6, g, o)
		}, x},
		{"FocalProbs", func(in, y, g []T, o *kernels.FocalOptions[T]) (T, error) {
			return kernels.FocalProbs(in, y, 3, 6, g, o)
		}, p},
	} {
		run := func(alpha float64) (T, []T) {
			g := make([]T, len(x))
			l, err := f.call(f.in, ones, g, &kernels.FocalOptions[T]{Gamma: 2, Alpha: alpha})
			if err != nil {
				t.Fatalf("%s α=%v: %v", f.name, alpha, err)
			}
			return l, g
		}
		l0, g0 := run(0)
		lOff, gOff := run(-1)
		lq, gq := run(0.25)
		if !(l0 > 0) {
			t.Errorf("%s zero-value Alpha: loss %v on all-positive targets, want > 0", f.name, l0)
		}
		if l0 != lOff {
			t.Errorf("%s zero-value Alpha: loss %v, Alpha −1 gives %v", f.name, l0, lOff)
		}
		for i := range g0 {
			if g0[i] != gOff[i] {
				t.Errorf("%s zero-value Alpha: grad[%d] %v, Alpha −1 gives %v", f.name, i, g0[i], gOff[i])
			}
			if d := math.Abs(float64(gq[i]) - 0.25*float64(g0[i])); d > 1e-6*math.Abs(float64(g0[i])) {
				t.Errorf("%s Alpha 0.25: grad[%d] %v, want a quarter of %v", f.name, i, gq[i], g0[i])
			}
		}
		if d := math.Abs(float64(lq) - 0.25*float64(l0)); d > 1e-6*float64(l0) {
			t.Errorf("%s Alpha 0.25: loss %v, want a quarter of %v", f.name, lq, l0)
		}
	}
}
