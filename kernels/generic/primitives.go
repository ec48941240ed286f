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

// rowLSEFast is rowLSE for rows whose maximum is finite: the maximum
// first, then the exponentials in blocks (sumExpRow). A row holding NaN or
// ±Inf takes rowLSE's online steps and their IEEE meaning.
func rowLSEFast[T args.Float](x []T) (m, lr float64) {
	m, argmax := rowMax(x)
	if m-m != 0 {
		return rowLSE(x)
	}
	return m, math.Log1p(sumExpRow(x, m, argmax, nil))
}

// rowMax returns a row's maximum (NaN if it holds one) and the index of
// its first occurrence.
func rowMax[T args.Float](x []T) (m float64, argmax int) {
	// Four running maxima in the element type: max, which must honour NaN
	// and signed zeros, is a chain of several instructions, and one chain
	// through the row cost as much as its exponentials (rowMax took 3.2 ns
	// per element on AMD Zen 5 with one chain, 1.0 with four, the search
	// for the first maximum included).
	m0 := T(math.Inf(-1))
	m1, m2, m3 := m0, m0, m0
	// Fours off the front: x[i:i+4:i+4] under i+4 <= len(x) kept a bounds
	// check (the compiler cannot rule out that i+4 overflows).
	xs := x
	for len(xs) >= 4 {
		v := xs[:4:4]
		xs = xs[4:]
		m0, m1, m2, m3 = max(m0, v[0]), max(m1, v[1]), max(m2, v[2]), max(m3, v[3])
	}
	for _, v := range xs {
		m0 = max(m0, v)
	}
	mt := max(max(m0, m1), max(m2, m3))
	for j, v := range x {
		if v == mt {
			return float64(mt), j
		}
	}
	return float64(mt), 0
}

// normLSE is the log-sum-exp Softmax and LogSoftmax normalise by: a row
// holding +Inf (lse = +Inf) is NaN throughout, as in PyTorch, rather than
// NaN at the infinity and 0 (or −Inf) elsewhere.
func normLSE[T args.Float](x []T) (m, lr float64) {
	m, lr = rowLSEFast(x)
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
		// A finite maximum: the exponentials parked in dst by the sum
		// and scaled by 1/Σ (as the cross-entropy gradient's stash).
		if m, argmax := rowMax(x); m-m == 0 {
			inv := 1 / (1 + sumExpRow(x, m, argmax, dst))
			for j, v := range dst {
				dst[j] = T(float64(v) * inv)
			}
			continue
		}
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
		m, lr := rowLSEFast(a.X[i*k : i*k+k])
		dst[i] = T(m + lr)
	}
}

// Sigmoid writes σ(x) element-wise; Dst may be X.
func Sigmoid[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/sigmoid")
	sigmoidFamily(a, famSigmoid)
}

// LogSigmoid writes log σ(x) = −softplus(−x) element-wise.
func LogSigmoid[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/logsigmoid")
	sigmoidFamily(a, famLogSigmoid)
}

const (
	famSigmoid = iota
	famLogSigmoid
	famSoftplus
)

// sigmoidFamily writes σ(x), log σ(x) or softplus(x) for each x, from
// e = e^−|x| and log1p(e), both staged through blocks; one loop per
// function, the switch outside it.
func sigmoidFamily[T args.Float](a args.Elementwise[T], fam int) {
	x := a.X
	dst := a.Dst[:len(x)]
	var eb, lb [sumExpBlock]float64
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		d := dst[lo:][:len(xs)]
		e, l1 := eb[:len(xs)], lb[:len(xs)]
		for i, v := range xs {
			e[i] = -math.Abs(float64(v))
		}
		expIntoT[T](e, e)
		if fam == famSigmoid {
			for i, v := range xs {
				sp, _ := sigmoids(float64(v), e[i])
				d[i] = T(sp)
			}
			continue
		}
		log1pIntoT[T](l1, e)
		if fam == famLogSigmoid {
			for i, v := range xs {
				d[i] = T(-(max(-float64(v), 0) + l1[i]))
			}
			continue
		}
		for i, v := range xs {
			d[i] = T(max(float64(v), 0) + l1[i])
		}
	}
}
