package kernels

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// PrimitiveOptions configures the primitives (Softmax … Softplus). The zero
// value, like a nil pointer, runs the call on the calling goroutine.
type PrimitiveOptions struct {
	// Runner, when non-nil, spreads a large call over its goroutines
	// (blocks of rows, or of elements; the results do not depend on their
	// number, and equal those of a call without a Runner).
	Runner *Runner
}

// Softmax writes the row-wise softmax of N rows of K values into dst
// (N×K; dst may be x itself). o may be nil.
func Softmax[T Float](dst, x []T, n, k int, o *PrimitiveOptions) error {
	return rows(impl[T]().Softmax, dst, x, n, k, true, o)
}

// LogSoftmax writes the row-wise log-softmax into dst (N×K; may be x).
func LogSoftmax[T Float](dst, x []T, n, k int, o *PrimitiveOptions) error {
	return rows(impl[T]().LogSoftmax, dst, x, n, k, true, o)
}

// LogSumExp writes log Σ_j exp(x_ij) of each row into dst (length N).
func LogSumExp[T Float](dst, x []T, n, k int, o *PrimitiveOptions) error {
	return rows(impl[T]().LogSumExp, dst, x, n, k, false, o)
}

// runnerOf is o's Runner, nil for nil options.
func runnerOf(o *PrimitiveOptions) *Runner {
	if o == nil {
		return nil
	}
	return o.Runner
}

func rows[T Float](kernel func(args.Rows[T]), dst, x []T, n, k int, full bool, o *PrimitiveOptions) error {
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
	bs := &buffers{out: [3]span{spanOf(dst)}, in: [4]span{spanOf(x)}, inPlace: 1, names: primitiveNames}
	if err := bs.check(); err != nil {
		return err
	}
	runRows(runnerOf(o), kernel, args.Rows[T]{X: x, N: n, K: k, Dst: dst}, full)
	return nil
}

// Sigmoid writes 1/(1+exp(−x)) element-wise into dst (dst may be x).
func Sigmoid[T Float](dst, x []T, o *PrimitiveOptions) error {
	return elementwise(impl[T]().Sigmoid, dst, x, o)
}

// LogSigmoid writes log σ(x) = −softplus(−x) element-wise into dst.
func LogSigmoid[T Float](dst, x []T, o *PrimitiveOptions) error {
	return elementwise(impl[T]().LogSigmoid, dst, x, o)
}

// Softplus writes log(1+exp(x)) element-wise into dst. Unlike PyTorch's
// softplus it has no threshold: it is accurate for every x. SoftplusBeta
// is PyTorch's, with β and threshold.
func Softplus[T Float](dst, x []T, o *PrimitiveOptions) error {
	return elementwiseWith(impl[T]().Softplus, dst, x, 1, T(math.Inf(1)), o)
}

func elementwise[T Float](kernel func(args.Elementwise[T]), dst, x []T, o *PrimitiveOptions) error {
	return elementwiseWith(kernel, dst, x, 0, 0, o)
}

func elementwiseWith[T Float](kernel func(args.Elementwise[T]), dst, x []T, beta, threshold T, o *PrimitiveOptions) error {
	if configErr != nil {
		return configErr
	}
	if err := checkLen("dst", dst, len(x)); err != nil {
		return err
	}
	bs := &buffers{out: [3]span{spanOf(dst)}, in: [4]span{spanOf(x)}, inPlace: 1, names: primitiveNames}
	if err := bs.check(); err != nil {
		return err
	}
	runElementwise(runnerOf(o), kernel, args.Elementwise[T]{X: x, Dst: dst, Beta: beta, Threshold: threshold})
	return nil
}
