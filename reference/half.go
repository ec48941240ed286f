package reference

import "math"

// RoundGrad returns a copy of r for a backend that computes the gradient in
// r's type and then rounds it to a narrower format (bfloat16 or float16):
// round maps a float32 to the nearest value of that format, ties to even,
// and is monotone. An element is then within the contract when it is the
// rounding of some value the contract allows, so its bounds become
// round(want − tol) and round(want + tol), and nothing between them is
// forgiven. Where one bound rounds to an infinity and the other does not
// (a gradient beyond float16's range), the element is unconstrained.
func (r *Result) RoundGrad(round func(float32) float32) *Result {
	c := *r
	c.Grad = make([]float64, len(r.Grad))
	c.GradTol = make([]float64, len(r.GradTol))
	for i, want := range r.Grad {
		tol := r.GradTol[i]
		if math.IsNaN(want) || math.IsInf(want, 0) || math.IsInf(tol, 1) {
			c.Grad[i], c.GradTol[i] = float64(round(float32(want))), tol
			continue
		}
		lo := float64(round(float32(want - tol)))
		hi := float64(round(float32(want + tol)))
		switch {
		case lo == hi:
			c.Grad[i], c.GradTol[i] = lo, 0
		case math.IsInf(lo, 0) || math.IsInf(hi, 0):
			c.Grad[i], c.GradTol[i] = want, math.Inf(1)
		default:
			c.Grad[i], c.GradTol[i] = lo+(hi-lo)/2, (hi-lo)/2
		}
	}
	return &c
}
