package bench

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/internal/fallbacks"
	"github.com/lossfuse/lossfuse/kernels"
)

// Corners of issue 14 ("performance without cliffs") that the shape grid of
// the kernel benchmarks does not show: what weights cost against the same
// call without them, and the fixed cost of a tiny call. Compare the
// weighted/unweighted pairs as ratios within one run:
//
//	go test -run '^$' -bench 'Weights|FixedCost' -count 7 ./bench

// BenchmarkWeights runs each weighted loss next to the same call without
// weights, fwd+bwd, float32, 4096×256, on every backend; the binary losses
// also with PyTorch's broadcast weights (ClassWeight [K], RowWeight [N]).
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
	cw, rw := fill(k, 0, 2), fill(n, 0, 2)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(k))
	}
	grad := make([]float32, n*k)
	binary := func(mode string) kernels.BinaryOptions[float32] {
		var o kernels.BinaryOptions[float32]
		switch mode {
		case "true":
			o.Weight = w
		case "class":
			o.ClassWeight = cw
		case "row":
			o.RowWeight = rw
		}
		return o
	}
	calls := []struct {
		name  string
		modes []string // "false" (none), "true" (per element), "class", "row"
		call  func(mode string) error
	}{
		{"BCEWithLogits", []string{"false", "true", "class", "row"}, func(mode string) error {
			o := binary(mode)
			_, err := kernels.BCEWithLogits(x, y, n, k, grad, &o)
			return err
		}},
		{"SigmoidFocal", []string{"false", "true", "class", "row"}, func(mode string) error {
			o := kernels.FocalOptions[float32]{BinaryOptions: binary(mode), Alpha: 0.25, Gamma: 2}
			_, err := kernels.SigmoidFocal(x, y, n, k, grad, &o)
			return err
		}},
		{"MSE", []string{"false", "true"}, func(mode string) error {
			var o kernels.RegressionOptions[float32]
			if mode == "true" {
				o.Weight = w
			}
			_, err := kernels.MSE(x, y, grad, &o)
			return err
		}},
		{"CrossEntropy", []string{"false", "true"}, func(mode string) error {
			var o kernels.CrossEntropyOptions[float32]
			if mode == "true" {
				o.Weight = cw
			}
			_, err := kernels.CrossEntropy(x, targets, n, k, grad, &o)
			return err
		}},
	}
	for _, c := range calls {
		for _, backend := range kernels.Backends() {
			for _, mode := range c.modes {
				b.Run(c.name+"/isa="+backend+"/weighted="+mode, func(b *testing.B) {
					restore, err := kernels.UseBackend(backend)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					b.SetBytes(int64(4 * n * k))
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if err := c.call(mode); err != nil {
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

// BenchmarkFallbacks runs each deliberate fallback of internal/fallbacks
// that this CPU's backends have, next to its vectorised neighbour (the same
// call without the options that force the fallback), fwd+bwd: CE family
// 256×1000, binary 4096×256; NLL 256×32000 next to a bare zero fill of its
// gradient. docs/fallbacks.md quotes the ratios.
func BenchmarkFallbacks(b *testing.B) {
	for _, e := range fallbacks.List {
		for _, backend := range kernels.Backends() {
			if backend == "generic" || !e.Matches(backend, e.Kernel, "f32", e.Options) && !e.Matches(backend, e.Kernel, "f64", e.Options) {
				continue
			}
			for _, dt := range []string{"f32", "f64"} {
				if !e.Matches(backend, e.Kernel, dt, e.Options) {
					continue
				}
				for _, fallback := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/%s/%s/fallback=%v", e.Kernel, strings.Join(e.Options, "+"), dt, backend, fallback)
					b.Run(name, func(b *testing.B) {
						restore, err := kernels.UseBackend(backend)
						if err != nil {
							b.Fatal(err)
						}
						defer restore()
						var call func() error
						if dt == "f32" {
							call = fallbackCall[float32](e.Kernel, fallback)
						} else {
							call = fallbackCall[float64](e.Kernel, fallback)
						}
						b.ReportAllocs()
						for i := 0; i < b.N; i++ {
							if err := call(); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// BenchmarkSoftCap is CrossEntropy and CrossEntropyProbs fwd+bwd, 256×1000,
// with and without soft-capping (cap 30), in both dtypes on every backend:
// the cost of the capped passes (a tanh per logit in each) against the
// plain ones, and against generic.
func BenchmarkSoftCap(b *testing.B) {
	for _, kernel := range []string{"CrossEntropy", "CrossEntropyProbs"} {
		for _, dt := range []string{"f32", "f64"} {
			for _, backend := range kernels.Backends() {
				for _, capped := range []bool{false, true} {
					b.Run(fmt.Sprintf("%s/%s/isa=%s/capped=%v", kernel, dt, backend, capped), func(b *testing.B) {
						restore, err := kernels.UseBackend(backend)
						if err != nil {
							b.Fatal(err)
						}
						defer restore()
						call := fallbackCall[float64](kernel, capped)
						if dt == "f32" {
							call = fallbackCall[float32](kernel, capped)
						}
						b.ReportAllocs()
						for i := 0; i < b.N; i++ {
							if err := call(); err != nil {
								b.Fatal(err)
							}
						}
					})
				}
			}
		}
	}
}

// fallbackCall is the benchmark call of kernel, with the option that forces
// its fallback (soft-capping 30, clip 1e-4) or without it.
func fallbackCall[T kernels.Float](kernel string, fallback bool) func() error {
	rng := rand.New(rand.NewSource(16))
	fill := func(m int, lo, hi float64) []T {
		s := make([]T, m)
		for i := range s {
			s[i] = T(lo + (hi-lo)*rng.Float64())
		}
		return s
	}
	switch kernel {
	case "NLL": // against the floor any NLL pays: a bare zero fill of the gradient
		const n, k = 256, 32000
		x, grad := fill(n*k, -12, 0), make([]T, n*k)
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		return func() error {
			if !fallback {
				clear(grad)
				return nil
			}
			_, err := kernels.NLL(x, targets, n, k, grad, nil)
			return err
		}
	case "CrossEntropy", "CrossEntropyProbs":
		const n, k = 256, 1000
		x, probs, grad := fill(n*k, -4, 4), fill(n*k, 0, 1), make([]T, n*k)
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		o := &kernels.CrossEntropyOptions[T]{}
		if fallback {
			o.SoftCap = 30
		}
		return func() error {
			var err error
			if kernel == "CrossEntropy" {
				_, err = kernels.CrossEntropy(x, targets, n, k, grad, o)
			} else {
				_, err = kernels.CrossEntropyProbs(x, probs, n, k, grad, o)
			}
			return err
		}
	case "FocalProbs":
		const n, k = 4096, 256
		p, y, grad := fill(n*k, 0.01, 0.99), fill(n*k, 0, 1), make([]T, n*k)
		for i := range y {
			y[i] = T(math.Round(float64(y[i])))
		}
		o := kernels.DefaultFocal[T]()
		if fallback {
			o.Clip = 1e-4
		}
		return func() error {
			_, err := kernels.FocalProbs(p, y, n, k, grad, &o)
			return err
		}
	}
	panic("BenchmarkFallbacks: no call for " + kernel)
}

// BenchmarkSmallK is CrossEntropy and SoftmaxFocal (γ = 2) fwd+bwd, float32,
// 4096 rows of K = 10 … 64 classes on every backend: both sides of the
// transposed kernels' limit (K ≤ 32 on amd64), where the sweep of issue 14
// found the cliff.
//
//	go test -run '^$' -bench SmallK -count 5 ./bench
func BenchmarkSmallK(b *testing.B) {
	const n = 4096
	for _, kernel := range []string{"CrossEntropy", "SoftmaxFocal"} {
		for _, k := range smallKs {
			rng := rand.New(rand.NewSource(17))
			x, grad, targets := make([]float32, n*k), make([]float32, n*k), make([]int32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 3)
			}
			for i := range targets {
				targets[i] = int32(rng.Intn(k))
			}
			for _, backend := range kernels.Backends() {
				b.Run(fmt.Sprintf("%s/K=%d/isa=%s", kernel, k, backend), func(b *testing.B) {
					restore, err := kernels.UseBackend(backend)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if kernel == "CrossEntropy" {
							_, err = kernels.CrossEntropy(x, targets, n, k, grad, nil)
						} else {
							_, err = kernels.SoftmaxFocal(x, targets, n, k, grad, &kernels.SoftmaxFocalOptions[float32]{Gamma: 2})
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*k), "ns/elem")
				})
			}
		}
	}
}

// smallKs are BenchmarkSmallK's row lengths; LOSSFUSE_BENCH_KS (comma
// separated) replaces them.
var smallKs = func() []int {
	ks := []int{10, 16, 17, 24, 32, 33, 48, 64}
	if s := os.Getenv("LOSSFUSE_BENCH_KS"); s != "" {
		ks = ks[:0]
		for _, f := range strings.Split(s, ",") {
			if k, err := strconv.Atoi(f); err == nil && k > 0 {
				ks = append(ks, k)
			}
		}
	}
	return ks
}()

// BenchmarkFewRows is CrossEntropy fwd+bwd, float32, over few rows of K = 2
// and 10 on every backend: where a call's fixed cost and the per-row
// latency of the row-wise kernels rule (issue 14: avx512 must never be
// slower than avx2).
//
//	go test -run '^$' -bench FewRows -count 5 ./bench
func BenchmarkFewRows(b *testing.B) {
	for _, k := range []int{2, 10} {
		for _, n := range []int{1, 2, 4, 8, 15, 16, 64, 1024} {
			rng := rand.New(rand.NewSource(18))
			x, grad, targets := make([]float32, n*k), make([]float32, n*k), make([]int32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64() * 3)
			}
			for i := range targets {
				targets[i] = int32(rng.Intn(k))
			}
			for _, backend := range kernels.Backends() {
				b.Run(fmt.Sprintf("K=%d/N=%d/isa=%s", k, n, backend), func(b *testing.B) {
					restore, err := kernels.UseBackend(backend)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					b.ReportAllocs()
					for i := 0; i < b.N; i++ {
						if _, err := kernels.CrossEntropy(x, targets, n, k, grad, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*k), "ns/elem")
				})
			}
		}
	}
}

// BenchmarkLongRows is CrossEntropy fwd+bwd, float32, about 8M logits in
// rows of LM vocabularies on every backend: issue 14 wants 64×128256
// within 10% of 256×32000 (ns/elem).
//
//	go test -run '^$' -bench LongRows -count 5 ./bench
func BenchmarkLongRows(b *testing.B) {
	for _, k := range []int{32000, 32769, 50257, 65536, 128256, 131073, 262144, 262145} {
		n := (8 << 20) / k
		rng := rand.New(rand.NewSource(19))
		x, grad, targets := make([]float32, n*k), make([]float32, n*k), make([]int32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		for _, backend := range kernels.Backends() {
			if backend == "generic" {
				continue // 100× slower; BenchmarkCrossEntropy has it
			}
			b.Run(fmt.Sprintf("%dx%d/isa=%s", n, k, backend), func(b *testing.B) {
				restore, err := kernels.UseBackend(backend)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := kernels.CrossEntropy(x, targets, n, k, grad, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*k), "ns/elem")
			})
		}
	}
}
