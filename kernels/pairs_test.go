package kernels_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// TestConformanceCrossEntropyPairs runs two-class rows (K = 2, which the
// avx512 backend computes as a sigmoid in lanes of 16 rows) with every
// ordered pair of logits from a palette of ordinary, large and non-finite
// values, under each option its kernel takes, on every backend, against
// the reference. 100 rows hold every pair once (on avx512 six groups of 16
// and four rows left over, on avx2 twelve groups of 8); 8, 16 and 112 are
// whole groups, 29 is 16 + 8 + 5 rows on avx512.
func TestConformanceCrossEntropyPairs(t *testing.T) {
	palette := []float64{-3.1, 0.5, 2, 1e4, -1e4, 87, -90, math.Inf(1), math.Inf(-1), math.NaN()}
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfPairs[float32](t, palette) })
		t.Run("float64", func(t *testing.T) { cfPairs[float64](t, palette) })
	})
}

func cfPairs[T kernels.Float](t *testing.T, palette []float64) {
	const k = 2
	rng := rand.New(rand.NewSource(20))
	for _, n := range []int{8, 16, 29, 100, 112} {
		xv := make([]float64, n*k)
		for i := 0; i < n; i++ {
			xv[2*i], xv[2*i+1] = palette[i%len(palette)], palette[i/len(palette)%len(palette)]
		}
		// weights (none, random, one zero), ignore mode, reduction, grad mode, RowLoss, RowLSE
		sizes := []int{3, 3, 3, 3, 2, 2}
		for combo := 0; combo < cfProduct(sizes...); combo++ {
			c := cfPick(combo, sizes...)
			var o kernels.CrossEntropyOptions[T]
			x := cfFrom[T](xv, rng.Intn(cfMaxGuardShift+1))
			var w *cfBuf[T]
			switch c[0] {
			case 1:
				w = cfFrom[T]([]float64{0.7, 1.9}, rng.Intn(4))
			case 2:
				w = cfFrom[T]([]float64{0, 1.3}, rng.Intn(4))
			}
			if w != nil {
				o.Weight = w.s()
			}
			targets := make([]int32, n)
			for i := range targets {
				targets[i] = int32(rng.Intn(k))
				ignoreRow := rng.Intn(5) == 0
				switch c[1] {
				case 0:
					if ignoreRow {
						targets[i] = -100
					}
				case 1:
					o.Ignore = kernels.IgnoreIndex(1)
				case 2:
					o.Ignore = kernels.NoIgnore()
				}
			}
			o.Reduction = cfReductions[c[2]]
			call := cfCECall(rng, fmt.Sprintf("CE pairs n=%d combo=%v", n, c), x, w, targets, n, k, &o, c[4] == 1, c[5] == 1, c[3])
			cfRun(t, call)
		}
	}
}
