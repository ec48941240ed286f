package kernels

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// Softmax writes the row-wise softmax of N rows of K values into dst
// (N×K; dst may be x itself).
func Softmax[T Float](dst, x []T, n, k int) error {
	return rows(impl[T]().Softmax, dst, x, n, k, true)
}

// LogSoftmax writes the row-wise log-softmax into dst (N×K; may be x).
func LogSoftmax[T Float](dst, x []T, n, k int) error {
	return rows(impl[T]().LogSoftmax, dst, x, n, k, true)
}

// LogSumExp writes log Σ_j exp(x_ij) of each row into dst (length N).
func LogSumExp[T Float](dst, x []T, n, k int) error {
	return rows(impl[T]().LogSumExp, dst, x, n, k, false)
}

func rows[T Float](kernel func(args.Rows[T]), dst, x []T, n, k int, full bool) error {
	if configErr != nil {
		return configErr
	}
	nk, err := checkShape(n, k)
	if err != nil {
		return err
	}
	want := n
	if full {
		want = nk
	}
	var r rules
	r.length("x", len(x), nk)
	r.length("dst", len(dst), want)
	if r.err != nil {
		return r.err
	}
	bs := buffers{out: [3]span{spanOf(dst)}, in: [4]span{spanOf(x)}, inPlace: 1, names: primitiveNames}
	if err := bs.check(); err != nil {
		return err
	}
	kernel(args.Rows[T]{X: x, N: n, K: k, Dst: dst})
	return nil
}

// Sigmoid writes 1/(1+exp(−x)) element-wise into dst (dst may be x).
func Sigmoid[T Float](dst, x []T) error { return elementwise(impl[T]().Sigmoid, dst, x) }

// LogSigmoid writes log σ(x) = −softplus(−x) element-wise into dst.
func LogSigmoid[T Float](dst, x []T) error { return elementwise(impl[T]().LogSigmoid, dst, x) }

// Softplus writes log(1+exp(x)) element-wise into dst. Unlike PyTorch's
// softplus it has no threshold: it is accurate for every x.
func Softplus[T Float](dst, x []T) error { return elementwise(impl[T]().Softplus, dst, x) }

func elementwise[T Float](kernel func(args.Elementwise[T]), dst, x []T) error {
	if configErr != nil {
		return configErr
	}
	if err := checkLen("dst", dst, len(x)); err != nil {
		return err
	}
	bs := buffers{out: [3]span{spanOf(dst)}, in: [4]span{spanOf(x)}, inPlace: 1, names: primitiveNames}
	if err := bs.check(); err != nil {
		return err
	}
	kernel(args.Elementwise[T]{X: x, Dst: dst})
	return nil
}
