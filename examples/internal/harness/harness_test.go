package harness

import (
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
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
	if d := RelDiff(2, 2.002); !(math.Abs(d-0.002/2.002) <= 1e-15) {
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
	logits := []float64{1, 2, 3, -1, 0, 4}
	targets := []int32{2, 0}
	ref, err := reference.CrossEntropy(logits, targets, 2, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]float64, 6)
	loss, err := kernels.CrossEntropy(logits, targets, 2, 3, grad, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Check(ref, loss, grad, loss, grad)
	if !a.OK() {
		t.Errorf("the kernel's own result rejected: %s", &a)
	}
	// A naive gradient off by 1e-6: outside the contract and disagreeing.
	off := append([]float64(nil), grad...)
	off[1] *= 1 + 1e-6
	a.Check(ref, loss, grad, loss, off)
	if a.OK() || a.Checks != 2 || a.Naive <= 1 || a.Fused > 1 || a.NaiveErr == nil || a.FusedErr != nil {
		t.Errorf("a gradient off by 1e-6 (relative) accepted, or blamed on the wrong side: %s", &a)
	}
	// lossfuse's own gradient off: outside its contract.
	var b Agreement
	b.Check(ref, loss, off, loss, off)
	if b.OK() || b.FusedErr == nil {
		t.Errorf("lossfuse off by 1e-6 accepted: %s", &b)
	}
}
