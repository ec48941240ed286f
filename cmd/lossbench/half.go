package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"

	"github.com/lossfuse/lossfuse/bench/suite"
	"github.com/lossfuse/lossfuse/kernels"
)

// -half: the 16-bit kernels (issue 18) beside float32 on the same values.
// Each kernel runs fwd+bwd on float32 inputs with a float32 gradient, and
// on bfloat16 and float16 inputs with a gradient of the same format, on
// every selected backend; the ratio is the 16-bit time over float32's in
// the same run (below 1: faster). The inputs are copies of one set of
// values rounded to the format, several copies in turn so that the data
// comes from memory as in training.

type halfCase struct {
	name string
	n, k int
	// call runs dtype "f32", "bf16" or "f16" on copy c.
	call func(dtype string, c int) (float32, error)
}

const halfCopies = 3

func halfCases(seed uint64) []halfCase {
	rng := rand.New(rand.NewPCG(seed, 18))
	type bufs struct {
		f32, y32, g32 [halfCopies][]float32
		bf, ybf, gbf  [halfCopies][]kernels.BF16
		fh, yfh, gfh  [halfCopies][]kernels.F16
		t             []int32
	}
	mk := func(n, k int, probs bool) *bufs {
		b := &bufs{t: make([]int32, n)}
		for i := range b.t {
			b.t[i] = int32(rng.IntN(k))
		}
		for c := range halfCopies {
			b.f32[c], b.y32[c], b.g32[c] = make([]float32, n*k), make([]float32, n*k), make([]float32, n*k)
			b.bf[c], b.ybf[c], b.gbf[c] = make([]kernels.BF16, n*k), make([]kernels.BF16, n*k), make([]kernels.BF16, n*k)
			b.fh[c], b.yfh[c], b.gfh[c] = make([]kernels.F16, n*k), make([]kernels.F16, n*k), make([]kernels.F16, n*k)
			for i := range b.f32[c] {
				v, y := float32(rng.NormFloat64()*3), rng.Float32()
				if probs {
					y /= float32(k / 2)
				}
				b.bf[c][i], b.ybf[c][i] = kernels.BF16FromFloat32(v), kernels.BF16FromFloat32(y)
				b.fh[c][i], b.yfh[c][i] = kernels.F16FromFloat32(v), kernels.F16FromFloat32(y)
				b.f32[c][i], b.y32[c][i] = b.bf[c][i].Float32(), b.ybf[c][i].Float32()
			}
		}
		return b
	}
	ce := func(n, k int) halfCase {
		b := mk(n, k, false)
		return halfCase{"CrossEntropy", n, k, func(dt string, c int) (float32, error) {
			switch dt {
			case "bf16":
				return kernels.CrossEntropyHalf(b.bf[c], b.t, n, k, b.gbf[c], nil)
			case "f16":
				return kernels.CrossEntropyHalf(b.fh[c], b.t, n, k, b.gfh[c], nil)
			}
			return kernels.CrossEntropy(b.f32[c], b.t, n, k, b.g32[c], nil)
		}}
	}
	probs := func(n, k int) halfCase {
		b := mk(n, k, true)
		return halfCase{"CrossEntropyProbs", n, k, func(dt string, c int) (float32, error) {
			switch dt {
			case "bf16":
				return kernels.CrossEntropyProbsHalf(b.bf[c], b.ybf[c], n, k, b.gbf[c], nil)
			case "f16":
				return kernels.CrossEntropyProbsHalf(b.fh[c], b.yfh[c], n, k, b.gfh[c], nil)
			}
			return kernels.CrossEntropyProbs(b.f32[c], b.y32[c], n, k, b.g32[c], nil)
		}}
	}
	focal := func(n, k int) halfCase {
		b := mk(n, k, false)
		o32, oh := &kernels.SoftmaxFocalOptions[float32]{Gamma: suite.FocalGamma}, &kernels.SoftmaxFocalOptions[float32]{Gamma: suite.FocalGamma}
		return halfCase{"SoftmaxFocal", n, k, func(dt string, c int) (float32, error) {
			switch dt {
			case "bf16":
				return kernels.SoftmaxFocalHalf(b.bf[c], b.t, n, k, b.gbf[c], oh)
			case "f16":
				return kernels.SoftmaxFocalHalf(b.fh[c], b.t, n, k, b.gfh[c], oh)
			}
			return kernels.SoftmaxFocal(b.f32[c], b.t, n, k, b.g32[c], o32)
		}}
	}
	bce := func(n, k int) halfCase {
		b := mk(n, k, false)
		return halfCase{"BCEWithLogits", n, k, func(dt string, c int) (float32, error) {
			switch dt {
			case "bf16":
				return kernels.BCEWithLogitsHalf(b.bf[c], b.ybf[c], n, k, b.gbf[c], nil)
			case "f16":
				return kernels.BCEWithLogitsHalf(b.fh[c], b.yfh[c], n, k, b.gfh[c], nil)
			}
			return kernels.BCEWithLogits(b.f32[c], b.y32[c], n, k, b.g32[c], nil)
		}}
	}
	sfocal := func(n, k int) halfCase {
		b := mk(n, k, false)
		o := kernels.DefaultFocal[float32]()
		return halfCase{"SigmoidFocal", n, k, func(dt string, c int) (float32, error) {
			switch dt {
			case "bf16":
				return kernels.SigmoidFocalHalf(b.bf[c], b.ybf[c], n, k, b.gbf[c], &o)
			case "f16":
				return kernels.SigmoidFocalHalf(b.fh[c], b.yfh[c], n, k, b.gfh[c], &o)
			}
			return kernels.SigmoidFocal(b.f32[c], b.y32[c], n, k, b.g32[c], &o)
		}}
	}
	return []halfCase{
		ce(256, 32000), ce(64, 128256), ce(4096, 10), ce(1024, 1000),
		probs(256, 32000), focal(256, 32000), bce(4096, 256), sfocal(4096, 256),
	}
}

func runHalf(c *config, w io.Writer) error {
	runtime.LockOSThread() // the thread CPU clock: no migration mid-measurement
	defer runtime.UnlockOSThread()
	m := describeMachine()
	fmt.Fprintf(w, "lossbench -half: %s, %s\n", m.CPU, m.Go)
	fmt.Fprintf(w, "fwd+bwd, ns/elem (median of %d repetitions over %v, %s clock); ×f32: the 16-bit time over float32's in this run\n\n", c.reps, c.duration, c.clock.name)
	fmt.Fprintf(w, "%-18s %12s %-8s %9s %9s %6s %9s %6s\n", "kernel", "shape", "backend", "f32", "bf16", "×f32", "f16", "×f32")
	for _, hc := range halfCases(c.seed) {
		for _, isa := range c.isas {
			if isa == suite.Naive {
				continue
			}
			restore, err := suite.Select(isa)
			if err != nil {
				return err
			}
			var t [3]float64
			for i, dt := range []string{"f32", "bf16", "f16"} {
				if _, err := hc.call(dt, 0); err != nil {
					restore()
					return fmt.Errorf("%s %dx%d %s %s: %v", hc.name, hc.n, hc.k, dt, isa, err)
				}
				next := 0
				samples := timeCalls(c.clock, c.reps, c.duration, func() {
					hc.call(dt, next%halfCopies)
					next++
				})
				t[i] = samples[len(samples)/2] / float64(hc.n*hc.k)
			}
			restore()
			fmt.Fprintf(w, "%-18s %12s %-8s %9.3f %9.3f %5.2f× %9.3f %5.2f×\n", hc.name, fmt.Sprintf("%dx%d", hc.n, hc.k), isa,
				t[0], t[1], t[1]/t[0], t[2], t[2]/t[0])
		}
	}
	return nil
}
