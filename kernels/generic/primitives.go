package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// rowLSE is log Σ exp(x_j) of one row, in one online pass.
func rowLSE[T args.Float](x []T) float64 {
	m, s := math.Inf(-1), 0.0
	for _, v := range x {
		m, s = onlineStep(m, s, float64(v))
	}
	return m + math.Log(s)
}

// normLSE is the log-sum-exp Softmax and LogSoftmax normalise by: a row
// holding +Inf (lse = +Inf) is NaN throughout, as in PyTorch, rather than
// NaN at the infinity and 0 (or −Inf) elsewhere.
func normLSE[T args.Float](x []T) float64 {
	lse := rowLSE(x)
	if math.IsInf(lse, 1) {
		return math.NaN()
	}
	return lse
}

// Softmax writes exp(x − lse) row by row; Dst may be X.
func Softmax[T args.Float](a args.Rows[T]) {
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		dst = dst[:len(x)]
		lse := normLSE(x)
		for j, v := range x {
			dst[j] = T(math.Exp(float64(v) - lse))
		}
	}
}

// LogSoftmax writes x − lse row by row; Dst may be X.
func LogSoftmax[T args.Float](a args.Rows[T]) {
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		dst = dst[:len(x)]
		lse := normLSE(x)
		for j, v := range x {
			dst[j] = T(float64(v) - lse)
		}
	}
}

// LogSumExp writes each row's log-sum-exp into Dst[i].
func LogSumExp[T args.Float](a args.Rows[T]) {
	k := a.K
	dst := a.Dst[:a.N]
	for i := range dst {
		dst[i] = T(rowLSE(a.X[i*k : i*k+k]))
	}
}

// Sigmoid writes σ(x) element-wise; Dst may be X.
func Sigmoid[T args.Float](a args.Elementwise[T]) {
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(sigmoid(float64(v)))
	}
}

// LogSigmoid writes log σ(x) = −softplus(−x) element-wise.
func LogSigmoid[T args.Float](a args.Elementwise[T]) {
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(-softplus(-float64(v)))
	}
}

// Softplus writes log(1+eˣ) element-wise.
func Softplus[T args.Float](a args.Elementwise[T]) {
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(softplus(float64(v)))
	}
}
