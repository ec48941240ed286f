// Package metrics computes the test-set scores the examples print.
package metrics

import "math"

// Accuracy is the fraction of rows whose arg-max over k scores equals the label.
func Accuracy(scores []float64, labels []int32, k int) float64 {
	correct := 0
	for i, y := range labels {
		if ArgMax(scores[i*k:(i+1)*k]) == int(y) {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

// ArgMax returns the index of the largest value (the first on ties).
func ArgMax(x []float64) int {
	best := 0
	for j, v := range x {
		if v > x[best] {
			best = j
		}
	}
	return best
}

// Binary holds the confusion counts of a binary classifier and the scores
// derived from them, for the positive class.
type Binary struct {
	TP, FP, TN, FN             int
	Precision, Recall, F1, Acc float64
}

// BinaryScores thresholds logits at 0 (probability ½) against targets y ∈ {0, 1}.
func BinaryScores(logits, y []float64) Binary {
	var b Binary
	for i, x := range logits {
		pos := x > 0
		switch {
		case pos && y[i] == 1:
			b.TP++
		case pos:
			b.FP++
		case y[i] == 1:
			b.FN++
		default:
			b.TN++
		}
	}
	b.Precision = ratio(b.TP, b.TP+b.FP)
	b.Recall = ratio(b.TP, b.TP+b.FN)
	if b.Precision+b.Recall > 0 {
		b.F1 = 2 * b.Precision * b.Recall / (b.Precision + b.Recall)
	}
	b.Acc = ratio(b.TP+b.TN, len(logits))
	return b
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// MAE is the mean absolute error.
func MAE(pred, target []float64) float64 {
	var s float64
	for i, p := range pred {
		s += math.Abs(p - target[i])
	}
	return s / float64(len(pred))
}

// RMSE is the root mean squared error.
func RMSE(pred, target []float64) float64 {
	var s float64
	for i, p := range pred {
		d := p - target[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(pred)))
}
