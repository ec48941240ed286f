package main

import (
	"bytes"
	"math"
	"testing"
)

// The sharded and chunked ways must give the one call's loss and gradients
// up to float32 rounding: the loss within a few units in the last place,
// the gradients within the rounding of the matrix products (whose sums run
// in another order).
func TestShardsMatchOneCall(t *testing.T) {
	c := config{N: 16, D: 32, V: 5003, Ranks: 4, Chunk: 1000, Seed: 3}
	res, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	report(&out, c, res)
	t.Log("\n" + out.String())
	for i := 1; i < 3; i++ {
		if d := math.Abs(float64(res.Loss[i]-res.Loss[0])) / float64(res.Loss[0]); d > 1e-6 {
			t.Errorf("%s: loss %v, one call %v (relative difference %.2g)", wayNames[i], res.Loss[i], res.Loss[0], d)
		}
		if d := relDiff(res.DH[0], res.DH[i]); d > 1e-5 {
			t.Errorf("%s: dH differs from the one call's by %.2g of its largest element", wayNames[i], d)
		}
		if d := relDiff(res.DW[0], res.DW[i]); d > 1e-5 {
			t.Errorf("%s: dW differs from the one call's by %.2g of its largest element", wayNames[i], d)
		}
	}
	if res.PeakLogits[2] != c.N*c.Chunk || res.PeakLogits[0] != c.N*c.V {
		t.Errorf("logits held: %v", res.PeakLogits)
	}
}
