package generic_test

import (
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
	"github.com/lossfuse/lossfuse/reference"
)

// Edge cases of the element-wise kernels, checked against the reference.

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
			r, err = reference.Huber(x, y, &kernels.HuberOptions[float64]{Delta: c.p})
		} else {
			r, err = reference.SmoothL1(x, y, &kernels.SmoothL1Options[float64]{Beta: c.p})
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

// TestClipTinyP: BCE with Clip c and p ≥ c below u: log(1 − p) is −p, not
// the 0 of log(1 − p rounded), so the largest weight gives w·p > 0, not 0,
// in the reference and the kernel alike (fuzz F26, found with infinite
// weights, which the API rejects now).
func TestClipTinyP(t *testing.T) {
	const c = 1.401298464324817e-45
	for _, p := range []float32{c, 1e-30, 0} {
		x, y, w := []float32{p}, []float32{0}, []float32{math.MaxFloat32}
		loss := make([]float32, 1)
		generic.Binary(args.Binary[float32]{Kind: args.BCEProb, X: x, Y: y, K: 1, Weight: w, Clip: c, FNWeight: 1, FPWeight: 1, GradScale: 1, Loss: loss})
		r, err := reference.BCE(x, y, 1, 1, &kernels.BinaryOptions[float32]{Weight: w, Clip: c, Reduction: kernels.None, Loss: loss})
		if err != nil {
			t.Fatal(err)
		}
		if !(r.Items[0] > 0) || !(loss[0] > 0) {
			t.Errorf("p=%v: reference %v, generic %v, want w·max(p, c) > 0", p, r.Items[0], loss[0])
		}
		if err := reference.CheckItems(r, loss); err != nil {
			t.Errorf("p=%v: %v", p, err)
		}
	}
}
