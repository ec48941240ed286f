package kernels_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// Regression tests for the defects of issue 13, each on every backend this
// CPU runs (neon under qemu-aarch64 in CI) and in both element types.

// binaryCall runs one binary-family kernel or its reference.
type binaryCall[T kernels.Float] struct {
	name string
	run  func(x, y []T, n, k int, grad []T, o *kernels.FocalOptions[T]) (T, error)
	ref  func(x, y []T, n, k int, o *kernels.FocalOptions[T]) (*reference.Result, error)
}

func binaryCalls[T kernels.Float]() []binaryCall[T] {
	return []binaryCall[T]{
		{"BCEWithLogits",
			func(x, y []T, n, k int, g []T, o *kernels.FocalOptions[T]) (T, error) {
				return kernels.BCEWithLogits(x, y, n, k, g, &o.BinaryOptions)
			},
			func(x, y []T, n, k int, o *kernels.FocalOptions[T]) (*reference.Result, error) {
				return reference.BCEWithLogits(x, y, n, k, &o.BinaryOptions)
			}},
		{"BCE",
			func(x, y []T, n, k int, g []T, o *kernels.FocalOptions[T]) (T, error) {
				return kernels.BCE(x, y, n, k, g, &o.BinaryOptions)
			},
			func(x, y []T, n, k int, o *kernels.FocalOptions[T]) (*reference.Result, error) {
				return reference.BCE(x, y, n, k, &o.BinaryOptions)
			}},
		{"SigmoidFocal", kernels.SigmoidFocal[T], reference.SigmoidFocal[T]},
		{"FocalProbs", kernels.FocalProbs[T], reference.FocalProbs[T]},
	}
}

// TestOutputOverInput: an output may be exactly an element-wise loss's
// input x (the per-element loss or the gradient), and the result is then
// the same as with separate buffers, whatever the labels. avx2 and avx512
// used to run the vector kernel, find a soft label and redo the call in
// generic on the x the vector pass had already overwritten (issue 13,
// defect 1: SigmoidFocal gave 3.2977 instead of 5.2702).
func TestOutputOverInput(t *testing.T) {
	forEachBackendAndType(t, testOutputOverInput[float32], testOutputOverInput[float64])
}

func testOutputOverInput[T kernels.Float](t *testing.T) {
	for _, n := range []int{16, 37, 1000} {
		for _, soft := range []bool{false, true} {
			for _, over := range []string{"Loss", "grad"} {
				for _, c := range binaryCalls[T]() {
					x, y := make([]T, n), make([]T, n)
					for i := range x {
						x[i] = T(i%16-8) / 2
						if c.name == "BCE" || c.name == "FocalProbs" {
							x[i] = T(i%16) / 16
						}
						y[i] = T(i % 2)
					}
					if soft {
						y[3] = 0.3
						y[n-1] = 0.7
					}
					o := kernels.FocalOptions[T]{Alpha: .25, Gamma: 2}
					if c.name == "BCEWithLogits" || c.name == "BCE" {
						o.Alpha, o.Gamma = 0, 0 // not used by BCE
					}
					o.Reduction, o.Loss = kernels.None, make([]T, n)
					ref, err := c.ref(x, y, n, 1, &o)
					if err != nil {
						t.Fatal(err)
					}
					buf := slices.Clone(x)
					other := make([]T, n)
					var grad []T
					if over == "Loss" {
						o.Loss, grad = buf, other
					} else {
						o.Loss, grad = other, buf
					}
					name := fmt.Sprintf("%s n=%d soft=%v %s over x", c.name, n, soft, over)
					loss, err := c.run(buf, y, n, 1, grad, &o)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if err := reference.Check(ref, reference.Got[T]{CheckLoss: true, Loss: loss, Items: o.Loss, Grad: grad}); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
			}
		}
	}
}

// TestSigmoidFocalLossOverXIssueExample is defect 1 exactly as reported.
func TestSigmoidFocalLossOverXIssueExample(t *testing.T) {
	forEachBackendAndType(t, testSigmoidFocalLossOverX[float32], testSigmoidFocalLossOverX[float64])
}

func testSigmoidFocalLossOverX[T kernels.Float](t *testing.T) {
	x, y := make([]T, 16), make([]T, 16)
	for i := range x {
		x[i], y[i] = T(i-8)/2, T(i%2)
	}
	y[3] = 0.3
	o := kernels.FocalOptions[T]{Alpha: .25, Gamma: 2}
	o.Reduction, o.Loss = kernels.None, x
	loss, err := kernels.SigmoidFocal(x, y, 16, 1, nil, &o)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(loss)-5.2702) > 1e-4 {
		t.Errorf("loss %.6g, want 5.2702 (the reference's)", float64(loss))
	}
}

// TestBCEWithLogitsNaNZeroCoefficient: a NaN logit gives a NaN loss even
// where both terms' coefficients are 0 (PosWeight 0 and y = 1); avx2 and
// avx512 used to drop it (issue 13, defect 2: loss 0.487).
func TestBCEWithLogitsNaNZeroCoefficient(t *testing.T) {
	forEachBackendAndType(t, testBCENaNZeroCoef[float32], testBCENaNZeroCoef[float64])
}

func testBCENaNZeroCoef[T kernels.Float](t *testing.T) {
	nan := T(math.NaN())
	for _, k := range []int{1, 2, 16, 17} {
		n := 2
		x, y := make([]T, n*k), make([]T, n*k)
		for i := range x {
			x[i], y[i] = 0.5, T(i%2)
		}
		x[0], y[0] = nan, 1
		pw := make([]T, k) // every pos_weight 0
		for _, asym := range []*kernels.Asymmetric{nil, {FalseNegative: 0, FalsePositive: 1}} {
			o := kernels.BinaryOptions[T]{PosWeight: pw, Reduction: kernels.None, Loss: make([]T, n*k), Asymmetric: asym}
			if asym != nil {
				o.PosWeight = nil // FalseNegative 0 zeroes the positive term instead
			}
			grad := make([]T, n*k)
			loss, err := kernels.BCEWithLogits(x, y, n, k, grad, &o)
			if err != nil {
				t.Fatal(err)
			}
			if !math.IsNaN(float64(loss)) || !math.IsNaN(float64(o.Loss[0])) || !math.IsNaN(float64(grad[0])) {
				t.Errorf("k=%d asym=%v: loss %v, loss[0] %v, grad[0] %v; want NaN for the NaN logit", k, asym, loss, o.Loss[0], grad[0])
			}
			ref, err := reference.BCEWithLogits(x, y, n, k, &o)
			if err != nil {
				t.Fatal(err)
			}
			if err := reference.Check(ref, reference.Got[T]{CheckLoss: true, Loss: loss, Items: o.Loss, Grad: grad}); err != nil {
				t.Errorf("k=%d asym=%v: %v", k, asym, err)
			}
		}
	}
}

// TestCEMeanZeroWeightNaN: a mean whose denominator is 0 (every counted
// target has class weight 0) is NaN, and so is the gradient of every
// counted row, with or without label smoothing, as in PyTorch; ignored rows
// keep gradient 0 (issue 13, defect 3: generic gave +Inf, the SIMD
// backends ±Inf and NaN).
func TestCEMeanZeroWeightNaN(t *testing.T) {
	forEachBackendAndType(t, testCEMeanZeroWeight[float32], testCEMeanZeroWeight[float64])
}

func testCEMeanZeroWeight[T kernels.Float](t *testing.T) {
	for _, k := range []int{2, 10, 17, 1000, 5000} {
		for _, eps := range []float64{0, 0.1} {
			for _, zl := range []float64{0, 1e-4} {
				n := 4
				x := make([]T, n*k)
				for i := range x {
					x[i] = T(math.Sin(float64(i)))
				}
				w := make([]T, k)
				for i := range w {
					w[i] = 1
				}
				w[1] = 0
				targets := []int32{1, -100, 1, 1}
				o := kernels.CrossEntropyOptions[T]{Weight: w, LabelSmoothing: eps, ZLoss: zl}
				name := fmt.Sprintf("k=%d ε=%v ζ=%v", k, eps, zl)
				for _, inPlace := range []bool{false, true} {
					xs := slices.Clone(x)
					grad := make([]T, n*k)
					if inPlace {
						grad = xs
					}
					loss, err := kernels.CrossEntropy(xs, targets, n, k, grad, &o)
					if err != nil {
						t.Fatal(err)
					}
					if !math.IsNaN(float64(loss)) {
						t.Errorf("%s in place %v: loss %v, want NaN", name, inPlace, loss)
					}
					for i, v := range grad {
						if ignored := i/k == 1; ignored && v != 0 || !ignored && !math.IsNaN(float64(v)) {
							t.Errorf("%s in place %v: grad[%d] = %v, want NaN (0 in the ignored row)", name, inPlace, i, v)
							break
						}
					}
				}
				ref, err := reference.CrossEntropy(x, targets, n, k, &o)
				if err != nil {
					t.Fatal(err)
				}
				if !math.IsNaN(ref.Loss) {
					t.Errorf("%s: reference loss %v, want NaN", name, ref.Loss)
				}
			}
		}
	}
}

// TestBinaryTargetsOutsideUnit: targets (and BCE's probabilities) outside
// [0, 1] are rejected with ErrTarget naming the buffer and index, before
// anything is written (issue 13, defect 5: y = 2 gave a loss of −0.28).
func TestBinaryTargetsOutsideUnit(t *testing.T) {
	forEachBackendAndType(t, testBinaryOutsideUnit[float32], testBinaryOutsideUnit[float64])
}

func testBinaryOutsideUnit[T kernels.Float](t *testing.T) {
	for _, c := range binaryCalls[T]() {
		probs := c.name == "BCE" || c.name == "FocalProbs"
		for _, bad := range []struct {
			buf string
			v   float64
		}{{"y", 2}, {"y", -0.5}, {"y", math.Inf(1)}, {"x", 1.5}, {"x", -1e-30}, {"x", math.Inf(-1)}} {
			if bad.buf == "x" && !probs {
				continue // logits take any value
			}
			x, y := make([]T, 40), make([]T, 40)
			for i := range x {
				x[i], y[i] = 0.25, T(i%2)
			}
			if bad.buf == "x" {
				x[37] = T(bad.v)
			} else {
				y[37] = T(bad.v)
			}
			grad, loss := make([]T, 40), make([]T, 40)
			for i := range grad {
				grad[i], loss[i] = 7, 7
			}
			o := kernels.FocalOptions[T]{Alpha: .25, Gamma: 2}
			if c.name == "BCEWithLogits" || c.name == "BCE" {
				o.Alpha, o.Gamma = 0, 0
			}
			o.Reduction, o.Loss = kernels.None, loss
			_, err := c.run(x, y, 40, 1, grad, &o)
			name := fmt.Sprintf("%s %s[37]=%v", c.name, bad.buf, bad.v)
			if !errors.Is(err, kernels.ErrTarget) {
				t.Errorf("%s: error %v, want ErrTarget", name, err)
				continue
			}
			if want := fmt.Sprintf("%s[37]", bad.buf); !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not name %s", name, err, want)
			}
			for i := range grad {
				if grad[i] != 7 || loss[i] != 7 {
					t.Errorf("%s: output written before the error", name)
					break
				}
			}
			if _, rerr := c.ref(x, y, 40, 1, &o); !errors.Is(rerr, kernels.ErrTarget) {
				t.Errorf("%s: reference error %v, want ErrTarget", name, rerr)
			}
		}
	}
}

// TestWeightsNotFinite: NaN or ±Inf class, element, α and pos_weight
// weights are rejected with ErrWeight naming the buffer and index (issue
// 13, defect 5), as are out-of-range EmptyMean values (ErrOption).
func TestWeightsNotFinite(t *testing.T) {
	forEachBackendAndType(t, testWeightsNotFinite[float32], testWeightsNotFinite[float64])
}

func testWeightsNotFinite[T kernels.Float](t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		k := 5
		x := make([]T, 2*k)
		targets := []int32{1, 2}
		w := []T{1, 1, 1, T(v), 1}
		grad := make([]T, 2*k)
		for i := range grad {
			grad[i] = 7
		}
		untouched := func(name string) {
			for _, g := range grad {
				if g != 7 {
					t.Errorf("%s: gradient written before the error", name)
					return
				}
			}
		}
		check := func(name, want string, err error) {
			t.Helper()
			if !errors.Is(err, kernels.ErrWeight) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s weight %v: error %v, want ErrWeight naming %s", name, v, err, want)
			}
			untouched(name)
		}
		_, err := kernels.CrossEntropy(x, targets, 2, k, grad, &kernels.CrossEntropyOptions[T]{Weight: w})
		check("CrossEntropy", "Weight[3]", err)
		_, err = kernels.CrossEntropyProbs(x, make([]T, 2*k), 2, k, grad, &kernels.CrossEntropyOptions[T]{Weight: w})
		check("CrossEntropyProbs", "Weight[3]", err)
		_, err = kernels.SoftmaxFocal(x, targets, 2, k, grad, &kernels.SoftmaxFocalOptions[T]{Alpha: w})
		check("SoftmaxFocal", "Alpha[3]", err)
		ew := make([]T, 2*k)
		for i := range ew {
			ew[i] = 1
		}
		ew[8] = T(v)
		_, err = kernels.BCEWithLogits(x, make([]T, 2*k), 2, k, grad, &kernels.BinaryOptions[T]{Weight: ew})
		check("BCEWithLogits", "Weight[8]", err)
		_, err = kernels.BCEWithLogits(x, make([]T, 2*k), 2, k, grad, &kernels.BinaryOptions[T]{PosWeight: w})
		check("BCEWithLogits", "PosWeight[3]", err)
		_, err = kernels.MSE(x, make([]T, 2*k), grad, &kernels.RegressionOptions[T]{Weight: ew})
		check("MSE", "Weight[8]", err)
		if _, rerr := reference.CrossEntropy(x, targets, 2, k, &kernels.CrossEntropyOptions[T]{Weight: w}); !errors.Is(rerr, kernels.ErrWeight) {
			t.Errorf("reference CrossEntropy weight %v: error %v, want ErrWeight", v, rerr)
		}
	}
	x := make([]T, 4)
	for _, em := range []kernels.EmptyMean{kernels.EmptyMeanZero + 1, 200} {
		_, err := kernels.CrossEntropy(x, []int32{0, 1}, 2, 2, nil, &kernels.CrossEntropyOptions[T]{EmptyMean: em})
		if !errors.Is(err, kernels.ErrOption) {
			t.Errorf("EmptyMean %d: error %v, want ErrOption", em, err)
		}
		_, err = kernels.SoftmaxFocal(x, []int32{0, 1}, 2, 2, nil, &kernels.SoftmaxFocalOptions[T]{EmptyMean: em})
		if !errors.Is(err, kernels.ErrOption) {
			t.Errorf("SoftmaxFocal EmptyMean %d: error %v, want ErrOption", em, err)
		}
	}
}

// TestCEProbsInfiniteLogit: probability-target cross-entropy of rows with a
// −Inf logit, with label smoothing up to 1 and a z-loss, agrees with the
// reference on every backend: +Inf where a class with target mass sits at
// −Inf, finite where its mass is 0 (issue 13, defect 4: F31, neon gave NaN
// for ε = 1 from (1−ε)·Σ t·z = 0·(−Inf)).
func TestCEProbsInfiniteLogit(t *testing.T) {
	forEachBackendAndType(t, testCEProbsInfiniteLogit[float32], testCEProbsInfiniteLogit[float64])
}

func testCEProbsInfiniteLogit[T kernels.Float](t *testing.T) {
	for _, k := range []int{3, 20, 33, 63, 4099} {
		for _, eps := range []float64{0, 0.5, 1} {
			for _, zl := range []float64{0, 100, 1e4} {
				for _, mass := range []float64{0, 0.25, 1e-45, 1e-38, 1e-30} {
					n := 3
					x, p := make([]T, n*k), make([]T, n*k)
					for i := range x {
						x[i] = T(math.Sin(float64(3*i)) * 3)
						p[i] = T(1) / T(k)
					}
					x[k+1] = T(math.Inf(-1)) // row 1
					p[k+1] = T(mass)
					for _, withGrad := range []bool{false, true} {
						o := kernels.CrossEntropyOptions[T]{LabelSmoothing: eps, ZLoss: zl, Reduction: kernels.None,
							RowLoss: make([]T, n), RowLSE: make([]T, n)}
						ref, err := reference.CrossEntropyProbs(x, p, n, k, &o)
						if err != nil {
							t.Fatal(err)
						}
						var grad []T
						if withGrad {
							grad = make([]T, n*k)
						}
						loss, err := kernels.CrossEntropyProbs(x, p, n, k, grad, &o)
						if err != nil {
							t.Fatal(err)
						}
						if err := reference.Check(ref, reference.Got[T]{CheckLoss: true, Loss: loss, Items: o.RowLoss, LSE: o.RowLSE, Grad: grad}); err != nil {
							t.Errorf("k=%d ε=%v ζ=%v mass=%v grad=%v: %v", k, eps, zl, mass, withGrad, err)
						}
					}
				}
			}
		}
	}
}

// TestCEProbsSubnormalTargetHeavyWeight: a subnormal probability target
// under a large class weight keeps its gradient term w·t·scale on every
// backend. The SIMD kernels formed (scale·t)·w, where scale·t underflows
// before the weight scales it back up: −1e-45 for −2.3e-33 at N = 2048
// (a FuzzCrossEntropyProbs finding in CI). Long rows, soft-capping and
// label smoothing take the other kernels that form the same coefficient.
func TestCEProbsSubnormalTargetHeavyWeight(t *testing.T) {
	forEachBackendAndType(t, testCEProbsSubnormalTarget[float32], testCEProbsSubnormalTarget[float64])
}

func testCEProbsSubnormalTarget[T kernels.Float](t *testing.T) {
	tiny, heavy := float64(math.SmallestNonzeroFloat32), []float64{1.2332352e14, 1e30}
	if unsafe.Sizeof(T(0)) == 8 {
		tiny, heavy = math.SmallestNonzeroFloat64, []float64{1e14, 1e200}
	}
	for _, k := range []int{6, 33, 4099} {
		for _, n := range []int{1, 8, 2048} {
			if n*k > 1<<16 {
				continue // the reference is slow; a scale of 1/8 underflows as well
			}
			for _, hw := range heavy {
				for _, eps := range []float64{0, 0.9} {
					for _, capv := range []float64{0, 30} {
						x, p, w := make([]T, n*k), make([]T, n*k), make([]T, k)
						for j := range w {
							w[j] = T(1 + j%3)
						}
						w[k-1] = T(hw)
						for i := range n {
							for j := range k {
								x[i*k+j] = T(math.Sin(float64(7*(i*k+j))) * 20)
							}
							p[i*k] = 1
							p[i*k+k-1] = T(tiny * float64(1+i%40))
						}
						o := kernels.CrossEntropyOptions[T]{Weight: w, LabelSmoothing: eps, SoftCap: capv, ZLoss: 0.01, RowLSE: make([]T, n)}
						ref, err := reference.CrossEntropyProbs(x, p, n, k, &o)
						if err != nil {
							t.Fatal(err)
						}
						grad := make([]T, n*k)
						loss, err := kernels.CrossEntropyProbs(x, p, n, k, grad, &o)
						if err != nil {
							t.Fatal(err)
						}
						if err := reference.Check(ref, reference.Got[T]{CheckLoss: true, Loss: loss, LSE: o.RowLSE, Grad: grad}); err != nil {
							t.Errorf("k=%d n=%d w=%g ε=%v cap=%v: %v", k, n, hw, eps, capv, err)
						}
					}
				}
			}
		}
	}
}

// TestPerRowOutputOverLogits: the per-row outputs of the cross-entropy
// family are not element-wise, so even where they could be exactly the
// logits (K = 1) they are rejected; the gradient alone may be the logits.
// Overlap errors name both buffers.
func TestPerRowOutputOverLogits(t *testing.T) {
	forEachBackendAndType(t, testPerRowOverLogits[float32], testPerRowOverLogits[float64])
}

func testPerRowOverLogits[T kernels.Float](t *testing.T) {
	x := []T{1, 2, 3, 4}
	targets := []int32{0, 0, 0, 0}
	for _, c := range []struct {
		name string
		o    kernels.CrossEntropyOptions[T]
		want []string
	}{
		{"RowLoss", kernels.CrossEntropyOptions[T]{ZLoss: 0.5, RowLoss: x}, []string{"RowLoss is the same memory as logits", "only grad may be exactly logits"}},
		{"RowLSE", kernels.CrossEntropyOptions[T]{ZLoss: 0.5, RowLSE: x}, []string{"RowLSE is the same memory as logits"}},
	} {
		grad := make([]T, 4)
		_, err := kernels.CrossEntropy(x, targets, 4, 1, grad, &c.o)
		if !errors.Is(err, kernels.ErrOverlap) {
			t.Errorf("%s over logits (K = 1): error %v, want ErrOverlap", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
		if !slices.Equal(x, []T{1, 2, 3, 4}) {
			t.Errorf("%s: logits written before the error", c.name)
		}
	}
	y := []T{0, 1, 1, 0}
	_, err := kernels.BCEWithLogits(x, y, 4, 1, y, nil)
	if !errors.Is(err, kernels.ErrOverlap) || !strings.Contains(err.Error(), "grad is the same memory as y") ||
		!strings.Contains(err.Error(), "only grad or Loss may be exactly x") {
		t.Errorf("BCEWithLogits grad = y: error %v", err)
	}
}

// TestUnitRangeScan: the range check of binary targets and probabilities
// finds a value just outside [0, 1] at every position of every length
// around the vector widths (tails included), lets NaN and −0 through, and
// names the first bad index.
func TestUnitRangeScan(t *testing.T) {
	forEachBackendAndType(t, testUnitRangeScan[float32], testUnitRangeScan[float64])
}

func testUnitRangeScan[T kernels.Float](t *testing.T) {
	below := -T(math.SmallestNonzeroFloat64) // the negative subnormal nearest 0
	if float64(T(math.SmallestNonzeroFloat32)) == math.SmallestNonzeroFloat32 && float64(T(1+0x1p-30)) == 1 {
		below = -T(math.SmallestNonzeroFloat32)
	}
	above := T(math.Nextafter(1, 2))
	if float64(T(1+0x1p-30)) == 1 {
		above = T(math.Nextafter32(1, 2))
	}
	bad := []T{below, above, T(math.Inf(1)), T(math.Inf(-1)), -1e-30, 2}
	good := []T{T(math.NaN()), T(math.Copysign(0, -1)), 0, 1}
	lengths := []int{63, 64, 65, 1000}
	for n := 1; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x, y := make([]T, n), make([]T, n)
		for i := range x {
			x[i], y[i] = 0.5, T(i%2)
		}
		for p := 0; p < n; p++ {
			if n > 40 && p > 2 && p < n-18 && p != n/2 {
				continue
			}
			for _, v := range bad {
				y[p] = v
				_, err := kernels.BCE(x, y, 1, n, nil, nil)
				if !errors.Is(err, kernels.ErrTarget) || !strings.Contains(err.Error(), fmt.Sprintf("y[%d]", p)) {
					t.Fatalf("n=%d y[%d]=%v: error %v, want ErrTarget naming y[%d]", n, p, v, err, p)
				}
				y[p] = T(p % 2)
				x[p] = v
				_, err = kernels.BCE(x, y, 1, n, nil, nil)
				if !errors.Is(err, kernels.ErrTarget) || !strings.Contains(err.Error(), fmt.Sprintf("x[%d]", p)) {
					t.Fatalf("n=%d x[%d]=%v: error %v, want ErrTarget naming x[%d]", n, p, v, err, p)
				}
				x[p] = 0.5
			}
			for _, v := range good {
				y[p], x[p] = v, v
				if _, err := kernels.BCE(x, y, 1, n, nil, nil); err != nil {
					t.Fatalf("n=%d [%d]=%v: error %v, want none", n, p, v, err)
				}
				y[p], x[p] = T(p%2), 0.5
			}
		}
	}
}

// TestWeightScan: the weights' check finds a negative, NaN or infinite
// weight at every position of lengths around the vector widths (tails
// included) and names it, lets 0, subnormals and the largest finite value
// through, and the weighted regression mean it normalises matches the
// reference for a million weights of mixed magnitudes.
func TestWeightScan(t *testing.T) {
	forEachBackendAndType(t, testWeightScan[float32], testWeightScan[float64])
}

func testWeightScan[T kernels.Float](t *testing.T) {
	maxT := T(math.MaxFloat32)
	if big := math.MaxFloat64; float64(T(1+0x1p-30)) != 1 {
		maxT = T(big)
	}
	bad := []T{T(math.NaN()), T(math.Inf(1)), T(math.Inf(-1)), -T(math.SmallestNonzeroFloat32), -1}
	good := []T{0, T(math.Copysign(0, -1)), T(math.SmallestNonzeroFloat32), maxT}
	lengths := []int{63, 64, 65, 1000}
	for n := 1; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x, y, w := make([]T, n), make([]T, n), make([]T, n)
		for i := range w {
			x[i], w[i] = T(i%3), 1
		}
		for p := 0; p < n; p++ {
			if n > 40 && p > 2 && p < n-18 && p != n/2 {
				continue
			}
			for _, v := range bad {
				w[p] = v
				_, err := kernels.MSE(x, y, nil, &kernels.RegressionOptions[T]{Weight: w})
				if !errors.Is(err, kernels.ErrWeight) || !strings.Contains(err.Error(), fmt.Sprintf("Weight[%d]", p)) {
					t.Fatalf("n=%d Weight[%d]=%v: MSE error %v, want ErrWeight naming Weight[%d]", n, p, v, err, p)
				}
				_, err = kernels.BCEWithLogits(x, y, 1, n, nil, &kernels.BinaryOptions[T]{Weight: w})
				if !errors.Is(err, kernels.ErrWeight) || !strings.Contains(err.Error(), fmt.Sprintf("Weight[%d]", p)) {
					t.Fatalf("n=%d Weight[%d]=%v: BCEWithLogits error %v, want ErrWeight naming Weight[%d]", n, p, v, err, p)
				}
			}
			for _, v := range good {
				w[p] = v
				if _, err := kernels.BCEWithLogits(x, y, 1, n, nil, &kernels.BinaryOptions[T]{Weight: w}); err != nil {
					t.Fatalf("n=%d Weight[%d]=%v: error %v, want none", n, p, v, err)
				}
			}
			w[p] = 1
		}
	}
	n := 1 << 20
	if testing.Short() {
		n = 1 << 14
	}
	x, y, w := make([]T, n), make([]T, n), make([]T, n)
	for i := range w {
		x[i] = T(math.Sin(float64(i)))
		w[i] = T(math.Pow(10, float64(i%17-8))) // 1e-8 … 1e8
	}
	o := kernels.RegressionOptions[T]{Weight: w}
	ref, err := reference.MSE(x, y, &o)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]T, n)
	loss, err := kernels.MSE(x, y, grad, &o)
	if err != nil {
		t.Fatal(err)
	}
	if err := reference.Check(ref, reference.Got[T]{CheckLoss: true, Loss: loss, Grad: grad}); err != nil {
		t.Errorf("weighted MSE mean over %d weights: %v", n, err)
	}
	// Finite weights whose sum overflows: the mean's denominator is +Inf,
	// not the NaN of a compensated sum's ∞ − ∞ correction.
	for _, m := range []int{3, 8, 17, 40} {
		x, y, w := make([]T, m), make([]T, m), make([]T, m)
		for i := range w {
			x[i], y[i], w[i] = T(i%4), 0, 0.5
		}
		w[1], w[m-1] = maxT, maxT
		o := kernels.RegressionOptions[T]{Weight: w}
		ref, err := reference.Huber(x, y, &kernels.HuberOptions[T]{RegressionOptions: o, Delta: 1e-30})
		if err != nil {
			t.Fatal(err)
		}
		loss, err := kernels.Huber(x, y, nil, &kernels.HuberOptions[T]{RegressionOptions: o, Delta: 1e-30})
		if err != nil {
			t.Fatal(err)
		}
		if err := reference.CheckLoss(ref, loss); err != nil || math.IsNaN(float64(loss)) {
			t.Errorf("m=%d: weights summing past the largest float: loss %v (%v)", m, loss, err)
		}
	}
}

// TestSmoothingLargeLogits: label smoothing on rows of large, nearly equal
// logits keeps its digits: the smoothing sum is taken from the row's
// maximum (terms ≥ 0), not as tw·lse − Σc·z, which cancelled in generic
// (PyTorch 1.13: 1.515436 for this row; generic gave 1.5).
func TestSmoothingLargeLogits(t *testing.T) {
	for _, b := range kernels.Backends() {
		restore, err := kernels.UseBackend(b)
		if err != nil {
			t.Fatal(err)
		}
		x := []float64{1e15, 1e15 + 0.5, 1e15 - 1, 1e15, 7e14, 1e15 + 0.25, 1e15 - 0.125, 1e15, 1e15 + 1}
		for _, eps := range []float64{1, 0.5, 0.1} {
			for _, k := range []int{4, 9} {
				o := kernels.CrossEntropyOptions[float64]{LabelSmoothing: eps}
				grad := make([]float64, k)
				loss, err := kernels.CrossEntropy(x[:k], []int32{0}, 1, k, grad, &o)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := reference.CrossEntropy(x[:k], []int32{0}, 1, k, &o)
				if err != nil {
					t.Fatal(err)
				}
				if err := reference.Check(ref, reference.Got[float64]{CheckLoss: true, Loss: loss, Grad: grad}); err != nil {
					t.Errorf("%s ε=%v k=%d: %v", b, eps, k, err)
				}
				if eps == 1 && k == 4 && !(math.Abs(loss-1.5154359508528032) <= 1e-12) {
					t.Errorf("%s: loss %v, want PyTorch's 1.515436", b, loss)
				}
			}
		}
		restore()
	}
}

// TestMSEGradientNoOverflow: the MSE gradient 2d/n is finite where 2d
// alone overflows (float32 d = 3e38, mean over 20: PyTorch 3e37); avx2 and
// avx512 formed 2d first and gave +Inf.
func TestMSEGradientNoOverflow(t *testing.T) {
	for _, b := range kernels.Backends() {
		restore, err := kernels.UseBackend(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{20, 37} {
			x, y, grad := make([]float32, n), make([]float32, n), make([]float32, n)
			x[0], y[n-1] = 3e38, 3e38
			if _, err := kernels.MSE(x, y, grad, nil); err != nil {
				t.Fatal(err)
			}
			want := 2 * 3e38 / float64(n)
			if g := float64(grad[0]); !(math.Abs(g-want) <= 1e-6*want) {
				t.Errorf("%s n=%d: grad[0] = %v, want %v", b, n, g, want)
			}
			if g := float64(grad[n-1]); !(math.Abs(g+want) <= 1e-6*want) {
				t.Errorf("%s n=%d: grad[%d] = %v, want %v", b, n, n-1, g, -want)
			}
		}
		restore()
	}
}

// TestWideGradientFactor: a float32 row whose gradient factor scale·P is
// beyond float32 while its gradient elements are not (z-loss 1000 on a
// logit of 1e36, mean over 0.001: P·scale ≈ 2e42). Every element other
// than the maximum's has p_j = 0 and gradient −scale·c_j; the vector
// pass 2 formed (+Inf)·0 = NaN there (fuzz finding F42, avx2/avx512, and
// neon by the same construction). Integer and probability targets, a
// separate and an in-place gradient, and rows on either side of the wide one.
func TestWideGradientFactor(t *testing.T) {
	const n, k = 3, 20
	for _, b := range kernels.Backends() {
		restore, err := kernels.UseBackend(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, probs := range []bool{false, true} {
			for _, inPlace := range []bool{false, true} {
				x := make([]float32, n*k)
				t1 := make([]float32, n*k)
				for i := range x {
					x[i] = float32(i%7) * 0.25
					t1[i] = 1 / float32(k)
				}
				x[k+3] = 1e36 // row 1
				targets := []int32{2, 5, 9}
				grad := make([]float32, n*k)
				if inPlace {
					grad = x
				}
				o := &kernels.CrossEntropyOptions[float32]{ZLoss: 1000, Normalizer: 0.001}
				if probs {
					_, err = kernels.CrossEntropyProbs(x, t1, n, k, grad, o)
				} else {
					_, err = kernels.CrossEntropy(x, targets, n, k, grad, o)
				}
				if err != nil {
					t.Fatal(err)
				}
				for j := range k {
					if j == 3 {
						continue // p = 1: the factor itself, +Inf in float32
					}
					want := 0.0 // −scale·c_j: integer targets put c on the target only
					if probs {
						want = -1000.0 / k
					} else if j == 5 {
						want = -1000
					}
					if g := float64(grad[k+j]); !(math.Abs(g-want) <= 1e-5*math.Abs(want)) {
						t.Errorf("%s probs=%v inPlace=%v: grad[1][%d] = %v, want %v", b, probs, inPlace, j, g, want)
					}
				}
				for _, i := range []int{0, 2} {
					for j := range k {
						if g := grad[i*k+j]; g != g || math.IsInf(float64(g), 0) {
							t.Errorf("%s probs=%v inPlace=%v: grad[%d][%d] = %v", b, probs, inPlace, i, j, g)
						}
					}
				}
			}
		}
		restore()
	}
}

// TestWeightedGradientOrder: a weighted gradient w·g·scale whose value is a
// normal number comes out right whichever of its partial products
// underflows. The SIMD kernels formed w·g first: 0 for Huber d = 1e-30,
// w = 4.6e-20 under a mean whose 1/Σw brings the product back to 2.4e-34
// (fuzz finding F18, FuzzRegression/finding-F18-weighted-residual-underflow).
// Forming w·scale first instead underflows where w is tiny beside Σw and g
// is large (MSE d = 1e19, w = 2e-20 beside weights of 1e30: 2e-32). L1's
// gradient ±w·scale has only the one product. Sizes with a vector tail,
// the odd element first and last.
func TestWeightedGradientOrder(t *testing.T) {
	forEachBackendAndType(t, testWeightedGradientOrder[float32], testWeightedGradientOrder[float64])
}

func testWeightedGradientOrder[T kernels.Float](t *testing.T) {
	f64 := float64(T(1+0x1p-30)) != 1
	type loss struct {
		name string
		p    float64 // Huber's δ or SmoothL1's β
	}
	type tc struct {
		name        string
		d, w, other float64 // the odd element's residual and weight, the other elements' weight
		losses      []loss
	}
	tiny, cases := 0x1p-126, []tc{
		{"w·g underflows", 1e-30, 4.6e-20, 1e-17, []loss{{"MSE", 0}, {"Huber", 1}, {"SmoothL1", 1}}},
		{"w·scale underflows", 1e19, 2e-20, 1e30, []loss{{"MSE", 0}, {"Huber", 1e38}}}, // d² < MaxFloat32
	}
	if f64 {
		tiny, cases = 0x1p-1022, []tc{
			{"w·g underflows", 1e-200, 1e-150, 1e-140, []loss{{"MSE", 0}, {"Huber", 1}, {"SmoothL1", 1}}},
			{"w·scale underflows", 1e150, 1e-100, 1e250, []loss{{"MSE", 0}, {"Huber", 1e300}}},
		}
	}
	for _, c := range cases {
		for _, l := range c.losses {
			for _, n := range []int{20, 37} {
				for _, at := range []int{0, n - 1} {
					x, y, w := make([]T, n), make([]T, n), make([]T, n)
					for i := range w {
						w[i] = T(c.other)
					}
					x[at], w[at] = T(c.d), T(c.w)
					o := kernels.RegressionOptions[T]{Weight: w}
					grad := make([]T, n)
					var ref *reference.Result
					var err error
					switch l.name {
					case "MSE":
						if _, err = kernels.MSE(x, y, grad, &o); err == nil {
							ref, err = reference.MSE(x, y, &o)
						}
					case "Huber":
						ho := &kernels.HuberOptions[T]{RegressionOptions: o, Delta: l.p}
						if _, err = kernels.Huber(x, y, grad, ho); err == nil {
							ref, err = reference.Huber(x, y, ho)
						}
					default:
						so := &kernels.SmoothL1Options[T]{RegressionOptions: o, Beta: l.p}
						if _, err = kernels.SmoothL1(x, y, grad, so); err == nil {
							ref, err = reference.SmoothL1(x, y, so)
						}
					}
					if err != nil {
						t.Fatal(err)
					}
					if !(math.Abs(ref.Grad[at]) >= tiny) {
						t.Fatalf("%s, %s: the reference's gradient %v is no normal number", c.name, l.name, ref.Grad[at])
					}
					if err := reference.Check(ref, reference.Got[T]{Grad: grad}); err != nil {
						t.Errorf("%s, %s n=%d at %d: %v", c.name, l.name, n, at, err)
					}
				}
			}
		}
	}
}

// TestWeightedMSEFactorLast: the weighted MSE gradient 2·d·w·scale is
// finite where w·2 alone overflows (Sum, w = 0.9·MaxFloat: 2·0.25·w), and 0
// at d = 0, not ∞·0: the factor 2 comes last, after the weight and scale.
func TestWeightedMSEFactorLast(t *testing.T) {
	forEachBackendAndType(t, testWeightedMSEFactorLast[float32], testWeightedMSEFactorLast[float64])
}

func testWeightedMSEFactorLast[T kernels.Float](t *testing.T) {
	big := 0.9 * math.MaxFloat32
	if float64(T(1+0x1p-30)) != 1 {
		big = 0.9 * math.MaxFloat64
	}
	for _, n := range []int{20, 37} {
		x, y, w := make([]T, n), make([]T, n), make([]T, n)
		for i := range w {
			w[i] = 1
		}
		x[0], w[0] = 0.25, T(big)
		w[n-1] = T(big) // d = 0
		o := &kernels.RegressionOptions[T]{Reduction: kernels.Sum, Weight: w}
		grad := make([]T, n)
		if _, err := kernels.MSE(x, y, grad, o); err != nil {
			t.Fatal(err)
		}
		ref, err := reference.MSE(x, y, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := reference.Check(ref, reference.Got[T]{Grad: grad}); err != nil {
			t.Errorf("n=%d: %v", n, err)
		}
		if g := float64(grad[0]); !(math.Abs(g-0.5*float64(T(big))) <= 1e-6*big) {
			t.Errorf("n=%d: grad[0] = %v, want %v", n, g, 0.5*float64(T(big)))
		}
	}
}

// TestPartialSumOverflow: a mean of 256 float32 squares of 3e37 is 3e37,
// but avx2 and avx512 add each lane's losses in float32 for 16 vectors
// before float64 (the contract's BlockT), and 16 such terms overflow: they
// return +Inf, which the contract admits (reference.Result's
// partialOverflow); any other value must still be the right mean, and a
// sum that fits must not overflow.
func TestPartialSumOverflow(t *testing.T) {
	for _, m := range []int{256, 8} {
		x := make([]float32, m)
		for i := range x {
			x[i] = float32(math.Sqrt(3e37))
		}
		y := make([]float32, m)
		ref, err := reference.MSE(x, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range kernels.Backends() {
			restore, err := kernels.UseBackend(b)
			if err != nil {
				t.Fatal(err)
			}
			l, err := kernels.MSE(x, y, nil, nil)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if err := reference.CheckLoss(ref, l); err != nil {
				t.Errorf("%s, %d items: %v", b, m, err)
			}
			if m == 8 && math.IsInf(float64(l), 0) {
				t.Errorf("%s: a mean of 8 items of 3e37 overflowed", b)
			}
		}
	}
}
