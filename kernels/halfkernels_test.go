package kernels_test

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// CrossEntropyProbsHalf, SoftmaxFocalHalf, BCEWithLogitsHalf and
// SigmoidFocalHalf against the reference on the widened inputs, on every
// backend, as TestCrossEntropyHalfBF16 does CrossEntropyHalf: every
// gradient mode (none, 16-bit, in place, float32), the options, the block
// edges of the driver.

// halfFormat is a 16-bit format's rounding for the tests.
type halfFormat[H kernels.BF16 | kernels.F16] struct {
	name string
	from func(float32) H
	to   func(H) float32
}

var (
	bf16Format = halfFormat[kernels.BF16]{"bf16", kernels.BF16FromFloat32, kernels.BF16.Float32}
	f16Format  = halfFormat[kernels.F16]{"f16", kernels.F16FromFloat32, kernels.F16.Float32}
)

// round16 rounds v to the format: the 16-bit values and their float32 values.
func (f halfFormat[H]) round16(v []float64) ([]H, []float32) {
	h, w := make([]H, len(v)), make([]float32, len(v))
	for i, x := range v {
		h[i] = f.from(float32(x))
		w[i] = f.to(h[i])
	}
	return h, w
}

// halfCall is one call of a 16-bit kernel with the gradient in g16 or g32
// (or neither), returning the loss.
type halfCall[H kernels.BF16 | kernels.F16] func(g16 []H, g32 []float32) (float32, error)

// checkHalfCall runs call in gradient mode mode against ref (computed on
// the widened inputs) and reports a violation. x is the 16-bit input a
// gradient in place overwrites; items and lse the per-row (or element)
// outputs the options hold.
func checkHalfCall[H kernels.BF16 | kernels.F16](t *testing.T, f halfFormat[H], desc string, mode int, x []H,
	ref *reference.Result, items, lse []float32, call halfCall[H]) bool {
	t.Helper()
	nk := len(x)
	before := slices.Clone(x)
	got := reference.Got[float32]{CheckLoss: true, Items: items, LSE: lse}
	var g16 []H
	var err error
	switch mode {
	case halfGradNone:
		got.Loss, err = call(nil, nil)
	case halfGradSame, halfGradInPlace:
		g16 = make([]H, nk)
		for i := range g16 {
			g16[i] = 0x7e5e // NaN in both formats: an unwritten element shows
		}
		if mode == halfGradInPlace {
			g16 = x
		}
		got.Loss, err = call(g16, nil)
	case halfGradF32:
		got.Grad = make([]float32, nk)
		for i := range got.Grad {
			got.Grad[i] = float32(math.NaN())
		}
		got.Loss, err = call(nil, got.Grad)
	}
	if err != nil {
		t.Errorf("%s %s %s: %v", kernels.Backend(), f.name, desc, err)
		return false
	}
	r := ref
	if g16 != nil {
		got.Grad = make([]float32, nk)
		for i, v := range g16 {
			got.Grad[i] = f.to(v)
		}
		r = ref.RoundGrad(func(v float32) float32 { return f.to(f.from(v)) })
	}
	if mode != halfGradInPlace && !slices.Equal(x, before) {
		t.Errorf("%s %s %s: the input changed", kernels.Backend(), f.name, desc)
		return false
	}
	if err := reference.Check(r, got); err != nil {
		t.Errorf("%s %s %s grad=%d: %v", kernels.Backend(), f.name, desc, mode, err)
		return false
	}
	return true
}

// halfShapes: tails around the vector widths, several blocks of short rows
// (900×10), and long rows past the block of short rows (qemu runs -short).
func halfShapes() [][2]int {
	s := [][2]int{{1, 1}, {3, 5}, {2, 17}, {37, 9}, {900, 10}, {2, 4097}}
	if !testing.Short() {
		s = append(s, [2]int{3, 100}, [2]int{2, 8193}, [2]int{1, 33000})
	}
	return s
}

func TestCrossEntropyProbsHalf(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		probsHalf(t, bf16Format)
		probsHalf(t, f16Format)
	})
}

func probsHalf[H kernels.BF16 | kernels.F16](t *testing.T, f halfFormat[H]) {
	rng := rand.New(rand.NewSource(41))
	for _, sh := range halfShapes() {
		n, k := sh[0], sh[1]
		for c := range 4 {
			x, xw := f.round16(cfLogits(rng, n, k, c%cfDataKinds))
			p, pw := f.round16(cfProbRows(rng, n, k))
			var o kernels.CrossEntropyOptions[float32]
			o.Reduction = cfReductions[c%3]
			o.LabelSmoothing = []float64{0, 0.1}[c%2]
			o.SoftCap = []float64{0, 0, 30}[c%3]
			o.ZLoss = []float64{0, 1e-3}[c/2]
			if c >= 2 {
				o.Weight = make([]float32, k)
				for i, v := range cfWeights(rng, k) {
					o.Weight[i] = float32(v)
				}
			}
			if c != 1 {
				o.RowLoss, o.RowLSE = make([]float32, n), make([]float32, n)
			}
			ref, err := reference.CrossEntropyProbs(xw, pw, n, k, &o)
			if err != nil {
				t.Fatal(err)
			}
			mode := (c + n) % 4
			desc := fmt.Sprintf("CrossEntropyProbsHalf n=%d k=%d case %d", n, k, c)
			xs := slices.Clone(x)
			checkHalfCall(t, f, desc, mode, xs, ref, o.RowLoss, o.RowLSE, func(g16 []H, g32 []float32) (float32, error) {
				if g32 != nil {
					return kernels.CrossEntropyProbsHalf(xs, p, n, k, g32, &o)
				}
				return kernels.CrossEntropyProbsHalf(xs, p, n, k, g16, &o)
			})
		}
	}
}

func TestSoftmaxFocalHalf(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		focalHalf(t, bf16Format)
		focalHalf(t, f16Format)
	})
}

func focalHalf[H kernels.BF16 | kernels.F16](t *testing.T, f halfFormat[H]) {
	rng := rand.New(rand.NewSource(42))
	for _, sh := range halfShapes() {
		n, k := sh[0], sh[1]
		for c := range 4 {
			x, xw := f.round16(cfLogits(rng, n, k, c%cfDataKinds))
			targets := make([]int32, n)
			for i := range targets {
				targets[i] = int32(rng.Intn(k))
				if rng.Intn(5) == 0 {
					targets[i] = -100
				}
			}
			o := kernels.SoftmaxFocalOptions[float32]{Gamma: []float64{0, 0.5, 2, 2}[c], Reduction: cfReductions[(c+1)%3]}
			if c%2 == 1 {
				o.Alpha = make([]float32, k)
				for i, v := range cfWeights(rng, k) {
					o.Alpha[i] = float32(v)
				}
			}
			if c != 0 || o.Reduction == kernels.None {
				o.RowLoss = make([]float32, n)
			}
			ref, err := reference.SoftmaxFocal(xw, targets, n, k, &o)
			if err != nil {
				t.Fatal(err)
			}
			mode := (c + n) % 4
			desc := fmt.Sprintf("SoftmaxFocalHalf n=%d k=%d case %d", n, k, c)
			xs := slices.Clone(x)
			checkHalfCall(t, f, desc, mode, xs, ref, o.RowLoss, nil, func(g16 []H, g32 []float32) (float32, error) {
				if g32 != nil {
					return kernels.SoftmaxFocalHalf(xs, targets, n, k, g32, &o)
				}
				return kernels.SoftmaxFocalHalf(xs, targets, n, k, g16, &o)
			})
		}
	}
}

func TestBinaryHalf(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		binaryHalf(t, bf16Format)
		binaryHalf(t, f16Format)
	})
}

func binaryHalf[H kernels.BF16 | kernels.F16](t *testing.T, f halfFormat[H]) {
	rng := rand.New(rand.NewSource(43))
	for _, sh := range halfShapes() {
		n, k := sh[0], sh[1]
		for c := range 8 {
			focal := c%2 == 1
			xv := cfLogits(rng, n, k, (c/2)%cfDataKinds)
			for i := range xv {
				xv[i] = math.Max(math.Min(xv[i], 300), -300) // BCE's logits: beyond ±300 only ±Inf matters
			}
			x, xw := f.round16(xv)
			yv := cfUniform(rng, n*k, 0, 1)
			if c%4 < 2 {
				for i := range yv {
					yv[i] = math.Round(yv[i]) // hard labels
				}
			}
			y, yw := f.round16(yv)
			var o kernels.BinaryOptions[float32]
			o.Reduction = cfReductions[c%3]
			switch c / 2 {
			case 1:
				o.Weight = make([]float32, n*k)
				for i, v := range cfWeights(rng, n*k) {
					o.Weight[i] = float32(v)
				}
			case 2:
				o.ClassWeight = make([]float32, k)
				for i, v := range cfWeights(rng, k) {
					o.ClassWeight[i] = float32(v)
				}
			case 3:
				o.RowWeight = make([]float32, n)
				for i, v := range cfWeights(rng, n) {
					o.RowWeight[i] = float32(v)
				}
			}
			if !focal && c >= 4 {
				o.PosWeight = make([]float32, k)
				for i, v := range cfWeights(rng, k) {
					o.PosWeight[i] = float32(v)
				}
				o.Asymmetric = &kernels.Asymmetric{FalseNegative: 1.5, FalsePositive: 0.5}
			}
			if o.Reduction == kernels.None || c == 3 {
				o.Loss = make([]float32, n*k)
			}
			fo := kernels.FocalOptions[float32]{BinaryOptions: o, Alpha: 0.25, Gamma: []float64{2, 0.5}[c/4]}
			var ref *reference.Result
			var err error
			if focal {
				ref, err = reference.SigmoidFocal(xw, yw, n, k, &fo)
			} else {
				ref, err = reference.BCEWithLogits(xw, yw, n, k, &o)
			}
			if err != nil {
				t.Fatal(err)
			}
			mode := (c + n) % 4
			desc := fmt.Sprintf("binary focal=%v n=%d k=%d case %d", focal, n, k, c)
			xs := slices.Clone(x)
			checkHalfCall(t, f, desc, mode, xs, ref, o.Loss, nil, func(g16 []H, g32 []float32) (float32, error) {
				switch {
				case focal && g32 != nil:
					return kernels.SigmoidFocalHalf(xs, y, n, k, g32, &fo)
				case focal:
					return kernels.SigmoidFocalHalf(xs, y, n, k, g16, &fo)
				case g32 != nil:
					return kernels.BCEWithLogitsHalf(xs, y, n, k, g32, &o)
				}
				return kernels.BCEWithLogitsHalf(xs, y, n, k, g16, &o)
			})
		}
	}
}

// TestHalfKernelErrors: the 16-bit kernels' own checks (targets outside
// [0, 1] in 16 bits, a gradient of the other format) fail before any write.
func TestHalfKernelErrors(t *testing.T) {
	x := make([]kernels.F16, 4)
	y := []kernels.F16{0, 0x3c00, 0x3c01, 0} // 0, 1, just above 1, 0
	g := []kernels.F16{1, 2, 3, 4}
	_, err := kernels.BCEWithLogitsHalf(x, y, 2, 2, g, nil)
	if err == nil || !slices.Equal(g, []kernels.F16{1, 2, 3, 4}) {
		t.Errorf("y above 1: error %v, grad %v", err, g)
	}
	for _, bad := range []kernels.F16{0x8001, 0xfc00, 0x7c00, 0xbc00} {
		y[2] = bad
		if _, err := kernels.SigmoidFocalHalf(x, y, 2, 2, g, nil); err == nil {
			t.Errorf("y=%v accepted", bad.Float32())
		}
	}
	for _, ok := range []kernels.F16{0x8000, 0x7e00, 0x3c00, 0x0001} { // −0, NaN, 1, the smallest subnormal
		y[2] = ok
		if _, err := kernels.SigmoidFocalHalf(x, y, 2, 2, g, nil); err != nil {
			t.Errorf("y=%v rejected: %v", ok.Float32(), err)
		}
	}
	if _, err := kernels.BCEWithLogitsHalf(x, y, 2, 2, make([]kernels.BF16, 4), nil); err == nil {
		t.Error("a BF16 gradient for F16 inputs accepted")
	}
	p := []kernels.BF16{0x3f80, 0x3f81, 0, 0}
	xb := make([]kernels.BF16, 4)
	gb := []kernels.BF16{1, 2, 3, 4}
	if _, err := kernels.CrossEntropyProbsHalf(xb, p, 2, 2, gb, nil); err == nil || !slices.Equal(gb, []kernels.BF16{1, 2, 3, 4}) {
		t.Errorf("probs above 1: error %v, grad %v", err, gb)
	}
	if _, err := kernels.SoftmaxFocalHalf(xb, []int32{0, 1}, 2, 2, gb, &kernels.SoftmaxFocalOptions[float32]{Gamma: -1}); err == nil {
		t.Error("Gamma −1 accepted")
	}
}
