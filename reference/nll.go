package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// NLL is the reference for kernels.NLL: l_i = −w[y_i]·x[i, y_i], gradient
// −w[y_i]·Scale at (i, y_i) and 0 elsewhere; ignored rows exactly 0.
func NLL[T kernels.Float](x []T, targets []int32, n, k int, o *kernels.NLLOptions[T]) (*Result, error) {
	if o == nil {
		o = &kernels.NLLOptions[T]{}
	}
	ceo := &kernels.CrossEntropyOptions[T]{Reduction: o.Reduction, Weight: o.Weight, Ignore: o.Ignore,
		EmptyMean: o.EmptyMean, Normalizer: o.Normalizer, RowLoss: o.RowLoss}
	w, err := ceValidate(x, n, k, ceo)
	if err != nil {
		return nil, err
	}
	ignore, hasIgnore := o.Ignore.Index()
	norm, err := targetNorm(targets, n, k, ignore, hasIgnore, w)
	if err != nil {
		return nil, err
	}
	r := newResult[T](k)
	r.setScale(o.Reduction, o.EmptyMean, normalized(norm, o.Normalizer))
	r.Items, r.ItemTol = make([]float64, n), make([]float64, n)
	r.Grad, r.GradTol = make([]float64, n*k), make([]float64, n*k)
	// The kernels scale by the gradient factor rounded to T.
	scale := float64(T(r.Scale))
	for i, y := range targets {
		if hasIgnore && y == ignore {
			continue
		}
		wy := weightOf(w, int(y))
		l := -wy * float64(x[i*k+int(y)])
		r.Items[i] = l
		r.ItemTol[i] = finiteTol(l, Slack*r.U*math.Abs(l))
		g := -wy * scale
		r.Grad[i*k+int(y)] = g
		r.GradTol[i*k+int(y)] = finiteTol(g, Slack*r.U*math.Abs(g)+Slack*r.tiny)
	}
	r.finish()
	return r, nil
}
