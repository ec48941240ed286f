package kernels_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// TestLongRows runs softmax cross-entropy on vocabulary-sized rows
// (K = 128256, Llama 3's vocabulary, and the amd64 path boundaries around
// it) on every backend, in both element types, and checks loss, per-row
// losses, log-sum-exps and every gradient element against the float64
// reference: a gradient element of a long row with the wrong sign, a row
// whose last class is lost, a long-row path's target element, weights or
// smoothing term gone wrong cannot hide behind short rows. -short keeps
// K = 128256 (qemu runs it for neon) and fewer option sets.
func TestLongRows(t *testing.T) {
	forEachBackendAndType(t, testLongRows[float32], testLongRows[float64])
}

// longRowCase is one option set of TestLongRows.
type longRowCase struct {
	name            string
	grad, inPlace   bool
	weighted        bool
	smoothing, zl   float64
	ignoreMiddleRow bool
}

func longRowCases() []longRowCase {
	cases := []longRowCase{
		{name: "grad-in-place", grad: true, inPlace: true},
		{name: "weighted-smoothing", grad: true, weighted: true, smoothing: 0.1},
		{name: "loss-only", ignoreMiddleRow: true},
	}
	if !testing.Short() {
		cases = append(cases,
			longRowCase{name: "weighted", grad: true, weighted: true, ignoreMiddleRow: true},
			longRowCase{name: "smoothing-zloss", grad: true, inPlace: true, smoothing: 0.2, zl: 1e-4},
		)
	}
	return cases
}

func testLongRows[T kernels.Float](t *testing.T) {
	ks := []int{128256}
	if !testing.Short() {
		// The amd64 fused kernel takes K ≤ 4096, the stashed path
		// 4096 < K ≤ 32768 (pipelined across rows), blocks beyond.
		ks = []int{4097, 32768, 32769, 128256}
	}
	const n = 3
	for _, k := range ks {
		rng := rand.New(rand.NewSource(int64(k)))
		x := make([]T, n*k)
		for i := range x {
			x[i] = T(rng.NormFloat64() * 2)
		}
		// Row 0's target is the last class, row 1's a random one that
		// dominates its row (p_y − 1 must not cancel), row 2's class 0.
		targets := []int32{int32(k - 1), int32(rng.Intn(k)), 0}
		x[k+int(targets[1])] = 30
		w := make([]T, k)
		for i := range w {
			w[i] = T(0.5 + rng.Float64())
		}
		for _, c := range longRowCases() {
			t.Run(fmt.Sprintf("K=%d/%s", k, c.name), func(t *testing.T) {
				xs := append([]T(nil), x...)
				o := kernels.CrossEntropyOptions[T]{
					Reduction: kernels.Sum, LabelSmoothing: c.smoothing, ZLoss: c.zl,
					RowLoss: make([]T, n), RowLSE: make([]T, n),
				}
				if c.weighted {
					o.Weight = w
				}
				ts := append([]int32(nil), targets...)
				if c.ignoreMiddleRow {
					ts[1] = -100
				}
				ref, err := reference.CrossEntropy(xs, ts, n, k, &o)
				if err != nil {
					t.Fatal(err)
				}
				var grad []T
				switch {
				case c.grad && c.inPlace:
					grad = xs
				case c.grad:
					grad = make([]T, n*k)
					for i := range grad {
						grad[i] = T(math.NaN())
					}
				}
				loss, err := kernels.CrossEntropy(xs, ts, n, k, grad, &o)
				if err != nil {
					t.Fatal(err)
				}
				got := reference.Got[T]{CheckLoss: true, Loss: loss, Items: o.RowLoss, LSE: o.RowLSE, Grad: grad}
				if err := reference.Check(ref, got); err != nil {
					t.Fatalf("%s: %v", kernels.Backend(), err)
				}
				if c.ignoreMiddleRow && o.RowLoss[1] != 0 {
					t.Fatalf("ignored row's loss %v, want 0", o.RowLoss[1])
				}
			})
		}
	}
}
