package kernels_test

import (
	"math/rand"
	"slices"
	"sync"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// TestConcurrentCallers: eight goroutines calling every family at once, each
// on its own buffers, get bit-for-bit what one caller gets alone (the long
// row takes the stashed path, whose scratch rows come from a pool). Under
// -race (CI runs the short suite with it) this is the package doc's claim
// that calls are safe for concurrent use.
func TestConcurrentCallers(t *testing.T) {
	const workers = 8
	longK := 5000
	if testing.Short() {
		longK = 4097
	}
	type job struct {
		name string
		run  func(out []float32) float32
		size int
	}
	rng := rand.New(rand.NewSource(20))
	fill := func(m int, lo, hi float32) []float32 {
		s := make([]float32, m)
		for i := range s {
			s[i] = lo + (hi-lo)*rng.Float32()
		}
		return s
	}
	x := fill(3*longK, -4, 4)
	y := fill(64*10, 0, 1)
	targets := []int32{7, 0, 4999 % int32(longK)}
	small := []int32{1, 9, 3, 0, 2, 8, 5, 4, 6, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}
	jobs := []job{
		{"CrossEntropy/long", func(out []float32) float32 {
			l, _ := kernels.CrossEntropy(x, targets, 3, longK, out, nil)
			return l
		}, 3 * longK},
		{"CrossEntropy/small", func(out []float32) float32 {
			l, _ := kernels.CrossEntropy(x[:20*10], small, 20, 10, out, nil)
			return l
		}, 20 * 10},
		{"SoftmaxFocal", func(out []float32) float32 {
			l, _ := kernels.SoftmaxFocal(x[:20*40], small, 20, 40, out, &kernels.SoftmaxFocalOptions[float32]{Gamma: 2})
			return l
		}, 20 * 40},
		{"BCEWithLogits", func(out []float32) float32 {
			l, _ := kernels.BCEWithLogits(x[:64*10], y, 64, 10, out, nil)
			return l
		}, 64 * 10},
		{"MSE", func(out []float32) float32 {
			l, _ := kernels.MSE(x[:640], y, out, nil)
			return l
		}, 640},
		{"Softmax", func(out []float32) float32 {
			_ = kernels.Softmax(out, x[:64*10], 64, 10, nil)
			return 0
		}, 64 * 10},
	}
	for _, backend := range kernels.Backends() {
		t.Run(backend, func(t *testing.T) {
			restore, err := kernels.UseBackend(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			want := make([][]float32, len(jobs))
			wantLoss := make([]float32, len(jobs))
			for i, j := range jobs {
				want[i] = make([]float32, j.size)
				wantLoss[i] = j.run(want[i])
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var bad []string
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for rep := 0; rep < 3; rep++ {
						for i, j := range jobs {
							out := make([]float32, j.size)
							if l := j.run(out); l != wantLoss[i] || !slices.Equal(out, want[i]) {
								mu.Lock()
								bad = append(bad, j.name)
								mu.Unlock()
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			for _, name := range bad {
				t.Errorf("%s: a concurrent call differs from the call alone", name)
			}
		})
	}
}
