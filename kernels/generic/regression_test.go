package generic_test

import (
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
	"github.com/lossfuse/lossfuse/reference"
)

// TestSquareNoOverflow: inside the quadratic zone ½d² (Huber) and ½d²/β
// (SmoothL1) are finite where d·d overflows (fuzz F10).
func TestSquareNoOverflow(t *testing.T) {
	for _, c := range []struct {
		kind  args.RegressionKind
		d, p  float64
		param string
	}{
		{args.SmoothL1, 1.7e154, 1e300, "beta"},
		{args.SmoothL1, 1.9e154, 1e300, "beta"},
		{args.Huber, 1.8e154, 1e300, "delta"},
		{args.SmoothL1, 1e-160, 1e-100, "beta"},
	} {
		x, y := []float64{c.d}, []float64{0}
		loss, grad := make([]float64, 1), make([]float64, 1)
		generic.Regression(args.Regression[float64]{Kind: c.kind, X: x, Y: y, Param: c.p, GradScale: 1, Grad: grad, Loss: loss})
		var r *reference.Result
		var err error
		if c.kind == args.Huber {
			r, err = reference.Huber(x, y, c.p, nil)
		} else {
			r, err = reference.SmoothL1(x, y, c.p, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if math.IsInf(r.Items[0], 0) {
			t.Errorf("%v d=%v %s=%v: reference loss %v", c.kind, c.d, c.param, c.p, r.Items[0])
		}
		if err := reference.Check(r, reference.Got[float64]{Items: loss, Grad: grad}); err != nil {
			t.Errorf("%v d=%v %s=%v: %v", c.kind, c.d, c.param, c.p, err)
		}
	}
}
