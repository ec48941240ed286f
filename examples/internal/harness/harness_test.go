package harness

import (
	"math"
	"testing"
)

func TestBackends(t *testing.T) {
	for flag, want := range map[string][]Backend{
		"naive": {Naive}, "lossfuse": {Lossfuse}, "both": {Naive, Lossfuse},
	} {
		got, err := Backends(flag)
		if err != nil || len(got) != len(want) || got[0] != want[0] {
			t.Errorf("Backends(%q) = %v, %v; want %v", flag, got, err, want)
		}
	}
	if _, err := Backends("fast"); err == nil {
		t.Error(`Backends("fast") accepted an unknown value`)
	}
}

func TestDiffs(t *testing.T) {
	if d := RelDiff(2, 2.002); math.Abs(d-0.002/2.002) > 1e-15 {
		t.Errorf("RelDiff(2, 2.002) = %v", d)
	}
	if RelDiff(0, 0) != 0 || RelDiff(-1, 1) != 2 {
		t.Error("RelDiff at 0 or of opposite signs")
	}
	// The difference is scaled by the largest magnitude of either vector.
	if d := MaxNormDiff([]float64{1, -4, 0}, []float64{1, -4, 0.04}); d != 0.01 {
		t.Errorf("MaxNormDiff = %v, want 0.01", d)
	}
	if MaxNormDiff([]float64{0, 0}, []float64{0, 0}) != 0 {
		t.Error("MaxNormDiff of zeros")
	}
	if d := MaxRelDiff([]float64{1, 10}, []float64{1.5, 10}); d != 0.5/1.5 {
		t.Errorf("MaxRelDiff = %v", d)
	}
}

func TestAgreement(t *testing.T) {
	var a Agreement
	if a.OK() {
		t.Error("an agreement without checks must not pass")
	}
	a.Check(1, 1+1e-12, []float64{1, 2}, []float64{1, 2 + 1e-12})
	if !a.OK() {
		t.Errorf("rounding-level differences rejected: %s", &a)
	}
	a.Check(1, 1, []float64{1, 2}, []float64{1, 2.001})
	if a.OK() || a.Checks != 2 {
		t.Errorf("a gradient off by 5e-4 accepted: %s", &a)
	}
}
