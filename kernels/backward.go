package kernels

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The primitives' backward passes: given dy, the gradient of some loss with
// respect to a primitive's output, each writes dx, the gradient with respect
// to its input (the vector–Jacobian product), from what PyTorch's autograd
// saves: the output for Softmax, LogSoftmax and Sigmoid, the input for
// LogSumExp, LogSigmoid and Softplus. dx may be exactly dy, or the saved
// slice (in place); it must not otherwise overlap an input. The formulas are
// PyTorch's, so that a framework using these as autograd ops gets PyTorch's
// gradients within the accuracy contract.

// SoftmaxBackward writes dx = y ⊙ (dy − Σ_j y_j·dy_j) per row, where y =
// Softmax(x) is the forward's output (N×K each).
func SoftmaxBackward[T Float](dx, dy, y []T, n, k int, o *PrimitiveOptions) error {
	return rowsBackward(impl[T]().SoftmaxBackward, dx, dy, y, nil, n, k, "y", o)
}

// LogSoftmaxBackward writes dx = dy − exp(y)·Σ_j dy_j per row, where y =
// LogSoftmax(x) is the forward's output (N×K each).
func LogSoftmaxBackward[T Float](dx, dy, y []T, n, k int, o *PrimitiveOptions) error {
	return rowsBackward(impl[T]().LogSoftmaxBackward, dx, dy, y, nil, n, k, "y", o)
}

// LogSumExpBackward writes dx_ij = dy_i·exp(x_ij − lse_i) (N×K), from the
// forward's input x (N×K), its output lse = LogSumExp(x) and dy (length N
// each). dx may be x.
func LogSumExpBackward[T Float](dx, dy, x, lse []T, n, k int, o *PrimitiveOptions) error {
	return rowsBackward(impl[T]().LogSumExpBackward, dx, dy, x, lse, n, k, "x", o)
}

func rowsBackward[T Float](kernel func(args.Rows[T]), dx, dy, saved, lse []T, n, k int, savedName string, o *PrimitiveOptions) error {
	if configErr != nil {
		return configErr
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return err
	}
	var r rules
	r.length(savedName, len(saved), nk)
	if lse != nil || savedName == "x" { // LogSumExpBackward: dy and lse per row
		r.length("dy", len(dy), n)
		r.length("lse", len(lse), n)
	} else {
		r.length("dy", len(dy), nk)
	}
	r.length("dx", len(dx), nk)
	if r.err != nil {
		return r.err
	}
	names := softmaxBackwardNames
	if lse != nil {
		names = lseBackwardNames
	}
	bs := &buffers{out: [3]span{spanOf(dx)}, in: [4]span{spanOf(dy), spanOf(saved), spanOf(lse)}, inPlace: 1, inPlaceSecond: true, names: names}
	if lse != nil {
		// dy has one value per row: dx can only be exactly x.
		bs.in[0], bs.in[1] = spanOf(saved), spanOf(dy)
		bs.inPlaceSecond = false
	}
	if err := bs.check(); err != nil {
		return err
	}
	runRows(runnerOf(o), kernel, args.Rows[T]{X: saved, N: n, K: k, Dst: dx, Dy: dy, LSE: lse}, true)
	return nil
}

// SigmoidBackward writes dx = dy·y·(1 − y) element-wise, where y =
// Sigmoid(x) is the forward's output.
func SigmoidBackward[T Float](dx, dy, y []T, o *PrimitiveOptions) error {
	return elementwiseBackward(impl[T]().SigmoidBackward, dx, dy, y, "y", 1, T(math.Inf(1)), o)
}

// LogSigmoidBackward writes dx = dy·σ(−x) element-wise from the forward's
// input x.
func LogSigmoidBackward[T Float](dx, dy, x []T, o *PrimitiveOptions) error {
	return elementwiseBackward(impl[T]().LogSigmoidBackward, dx, dy, x, "x", 1, T(math.Inf(1)), o)
}

// SoftplusBackward writes dx = dy·σ(x) element-wise from the forward's input
// x: the gradient of Softplus (no threshold).
func SoftplusBackward[T Float](dx, dy, x []T, o *PrimitiveOptions) error {
	return elementwiseBackward(impl[T]().SoftplusBackward, dx, dy, x, "x", 1, T(math.Inf(1)), o)
}

// SoftplusBeta writes PyTorch's softplus with β and threshold into dst:
// (1/β)·log(1 + exp(β·x)), or x itself where β·x > threshold (the product
// and the comparison in T, as PyTorch). PyTorch's defaults are β = 1 and
// threshold = 20; threshold = +Inf with β = 1 is Softplus. Below the
// threshold the result is accurate for every x (PyTorch's log1p(exp(βx))
// overflows to +Inf past βx ≈ 88 in float32). β must be finite and not 0;
// threshold must not be NaN. dst may be x.
func SoftplusBeta[T Float](dst, x []T, beta, threshold T, o *PrimitiveOptions) error {
	if err := checkSoftplus(beta, threshold); err != nil {
		return err
	}
	return elementwiseWith(impl[T]().Softplus, dst, x, beta, threshold, o)
}

// SoftplusBetaBackward is SoftplusBeta's backward pass: dx = dy·σ(β·x), or
// dy where β·x > threshold.
func SoftplusBetaBackward[T Float](dx, dy, x []T, beta, threshold T, o *PrimitiveOptions) error {
	if err := checkSoftplus(beta, threshold); err != nil {
		return err
	}
	return elementwiseBackward(impl[T]().SoftplusBackward, dx, dy, x, "x", beta, threshold, o)
}

func checkSoftplus[T Float](beta, threshold T) error {
	if beta == 0 || float64(beta)-float64(beta) != 0 {
		return wrapf(ErrOption, "beta=%v: must be finite and not 0", beta)
	}
	if threshold != threshold {
		return wrapf(ErrOption, "threshold=%v: must not be NaN (+Inf: no threshold)", threshold)
	}
	return nil
}

func elementwiseBackward[T Float](kernel func(args.Elementwise[T]), dx, dy, saved []T, savedName string, beta, threshold T, o *PrimitiveOptions) error {
	if configErr != nil {
		return configErr
	}
	var r rules
	r.length("dy", len(dy), len(saved))
	r.length("dx", len(dx), len(saved))
	if r.err != nil {
		return r.err
	}
	names := sigmoidBackwardNames
	if savedName == "x" {
		names = xBackwardNames
	}
	bs := &buffers{out: [3]span{spanOf(dx)}, in: [4]span{spanOf(dy), spanOf(saved)}, inPlace: 1, inPlaceSecond: true, names: names}
	if err := bs.check(); err != nil {
		return err
	}
	runElementwise(runnerOf(o), kernel, args.Elementwise[T]{X: saved, Dst: dx, Dy: dy, Beta: beta, Threshold: threshold})
	return nil
}
