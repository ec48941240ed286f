package metrics

import (
	"math"
	"testing"
)

func TestAccuracy(t *testing.T) {
	scores := []float64{
		0.1, 0.9, 0, // → 1
		2, 1, 2, // tie: first → 0
		-1, -2, -0.5, // → 2
	}
	if got := Accuracy(scores, []int32{1, 2, 2}, 3); got != 2.0/3 {
		t.Errorf("Accuracy = %v, want 2/3", got)
	}
}

func TestBinaryScores(t *testing.T) {
	logits := []float64{2, 1, -1, 3, -2, 0.5}
	y := []float64{1, 0, 1, 1, 0, 0}
	b := BinaryScores(logits, y)
	// Predicted positive: 2, 1, 3, 0.5 → TP 2, FP 2; negatives: FN 1, TN 1.
	if b.TP != 2 || b.FP != 2 || b.FN != 1 || b.TN != 1 {
		t.Fatalf("counts %+v", b)
	}
	if b.Precision != 0.5 || b.Recall != 2.0/3 || !(math.Abs(b.F1-4.0/7) <= 1e-15) || b.Acc != 0.5 {
		t.Errorf("scores %+v, want precision 1/2, recall 2/3, F1 4/7, accuracy 1/2", b)
	}
	if z := BinaryScores([]float64{-1}, []float64{0}); z.F1 != 0 || z.Acc != 1 {
		t.Errorf("no positives: %+v", z)
	}
}

func TestRegression(t *testing.T) {
	p, y := []float64{1, 2, 3, 4}, []float64{1, 4, 3, 0}
	if got := MAE(p, y); got != 1.5 {
		t.Errorf("MAE = %v, want 1.5", got)
	}
	if got := RMSE(p, y); got != math.Sqrt(5) {
		t.Errorf("RMSE = %v, want √5", got)
	}
}
