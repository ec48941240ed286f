package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// rowLSE returns a row's maximum m and lr with log Σ exp(x_j) = m + lr,
// in one online pass. Keeping them apart lets x_j − lse be formed as
// (x_j − m) − lr, exact at the maximum.
func rowLSE[T args.Float](x []T) (m, lr float64) {
	m, r := math.Inf(-1), -1.0
	for _, v := range x {
		m, r = onlineStep(m, r, float64(v))
	}
	return m, math.Log1p(r)
}

// normLSE is the log-sum-exp Softmax and LogSoftmax normalise by: a row
// holding +Inf (lse = +Inf) is NaN throughout, as in PyTorch, rather than
// NaN at the infinity and 0 (or −Inf) elsewhere.
func normLSE[T args.Float](x []T) (m, lr float64) {
	m, lr = rowLSE(x)
	if math.IsInf(m+lr, 1) {
		return math.NaN(), math.NaN()
	}
	return m, lr
}

// Softmax writes exp(x − lse) row by row; Dst may be X.
func Softmax[T args.Float](a args.Rows[T]) {
	args.Took("generic/softmax")
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		dst = dst[:len(x)]
		m, lr := normLSE(x)
		for j, v := range x {
			dst[j] = T(math.Exp((float64(v) - m) - lr))
		}
	}
}

// LogSoftmax writes x − lse row by row; Dst may be X.
func LogSoftmax[T args.Float](a args.Rows[T]) {
	args.Took("generic/logsoftmax")
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		dst = dst[:len(x)]
		m, lr := normLSE(x)
		for j, v := range x {
			dst[j] = T((float64(v) - m) - lr)
		}
	}
}

// LogSumExp writes each row's log-sum-exp into Dst[i].
func LogSumExp[T args.Float](a args.Rows[T]) {
	args.Took("generic/logsumexp")
	k := a.K
	dst := a.Dst[:a.N]
	for i := range dst {
		m, lr := rowLSE(a.X[i*k : i*k+k])
		dst[i] = T(m + lr)
	}
}

// Sigmoid writes σ(x) element-wise; Dst may be X.
func Sigmoid[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/sigmoid")
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(sigmoid(float64(v)))
	}
}

// LogSigmoid writes log σ(x) = −softplus(−x) element-wise.
func LogSigmoid[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/logsigmoid")
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(-softplus(-float64(v)))
	}
}

// Softplus writes log(1+eˣ) element-wise.
func Softplus[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/softplus")
	dst := a.Dst[:len(a.X)]
	for i, v := range a.X {
		dst[i] = T(softplus(float64(v)))
	}
}
