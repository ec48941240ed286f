package main

import (
	"bytes"
	"testing"

	"github.com/lossfuse/lossfuse/examples/internal/harness"
)

// The default run (seed 1) reaches a test F1 for the malignant class of
// 0.9608 (BCE), 0.9524 (pos_weight), 0.9608 (focal, α 0.25) and 0.9623
// (focal, balanced α) on 142 test rows, where one misclassified malignant
// case costs about 0.01; the threshold allows about two.
const minF1 = 0.94

func TestBreastCancer(t *testing.T) {
	c := defaults()
	c.TimingRounds = 1
	var out bytes.Buffer
	runs, err := trainAll(c, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Log("\n" + out.String())
		}
	}()
	if len(runs) != 8 {
		t.Fatalf("%d runs, want 4 losses × 2 backends", len(runs))
	}
	for i, r := range runs {
		name := r.Loss.Name + "/" + string(r.Backend)
		first, last := r.EpochLoss[0], r.EpochLoss[len(r.EpochLoss)-1]
		// Every loss here falls to less than a quarter of its first epoch's.
		if !(last < first/4) {
			t.Errorf("%s: epoch loss %.4f → %.4f, want a fall to below a quarter", name, first, last)
		}
		if r.Test.F1 < minF1 {
			t.Errorf("%s: test F1 %.4f < %.2f", name, r.Test.F1, minF1)
		}
		if r.Backend == harness.Lossfuse {
			if !r.Agreement.OK() {
				t.Errorf("%s: %s", name, &r.Agreement)
			}
			if naive := runs[i-1]; naive.Test != r.Test {
				t.Errorf("%s: test scores %+v differ from the naive run's %+v", name, r.Test, naive.Test)
			}
		}
	}
}
