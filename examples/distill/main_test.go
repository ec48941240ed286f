package main

import (
	"io"
	"testing"
)

// Distill's gradient must match central differences of its loss, at
// several shapes and temperatures.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		n, k int
		temp float64
	}{{6, 9, 4}, {3, 2, 1}, {4, 17, 0.5}, {2, 1, 2}} {
		rel, err := gradCheck(c.n, c.k, c.temp, 5)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("N=%d K=%d T=%v: largest error %.2g of the largest gradient element", c.n, c.k, c.temp, rel)
		if !(rel <= 1e-6) {
			t.Errorf("N=%d K=%d T=%v: the gradient is off by %.2g of its largest element", c.n, c.k, c.temp, rel)
		}
	}
}

// With 30 labels the student alone generalises poorly; the teacher's soft
// targets on the unlabelled rows bring it close to the teacher.
func TestDistillationHelps(t *testing.T) {
	res, err := run(io.Discard, 30, 4, 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher %.3f, student alone %.3f, distilled %.3f", res.teacher, res.alone, res.distilled)
	if res.teacher < 0.9 {
		t.Errorf("teacher test accuracy %.3f, want ≥ 0.9", res.teacher)
	}
	if res.distilled < res.alone+0.1 || res.distilled < res.teacher-0.03 {
		t.Errorf("distilled student %.3f: want ≥ %.3f (alone + 0.1) and ≥ %.3f (teacher − 0.03)", res.distilled, res.alone+0.1, res.teacher-0.03)
	}
}
