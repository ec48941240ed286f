package reference

import (
	"math"

	"github.com/lossfuse/lossfuse/kernels"
)

// Softmax is the reference for kernels.Softmax (Out: N×K). Rows holding a
// NaN or a +Inf, and rows of −Inf only, are NaN throughout (as PyTorch).
func Softmax[T kernels.Float](x []T, n, k int) (*Result, error) {
	return rowwise(x, n, k, true, func(row ceRow, lr lseRow, u float64, out, tol []float64) {
		for j, z := range row.z {
			p := math.Exp(lr.logp(z))
			out[j] = p
			if p != 0 {
				rho := lr.lseTol(u, k) + Slack*u*(1+math.Abs(z)+math.Abs(z-lr.m))
				tol[j] = p*math.Expm1(rho) + Slack*u*p
			}
		}
	})
}

// LogSoftmax is the reference for kernels.LogSoftmax (Out: N×K), with the
// non-finite rows of Softmax.
func LogSoftmax[T kernels.Float](x []T, n, k int) (*Result, error) {
	return rowwise(x, n, k, true, func(row ceRow, lr lseRow, u float64, out, tol []float64) {
		for j, z := range row.z {
			v := lr.logp(z)
			out[j] = v
			tol[j] = finiteTol(v, lr.lseTol(u, k)+Slack*u*(math.Abs(z)+math.Abs(z-lr.m)+math.Abs(v)))
		}
	})
}

// LogSumExp is the reference for kernels.LogSumExp (Out: N): log Σ exp(x),
// which is +Inf for a row holding +Inf and −Inf for a row of −Inf only.
func LogSumExp[T kernels.Float](x []T, n, k int) (*Result, error) {
	return rowwise(x, n, k, false, nil)
}

func rowwise[T kernels.Float](x []T, n, k int, full bool, fill func(row ceRow, lr lseRow, u float64, out, tol []float64)) (*Result, error) {
	nk, err := shapeNK(n, k)
	if err != nil {
		return nil, err
	}
	if err := lengths(need("x", len(x), nk)); err != nil {
		return nil, err
	}
	r := newResult[T](k)
	if full {
		r.Out, r.OutTol = make([]float64, nk), make([]float64, nk)
	} else {
		r.Out, r.OutTol = make([]float64, n), make([]float64, n)
	}
	for i := 0; i < n; i++ {
		row := newCERow(r, x[i*k:i*k+k], 0)
		lr := row.lse
		if !full {
			r.Out[i] = lr.lse
			if lr.kind == rowFinite {
				r.OutTol[i] = lr.lseTol(r.U, k)
			}
			continue
		}
		out, tol := r.Out[i*k:i*k+k], r.OutTol[i*k:i*k+k]
		if lr.kind != rowFinite {
			for j := range out {
				out[j] = math.NaN()
			}
			continue
		}
		fill(row, lr, r.U, out, tol)
		for j := range tol {
			tol[j] = finiteTol(out[j], tol[j]+Slack*r.tiny)
		}
	}
	return r, nil
}

// Sigmoid is the reference for kernels.Sigmoid (Out).
func Sigmoid[T kernels.Float](x []T) (*Result, error) { return elementwise(x, sigmoid) }

// LogSigmoid is the reference for kernels.LogSigmoid: −softplus(−x).
func LogSigmoid[T kernels.Float](x []T) (*Result, error) {
	return elementwise(x, func(v float64) float64 { return -softplus(-v) })
}

// Softplus is the reference for kernels.Softplus: log(1+eˣ), exact for
// every x (no threshold).
func Softplus[T kernels.Float](x []T) (*Result, error) { return elementwise(x, softplus) }

func elementwise[T kernels.Float](x []T, f func(float64) float64) (*Result, error) {
	r := newResult[T](1)
	r.Out, r.OutTol = make([]float64, len(x)), make([]float64, len(x))
	for i, xv := range x {
		v := float64(xv)
		y := f(v)
		var pert float64
		if !math.IsNaN(v) && !math.IsInf(v, 0) && v != 0 {
			for _, s := range []float64{-1, 1} {
				pert = maxDiff(pert, f(v*(1+s*InputSlack*r.U)), y)
			}
		}
		r.Out[i] = y
		r.OutTol[i] = finiteTol(y, Slack*r.U*math.Abs(y)+pert+Slack*r.tiny)
	}
	return r, nil
}
