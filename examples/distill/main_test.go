package main

import (
	"io"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// divergences are the three Distill computes, JSD at two mixing weights.
var divergences = []struct {
	div  kernels.Divergence
	beta float64
}{{kernels.ForwardKL, 0}, {kernels.ReverseKL, 0}, {kernels.JSD, 0.5}, {kernels.JSD, 0.1}}

// Distill's gradient must match central differences of its loss, at
// several shapes and temperatures, for every divergence.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, d := range divergences {
		for _, c := range []struct {
			n, k int
			temp float64
		}{{6, 9, 4}, {3, 2, 1}, {4, 17, 0.5}, {2, 1, 2}} {
			o := &kernels.DistillOptions[float64]{Divergence: d.div, Beta: d.beta, Temperature: c.temp, ScaleT2: true}
			rel, err := gradCheck(c.n, c.k, o, 5)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v β=%v N=%d K=%d T=%v: largest error %.2g of the largest gradient element", d.div, d.beta, c.n, c.k, c.temp, rel)
			if !(rel <= 1e-6) {
				t.Errorf("%v β=%v N=%d K=%d T=%v: the gradient is off by %.2g of its largest element", d.div, d.beta, c.n, c.k, c.temp, rel)
			}
		}
	}
}

// With 30 labels the student alone generalises poorly; the teacher's soft
// targets on the unlabelled rows bring it close to the teacher.
func TestDistillationHelps(t *testing.T) {
	for _, d := range divergences[:3] {
		res, err := run(io.Discard, 30, d.div, d.beta, 4, 200)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: teacher %.3f, student alone %.3f, distilled %.3f", d.div, res.teacher, res.alone, res.distilled)
		if res.teacher < 0.9 {
			t.Errorf("teacher test accuracy %.3f, want ≥ 0.9", res.teacher)
		}
		if res.distilled < res.alone+0.1 || res.distilled < res.teacher-0.03 {
			t.Errorf("%v: distilled student %.3f: want ≥ %.3f (alone + 0.1) and ≥ %.3f (teacher − 0.03)", d.div, res.distilled, res.alone+0.1, res.teacher-0.03)
		}
	}
}
