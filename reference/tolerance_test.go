package reference

import (
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// TestToleranceCoversTerms checks that every element-wise tolerance is at
// least Slack·u times its value (each bound charges Slack·u on terms whose
// magnitudes add up to at least the value), for soft targets. (Targets
// outside [0, 1], where a signed factor once made a tolerance negative,
// are rejected now.)
func TestToleranceCoversTerms(t *testing.T) {
	for _, y := range []float64{0, 1, 0.3, 0.999} {
		for _, x := range []float64{-30, -2, 0.2, 0.7, 5, 30} {
			for _, g := range []float64{0, 0.5, 1, 3} {
				fo := &kernels.FocalOptions[float64]{Alpha: -1, Gamma: g}
				X, Y := []float64{x}, []float64{y}
				var rs []*Result
				for _, f := range []func() (*Result, error){
					func() (*Result, error) { return SigmoidFocal(X, Y, 1, 1, fo) },
					func() (*Result, error) { return BCEWithLogits(X, Y, 1, 1, nil) },
					func() (*Result, error) { return FocalProbs([]float64{1 / (1 + x*x)}, Y, 1, 1, fo) },
					func() (*Result, error) { return BCE([]float64{1 / (1 + x*x)}, Y, 1, 1, nil) },
				} {
					r, err := f()
					if err != nil {
						t.Fatal(err)
					}
					rs = append(rs, r)
				}
				for i, r := range rs {
					for _, c := range [][3]float64{{r.Items[0], r.ItemTol[0]}, {r.Grad[0], r.GradTol[0]}} {
						if c[0] != c[0] || c[0]-c[0] != 0 {
							continue // non-finite values are matched exactly
						}
						if !(c[1] >= Slack*r.U*abs(c[0])) {
							t.Errorf("kind %d, x=%v y=%v γ=%v: value %v with tolerance %v", i, x, y, g, c[0], c[1])
						}
					}
				}
			}
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestFocalLossSign: a softmax focal loss is never negative. For logits
// [0, 17] with target 1 (γ = 0, float32) the true loss is 4.1e-8 and the
// bound on log p_y is wider than that, so the −1.19e-7 that log p_y > 0
// formed in float32 gave must fail on its sign alone.
func TestFocalLossSign(t *testing.T) {
	r, err := SoftmaxFocal([]float32{0, 17}, []int32{1}, 1, 2, &kernels.SoftmaxFocalOptions[float32]{Reduction: kernels.Sum})
	if err != nil {
		t.Fatal(err)
	}
	if r.ItemTol[0] < 1.19e-7+r.Items[0] {
		t.Fatalf("the bound %v no longer admits −1.19e-7 by distance; the test is moot", r.ItemTol[0])
	}
	for _, v := range []float32{0, float32(r.Items[0]), 2e-7} {
		if err := Check(r, Got[float32]{CheckLoss: true, Loss: v, Items: []float32{v}}); err != nil {
			t.Errorf("loss %v: %v", v, err)
		}
	}
	if err := Check(r, Got[float32]{Items: []float32{-1.19e-7}}); err == nil {
		t.Error("a negative row loss passes")
	}
	if err := Check(r, Got[float32]{CheckLoss: true, Loss: -1.19e-7}); err == nil {
		t.Error("a negative loss passes")
	}
}
