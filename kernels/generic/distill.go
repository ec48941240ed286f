package generic

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Distill is the forward KL divergence KL(P‖Q) of the teacher's softmax P
// and the student's Q, each over the logits times InvTemp, per row (see
// kernels.Distill), in two passes over each row: both log-sum-exps and the
// divergence, then the gradient GradScale·(Q − P).
func Distill[T args.Float](a args.CE[T]) float64 {
	args.Took("generic/distill")
	k := a.K
	tau, lam, c := a.InvTemp, float64(a.LossScale), float64(a.GradScale)
	var total float64
	for i := range a.N {
		s, t := a.X[i*k:i*k+k], a.Teacher[i*k:i*k+k]
		var g []T
		if a.Grad != nil {
			g = a.Grad[i*k : i*k+k]
		}
		if a.HasIgnore && a.Targets[i] == a.Ignore {
			if a.RowLoss != nil {
				a.RowLoss[i] = 0
			}
			zero(g)
			continue
		}
		l := lam * distillRow(s, t, g, tau, c)
		if a.RowLoss != nil {
			a.RowLoss[i] = T(l)
		}
		total += l
	}
	return total
}

// distillRow returns KL(P‖Q) for one row and writes its gradient c·(Q − P)
// to g (when non-nil; g may be s). A row whose scaled maximum is not finite
// in either input (NaN, +Inf, or every logit −Inf) is NaN throughout.
func distillRow[T args.Float](s, t, g []T, tau T, c float64) float64 {
	ms, _ := rowMax(s)
	mt, _ := rowMax(t)
	mz, mv := float64(T(T(ms)*tau)), float64(T(T(mt)*tau)) // rounding is monotonic: the maximum of the scaled row
	if mz-mz != 0 || mv-mv != 0 {
		fill(g, T(math.NaN()))
		return math.NaN()
	}
	var bz, bv, d [sumExpBlock]float64
	var sz, sv, dot [4]float64
	for lo := 0; lo < len(s); lo += sumExpBlock {
		ss := s[lo:min(lo+sumExpBlock, len(s))]
		ts := t[lo:][:len(ss)]
		ez, ev, dd := bz[:len(ss)], bv[:len(ss)], d[:len(ss)]
		for j := range ss {
			z, v := float64(T(ss[j]*tau)), float64(T(ts[j]*tau))
			ez[j], ev[j], dd[j] = z-mz, v-mv, v-z
		}
		expInto(ez, ez)
		expInto(ev, ev)
		addInto(&sz, ez)
		addInto(&sv, ev)
		for j, e := range ev {
			p := e * dd[j]
			if p != p {
				// 0·∞: a teacher's −Inf (no mass: no term), or a teacher
				// probability below float64's range beside the student's
				// −Inf (the term is +Inf).
				p = 0
				if dd[j] > 0 {
					p = math.Inf(1)
				}
			}
			dd[j] = p
		}
		addInto(&dot, dd)
	}
	sumZ := (sz[0] + sz[1]) + (sz[2] + sz[3])
	sumV := (sv[0] + sv[1]) + (sv[2] + sv[3])
	lz, lv := mz+math.Log(sumZ), mv+math.Log(sumV)
	kl := ((dot[0]+dot[1])+(dot[2]+dot[3]))/sumV + (lz - lv)
	if g == nil {
		return kl
	}
	for lo := 0; lo < len(s); lo += sumExpBlock {
		ss := s[lo:min(lo+sumExpBlock, len(s))]
		ts := t[lo:][:len(ss)]
		gs := g[lo:][:len(ss)]
		ez, ev := bz[:len(ss)], bv[:len(ss)]
		for j := range ss {
			ez[j] = float64(T(ss[j]*tau)) - lz
			ev[j] = float64(T(ts[j]*tau)) - lv
		}
		expInto(ez, ez)
		expInto(ev, ev)
		for j := range gs {
			gs[j] = T(c * (ez[j] - ev[j]))
		}
	}
	return kl
}
