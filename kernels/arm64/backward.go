//go:build arm64 && !purego

package arm64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The primitives' backward passes and Softplus with β and threshold. The
// element-wise ones are one generated call for the whole slice (an empty
// slice is an empty loop). The row ones run two calls per row: a sum over
// the row, which reads all of it, then an element-wise pass that writes dx,
// so dx may be dy or the saved tensor.

// softplus is the exact log(1+eˣ) for β = 1 and no threshold, PyTorch's
// (1/β)·log(1+exp(βx)) with its threshold otherwise.
func softplus[T args.Float](a args.Elementwise[T]) {
	dst := a.Dst[:len(a.X)]
	exact := a.ExactSoftplus()
	if is32[T]() {
		if exact {
			args.Took("neon/f32/softplus")
			softplusF32(as32(dst), as32(a.X))
			return
		}
		args.Took("neon/f32/softplus-beta")
		softplusBetaF32(as32(dst), as32(a.X), float32(a.Beta), float32(a.Threshold))
		return
	}
	if exact {
		args.Took("neon/f64/softplus")
		softplusF64(as64(dst), as64(a.X))
		return
	}
	args.Took("neon/f64/softplus-beta")
	softplusBetaF64(as64(dst), as64(a.X), float64(a.Beta), float64(a.Threshold))
}

// sigmoidBackward: dx = dy·y·(1 − y), X the sigmoid's output.
func sigmoidBackward[T args.Float](a args.Elementwise[T]) {
	n := len(a.X)
	if is32[T]() {
		args.Took("neon/f32/sigmoid-backward")
		sigmoidBackwardF32(as32(a.Dst[:n]), as32(a.X), as32(a.Dy[:n]))
		return
	}
	args.Took("neon/f64/sigmoid-backward")
	sigmoidBackwardF64(as64(a.Dst[:n]), as64(a.X), as64(a.Dy[:n]))
}

// logSigmoidBackward: dx = dy·σ(−x).
func logSigmoidBackward[T args.Float](a args.Elementwise[T]) {
	args.TookIf(is32[T](), "neon/f32/logsigmoid-backward", "neon/f64/logsigmoid-backward")
	sigmoidGrad(a, -1, math.Inf(1))
}

// softplusBackward: dx = dy·σ(βx), dy where βx > threshold.
func softplusBackward[T args.Float](a args.Elementwise[T]) {
	args.TookIf(is32[T](), "neon/f32/softplus-backward", "neon/f64/softplus-backward")
	sigmoidGrad(a, float64(a.Beta), float64(a.Threshold))
}

// sigmoidGrad is dx = dy·σ(βx), or dy where βx > thr (βx rounded to T).
func sigmoidGrad[T args.Float](a args.Elementwise[T], beta, thr float64) {
	n := len(a.X)
	if is32[T]() {
		sigmoidGradBetaF32(as32(a.Dst[:n]), as32(a.X), as32(a.Dy[:n]), float32(beta), float32(thr))
	} else {
		sigmoidGradBetaF64(as64(a.Dst[:n]), as64(a.X), as64(a.Dy[:n]), beta, thr)
	}
}

// softmaxBackward: per row s = Σ y·dy (float64), then dx = y·(dy − s).
func softmaxBackward[T args.Float](a args.Rows[T]) {
	args.TookIf(is32[T](), "neon/f32/softmax-backward", "neon/f64/softmax-backward")
	k := a.K
	for i := range a.N {
		y, dy, dx := a.X[i*k:i*k+k], a.Dy[i*k:i*k+k], a.Dst[i*k:i*k+k]
		if is32[T]() {
			mulDiffF32(as32(dx), as32(y), as32(dy), float32(dotF32(as32(y), as32(dy))))
		} else {
			mulDiffF64(as64(dx), as64(y), as64(dy), dotF64(as64(y), as64(dy)))
		}
	}
}

// logSoftmaxBackward: per row S = Σ dy (float64), then dx = dy − exp(y)·S.
func logSoftmaxBackward[T args.Float](a args.Rows[T]) {
	args.TookIf(is32[T](), "neon/f32/logsoftmax-backward", "neon/f64/logsoftmax-backward")
	k := a.K
	for i := range a.N {
		y, dy, dx := a.X[i*k:i*k+k], a.Dy[i*k:i*k+k], a.Dst[i*k:i*k+k]
		s := T(vsumSub(dy, 0))
		if s-s != 0 {
			logSoftmaxInfRow(dx, y, dy, s)
			continue
		}
		if is32[T]() {
			subExpMulF32(as32(dx), as32(y), as32(dy), float32(s))
		} else {
			subExpMulF64(as64(dx), as64(y), as64(dy), float64(s))
		}
	}
}

// logSoftmaxInfRow is dx = dy − exp(y)·s for a row whose s = Σ dy is ±Inf
// or NaN. exp(y) > 0 for every y > −Inf, even where it underflows in T and
// the kernel would form 0·s = NaN, so the product is s there; at y = −Inf
// it is 0·s = NaN, as it is for a NaN y.
func logSoftmaxInfRow[T args.Float](dx, y, dy []T, s T) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for j, v := range y {
		p := s
		if !(v > T(math.Inf(-1))) {
			p = T(math.NaN())
		}
		dx[j] = dy[j] - p
	}
}

// logSumExpBackward: dx_ij = dy_i·exp(x_ij − lse_i). dx may be x only (dy
// has one value per row).
func logSumExpBackward[T args.Float](a args.Rows[T]) {
	args.TookIf(is32[T](), "neon/f32/logsumexp-backward", "neon/f64/logsumexp-backward")
	k := a.K
	dys, lses := a.Dy[:a.N], a.LSE[:a.N]
	for i, g := range dys {
		x, dx := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		if is32[T]() {
			expDiffScaleF32(as32(dx), as32(x), float32(lses[i]), float32(g))
		} else {
			expDiffScaleF64(as64(dx), as64(x), float64(lses[i]), float64(g))
		}
	}
}
