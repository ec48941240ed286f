package bench

import (
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// Corners of issue 14 ("performance without cliffs") that the shape grid of
// the kernel benchmarks does not show: what weights cost against the same
// call without them, and the fixed cost of a tiny call. Compare the
// weighted/unweighted pairs as ratios within one run:
//
//	go test -run '^$' -bench 'Weights|FixedCost' -count 7 ./bench

// BenchmarkWeights runs each weighted loss next to the same call without
// weights, fwd+bwd, float32, 4096×256, on every backend.
func BenchmarkWeights(b *testing.B) {
	const n, k = 4096, 256
	rng := rand.New(rand.NewSource(14))
	fill := func(m int, lo, hi float32) []float32 {
		s := make([]float32, m)
		for i := range s {
			s[i] = lo + (hi-lo)*rng.Float32()
		}
		return s
	}
	x, y, w := fill(n*k, -4, 4), fill(n*k, 0, 1), fill(n*k, 0, 2)
	cw := fill(k, 0, 2)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(k))
	}
	grad := make([]float32, n*k)
	calls := []struct {
		name string
		call func(weighted bool) error
	}{
		{"BCEWithLogits", func(weighted bool) error {
			var o kernels.BinaryOptions[float32]
			if weighted {
				o.Weight = w
			}
			_, err := kernels.BCEWithLogits(x, y, n, k, grad, &o)
			return err
		}},
		{"MSE", func(weighted bool) error {
			var o kernels.RegressionOptions[float32]
			if weighted {
				o.Weight = w
			}
			_, err := kernels.MSE(x, y, grad, &o)
			return err
		}},
		{"CrossEntropy", func(weighted bool) error {
			var o kernels.CrossEntropyOptions[float32]
			if weighted {
				o.Weight = cw
			}
			_, err := kernels.CrossEntropy(x, targets, n, k, grad, &o)
			return err
		}},
	}
	for _, c := range calls {
		for _, backend := range kernels.Backends() {
			for _, weighted := range []bool{false, true} {
				name := c.name + "/isa=" + backend + "/weighted=false"
				if weighted {
					name = c.name + "/isa=" + backend + "/weighted=true"
				}
				b.Run(name, func(b *testing.B) {
					restore, err := kernels.UseBackend(backend)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					b.SetBytes(int64(4 * n * k))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if err := c.call(weighted); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkFixedCost is one call of N = 1, K = 10, fwd+bwd, float32:
// validation and dispatch against ten elements of work.
func BenchmarkFixedCost(b *testing.B) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	grad := make([]float32, 10)
	targets := []int32{3}
	for _, backend := range kernels.Backends() {
		b.Run("CrossEntropy/isa="+backend, func(b *testing.B) {
			restore, err := kernels.UseBackend(backend)
			if err != nil {
				b.Fatal(err)
			}
			defer restore()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := kernels.CrossEntropy(x, targets, 1, 10, grad, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSoftLabels is sigmoid focal loss (γ = 2, α = 0.25) fwd+bwd,
// float32, 4096×256, with hard labels and with soft labels in (0, 1), on
// every backend.
func BenchmarkSoftLabels(b *testing.B) {
	const n, k = 4096, 256
	rng := rand.New(rand.NewSource(15))
	x, hard, soft := make([]float32, n*k), make([]float32, n*k), make([]float32, n*k)
	for i := range x {
		x[i] = 8*rng.Float32() - 4
		hard[i] = float32(rng.Intn(2))
		soft[i] = 0.05 + 0.9*rng.Float32()
	}
	grad := make([]float32, n*k)
	for _, backend := range kernels.Backends() {
		for _, labels := range []string{"hard", "soft"} {
			y := hard
			if labels == "soft" {
				y = soft
			}
			b.Run("SigmoidFocal/isa="+backend+"/labels="+labels, func(b *testing.B) {
				restore, err := kernels.UseBackend(backend)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				o := kernels.DefaultFocal[float32]()
				b.SetBytes(int64(4 * n * k))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := kernels.SigmoidFocal(x, y, n, k, grad, &o); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
