package main

import (
	"io"
	"testing"
)

// The analytic gradient of CE + λ·Dice (CrossEntropy's fused gradient plus
// the Dice gradient carried through SoftmaxBackward) must match central
// finite differences; with a wrong backward pass it does not.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, c := range []struct {
		n, k   int
		lambda float64
	}{{7, 5, 0.5}, {3, 2, 2}, {16, 17, 1}, {5, 1, 1}} {
		rel, err := gradCheck(c.n, c.k, c.lambda, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("N=%d K=%d λ=%v: largest error %.2g of the largest gradient element", c.n, c.k, c.lambda, rel)
		if !(rel <= 1e-6) {
			t.Errorf("N=%d K=%d λ=%v: the gradient is off by %.2g of its largest element", c.n, c.k, c.lambda, rel)
		}
	}
}

func TestTrains(t *testing.T) {
	acc, err := train(io.Discard, 0.5, 100)
	if err != nil {
		t.Fatal(err)
	}
	if acc < 0.9 {
		t.Errorf("test accuracy %.3f, want ≥ 0.9", acc)
	}
}
