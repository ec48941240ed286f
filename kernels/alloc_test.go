package kernels_test

// No kernel allocates on the heap: every entry point, float32 and float64,
// every backend, with heap buffers (as callers have them), with nil options
// and with options that take the other code paths (weights, outputs,
// smoothing, in-place gradient), on short and long rows.

import (
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

func TestNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items on purpose: allocation counts mean nothing")
	}
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { noAllocs[float32](t) })
		t.Run("float64", func(t *testing.T) { noAllocs[float64](t) })
		t.Run("half", noAllocsHalf)
	})
}

// allocShapes is issue 14's grid of row lengths: around the vector widths,
// the small-K transposed kernels (N ≥ 16 rows), the fused rows up to 4096,
// the stashed long rows with their pooled scratch (4097…32768, N ≥ 2 for
// the pipelined path) and the blockwise rows beyond (32769, 50257, 128256).
func allocShapes() [][2]int {
	if testing.Short() { // qemu runs this 10-30× slower
		return [][2]int{{4, 37}, {2, 1000}, {17, 2}, {2, 4097}, {2, 32769}}
	}
	var shapes [][2]int
	for _, k := range []int{1, 2, 15, 16, 17, 37, 1000, 4096, 4097, 8192, 32000, 32769, 50257, 128256} {
		n := 2
		if k <= 17 {
			n = 33
		}
		shapes = append(shapes, [2]int{n, k})
	}
	return shapes
}

func noAllocs[T kernels.Float](t *testing.T) {
	for _, shape := range allocShapes() {
		n, k := shape[0], shape[1]
		rng := rand.New(rand.NewSource(31))
		fill := func(m int, lo, hi float64) []T {
			s := make([]T, m)
			for i := range s {
				s[i] = T(lo + (hi-lo)*rng.Float64())
			}
			return s
		}
		nk := n * k
		logits, probs, x, p, y := fill(nk, -3, 3), fill(nk, 0, 1), fill(nk, -3, 3), fill(nk, 0.01, 0.99), fill(nk, 0, 1)
		w, wb, pw := fill(k, 0, 2), fill(nk, 0, 2), fill(k, 0, 2)
		grad, rowLoss, rowLSE, loss, dst, dstN := make([]T, nk), make([]T, n), make([]T, n), make([]T, nk), make([]T, nk), make([]T, n)
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		targets[0] = -100
		if k == 1 {
			probs = fill(nk, 1, 1) // a row of one class: its target mass is 1
		}
		inplace := fill(nk, -3, 3)

		ceFull := &kernels.CrossEntropyOptions[T]{Weight: w, LabelSmoothing: 0.1, ZLoss: 1e-4, RowLoss: rowLoss, RowLSE: rowLSE}
		ceCap := &kernels.CrossEntropyOptions[T]{SoftCap: 30, Reduction: kernels.Sum}
		sf := &kernels.SoftmaxFocalOptions[T]{Gamma: 2, Alpha: w, RowLoss: rowLoss}
		bo := &kernels.BinaryOptions[T]{Weight: wb, PosWeight: pw, Loss: loss, Asymmetric: &kernels.Asymmetric{FalseNegative: 1, FalsePositive: 2}}
		clip := &kernels.BinaryOptions[T]{Clip: 1e-7, Reduction: kernels.None, Loss: loss}
		fo := &kernels.FocalOptions[T]{BinaryOptions: kernels.BinaryOptions[T]{Weight: wb, Loss: loss}, Alpha: 0.25, Gamma: 0.5}
		ro := &kernels.RegressionOptions[T]{Weight: wb, Loss: loss}
		cwo := &kernels.BinaryOptions[T]{ClassWeight: pw, PosWeight: pw, Loss: loss}
		rwo := &kernels.FocalOptions[T]{BinaryOptions: kernels.BinaryOptions[T]{RowWeight: fill(n, 0, 2)}, Gamma: 2}

		calls := []struct {
			name string
			f    func() error
		}{
			{"CrossEntropy nil", func() error { _, err := kernels.CrossEntropy(logits, targets, n, k, grad, nil); return err }},
			{"CrossEntropy options", func() error { _, err := kernels.CrossEntropy(logits, targets, n, k, grad, ceFull); return err }},
			{"CrossEntropy soft-cap", func() error { _, err := kernels.CrossEntropy(logits, targets, n, k, grad, ceCap); return err }},
			{"CrossEntropy in place", func() error { _, err := kernels.CrossEntropy(inplace, targets, n, k, inplace, nil); return err }},
			{"CrossEntropy loss only", func() error { _, err := kernels.CrossEntropy(logits, targets, n, k, nil, nil); return err }},
			{"CrossEntropyProbs", func() error { _, err := kernels.CrossEntropyProbs(logits, probs, n, k, grad, nil); return err }},
			{"CrossEntropyProbs options", func() error { _, err := kernels.CrossEntropyProbs(logits, probs, n, k, grad, ceFull); return err }},
			{"SoftmaxFocal nil", func() error { _, err := kernels.SoftmaxFocal(logits, targets, n, k, grad, nil); return err }},
			{"SoftmaxFocal options", func() error { _, err := kernels.SoftmaxFocal(logits, targets, n, k, grad, sf); return err }},
			{"BCEWithLogits nil", func() error { _, err := kernels.BCEWithLogits(x, y, n, k, grad, nil); return err }},
			{"BCEWithLogits options", func() error { _, err := kernels.BCEWithLogits(x, y, n, k, grad, bo); return err }},
			{"BCEWithLogits ClassWeight", func() error { _, err := kernels.BCEWithLogits(x, y, n, k, grad, cwo); return err }},
			{"SigmoidFocal RowWeight", func() error { _, err := kernels.SigmoidFocal(x, y, n, k, grad, rwo); return err }},
			{"BCE nil", func() error { _, err := kernels.BCE(p, y, n, k, grad, nil); return err }},
			{"BCE clip", func() error { _, err := kernels.BCE(p, y, n, k, grad, clip); return err }},
			{"SigmoidFocal nil", func() error { _, err := kernels.SigmoidFocal(x, y, n, k, grad, nil); return err }},
			{"SigmoidFocal options", func() error { _, err := kernels.SigmoidFocal(x, y, n, k, grad, fo); return err }},
			{"FocalProbs nil", func() error { _, err := kernels.FocalProbs(p, y, n, k, grad, nil); return err }},
			{"FocalProbs options", func() error { _, err := kernels.FocalProbs(p, y, n, k, grad, fo); return err }},
			{"MSE nil", func() error { _, err := kernels.MSE(x, y, grad, nil); return err }},
			{"MSE options", func() error { _, err := kernels.MSE(x, y, grad, ro); return err }},
			{"L1", func() error { _, err := kernels.L1(x, y, grad, ro); return err }},
			{"Huber", func() error {
				_, err := kernels.Huber(x, y, grad, &kernels.HuberOptions[T]{RegressionOptions: *ro, Delta: 1})
				return err
			}},
			{"SmoothL1", func() error {
				_, err := kernels.SmoothL1(x, y, grad, &kernels.SmoothL1Options[T]{Beta: 0.5})
				return err
			}},
			{"Softmax", func() error { return kernels.Softmax(dst, x, n, k, nil) }},
			{"Softmax in place", func() error { return kernels.Softmax(inplace, inplace, n, k, nil) }},
			{"LogSoftmax", func() error { return kernels.LogSoftmax(dst, x, n, k, nil) }},
			{"LogSumExp", func() error { return kernels.LogSumExp(dstN, x, n, k, nil) }},
			{"Sigmoid", func() error { return kernels.Sigmoid(dst, x, nil) }},
			{"LogSigmoid", func() error { return kernels.LogSigmoid(dst, x, nil) }},
			{"Softplus in place", func() error { return kernels.Softplus(inplace, inplace, nil) }},
			{"NLL", func() error { _, err := kernels.NLL(x, targets, n, k, grad, nil); return err }},
			{"KLDiv", func() error {
				_, err := kernels.KLDiv(x, p, n, k, grad, &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean})
				return err
			}},
			{"Distill", func() error {
				_, err := kernels.Distill(x, logits, n, k, grad, &kernels.DistillOptions[T]{Temperature: 2, ScaleT2: true, Labels: targets, RowLoss: rowLoss})
				return err
			}},
			{"Distill in place", func() error { _, err := kernels.Distill(inplace, logits, n, k, inplace, nil); return err }},
			{"Distill reverse KL", func() error {
				_, err := kernels.Distill(x, logits, n, k, grad, &kernels.DistillOptions[T]{Divergence: kernels.ReverseKL, Temperature: 2, Labels: targets})
				return err
			}},
			{"Distill JSD in place", func() error {
				_, err := kernels.Distill(inplace, logits, n, k, inplace, &kernels.DistillOptions[T]{Divergence: kernels.JSD, Beta: 0.3, RowLoss: rowLoss})
				return err
			}},
			{"SoftplusBeta", func() error { return kernels.SoftplusBeta(dst, x, 2, 20, nil) }},
			{"SoftmaxBackward", func() error { return kernels.SoftmaxBackward(dst, x, x, n, k, nil) }},
			{"LogSoftmaxBackward in place", func() error { return kernels.LogSoftmaxBackward(inplace, inplace, x, n, k, nil) }},
			{"LogSumExpBackward", func() error { return kernels.LogSumExpBackward(dst, dstN, x, dstN, n, k, nil) }},
			{"SigmoidBackward", func() error { return kernels.SigmoidBackward(dst, x, x, nil) }},
			{"LogSigmoidBackward", func() error { return kernels.LogSigmoidBackward(dst, x, x, nil) }},
			{"SoftplusBackward", func() error { return kernels.SoftplusBackward(dst, x, x, nil) }},
			{"SoftplusBetaBackward in place", func() error { return kernels.SoftplusBetaBackward(inplace, inplace, x, 0.5, 10, nil) }},
		}
		runs := 3
		if testing.Short() {
			runs = 2
		}
		for _, c := range calls {
			if err := c.f(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if a := testing.AllocsPerRun(runs, func() { _ = c.f() }); a != 0 {
				t.Errorf("%s n=%d k=%d: %v allocations per call", c.name, n, k, a)
			}
		}
	}
}

// noAllocsHalf: the 16-bit kernels, with their pooled float32 buffer, on
// the same grid (once warm: the first call of a size may grow the pool's
// buffer).
func noAllocsHalf(t *testing.T) {
	for _, shape := range allocShapes() {
		n, k := shape[0], shape[1]
		nk := n * k
		bf, fh := make([]kernels.BF16, nk), make([]kernels.F16, nk)
		for i := range bf {
			bf[i] = kernels.BF16FromFloat32(float32(i%7) - 3)
			fh[i] = kernels.F16FromFloat32(float32(i%5) - 2)
		}
		g16, g32 := make([]kernels.BF16, nk), make([]float32, nk)
		probs := make([]kernels.BF16, nk)
		for i := range probs {
			probs[i] = kernels.BF16FromFloat32(float32(i%3) / 2)
		}
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(i % k)
		}
		full := &kernels.CrossEntropyOptions[float32]{Weight: make([]float32, k), LabelSmoothing: 0.1, ZLoss: 1e-4,
			RowLoss: make([]float32, n), RowLSE: make([]float32, n)}
		calls := []struct {
			name string
			f    func() error
		}{
			{"CrossEntropyHalf bf16", func() error { _, err := kernels.CrossEntropyHalf(bf, targets, n, k, g16, nil); return err }},
			{"CrossEntropyHalf bf16 float32 grad", func() error { _, err := kernels.CrossEntropyHalf(bf, targets, n, k, g32, full); return err }},
			{"CrossEntropyHalf f16 in place", func() error { _, err := kernels.CrossEntropyHalf(fh, targets, n, k, fh, nil); return err }},
			{"CrossEntropyProbsHalf", func() error {
				_, err := kernels.CrossEntropyProbsHalf(bf, probs, n, k, g16, full)
				return err
			}},
			{"SoftmaxFocalHalf", func() error {
				_, err := kernels.SoftmaxFocalHalf(fh, targets, n, k, g32, &kernels.SoftmaxFocalOptions[float32]{Gamma: 2})
				return err
			}},
			{"BCEWithLogitsHalf", func() error {
				_, err := kernels.BCEWithLogitsHalf(bf, probs, n, k, g16, &kernels.BinaryOptions[float32]{PosWeight: full.Weight})
				return err
			}},
			{"SigmoidFocalHalf class weights", func() error {
				_, err := kernels.SigmoidFocalHalf(bf, probs, n, k, g32, &kernels.FocalOptions[float32]{BinaryOptions: kernels.BinaryOptions[float32]{ClassWeight: full.Weight}, Gamma: 2})
				return err
			}},
			{"CrossEntropyHalf loss only", func() error {
				_, err := kernels.CrossEntropyHalf(bf, targets, n, k, []kernels.BF16(nil), full)
				return err
			}},
		}
		for _, c := range calls {
			if err := c.f(); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if a := testing.AllocsPerRun(3, func() { _ = c.f() }); a != 0 {
				t.Errorf("%s n=%d k=%d: %v allocations per call", c.name, n, k, a)
			}
		}
	}
}
