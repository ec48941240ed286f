//go:build arm64 && !purego

package arm64

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The two passes of the row kernels on their own (args.RowPass), for
// vocabulary-shard cross-entropy, from the same vector building blocks as
// crossEntropy, row by row.

func rowStats[T args.Float](a args.RowPass[T]) {
	args.Took("neon/shard-pass1")
	k, capv := a.K, float64(a.SoftCap)
	var w []T
	if a.Weight != nil {
		w = a.Weight[:k]
	}
	for i := range a.N {
		x := a.X[i*k : i*k+k]
		m := vmax(x)
		c := newCapRow[T](capv)
		if capv > 0 {
			m = c.one(m) // tanh is monotonic: the capped maximum
		}
		a.M[i] = T(m)
		if !finite(m) {
			a.LS[i] = T(math.NaN()) // the caller's exact path takes the row
			continue
		}
		a.LS[i] = T(math.Log1p(c.sumExp(x, m, false)))
		if a.Dot == nil {
			continue
		}
		switch {
		case capv > 0:
			a.Dot[i] = a.DotScale * c.dotSub(x, w, m)
		case w != nil:
			a.Dot[i] = a.DotScale * vdotSub(x, w, m)
		default:
			a.Dot[i] = a.DotScale * vsumSub(x, m)
		}
		if d := a.Dot[i]; d-d != 0 && float64(a.LS[i])-float64(a.LS[i]) == 0 {
			// The scaled sum is not finite where its terms may be
			// (w·(z − m) beyond the largest float): scale them first, as
			// args.RowPass asks (FuzzCrossEntropyShards/finding-F76-*).
			a.Dot[i] = generic.RowDot(x, w, capv, m, a.DotScale)
		}
	}
}

func rowExp[T args.Float](a args.RowPass[T]) {
	args.Took("neon/shard-pass2")
	k, capv := a.K, float64(a.SoftCap)
	var w []T
	if a.Weight != nil {
		w = a.Weight[:k]
	}
	for i := range a.N {
		x, d := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		m := float64(a.M[i])
		f := float64(a.Coef[i]) * math.Exp(-float64(a.LS[i]))
		b := float64(a.Bias[i])
		switch {
		case capv > 0 && w != nil:
			vcap(d, x, capv)
			vexpAffineWZ(d, w, m, f, b, 1/capv)
		case capv > 0:
			vcap(d, x, capv)
			vexpAffineZ(d, m, f, b, 1/capv)
		case w != nil:
			vexpStoreSum(d, x, m)
			vaffineW(d, d, w, f, b)
		default:
			vexpStoreSum(d, x, m)
			vaffine(d, d, f, b)
		}
	}
}
