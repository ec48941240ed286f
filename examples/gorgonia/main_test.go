package main

import (
	"bytes"
	"testing"

	"github.com/lossfuse/lossfuse/examples/internal/harness"
)

// The default run (seed 1) reaches test accuracy 0.9557 (softmax) and
// 0.9778 (MLP) with either loss; final epoch losses 0.635 and 0.544.
var want = map[string]struct{ minAcc, maxLoss float64 }{
	"softmax": {0.94, 0.67},
	"mlp":     {0.96, 0.57},
}

func TestGorgoniaTraining(t *testing.T) {
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
	if len(runs) != 4 {
		t.Fatalf("%d runs, want 2 models × 2 losses", len(runs))
	}
	for i, r := range runs {
		name := r.Model + "/" + r.Loss
		first, last := r.EpochLoss[0], r.EpochLoss[len(r.EpochLoss)-1]
		if !(last < first) || last > want[r.Model].maxLoss {
			t.Errorf("%s: epoch loss %.4f → %.4f, want it to fall below %.2f", name, first, last, want[r.Model].maxLoss)
		}
		if r.TestAcc < want[r.Model].minAcc {
			t.Errorf("%s: test accuracy %.4f < %.2f", name, r.TestAcc, want[r.Model].minAcc)
		}
		if r.Loss == "lossfuse" {
			ref := runs[i-1]
			if d := harness.MaxRelDiff(r.EpochLoss, ref.EpochLoss); d > harness.RunTolerance {
				t.Errorf("%s: epoch losses differ from gorgonia's own loss by %.1e > %.0e", name, d, harness.RunTolerance)
			}
			if r.TestAcc != ref.TestAcc {
				t.Errorf("%s: test accuracy %.4f, gorgonia's own loss %.4f", name, r.TestAcc, ref.TestAcc)
			}
		}
	}
}
