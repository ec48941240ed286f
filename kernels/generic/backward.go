package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The primitives' backward passes (vector–Jacobian products) and Softplus
// with PyTorch's β and threshold. Like the forwards they compute in float64
// and round once; the exponentials go through expInto in blocks.

// SigmoidBackward writes dx = dy·y·(1−y) from the saved output y (X).
func SigmoidBackward[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/sigmoid-backward")
	y := a.X
	dy, dx := a.Dy[:len(y)], a.Dst[:len(y)]
	// (1 − y)·y: 1 − y is exact for y ≥ ½, where y − y² would cancel.
	if single[T]() {
		// float32 in float32, as PyTorch and the SIMD kernels form it
		// (three roundings): the widenings cost as much as the arithmetic
		// in this loop, which memory barely limits.
		for i, v := range y {
			dx[i] = dy[i] * ((1 - v) * v)
		}
		return
	}
	for i, v := range y {
		yv := float64(v)
		dx[i] = T(float64(dy[i]) * ((1 - yv) * yv))
	}
}

// LogSigmoidBackward writes dx = dy·σ(−x).
func LogSigmoidBackward[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/logsigmoid-backward")
	sigmoidGrad(a, -1, T(math.Inf(1)))
}

// Softplus writes (1/β)·log(1+exp(βx)), or x where βx > threshold; the
// exact form (β = 1, no threshold) takes the forward family's loop.
func Softplus[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/softplus")
	if a.ExactSoftplus() {
		sigmoidFamily(a, famSoftplus)
		return
	}
	x := a.X
	dst := a.Dst[:len(x)]
	beta, thr := a.Beta, a.Threshold
	b := float64(beta)
	var eb, lb [sumExpBlock]float64
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		d := dst[lo:][:len(xs)]
		e, l1 := eb[:len(xs)], lb[:len(xs)]
		for i, v := range xs {
			e[i] = -math.Abs(float64(v * beta)) // βx rounded in T, as PyTorch
		}
		expIntoT[T](e, e)
		log1pIntoT[T](l1, e)
		for i, v := range xs {
			t := v * beta
			r := T((max(float64(t), 0) + l1[i]) / b)
			if t > thr {
				r = v
			}
			d[i] = r
		}
	}
}

// SoftplusBackward writes dx = dy·σ(βx), or dy where βx > threshold.
func SoftplusBackward[T args.Float](a args.Elementwise[T]) {
	args.Took("generic/softplus-backward")
	sigmoidGrad(a, a.Beta, a.Threshold)
}

// sigmoidGrad writes dx = dy·σ(βx), dy where βx > thr (βx in T).
func sigmoidGrad[T args.Float](a args.Elementwise[T], beta, thr T) {
	x := a.X
	dy, dx := a.Dy[:len(x)], a.Dst[:len(x)]
	var tb, eb [sumExpBlock]float64
	for lo := 0; lo < len(x); lo += sumExpBlock {
		xs := x[lo:min(lo+sumExpBlock, len(x))]
		g, d := dy[lo:][:len(xs)], dx[lo:][:len(xs)]
		t, e := tb[:len(xs)], eb[:len(xs)]
		for i, v := range xs {
			t[i] = float64(v * beta) // rounded in T, as PyTorch
			e[i] = -math.Abs(t[i])
		}
		expIntoT[T](e, e)
		for i, tv := range t {
			// σ(t) = f/(1+e) with f = 1 for t ≥ 0 and e below: picked by
			// the sign bit, not a branch on random data.
			ev := e[i]
			pick := [2]float64{1, ev}
			s := pick[math.Float64bits(tv)>>63] / (1 + ev)
			if tv < -700 { // σ underflows near −745
				s = positive(tv, s)
			}
			r := T(float64(g[i]) * s)
			if tv > float64(thr) {
				r = g[i]
			}
			d[i] = r
		}
	}
}

// SoftmaxBackward writes dx = y·(dy − Σ y·dy) row by row.
func SoftmaxBackward[T args.Float](a args.Rows[T]) {
	args.Took("generic/softmax-backward")
	k := a.K
	for i := 0; i < a.N; i++ {
		y := a.X[i*k : i*k+k]
		dy, dx := a.Dy[i*k : i*k+k][:len(y)], a.Dst[i*k : i*k+k][:len(y)]
		// The sum in float64; the products in T, as PyTorch and the SIMD
		// kernels form them (converting each element to float64 cost a
		// third of the call).
		s := T(dot4(y, dy))
		for j, v := range y {
			dx[j] = v * (dy[j] - s)
		}
	}
}

// LogSoftmaxBackward writes dx = dy − exp(y)·Σ dy row by row.
func LogSoftmaxBackward[T args.Float](a args.Rows[T]) {
	args.Took("generic/logsoftmax-backward")
	k := a.K
	var eb [sumExpBlock]float64
	for i := 0; i < a.N; i++ {
		y := a.X[i*k : i*k+k]
		dy, dx := a.Dy[i*k : i*k+k][:len(y)], a.Dst[i*k : i*k+k][:len(y)]
		s := sum4(dy)
		for lo := 0; lo < len(y); lo += sumExpBlock {
			ys := y[lo:min(lo+sumExpBlock, len(y))]
			g, d := dy[lo:][:len(ys)], dx[lo:][:len(ys)]
			e := eb[:len(ys)]
			for j, v := range ys {
				e[j] = float64(v)
			}
			expIntoT[T](e, e)
			for j, v := range e {
				d[j] = T(float64(g[j]) - positive(float64(ys[j]), v)*s)
			}
		}
	}
}

// LogSumExpBackward writes dx_ij = dy_i·exp(x_ij − lse_i).
func LogSumExpBackward[T args.Float](a args.Rows[T]) {
	args.Took("generic/logsumexp-backward")
	k := a.K
	dys, lses := a.Dy[:a.N], a.LSE[:a.N]
	var eb [sumExpBlock]float64
	for i, g := range dys {
		x, dx := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		dx = dx[:len(x)]
		l := lses[i]
		for lo := 0; lo < len(x); lo += sumExpBlock {
			xs := x[lo:min(lo+sumExpBlock, len(x))]
			d := dx[lo:][:len(xs)]
			e := eb[:len(xs)]
			for j, v := range xs {
				e[j] = float64(v - l) // rounded in T, as the SIMD kernels and the reference
			}
			expIntoT[T](e, e)
			for j, v := range e {
				d[j] = T(float64(g) * positive(float64(xs[j]-l), v))
			}
		}
	}
}

// dot4 is Σ x·y in float64 over four running sums (four dependent chains).
func dot4[T args.Float](x, y []T) float64 {
	var s0, s1, s2, s3 float64
	for len(x) >= 4 && len(y) >= 4 { // fours off the front, as rowMax
		a, b := x[:4:4], y[:4:4]
		x, y = x[4:], y[4:]
		s0 += float64(a[0]) * float64(b[0])
		s1 += float64(a[1]) * float64(b[1])
		s2 += float64(a[2]) * float64(b[2])
		s3 += float64(a[3]) * float64(b[3])
	}
	y = y[:len(x)]
	for j, v := range x {
		s0 += float64(v) * float64(y[j])
	}
	return (s0 + s1) + (s2 + s3)
}

// sum4 is Σ x in float64 over four running sums.
func sum4[T args.Float](x []T) float64 {
	var s0, s1, s2, s3 float64
	for len(x) >= 4 { // fours off the front, as rowMax
		a := x[:4:4]
		x = x[4:]
		s0 += float64(a[0])
		s1 += float64(a[1])
		s2 += float64(a[2])
		s3 += float64(a[3])
	}
	for _, v := range x {
		s0 += float64(v)
	}
	return (s0 + s1) + (s2 + s3)
}

// positive is f(t) for an f (exp, σ) that is positive at every finite t:
// where float64 underflows to 0 it is the smallest subnormal, so that
// dy = ±Inf times it is ±Inf, not NaN (the backward passes' factors).
func positive(t, v float64) float64 {
	if v == 0 && t >= -math.MaxFloat64 {
		return math.SmallestNonzeroFloat64
	}
	return v
}
