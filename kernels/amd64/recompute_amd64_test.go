//go:build !purego

package amd64

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// TestTinyRecomputeMatchesGather: the AVX-512 transposed kernels with a
// gradient give the same bits whether they gather pass 1's exponentials
// back (Intel's choice) or take them again from the logits (AMD's: the R
// variants), for cross-entropy and softmax focal loss, every γ kind, with
// and without weights, separate, in place and forward only, over rows with non-finite
// logits and ignored targets (an ignore index that is a class too).
// Whichever this CPU's dispatch picks, both run.
func TestTinyRecomputeMatchesGather(t *testing.T) {
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL) {
		t.Skip("no AVX-512")
	}
	defer func(v, f bool) { tinyRecompute, tinyForceGather = v, f }(tinyRecompute, tinyForceGather)
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 16*5 + 3 // five groups of 16 and rows left over
	for _, k := range []int{1, 2, 5, 10, 16, 17, 28, 32} {
		for _, focal := range []bool{false, true} {
			for _, gamma := range []float32{0, 1, 2, 0.7} {
				if !focal && gamma != 0 {
					continue
				}
				for _, weighted := range []bool{false, true} {
					for _, mode := range []string{"separate", "inplace", "forward"} {
						inPlace, forward := mode == "inplace", mode == "forward"
						// The ignore index is a class (1) or not (−100).
						ignore := int32(-100)
						if inPlace && k > 1 {
							ignore = 1
						}
						x := make([]float32, n*k)
						for i := range x {
							x[i] = float32(rng.NormFloat64() * 3)
						}
						x[3*k] = float32(math.Inf(-1))
						x[5*k+k-1] = float32(math.NaN())
						x[20*k] = float32(math.Inf(1))
						targets := make([]int32, n)
						for i := range targets {
							targets[i] = int32(rng.IntN(k))
						}
						targets[7], targets[40] = ignore, ignore
						var w []float32
						if weighted {
							w = make([]float32, k)
							for i := range w {
								w[i] = float32(rng.Float64() * 2)
							}
						}
						run := func(recompute bool) (g, rl, rs []float32, sum float64) {
							tinyRecompute, tinyForceGather = recompute, !recompute
							xs := append([]float32(nil), x...)
							g = make([]float32, n*k)
							if inPlace {
								g = xs
							}
							if forward {
								g = nil
							}
							rl, rs = make([]float32, n), make([]float32, n)
							a := args.CE[float32]{X: xs, N: n, K: k, Targets: targets, Weight: w, Ignore: ignore, HasIgnore: true,
								Focal: focal, FocalGamma: gamma, GradScale: 1.0 / n, Grad: g, RowLoss: rl, RowLSE: rs}
							// The drivers of the transposed kernels themselves.
							if focal {
								sum = avx512.softmaxFocalTiny(a, 16)
							} else {
								sum = avx512.crossEntropyTiny(a, 16)
							}
							return g, rl, rs, sum
						}
						g0, rl0, rs0, s0 := run(false)
						g1, rl1, rs1, s1 := run(true)
						same := func(what string, a, b []float32) {
							for i := range a {
								if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
									t.Fatalf("k=%d focal=%v γ=%v weighted=%v %s: %s[%d]: gather %v, recompute %v",
										k, focal, gamma, weighted, mode, what, i, a[i], b[i])
								}
							}
						}
						same("grad", g0, g1)
						same("rowLoss", rl0, rl1)
						same("rowLSE", rs0, rs1)
						if math.Float64bits(s0) != math.Float64bits(s1) && !(s0 != s0 && s1 != s1) {
							t.Fatalf("k=%d focal=%v: sum: gather %v, recompute %v", k, focal, s0, s1)
						}
					}
				}
			}
		}
	}
}
