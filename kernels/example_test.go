// The printed values agree with PyTorch 1.13 (F.cross_entropy, F.binary_cross_entropy_with_logits,
// torchvision.ops.sigmoid_focal_loss, F.huber_loss) to the digits shown.
package kernels_test

import (
	"fmt"

	"github.com/lossfuse/lossfuse/kernels"
)

// A training step for a 3-class classifier: the kernel returns the mean
// loss and writes its gradient with respect to the logits, which the
// caller backpropagates into the layer that produced them.
func ExampleCrossEntropy() {
	const n, k = 2, 3
	logits := []float32{2, 1, 0.1, 0.5, 2.5, 0.3} // output of the last layer
	targets := []int32{0, 1}
	grad := make([]float32, n*k)

	loss, err := kernels.CrossEntropy(logits, targets, n, k, grad, &kernels.CrossEntropyOptions[float32]{
		LabelSmoothing: 0.1,
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f\n", loss)
	fmt.Printf("dL/dlogits row 0: %.4f\n", grad[:k])
	// Output:
	// loss 0.4369
	// dL/dlogits row 0: [-0.1372 0.1045 0.0326]
}

// The gradient can overwrite the logits (in place), which halves the memory
// of a large-vocabulary language-model head; padding tokens are skipped with
// the ignore index and a z-loss keeps the log-normaliser near zero.
func ExampleCrossEntropy_inPlace() {
	const n, k = 3, 4
	logits := []float64{
		1, 2, 3, 4,
		0, 0, 0, 0,
		4, 3, 2, 1,
	}
	targets := []int32{3, -100, 0} // row 1 is padding
	lse := make([]float64, n)
	loss, err := kernels.CrossEntropy(logits, targets, n, k, logits, &kernels.CrossEntropyOptions[float64]{
		ZLoss:  1e-4,
		RowLSE: lse,
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f, lse %.4f\n", loss, lse)
	fmt.Printf("gradient row 1 (ignored): %v\n", logits[k:2*k])
	// Output:
	// loss 0.4422, lse [4.4402 1.3863 4.4402]
	// gradient row 1 (ignored): [0 0 0 0]
}

// Multi-label classification with a class-imbalance pos_weight: each of K
// outputs is an independent binary decision.
func ExampleBCEWithLogits() {
	logits := []float32{0.8, -1.2, 2.0, -0.3}
	labels := []float32{1, 0, 1, 1}
	grad := make([]float32, 4)
	loss, err := kernels.BCEWithLogits(logits, labels, 2, 2, grad, &kernels.BinaryOptions[float32]{
		PosWeight: []float32{3, 1}, // positives of class 0 are rare
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f grad %.4f\n", loss, grad)
	// Output:
	// loss 0.6529 grad [-0.2325 0.0579 -0.0894 -0.1436]
}

// Dense detection-style focal loss with torchvision's defaults (α = 0.25,
// γ = 2): easy negatives contribute almost nothing.
func ExampleSigmoidFocal() {
	logits := []float64{-4, -3, 2.5, 0.2}
	labels := []float64{0, 0, 1, 1}
	grad := make([]float64, 4)
	opts := kernels.DefaultFocal[float64]()
	loss, err := kernels.SigmoidFocal(logits, labels, 1, 4, grad, &opts)
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.5f grad %.5f\n", loss, grad)
	// Output:
	// loss 0.00763 grad [0.00000 0.00006 -0.00008 -0.01403]
}

// Robust regression: Huber's loss with δ = 1, then one step of gradient
// descent on the predictions themselves.
func ExampleHuber() {
	pred := []float64{2.5, 0.0, 2.1, 7.8}
	target := []float64{3.0, -0.5, 2.0, 1.0} // the last one is an outlier
	grad := make([]float64, 4)
	loss, err := kernels.Huber(pred, target, grad, &kernels.HuberOptions[float64]{Delta: 1.0})
	if err != nil {
		panic(err)
	}
	for i := range pred {
		pred[i] -= 0.5 * grad[i]
	}
	fmt.Printf("loss %.4f grad %.4f\n", loss, grad)
	// Output:
	// loss 1.6387 grad [-0.1250 0.1250 0.0250 0.2500]
}

// Row-wise primitives: log-sum-exp and softmax of a batch.
func ExampleLogSumExp() {
	x := []float32{1000, 999, 998, 0, 0, 0}
	lse := make([]float32, 2)
	p := make([]float32, 6)
	if err := kernels.LogSumExp(lse, x, 2, 3, nil); err != nil {
		panic(err)
	}
	if err := kernels.Softmax(p, x, 2, 3, nil); err != nil {
		panic(err)
	}
	fmt.Printf("lse %.4f softmax %.4f\n", lse, p)
	// Output:
	// lse [1000.4076 1.0986] softmax [0.6652 0.2447 0.0900 0.3333 0.3333 0.3333]
}

// PathsTaken shows which code path a call took: on a SIMD backend a path
// under "generic/" would be a scalar fallback.
func ExamplePathsTaken() {
	x := []float32{0.5, -1, 2, 0.25}
	y := []float32{1, 0, 1, 0}
	paths := kernels.PathsTaken(func() {
		_, _ = kernels.BCEWithLogits(x, y, 1, 4, nil, nil)
	})
	fallback := false
	for _, p := range paths {
		fallback = fallback || kernels.Backend() != "generic" && kernels.IsFallback(p)
	}
	fmt.Println(len(paths) > 0, fallback)
	// Output: true false
}

// A Runner spreads large calls over several goroutines. Its results do not
// depend on how many: the same loss bits and gradient for one goroutine as
// for four, so a training run is reproducible on any machine. (PyTorch's
// F.cross_entropy on the same logits gives 6.984299.)
func ExampleRunner() {
	const n, k = 512, 1000 // 512K logits: cut into blocks of 16 rows
	logits := make([]float32, n*k)
	targets := make([]int32, n)
	for i := range logits {
		logits[i] = float32(i%k) / k
	}
	for i := range targets {
		targets[i] = int32(i * 7 % k)
	}
	grad := make([]float32, n*k)

	losses := map[int]float32{}
	for _, p := range []int{1, 4} {
		r := kernels.NewRunner(p)
		loss, err := kernels.CrossEntropy(logits, targets, n, k, grad, &kernels.CrossEntropyOptions[float32]{Runner: r})
		r.Close()
		if err != nil {
			fmt.Println(err)
			return
		}
		losses[p] = loss
	}
	fmt.Printf("loss %.4f on 1 goroutine, %.4f on 4, bit-identical: %v\n", losses[1], losses[4], losses[1] == losses[4])
	// Output: loss 6.9843 on 1 goroutine, 6.9843 on 4, bit-identical: true
}
