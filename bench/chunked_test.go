package bench

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// BenchmarkCrossEntropyChunked is the kernel cost of cross-entropy on a
// language-model head computed a vocabulary chunk at a time (issue 17;
// examples/shards shows the whole step with the matrix products): per
// chunk of C classes, the N×C logits the product just wrote are hot in
// cache, pass 1 reads them; after the loss, each chunk's logits are
// written again and pass 2 turns them into their gradient in place. Here
// one N×C buffer stands in for every chunk (the products are not timed),
// so the chunks are as hot as they would be. "single" is one CrossEntropy
// call over the N×V logits, which a product would have left in memory.
// ns/elem counts N×V elements either way:
//
//	go test -run '^$' -bench 'CrossEntropyChunked' -count 7 ./bench
func BenchmarkCrossEntropyChunked(b *testing.B) {
	const n, v = 64, 128256
	rng := rand.New(rand.NewSource(21))
	x := make([]float32, n*v)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 2)
	}
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(v))
	}
	b.Run("single", func(b *testing.B) {
		grad := make([]float32, n*v)
		for i := 0; i < b.N; i++ {
			if _, err := kernels.CrossEntropy(x, targets, n, v, grad, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*v), "ns/elem")
	})
	for _, c := range []int{2048, 8192, 32064} {
		b.Run(fmt.Sprintf("chunked/C=%d", c), func(b *testing.B) {
			buf := make([]float32, n*c)
			all, part := kernels.NewShardStats(n), kernels.NewShardStats(n)
			copy(buf, x[:n*c]) // pass 2 turns it into gradients, which serve as the next logits
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for lo := 0; lo < v; lo += c {
					hi := min(lo+c, v)
					sh := kernels.VocabShard{Lo: lo, Hi: hi, V: v}
					into := part
					if lo == 0 {
						into = all
					}
					if err := kernels.CrossEntropyShard(buf[:n*(hi-lo)], targets, n, sh, into, nil); err != nil {
						b.Fatal(err)
					}
					if lo > 0 {
						if err := all.Combine(part); err != nil {
							b.Fatal(err)
						}
					}
				}
				if _, err := kernels.CrossEntropyShardLoss[float32](all, targets, n, v, nil); err != nil {
					b.Fatal(err)
				}
				for lo := 0; lo < v; lo += c {
					hi := min(lo+c, v)
					sh := kernels.VocabShard{Lo: lo, Hi: hi, V: v}
					g := buf[:n*(hi-lo)]
					if err := kernels.CrossEntropyShardGrad(g, targets, n, sh, all, g, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*v), "ns/elem")
		})
	}
}
