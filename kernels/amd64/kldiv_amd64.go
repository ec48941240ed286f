//go:build !purego

package amd64

import (
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// klDiv is kl_div, one generated kernel per target form (variants by the
// outputs present).
func (s isa) klDiv(a args.Regression[float32]) float64 {
	if len(a.X) == 0 {
		return 0
	}
	x, y, g, l := &a.X[0], &a.Y[0], ptr(a.Grad), ptr(a.Loss)
	if a.Kind == args.KLDivLogTarget {
		args.Took("amd64/f32/kldiv-log-target")
		return klDivLogCall(bool(s), x, y, nil, g, l, len(a.X), a.GradScale)
	}
	args.Took("amd64/f32/kldiv")
	return klDivCall(bool(s), x, y, nil, g, l, len(a.X), a.GradScale)
}

func (s isa) klDiv64(a args.Regression[float64]) float64 {
	if len(a.X) == 0 {
		return 0
	}
	x, y, g, l := &a.X[0], &a.Y[0], ptr64(a.Grad), ptr64(a.Loss)
	if a.Kind == args.KLDivLogTarget {
		args.Took("amd64/f64/kldiv-log-target")
		return klDivLog64Call(bool(s), x, y, nil, g, l, len(a.X), a.GradScale)
	}
	args.Took("amd64/f64/kldiv")
	return klDiv64Call(bool(s), x, y, nil, g, l, len(a.X), a.GradScale)
}
