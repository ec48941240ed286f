//go:build !purego

package amd64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

var inf = math.Inf(1)

// The primitives' backward passes and Softplus with β and threshold, float32
// and float64: one generated kernel each, a call for the whole slice.

func (s isa) softplusBeta(a args.Elementwise[float32]) {
	args.Took("amd64/f32/softplus-beta")
	if len(a.X) == 0 {
		return
	}
	if s {
		softplusBetaAVX512(&a.X[0], &a.Dst[0], len(a.X), a.Beta, a.Threshold)
	} else {
		softplusBetaAVX2(&a.X[0], &a.Dst[0], len(a.X), a.Beta, a.Threshold)
	}
}

func (s isa) sigmoidBackward(a args.Elementwise[float32]) {
	args.Took("amd64/f32/sigmoid-backward")
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidBackwardAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X))
	} else {
		sigmoidBackwardAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X))
	}
}

// sigmoidGrad is dx = dy·σ(βx) (dy above the threshold): SoftplusBackward,
// and LogSigmoidBackward with β = −1 and no threshold.
func (s isa) sigmoidGrad(a args.Elementwise[float32], path string, beta, thr float32) {
	args.Took(path)
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidGradBetaAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X), beta, thr)
	} else {
		sigmoidGradBetaAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X), beta, thr)
	}
}

func (s isa) logSigmoidBackward(a args.Elementwise[float32]) {
	s.sigmoidGrad(a, "amd64/f32/logsigmoid-backward", -1, float32(inf))
}

func (s isa) softplusBackward(a args.Elementwise[float32]) {
	s.sigmoidGrad(a, "amd64/f32/softplus-backward", a.Beta, a.Threshold)
}

func (s isa) softmaxBackward(a args.Rows[float32]) {
	args.Took("amd64/f32/softmax-backward")
	if s {
		softmaxBackwardRowsAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	} else {
		softmaxBackwardRowsAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	}
}

func (s isa) logSoftmaxBackward(a args.Rows[float32]) {
	args.Took("amd64/f32/logsoftmax-backward")
	if s {
		logSoftmaxBackwardRowsAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	} else {
		logSoftmaxBackwardRowsAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	}
}

func (s isa) logSumExpBackward(a args.Rows[float32]) {
	args.Took("amd64/f32/logsumexp-backward")
	if s {
		lseBackwardRowsAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K, &a.LSE[0])
	} else {
		lseBackwardRowsAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K, &a.LSE[0])
	}
}

func (s isa) softplusBeta64(a args.Elementwise[float64]) {
	args.Took("amd64/f64/softplus-beta")
	if len(a.X) == 0 {
		return
	}
	if s {
		softplusBetaDAVX512(&a.X[0], &a.Dst[0], len(a.X), a.Beta, a.Threshold)
	} else {
		softplusBetaDAVX2(&a.X[0], &a.Dst[0], len(a.X), a.Beta, a.Threshold)
	}
}

func (s isa) sigmoidBackward64(a args.Elementwise[float64]) {
	args.Took("amd64/f64/sigmoid-backward")
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidBackwardDAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X))
	} else {
		sigmoidBackwardDAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X))
	}
}

func (s isa) sigmoidGrad64(a args.Elementwise[float64], path string, beta, thr float64) {
	args.Took(path)
	if len(a.X) == 0 {
		return
	}
	if s {
		sigmoidGradBetaDAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X), beta, thr)
	} else {
		sigmoidGradBetaDAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], len(a.X), beta, thr)
	}
}

func (s isa) logSigmoidBackward64(a args.Elementwise[float64]) {
	s.sigmoidGrad64(a, "amd64/f64/logsigmoid-backward", -1, inf)
}

func (s isa) softplusBackward64(a args.Elementwise[float64]) {
	s.sigmoidGrad64(a, "amd64/f64/softplus-backward", a.Beta, a.Threshold)
}

func (s isa) softmaxBackward64(a args.Rows[float64]) {
	args.Took("amd64/f64/softmax-backward")
	if s {
		softmaxBackwardRowsDAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	} else {
		softmaxBackwardRowsDAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	}
}

func (s isa) logSoftmaxBackward64(a args.Rows[float64]) {
	args.Took("amd64/f64/logsoftmax-backward")
	if s {
		logSoftmaxBackwardRowsDAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	} else {
		logSoftmaxBackwardRowsDAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K)
	}
}

func (s isa) logSumExpBackward64(a args.Rows[float64]) {
	args.Took("amd64/f64/logsumexp-backward")
	if s {
		lseBackwardRowsDAVX512(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K, &a.LSE[0])
	} else {
		lseBackwardRowsDAVX2(&a.X[0], &a.Dy[0], &a.Dst[0], a.N, a.K, &a.LSE[0])
	}
}
