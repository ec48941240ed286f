package bench

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// Multi-core (issue 17): each call without a Runner (P=0) and with a Runner
// of P = 1 … GOMAXPROCS goroutines, fwd+bwd, float32, on the best backend.
// The speed-up is P=0's time over P=n's, from one run:
//
//	go test -run '^$' -bench 'Runner' -count 7 ./bench
//
// BenchmarkRunnerThreshold cuts CE calls of K = 1000 below the default
// threshold too (SetMinElems(1)), to find where a second goroutine starts
// to pay: the crossover behind kernels.ParallelMinElems.

func runnerPs() []int {
	ps := []int{0}
	for p := 1; p <= runtime.GOMAXPROCS(0); p++ {
		ps = append(ps, p)
	}
	return ps
}

func BenchmarkRunner(b *testing.B) {
	rng := rand.New(rand.NewSource(17))
	type shape struct {
		kernel string
		n, k   int
	}
	for _, s := range []shape{{"CrossEntropy", 256, 32000}, {"CrossEntropy", 4096, 256}, {"CrossEntropy", 1, 10}, {"BCEWithLogits", 4096, 256}, {"MSE", 4096, 256}} {
		nk := s.n * s.k
		x, y, grad := make([]float32, nk), make([]float32, nk), make([]float32, nk)
		for i := range x {
			x[i], y[i] = float32(rng.NormFloat64()*3), rng.Float32()
		}
		targets := make([]int32, s.n)
		for i := range targets {
			targets[i] = int32(rng.Intn(s.k))
		}
		for _, p := range runnerPs() {
			b.Run(fmt.Sprintf("%s/%dx%d/P=%d", s.kernel, s.n, s.k, p), func(b *testing.B) {
				var r *kernels.Runner
				if p > 0 {
					r = kernels.NewRunner(p)
					defer r.Close()
				}
				ce := &kernels.CrossEntropyOptions[float32]{Runner: r}
				bce := &kernels.BinaryOptions[float32]{Runner: r}
				reg := &kernels.RegressionOptions[float32]{Runner: r}
				b.ReportAllocs()
				var err error
				for i := 0; i < b.N; i++ {
					switch s.kernel {
					case "CrossEntropy":
						_, err = kernels.CrossEntropy(x, targets, s.n, s.k, grad, ce)
					case "BCEWithLogits":
						_, err = kernels.BCEWithLogits(x, y, s.n, s.k, grad, bce)
					case "MSE":
						_, err = kernels.MSE(x, y, grad, reg)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nk), "ns/elem")
			})
		}
	}
}

func BenchmarkRunnerThreshold(b *testing.B) {
	const k = 1000
	rng := rand.New(rand.NewSource(18))
	for _, n := range []int{16, 32, 48, 64, 96, 128, 256} {
		x, grad := make([]float32, n*k), make([]float32, n*k)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
		}
		targets := make([]int32, n)
		for _, p := range []int{0, 2} {
			b.Run(fmt.Sprintf("elems=%d/P=%d", n*k, p), func(b *testing.B) {
				var r *kernels.Runner
				if p > 0 {
					r = kernels.NewRunner(p)
					r.SetMinElems(1)
					defer r.Close()
				}
				o := &kernels.CrossEntropyOptions[float32]{Runner: r}
				for i := 0; i < b.N; i++ {
					if _, err := kernels.CrossEntropy(x, targets, n, k, grad, o); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
