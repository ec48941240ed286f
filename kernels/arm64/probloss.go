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
		return focalProb(a)
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

// focalProb is probLoss for FocalProbs: one kernel per γ of 0, 1, 2 and
// one for any other γ, each with and without Clip.
func focalProb[T args.Float](a args.Binary[T]) float64 {
	var ones, gs, ls [chunk]T
	for i := range ones {
		ones[i] = 1
	}
	a0, a1 := 1.0, 0.0 // α_t = a0 + a1·y
	if a.Alpha >= 0 {
		a0, a1 = 1-float64(a.Alpha), 2*float64(a.Alpha)-1
	}
	gamma, scale := float64(a.Gamma), float64(a.GradScale)
	lo := float64(a.Clip)
	hi := 1 - lo
	if is32[T]() {
		hi = float64(generic.ClipHi32(float32(a.Clip)))
	}
	clip := a.Clip > 0
	g := 3 // any γ
	switch gamma {
	case 0, 1, 2:
		g = int(gamma)
	}
	c := 0
	if clip {
		c = 1
	}
	args.Took(focalProbPaths[is32[T]()][c][g])
	var sum float64
	for start := 0; start < len(a.X); start += chunk {
		end := min(start+chunk, len(a.X))
		n := end - start
		x, y, w, gr, l := a.X[start:end], a.Y[start:end], ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = a.Weight[start:end]
		}
		if a.Grad != nil {
			gr = a.Grad[start:end]
		}
		if a.Loss != nil {
			l = a.Loss[start:end]
		}
		if is32[T]() {
			sum += focalProb32(g, clip, as32(gr), as32(l), as32(x), as32(y), as32(w),
				float32(gamma), float32(a0), float32(a1), float32(lo), float32(hi), float32(scale))
		} else {
			sum += focalProb64(g, clip, as64(gr), as64(l), as64(x), as64(y), as64(w), gamma, a0, a1, lo, hi, scale)
		}
	}
	return sum
}

// focalProbPaths[float32][clipped][γ kernel] names each kernel's path.
var focalProbPaths = map[bool][2][4]string{
	true: {
		{"neon/f32/focal-prob-g0", "neon/f32/focal-prob-g1", "neon/f32/focal-prob-g2", "neon/f32/focal-prob-gany"},
		{"neon/f32/focal-prob-clip-g0", "neon/f32/focal-prob-clip-g1", "neon/f32/focal-prob-clip-g2", "neon/f32/focal-prob-clip-gany"},
	},
	false: {
		{"neon/f64/focal-prob-g0", "neon/f64/focal-prob-g1", "neon/f64/focal-prob-g2", "neon/f64/focal-prob-gany"},
		{"neon/f64/focal-prob-clip-g0", "neon/f64/focal-prob-clip-g1", "neon/f64/focal-prob-clip-g2", "neon/f64/focal-prob-clip-gany"},
	},
}

// focalProb32 calls the float32 kernel for γ kernel g (3: any γ) directly:
// through a func value the caller's stack buffers would escape.
func focalProb32(g int, clip bool, gr, l, x, y, w []float32, gamma, a0, a1, lo, hi, scale float32) float64 {
	switch {
	case clip && g == 0:
		return focalProbClipG0F32(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip && g == 1:
		return focalProbClipG1F32(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip && g == 2:
		return focalProbClipG2F32(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip:
		return focalProbClipF32(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case g == 0:
		return focalProbG0F32(gr, l, x, y, w, gamma, a0, a1, scale)
	case g == 1:
		return focalProbG1F32(gr, l, x, y, w, gamma, a0, a1, scale)
	case g == 2:
		return focalProbG2F32(gr, l, x, y, w, gamma, a0, a1, scale)
	}
	return focalProbF32(gr, l, x, y, w, gamma, a0, a1, scale)
}

// focalProb64 is focalProb32 for float64.
func focalProb64(g int, clip bool, gr, l, x, y, w []float64, gamma, a0, a1, lo, hi, scale float64) float64 {
	switch {
	case clip && g == 0:
		return focalProbClipG0F64(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip && g == 1:
		return focalProbClipG1F64(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip && g == 2:
		return focalProbClipG2F64(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case clip:
		return focalProbClipF64(gr, l, x, y, w, gamma, a0, a1, lo, hi, scale)
	case g == 0:
		return focalProbG0F64(gr, l, x, y, w, gamma, a0, a1, scale)
	case g == 1:
		return focalProbG1F64(gr, l, x, y, w, gamma, a0, a1, scale)
	case g == 2:
		return focalProbG2F64(gr, l, x, y, w, gamma, a0, a1, scale)
	}
	return focalProbF64(gr, l, x, y, w, gamma, a0, a1, scale)
}
