//go:build arm64 && !purego

package arm64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// probLoss vectorises the losses on probabilities, BCE and FocalProbs
// (both dtypes), chunk elements per kernel call: absent weights are read
// from a stack buffer of ones and absent outputs written to stack scratch,
// so nothing is allocated. The caller has checked p and y against [0, 1]
// (NaN passes, and gives NaN).
func probLoss[T args.Float](a args.Binary[T]) float64 {
	if a.Kind == args.FocalProb {
		return generic.Binary(a)
	}
	var ones, gs, ls [chunk]T
	for i := range ones {
		ones[i] = 1
	}
	fn, fp, scale := float64(a.FNWeight), float64(a.FPWeight), float64(a.GradScale)
	// Clip bounds as generic.bceProb forms them in float64: above hi is
	// p > 1 − lo, for a float32 p exactly p > ClipHi32(lo).
	lo := float64(a.Clip)
	hi := 1 - lo
	if is32[T]() {
		hi = float64(generic.ClipHi32(float32(a.Clip)))
	}
	logLo, logHi := math.Log(lo), generic.LogOneMinus(lo)
	clip := a.Clip > 0
	switch {
	case is32[T]() && clip:
		args.Took("neon/f32/bce-prob-clip")
	case is32[T]():
		args.Took("neon/f32/bce-prob")
	case clip:
		args.Took("neon/f64/bce-prob-clip")
	default:
		args.Took("neon/f64/bce-prob")
	}
	var sum float64
	for start := 0; start < len(a.X); start += chunk {
		end := min(start+chunk, len(a.X))
		n := end - start
		x, y, w, g, l := a.X[start:end], a.Y[start:end], ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = a.Weight[start:end]
		}
		if a.Grad != nil {
			g = a.Grad[start:end]
		}
		if a.Loss != nil {
			l = a.Loss[start:end]
		}
		switch {
		case is32[T]() && clip:
			sum += bceProbClipF32(as32(g), as32(l), as32(x), as32(y), as32(w), float32(fn), float32(fp),
				float32(lo), float32(hi), float32(logLo), float32(logHi), float32(scale))
		case is32[T]():
			sum += bceProbF32(as32(g), as32(l), as32(x), as32(y), as32(w), float32(fn), float32(fp), float32(scale))
		case clip:
			sum += bceProbClipF64(as64(g), as64(l), as64(x), as64(y), as64(w), fn, fp, lo, hi, logLo, logHi, scale)
		default:
			sum += bceProbF64(as64(g), as64(l), as64(x), as64(y), as64(w), fn, fp, scale)
		}
	}
	return sum
}
