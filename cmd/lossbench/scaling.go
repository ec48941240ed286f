package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/lossfuse/lossfuse/kernels"
)

// -scaling: the multi-core curve (issue 17). Each call (for the primitives,
// the "loss" is one output element) runs without a
// Runner (P = 0, the single-threaded default) and with a Runner of
// P = 1 … GOMAXPROCS goroutines, float32, fwd+bwd, on the selected backend,
// timed by the wall clock (the thread CPU clock would count one goroutine
// only). The speed-up is P = 0's median over P's. Every P ≥ 1 must return
// the same loss bits (the Runner's promise); a difference is reported as a
// failure, not a figure.

type scalingCase struct {
	name string
	n, k int
	call func(r *kernels.Runner) (float32, error)
}

func scalingCases(seed uint64) []scalingCase {
	rng := rand.New(rand.NewPCG(seed, 17))
	mk := func(n, k int) (x, y, g []float32, t []int32) {
		x, y, g, t = make([]float32, n*k), make([]float32, n*k), make([]float32, n*k), make([]int32, n)
		for i := range x {
			x[i], y[i] = float32(rng.NormFloat64()*3), rng.Float32()
		}
		for i := range t {
			t[i] = int32(rng.IntN(k))
		}
		return
	}
	ce := func(n, k int) scalingCase {
		x, _, g, t := mk(n, k)
		return scalingCase{"CrossEntropy", n, k, func(r *kernels.Runner) (float32, error) {
			return kernels.CrossEntropy(x, t, n, k, g, &kernels.CrossEntropyOptions[float32]{Runner: r})
		}}
	}
	bce := func(n, k int) scalingCase {
		x, y, g, _ := mk(n, k)
		return scalingCase{"BCEWithLogits", n, k, func(r *kernels.Runner) (float32, error) {
			return kernels.BCEWithLogits(x, y, n, k, g, &kernels.BinaryOptions[float32]{Runner: r})
		}}
	}
	focal := func(n, k int) scalingCase {
		x, y, g, _ := mk(n, k)
		return scalingCase{"SigmoidFocal", n, k, func(r *kernels.Runner) (float32, error) {
			o := kernels.DefaultFocal[float32]()
			o.Runner = r
			return kernels.SigmoidFocal(x, y, n, k, g, &o)
		}}
	}
	mse := func(n, k int) scalingCase {
		x, y, g, _ := mk(n, k)
		return scalingCase{"MSE", n, k, func(r *kernels.Runner) (float32, error) {
			return kernels.MSE(x, y, g, &kernels.RegressionOptions[float32]{Runner: r})
		}}
	}
	softmax := func(n, k int) scalingCase {
		x, _, g, _ := mk(n, k)
		return scalingCase{"Softmax", n, k, func(r *kernels.Runner) (float32, error) {
			return g[0], kernels.Softmax(g, x, n, k, &kernels.PrimitiveOptions{Runner: r})
		}}
	}
	sigmoid := func(n, k int) scalingCase {
		x, _, g, _ := mk(n, k)
		return scalingCase{"Sigmoid", n, k, func(r *kernels.Runner) (float32, error) {
			return g[n*k-1], kernels.Sigmoid(g, x, &kernels.PrimitiveOptions{Runner: r})
		}}
	}
	return []scalingCase{
		ce(256, 32000), ce(64, 128256), ce(4096, 256), ce(4096, 10), ce(1, 10),
		bce(4096, 256), focal(4096, 256), mse(4096, 256), softmax(256, 32000), sigmoid(4096, 256),
	}
}

func runScaling(c *config, w io.Writer) error {
	m := describeMachine()
	maxP := runtime.GOMAXPROCS(0)
	fmt.Fprintf(w, "lossbench -scaling: %s, %d logical cores, GOMAXPROCS %d, backend %s, %s\n", m.CPU, m.Cores, maxP, kernels.Backend(), m.Go)
	fmt.Fprintf(w, "float32 fwd+bwd, wall clock, median of %d repetitions over %v; P=0 is a call without a Runner\n\n", c.reps, c.duration)
	runners := make([]*kernels.Runner, maxP+1)
	for p := 1; p <= maxP; p++ {
		runners[p] = kernels.NewRunner(p)
		defer runners[p].Close()
	}
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "%-14s %12s %10s", "kernel", "shape", "P=0 ns/el")
	for p := 1; p <= maxP; p++ {
		fmt.Fprintf(&hdr, "  %9s %6s", fmt.Sprintf("P=%d ns/el", p), "×")
	}
	fmt.Fprintln(w, hdr.String())
	bad := 0
	for _, sc := range scalingCases(c.seed) {
		elems := float64(sc.n * sc.k)
		line := fmt.Sprintf("%-14s %12s", sc.name, fmt.Sprintf("%dx%d", sc.n, sc.k))
		var base float64
		var first float32
		for p := 0; p <= maxP; p++ {
			r := runners[p]
			loss, err := sc.call(r)
			if err != nil {
				return fmt.Errorf("%s %dx%d P=%d: %v", sc.name, sc.n, sc.k, p, err)
			}
			if p == 1 {
				first = loss
			} else if p > 1 && math.Float32bits(loss) != math.Float32bits(first) {
				bad++
				fmt.Fprintf(w, "!! %s %dx%d: P=%d loss %v differs from P=1's %v\n", sc.name, sc.n, sc.k, p, loss, first)
			}
			samples := timeCalls(wallClock, c.reps, c.duration, func() { sc.call(r) })
			med := samples[len(samples)/2] / elems
			if p == 0 {
				base = med
				line += fmt.Sprintf(" %10.3f", med)
				continue
			}
			line += fmt.Sprintf("  %9.3f %5.2f×", med, base/med)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "\nA Runner spreads calls of at least %d elements (kernels.ParallelMinElems); smaller ones run on the caller, so their ratio is ~1.\n", kernels.ParallelMinElems)
	if bad > 0 {
		return fmt.Errorf("%d case(s) gave different losses for different P", bad)
	}
	fmt.Fprintln(w, "Losses bit-identical for every P ≥ 1.")
	return nil
}
