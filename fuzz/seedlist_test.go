package fuzz

import (
	"fmt"
	"math"
)

// seeds lists the committed seed inputs of every target: every K (or
// length) around the vector widths, then the edge cases by hand, then one
// input per way of breaking the call.
var seeds = map[string][]*seed{
	"FuzzCrossEntropy": all(
		widths("plain"),
		widths("inplace-smooth", "grad", gradInPlace, "smoothing", 0.1),
		both(sd("article-1000", "k", 3, "x", []float64{1000, 999, 998}, "y", []int{0})),
		both(sd("logits-1e4", "n", 2, "k", 3, "x", []float64{1e4, -1e4, 0, -1e4, 1e4, 88}, "y", []int{0, 2})),
		both(sd("exp-overflow", "n", 2, "k", 5, "x", []float64{88, 89, -88, -89, 710, 745, -745, 17, -37, 0}, "y", []int{1, 4})),
		both(sd("max-float", "n", 2, "k", 4, "x", []float64{max32, -max32, math.MaxFloat64, -math.MaxFloat64}, "y", []int{0, 3})),
		both(sd("subnormal", "k", 6, "x", []float64{sub64, -sub64, sub32, -sub32, 0, math.Copysign(0, -1)}, "y", []int{0})),
		both(sd("inf-minus-inf", "n", 3, "k", 3, "x", []float64{inf32, inf32, 0, -inf32, -inf32, -inf32, -inf32, 0, 1}, "y", []int{0, 1, 0})),
		both(sd("nan", "n", 2, "k", 3, "x", []float64{math.NaN(), 0, 1, 0, 1, 2}, "y", []int{1, 2})),
		both(sd("all-ignored", "n", 4, "k", 5, "y.mode", 2)),
		both(sd("all-ignored-zero", "n", 4, "k", 5, "y.mode", 2, "emptymean", 1)),
		both(sd("all-ignored-sum", "n", 4, "k", 5, "y.mode", 2, "reduction", 1)),
		both(sd("ignore-real-class", "n", 4, "k", 3, "ignore", 1, "ignore.class", 2, "y", []int{2, 0, 2, 1})),
		both(sd("no-ignore", "n", 2, "k", 3, "ignore", 2, "y", []int{0, 2})),
		both(sd("zero-weights", "n", 3, "k", 4, "weight", 1, "w", []float64{0})),
		both(sd("zero-weights-empty", "n", 3, "k", 4, "weight", 1, "w", []float64{0}, "emptymean", 1)),
		both(sd("smooth-weight-ignore", "n", 4, "k", 5, "smoothing", 0.1, "weight", 1,
			"w", []float64{0.5, 2, 1, 0, 3}, "y", []int{0, -100, 3, 1})),
		both(sd("smooth-neg-inf", "k", 3, "smoothing", 0.1, "x", []float64{-inf32, 0, 1}, "y", []int{2})),
		both(sd("smooth-one", "n", 2, "k", 7, "smoothing", 1.0)),
		both(sd("zloss-softcap-lse", "n", 2, "k", 4, "zloss", 1e-4, "softcap", 30.0, "rowlse", 1,
			"x", []float64{100, -100, 1e4, 3, -inf32, inf32, 0, 1}, "y", []int{0, 3})),
		f64only(sd("softcap-tiny", "n", 2, "k", 5, "softcap", 1e-300, "grad", gradInPlace)),
		f64only(sd("softcap-huge", "n", 2, "k", 5, "softcap", 1e300)),
		both(sd("zloss-huge", "n", 2, "k", 5, "zloss", 1e4)),
		both(sd("none", "n", 5, "k", 9, "reduction", 2, "rowlse", 1)),
		both(sd("normalizer", "n", 5, "k", 9, "normalizer", 7.5)),
		both(sd("normalizer-small", "n", 5, "k", 9, "normalizer", 1e-3)),
		// Long rows (shape_test.go's kLong): the amd64 stashed (pipelined)
		// and blockwise paths. Outputs of 16 MiB take seconds per input
		// and are left to the fuzzer and to kernels/paths_test.go.
		both(sd("long-k4097", "n", 2, "k", 4097)),
		both(sd("many-rows-k5", "n", 4096, "k", 5)),
		both(sd("long-k32768-inplace", "n", 2, "k", 32768, "grad", gradInPlace)),
		both(sd("long-k50257-smooth-weight", "n", 2, "k", 50257, "smoothing", 0.1, "weight", 1)),
		faults(ceKinds, "k", 3, "n", 2),
		withRunners("smooth-weight-rows", "n", 512, "k", 17, "smoothing", 0.1, "weight", 1, "rowloss", 1, "rowlse", 1),
		withRunners("softcap-zloss-inplace", "n", 16, "k", 1000, "softcap", 30.0, "zloss", 1e-4, "grad", gradInPlace),
		withRunners("fault-target", "n", 512, "k", 7, "fault", faultTarget),
	),
	"FuzzCrossEntropyProbs": all(
		widths("plain"),
		widths("inplace-weight", "grad", gradInPlace, "weight", 1),
		both(sd("onehot", "n", 2, "k", 3, "t", []float64{0, 1, 0, 1, 0, 0})),
		both(sd("neg-inf-zero-prob", "k", 3, "x", []float64{-inf32, 0, 1}, "t", []float64{0, 0.5, 0.5})),
		both(sd("neg-inf-pos-prob", "k", 3, "x", []float64{-inf32, 0, 1}, "t", []float64{0.5, 0, 0.5})),
		both(sd("unnormalized", "n", 1, "k", 4, "domain", 7, "t", []float64{2, -1, 0.5, 1e4})),
		both(sd("smooth-weight", "n", 3, "k", 5, "smoothing", 0.1, "weight", 1, "w", []float64{0.5, 2, 1, 0, 3})),
		both(sd("logits-1e4", "n", 2, "k", 3, "x", []float64{1e4, -1e4, 0, -1e4, 1e4, 88})),
		both(sd("inf-nan", "n", 3, "k", 2, "x", []float64{inf32, inf32, math.NaN(), 0, -inf32, -inf32})),
		both(sd("zloss-softcap", "n", 2, "k", 4, "zloss", 1e-2, "softcap", 1.0, "rowlse", 1)),
		both(sd("none", "n", 5, "k", 9, "reduction", 2)),
		both(sd("long-k32769", "n", 2, "k", 32769)),
		both(sd("many-rows-k5", "n", 4096, "k", 5)),
		// F50: c = w·t is subnormal (not 0) beside a −Inf logit: +Inf.
		f64only(sd("subnormal-target-inf-logit", "k", 4, "zloss", 1e-2, "weight", 1, "rowloss", 1,
			"x", []float64{-6e-4, 9.6e-4, -3.7e-5, -inf32}, "t", []float64{6e-6, 1e-16, 7.5e-5, 5e-324},
			"w", []float64{0.0069, 0.92, 0.35, 0.92})),
		// F78: a subnormal target under a weight of 1.2e14, mean over 8 rows:
		// the kernels formed (t/8)·w, which lost t before w scaled it up.
		both(sd("subnormal-target-heavy-weight", "n", 8, "k", 6, "weight", 1, "rowlse", 1,
			"x", []float64{-1e4, -6.5, 40.1, 90.4, -80.6, -20.8},
			"t", []float64{1, 0, 0, 1, 0, sub32},
			"w", []float64{1.38, 0, 2.1e9, 0, 1e-8, 1.2e14})),
		faults(ceProbsKinds, "k", 3, "n", 2),
		withRunners("weight-rows", "n", 512, "k", 17, "weight", 1, "rowloss", 1),
		withRunners("fault-weight", "n", 512, "k", 7, "fault", faultWeight),
		withRunners("unnormalized", "n", 512, "k", 7, "domain", 7),
	),
	"FuzzCrossEntropyShards": all(
		widths("two-shards", "shards", 1, "cut", []int{0}),
		widths("three-shards-smooth-weight", "shards", 2, "cut", []int{0, 1}, "smoothing", 0.1, "weight", 1, "grouping", 1),
		both(sd("five-shards-rebased", "n", 4, "k", 17, "shards", 4, "cut", []int{3, 8, 9, 15}, "grouping", 2,
			"smoothing", 0.1, "zloss", 1e-2, "softcap", 30.0, "rowloss", 1, "rowlse", 1)),
		both(sd("special-rows", "n", 4, "k", 4, "shards", 1, "cut", []int{1}, "smoothing", 0.1, "rowlse", 1,
			"x", []float64{-inf32, 0, 1, 2, inf32, 0, 1, 2, -inf32, -inf32, -inf32, -inf32, 0, math.NaN(), 1, 2},
			"y", []int{0, 1, 2, 3})),
		both(sd("neg-inf-shard", "n", 2, "k", 6, "shards", 2, "cut", []int{2, 4}, "smoothing", 0.5, "weight", 1,
			"w", []float64{1, 0, 2, 1, 0, 1}, "x", []float64{-inf32, -inf32, 1, 2, 3, 4, 5, 6, -inf32, -inf32, 0, 1}, "y", []int{3, 4})),
		both(sd("target-logit-max-softcap", "n", 2, "k", 5, "shards", 2, "cut", []int{2, 3}, "softcap", 1.0,
			"x", []float64{50, 0, 0, 0, 0, 0, 0, 0, 0, 60}, "y", []int{0, 4})),
		both(sd("zloss-huge-inplace", "n", 3, "k", 9, "shards", 2, "cut", []int{4, 6}, "zloss", 1e4, "grad", gradInPlace)),
		both(sd("all-ignored", "n", 4, "k", 5, "shards", 1, "cut", []int{2}, "y.mode", 2)),
		both(sd("long-k32768-inplace", "n", 2, "k", 32768, "shards", 3, "cut", []int{1, 16384, 32767}, "grad", gradInPlace)),
		withRunners("four-shards-rows", "n", 512, "k", 17, "shards", 3, "cut", []int{5, 6, 11}, "smoothing", 0.1, "weight", 1, "rowloss", 1),
		withRunners("two-shards-long", "n", 16, "k", 1000, "shards", 1, "cut", []int{499}, "softcap", 30.0, "grad", gradInPlace),
	),
	"FuzzKLDiv": all(
		widths("plain"),
		widths("log-target-inplace", "logtarget", 1, "grad", gradInPlace),
		both(sd("batchmean", "n", 4, "k", 5, "reduction", 3)),
		both(sd("none-loss", "n", 3, "k", 9, "reduction", 2)),
		both(sd("zero-target-neg-inf", "n", 2, "k", 3, "x", []float64{-inf32, -1, 0, -inf32, math.NaN(), -2}, "t", []float64{0, 0.5, 0.5, 1, 0, 0})),
		both(sd("log-target-edges", "n", 2, "k", 3, "logtarget", 1, "x", []float64{-inf32, -1, inf32, -inf32, math.NaN(), -700}, "t", []float64{0, 0.5, 0.5, 1, 0, 1e-300})),
		both(sd("long-k32769", "n", 2, "k", 32769, "logtarget", 1)),
		faults(klKinds, "k", 3, "n", 2),
		withRunners("rows", "n", 512, "k", 17, "loss", 1),
	),
	"FuzzDistill": all(
		widths("plain"),
		widths("t2-inplace", "temp", 2, "t2", 1, "grad", gradInPlace),
		both(sd("labels-rowloss", "n", 4, "k", 5, "labels", 1, "rowloss", 1, "y", []int{2, -100, 0, 4})),
		both(sd("all-ignored", "n", 3, "k", 4, "labels", 1, "y.mode", 2)),
		both(sd("all-ignored-zero", "n", 3, "k", 4, "labels", 1, "y.mode", 2, "emptymean", 1)),
		both(sd("edges", "n", 4, "k", 3, "x", []float64{-inf32, 1, 2, 0, 0, 0, math.NaN(), 1, 2, inf32, 0, 0},
			"t", []float64{0, 1, 2, -inf32, -inf32, 5, 0, 0, 0, 1, 2, 3})),
		both(sd("teacher-mass-on-student-neg-inf", "n", 1, "k", 3, "x", []float64{-inf32, 0, 0}, "t", []float64{-200, 0, 0})),
		both(sd("long-k32769", "n", 2, "k", 32769, "temp", 4, "t2", 1)),
		widths("reverse", "divergence", 1),
		widths("jsd-inplace", "divergence", 2, "temp", 2, "grad", gradInPlace),
		both(sd("reverse-edges", "n", 4, "k", 3, "divergence", 1, "x", []float64{-inf32, 1, 2, 0, 0, 0, math.NaN(), 1, 2, inf32, 0, 0},
			"t", []float64{0, 1, 2, -inf32, -inf32, 5, 0, 0, 0, 1, 2, 3})),
		both(sd("reverse-student-mass-on-teacher-neg-inf", "n", 2, "k", 3, "divergence", 1, "x", []float64{-200, 0, 0, 0, 0, 0}, "t", []float64{-inf32, 0, 0, 1, 2, 3})),
		both(sd("jsd-edges", "n", 4, "k", 3, "divergence", 2, "beta", 2, "x", []float64{-inf32, 1, 2, 0, 0, 0, math.NaN(), 1, 2, -inf32, -inf32, 0},
			"t", []float64{0, 1, 2, -inf32, -inf32, 5, 0, 0, 0, -inf32, 2, 3})),
		both(sd("jsd-tiny-beta", "n", 3, "k", 17, "divergence", 2, "beta", 5, "labels", 1, "rowloss", 1)),
		both(sd("jsd-long-k32769", "n", 2, "k", 32769, "divergence", 2, "beta", 3, "temp", 4, "t2", 1)),
		// Logits of 4e29–1e30 at an inexact τ, tied maxima in row 1: the
		// passes must round z = s·τ as pass 1 did and keep each
		// log-sum-exp's maximum and log Σ apart.
		both(sd("huge-logits", "n", 2, "k", 3, "temp", 9, "x", []float64{4e29, -4e29, 4e29, 1e30, 1e30, 1e30}, "t", []float64{4e29, 0, -4e29, 1, 2, 3})),
		both(sd("huge-logits-reverse", "n", 2, "k", 3, "temp", 9, "divergence", 1, "x", []float64{4e29, -4e29, 4e29, 1e30, 1e30, 1e30}, "t", []float64{4e29, 0, -4e29, 1, 2, 3})),
		both(sd("huge-logits-jsd", "n", 2, "k", 3, "temp", 9, "divergence", 2, "x", []float64{4e29, -4e29, 4e29, 1e30, 1e30, 1e30}, "t", []float64{4e29, 0, -4e29, 1, 2, 3})),
		faults(distillKinds, "k", 3, "n", 2),
		faults(distillKinds, "k", 3, "n", 2, "divergence", 2),
		withRunners("rows", "n", 512, "k", 17, "rowloss", 1, "labels", 1),
	),
	// FuzzCrossEntropyHalf's "f64" decision picks the 16-bit format: the
	// -f32 seeds are bfloat16, the -f64 ones float16.
	"FuzzCrossEntropyHalf": all(
		widths("plain"),
		widths("inplace-smooth", "grad", gradInPlace, "smoothing", 0.1),
		widths("grad32-weight", "grad32", 1, "weight", 1),
		both(sd("logits-1e4", "n", 2, "k", 3, "x", []float64{1e4, -1e4, 0, -1e4, 1e4, 88}, "y", []int{0, 2})),
		both(sd("beyond-f16", "n", 2, "k", 3, "x", []float64{7e4, -7e4, 1, 65504, 65519, 65520}, "y", []int{0, 2})),
		both(sd("subnormal", "k", 6, "x", []float64{sub32, -sub32, 1e-6, -1e-7, 0, math.Copysign(0, -1)}, "y", []int{0})),
		both(sd("inf-minus-inf", "n", 3, "k", 3, "x", []float64{inf32, inf32, 0, -inf32, -inf32, -inf32, -inf32, 0, 1}, "y", []int{0, 1, 0})),
		both(sd("nan", "n", 2, "k", 3, "x", []float64{math.NaN(), 0, 1, 0, 1, 2}, "y", []int{1, 2})),
		both(sd("all-ignored", "n", 4, "k", 5, "y.mode", 2)),
		both(sd("zloss-softcap-lse", "n", 2, "k", 4, "zloss", 1e-4, "softcap", 30.0, "rowlse", 1,
			"x", []float64{100, -100, 1e4, 3, -inf32, inf32, 0, 1}, "y", []int{0, 3})),
		both(sd("none", "n", 5, "k", 9, "reduction", 2, "rowlse", 1)),
		both(sd("tiny-many-k10", "n", 4096, "k", 10, "grad", gradInPlace)),
		both(sd("long-k8192", "n", 3, "k", 8192)),
		both(sd("long-k32769-grad32", "n", 2, "k", 32769, "grad32", 1)),
		faults(noOverlap(ceKinds), "k", 3, "n", 2),
		withRunners("rows", "n", 512, "k", 17, "rowloss", 1),
	),
	// The other 16-bit targets pick their format the same way. Their
	// edge-target seeds: 1 + 2⁻²³ rounds to 1 in both formats (valid),
	// 1.01 stays above 1 (ErrTarget), −1e-40 is a negative bfloat16
	// subnormal (ErrTarget) and float16's −0 (valid).
	"FuzzCrossEntropyProbsHalf": all(
		widths("plain"),
		widths("inplace-weight", "grad", gradInPlace, "weight", 1),
		widths("grad32-smooth", "grad32", 1, "smoothing", 0.1),
		both(sd("onehot", "n", 2, "k", 3, "t", []float64{0, 1, 0, 1, 0, 0})),
		both(sd("neg-inf-zero-prob", "k", 3, "x", []float64{-inf32, 0, 1}, "t", []float64{0, 0.5, 0.5})),
		both(sd("neg-inf-pos-prob", "k", 3, "x", []float64{-inf32, 0, 1}, "t", []float64{0.5, 0, 0.5})),
		both(sd("unnormalized", "n", 1, "k", 4, "domain", 7, "t", []float64{2, -1, 0.5, 1e4})),
		both(sd("target-rounds-to-one", "n", 1, "k", 4, "domain", 7, "t", []float64{1 + 0x1p-23, 0.3, 1, 0})),
		both(sd("target-above-one", "n", 1, "k", 4, "domain", 7, "t", []float64{1.01, 0.3, 1, 0})),
		both(sd("target-tiny-negative", "n", 1, "k", 4, "domain", 7, "t", []float64{-1e-40, 0.3, 1, 0})),
		both(sd("tiny-targets", "n", 2, "k", 4, "x", []float64{-inf32, 3, 0, 1}, "t", []float64{sub32, 1e-8, 6e-8, 1e-40})),
		both(sd("smooth-weight", "n", 3, "k", 5, "smoothing", 0.1, "weight", 1, "w", []float64{0.5, 2, 1, 0, 3})),
		both(sd("logits-1e4", "n", 2, "k", 3, "x", []float64{1e4, -1e4, 0, -1e4, 1e4, 88})),
		both(sd("beyond-f16", "n", 2, "k", 3, "x", []float64{7e4, -7e4, 1, 65504, 65519, 65520})),
		both(sd("inf-nan", "n", 3, "k", 2, "x", []float64{inf32, inf32, math.NaN(), 0, -inf32, -inf32})),
		both(sd("zloss-softcap", "n", 2, "k", 4, "zloss", 1e-2, "softcap", 1.0, "rowlse", 1)),
		both(sd("none", "n", 5, "k", 9, "reduction", 2)),
		both(sd("long-k8192-inplace", "n", 3, "k", 8192, "grad", gradInPlace)),
		both(sd("long-k32769-grad32", "n", 2, "k", 32769, "grad32", 1)),
		both(sd("many-rows-k5", "n", 4096, "k", 5)),
		faults(noOverlap(ceProbsKinds), "k", 3, "n", 2),
		withRunners("weight-rows", "n", 512, "k", 17, "weight", 1, "rowloss", 1),
		withRunners("grad32-rows", "n", 512, "k", 17, "grad32", 1),
		withRunners("fault-weight", "n", 512, "k", 7, "fault", faultWeight),
		withRunners("unnormalized", "n", 512, "k", 7, "domain", 7),
	),
	"FuzzSoftmaxFocalHalf": all(
		widths("gamma2", "gamma", 2.0),
		widths("inplace-alpha", "gamma", 0.5, "grad", gradInPlace, "weight", 1),
		widths("grad32", "gamma", 2.0, "grad32", 1),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("saturated-g%v", g), "n", 2, "k", 3, "gamma", g,
				"x", []float64{1e4, -1e4, 0}, "y", []int{0, 1})
		}),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("near-one-g%v", g), "n", 2, "k", 2, "gamma", g,
				"x", []float64{20, -20, 40, 0}, "y", []int{0, 0})
		}),
		both(sd("alpha", "n", 4, "k", 3, "gamma", 2.0, "weight", 1, "w", []float64{0.25, 0, 3})),
		both(sd("all-ignored", "n", 3, "k", 4, "gamma", 2.0, "y.mode", 2)),
		both(sd("none-inplace", "n", 5, "k", 17, "gamma", 0.5, "reduction", 2, "grad", gradInPlace)),
		both(sd("inf-nan", "n", 3, "k", 2, "gamma", 1.0, "x", []float64{inf32, 0, math.NaN(), 0, -inf32, 0}, "y", []int{0, 1, 0})),
		both(sd("beyond-f16", "n", 2, "k", 3, "gamma", 2.0, "x", []float64{7e4, -7e4, 1, 65504, 65519, 65520}, "y", []int{0, 2})),
		both(sd("tiny-many-k5", "n", 128, "k", 5, "gamma", 2.0)),
		both(sd("long-k8192", "n", 16, "k", 8192, "gamma", 2.0)),
		both(sd("long-k32769-grad32", "n", 2, "k", 32769, "gamma", 2.0, "grad32", 1)),
		faults(noOverlap(ceFocalKinds), "k", 3, "n", 2),
		withRunners("gamma2-alpha", "n", 512, "k", 17, "gamma", 2.0, "weight", 1),
		withRunners("inplace-rowloss", "n", 512, "k", 17, "gamma", 0.5, "grad", gradInPlace, "rowloss", 1),
	),
	"FuzzNLL": all(
		widths("plain"),
		widths("weight-inplace", "weight", 1, "grad", gradInPlace),
		both(sd("ignore-class", "n", 4, "k", 5, "ignore", 1, "ignore.class", 2, "y", []int{2, 0, 2, 4})),
		both(sd("all-ignored", "n", 3, "k", 4, "y.mode", 2)),
		both(sd("zero-weights", "n", 3, "k", 3, "weight", 1, "w", []float64{0, 0, 0})),
		both(sd("inf-nan", "n", 3, "k", 2, "x", []float64{-inf32, 0, math.NaN(), 0, inf32, 0}, "y", []int{0, 0, 0})),
		both(sd("none-rowloss", "n", 5, "k", 9, "reduction", 2)),
		both(sd("long-k32769-inplace", "n", 2, "k", 32769, "grad", gradInPlace)),
		faults(ceKinds, "k", 3, "n", 2),
		withRunners("weight-rows", "n", 512, "k", 17, "weight", 1, "rowloss", 1),
	),
	"FuzzSoftmaxFocal": all(
		widths("gamma2", "gamma", 2.0),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("saturated-g%v", g), "n", 2, "k", 3, "gamma", g,
				"x", []float64{1e4, -1e4, 0}, "y", []int{0, 1})
		}),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("near-one-g%v", g), "n", 2, "k", 2, "gamma", g,
				"x", []float64{20, -20, 40, 0}, "y", []int{0, 0})
		}),
		both(sd("alpha", "n", 4, "k", 3, "gamma", 2.0, "weight", 1, "w", []float64{0.25, 0, 3})),
		both(sd("all-ignored", "n", 3, "k", 4, "gamma", 2.0, "y.mode", 2)),
		both(sd("none-inplace", "n", 5, "k", 17, "gamma", 0.5, "reduction", 2, "grad", gradInPlace)),
		both(sd("inf-nan", "n", 3, "k", 2, "gamma", 1.0, "x", []float64{inf32, 0, math.NaN(), 0, -inf32, 0}, "y", []int{0, 1, 0})),
		both(sd("tiny-many-k5", "n", 128, "k", 5, "gamma", 2.0)),
		both(sd("long-k8192", "n", 16, "k", 8192, "gamma", 2.0)),
		faults(ceFocalKinds, "k", 3, "n", 2),
		withRunners("gamma2-alpha", "n", 512, "k", 17, "gamma", 2.0, "weight", 1),
	),
	"FuzzBCEWithLogits": all(
		widths("plain"),
		widths("inplace-weight", "grad", gradInPlace, "weight", 1, "posweight", 1),
		both(sd("infinite-logits", "k", 4, "x", []float64{-inf32, inf32, -inf32, inf32}, "y", []float64{0, 1, 1, 0})),
		both(sd("saturation", "n", 2, "k", 8, "x", []float64{17, -17, 37, -37, 88, -88, 1e4, -1e4, 745, -745}, "y", []float64{0, 1})),
		both(sd("posweight", "n", 3, "k", 4, "posweight", 1, "pw", []float64{0.5, 2, 0, 3})),
		both(sd("asymmetric", "n", 2, "k", 4, "asym", 1, "asym.fn", 1.0, "asym.fp", 3.0)),
		both(sd("soft", "n", 2, "k", 4, "y", []float64{0.25, 0.75, 0.5, 1e-7})),
		both(sd("nan", "k", 4, "x", []float64{math.NaN(), 0, 1, -1}, "y", []float64{1, math.NaN(), 0, 0.5})),
		both(sd("none", "n", 3, "k", 5, "reduction", 2)),
		broadcastWeights("posweight", 1),
		faults(binaryKinds, "k", 3, "n", 2),
		withRunners("weight-posweight", "n", 512, "k", 5, "weight", 1, "posweight", 1, "loss", 1),
		withRunners("row-weight", "n", 512, "k", 5, "weight", 1, "weight.broadcast", 2),
		withRunners("class-weight", "n", 512, "k", 5, "weight", 1, "weight.broadcast", 1),
		withRunners("fault-weight", "n", 512, "k", 5, "fault", faultWeight),
	),
	"FuzzBCEWithLogitsHalf": all(
		widths("plain"),
		widths("inplace-weight", "grad", gradInPlace, "weight", 1, "posweight", 1),
		widths("grad32-posweight", "grad32", 1, "posweight", 1),
		both(sd("infinite-logits", "k", 4, "x", []float64{-inf32, inf32, -inf32, inf32}, "y", []float64{0, 1, 1, 0})),
		both(sd("saturation", "n", 2, "k", 8, "x", []float64{17, -17, 37, -37, 88, -88, 1e4, -1e4, 745, -745}, "y", []float64{0, 1})),
		both(sd("beyond-f16", "n", 2, "k", 3, "x", []float64{7e4, -7e4, 1, 65504, 65519, 65520}, "y", []float64{0, 1})),
		both(sd("posweight", "n", 3, "k", 4, "posweight", 1, "pw", []float64{0.5, 2, 0, 3})),
		both(sd("asymmetric", "n", 2, "k", 4, "asym", 1, "asym.fn", 1.0, "asym.fp", 3.0)),
		both(sd("soft", "n", 2, "k", 4, "y", []float64{0.25, 0.75, 0.5, 1e-7})),
		both(sd("target-rounds-to-one", "k", 4, "domain", 7, "y", []float64{1 + 0x1p-23, 0.3, 1, 0})),
		both(sd("target-above-one", "k", 4, "domain", 7, "y", []float64{1.01, 0.3, 1, 0})),
		both(sd("target-tiny-negative", "k", 4, "domain", 7, "y", []float64{-1e-40, 0.3, 1, 0})),
		both(sd("target-out-of-domain", "n", 2, "k", 4, "domain", 7, "y", []float64{2, -1, inf32, -inf32})),
		both(sd("nan", "k", 4, "x", []float64{math.NaN(), 0, 1, -1}, "y", []float64{1, math.NaN(), 0, 0.5})),
		both(sd("none", "n", 3, "k", 5, "reduction", 2)),
		both(sd("none-grad32-inplace", "n", 3, "k", 5, "reduction", 2, "grad32", 1, "grad", gradInPlace)),
		both(sd("long-k8192-inplace", "n", 3, "k", 8192, "grad", gradInPlace, "weight", 1, "weight.broadcast", 1)),
		broadcastWeights("posweight", 1),
		broadcastWeights("grad32", 1),
		faults(noOverlap(binaryKinds), "k", 3, "n", 2),
		withRunners("weight-posweight", "n", 512, "k", 5, "weight", 1, "posweight", 1, "loss", 1),
		withRunners("row-weight", "n", 512, "k", 5, "weight", 1, "weight.broadcast", 2),
		withRunners("class-weight-inplace", "n", 512, "k", 5, "weight", 1, "weight.broadcast", 1, "grad", gradInPlace),
		withRunners("fault-weight", "n", 512, "k", 5, "fault", faultWeight),
	),
	"FuzzSigmoidFocalHalf": all(
		widths("plain", "gamma", 2.0),
		widths("inplace-weight", "gamma", 0.5, "grad", gradInPlace, "weight", 1),
		widths("grad32", "gamma", 2.0, "grad32", 1),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("saturated-g%v", g), "n", 2, "k", 6, "gamma", g,
				"x", []float64{800, -800, 1e4, -1e4, 30, -30}, "y", []float64{0, 1})
		}),
		both(sd("soft", "n", 2, "k", 4, "gamma", 2.0, "y", []float64{0.3, 0.7, 0.5, 1e-7})),
		both(sd("no-alpha", "n", 2, "k", 4, "gamma", 0.5, "alpha", -1.0)),
		both(sd("infinite-logits", "k", 4, "gamma", 2.0, "x", []float64{-inf32, inf32, -inf32, inf32}, "y", []float64{0, 1, 1, 0})),
		both(sd("beyond-f16", "n", 2, "k", 3, "gamma", 2.0, "x", []float64{7e4, -7e4, 1, 65504, 65519, 65520}, "y", []float64{0, 1})),
		both(sd("target-rounds-to-one", "k", 4, "gamma", 2.0, "domain", 7, "y", []float64{1 + 0x1p-23, 0.3, 1, 0})),
		both(sd("target-above-one", "k", 4, "gamma", 2.0, "domain", 7, "y", []float64{1.01, 0.3, 1, 0})),
		both(sd("target-tiny-negative", "k", 4, "gamma", 2.0, "domain", 7, "y", []float64{-1e-40, 0.3, 1, 0})),
		both(sd("nan", "k", 4, "gamma", 2.0, "x", []float64{math.NaN(), 0, 1, -1}, "y", []float64{1, math.NaN(), 0, 0.5})),
		both(sd("none-grad32", "n", 3, "k", 5, "gamma", 2.0, "reduction", 2, "grad32", 1)),
		both(sd("long-k8192-inplace", "n", 3, "k", 8192, "gamma", 2.0, "grad", gradInPlace, "weight", 1, "weight.broadcast", 2)),
		broadcastWeights("gamma", 2.0),
		withRunners("gamma2-soft", "n", 512, "k", 5, "gamma", 2.0),
		withRunners("row-weight-inplace", "n", 512, "k", 5, "gamma", 0.5, "weight", 1, "weight.broadcast", 2, "grad", gradInPlace),
		faults(noOverlap(binaryKinds), "k", 3, "n", 2),
	),
	"FuzzBCE": all(
		widths("plain"),
		widths("clip-inplace", "grad", gradInPlace, "clip", 1e-7),
		both(sd("article", "k", 4, "x", []float64{0.3, 0.7, 0.6, 0.2}, "y", []float64{1, 1, 0, 0})),
		both(sd("article-asym", "k", 4, "x", []float64{0.3, 0.7, 0.6, 0.2}, "y", []float64{1, 1, 0, 0},
			"asym", 1, "asym.fn", 1.0, "asym.fp", 3.0)),
		both(sd("article-clip", "k", 1, "x", []float64{0}, "y", []float64{1}, "clip", 1e-7)),
		both(sd("clamp", "k", 4, "x", []float64{0, 1, 0, 1}, "y", []float64{1, 0, 0, 1})),
		both(sd("subnormal", "k", 4, "x", []float64{sub32, sub64, 1 - 0x1p-24, 1e-45}, "y", []float64{1, 1, 0, 1})),
		both(sd("clip-half", "k", 4, "x", []float64{0.5, 0.2, 0.9, 0}, "y", []float64{1, 0}, "clip", 0.5)),
		f64only(sd("clip-underflow", "k", 4, "x", []float64{0, 1, 1e-50, 0.5}, "y", []float64{1, 0}, "clip", 1e-50)),
		broadcastWeights("clip", 1e-7),
		faults(binaryKinds, "k", 3, "n", 2),
		withRunners("clip", "n", 512, "k", 5, "clip", 1e-7),
	),
	"FuzzSigmoidFocal": all(
		widths("plain", "gamma", 2.0),
		widths("probs", "probs", 1, "gamma", 2.0, "grad", gradInPlace),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("saturated-g%v", g), "n", 2, "k", 6, "gamma", g,
				"x", []float64{800, -800, 1e4, -1e4, 30, -30}, "y", []float64{0, 1})
		}),
		gammaSweep(func(g float64) *seed {
			return sd(fmt.Sprintf("probs-edges-g%v", g), "probs", 1, "n", 2, "k", 4, "gamma", g,
				"x", []float64{0, 1, 1e-12, 0.5}, "y", []float64{0, 1})
		}),
		both(sd("soft", "n", 2, "k", 4, "gamma", 2.0, "y", []float64{0.3, 0.7, 0.5, 1e-7})),
		both(sd("no-alpha", "n", 2, "k", 4, "gamma", 0.5, "alpha", -1.0)),
		both(sd("probs-clip", "probs", 1, "k", 4, "gamma", 2.0, "clip", 1e-7, "x", []float64{0, 1, 0.3, 0.7}, "y", []float64{1, 0})),
		broadcastWeights("gamma", 2.0),
		broadcastWeights("probs", 1, "gamma", 0.5),
		withRunners("gamma2-soft", "n", 512, "k", 5, "gamma", 2.0),
		withRunners("probs-row-weight", "probs", 1, "n", 512, "k", 5, "gamma", 0.5, "weight", 1, "weight.broadcast", 2),
		faults(binaryKinds, "k", 3, "n", 2),
		faults(binaryKinds, "probs", 1, "k", 3, "n", 2),
	),
	"FuzzRegression": all(
		lengths("mse"),
		kindSweep(func(kind int) []*seed {
			return all(
				lengths(fmt.Sprintf("%s-weight-inplace", regressionNames[kind]), "kind", kind, "weight", 1, "grad", gradInPlace),
				both(sd(fmt.Sprintf("%s-edges", regressionNames[kind]), "kind", kind, "len", 8,
					"x", []float64{1, -1, 2, 0.5, max32, -max32, math.MaxFloat64, inf32},
					"y", []float64{0, 0, 0, 0, -max32, max32, -math.MaxFloat64, inf32})),
				both(sd(fmt.Sprintf("%s-nan", regressionNames[kind]), "kind", kind, "len", 3,
					"x", []float64{math.NaN(), 1, 0}, "y", []float64{0, math.NaN(), 0})),
				both(sd(fmt.Sprintf("%s-zero-weights", regressionNames[kind]), "kind", kind, "len", 5, "weight", 1, "w", []float64{0})),
				both(sd(fmt.Sprintf("%s-zero-weights-empty", regressionNames[kind]), "kind", kind, "len", 5,
					"weight", 1, "w", []float64{0}, "emptymean", 1)),
				both(sd(fmt.Sprintf("%s-none", regressionNames[kind]), "kind", kind, "len", 17, "reduction", 2)),
				faults(regressionKinds, "kind", kind, "len", 3),
			)
		}),
		f64only(sd("huber-tiny-delta", "kind", regHuber, "len", 4, "param", 1e-300)),
		withRunners("huber-weight", "kind", regHuber, "len", 4099, "weight", 1, "loss", 1),
		withRunners("mse-fault-weight", "len", 4099, "fault", faultWeight),
		f64only(sd("smoothl1-tiny-beta", "kind", regSmoothL1, "len", 4, "param", 5e-324)),
		f64only(sd("smoothl1-huge-beta", "kind", regSmoothL1, "len", 4, "param", 1e300)),
	),
	"FuzzPrimitives": all(
		opSweep(func(op int) []*seed {
			name := primitiveNames[op]
			shape := func(prefix string, kv ...any) []*seed { return widths(prefix, kv...) }
			if !primRows(op) {
				shape = func(prefix string, kv ...any) []*seed { return lengths(prefix, kv...) }
			}
			edges := []float64{inf32, inf32, 0, -inf32, -inf32, -inf32, math.NaN(), 1, 2, 1e4, -1e4, 88,
				89, -89, 745, -745, sub64, -sub32, max32, -math.MaxFloat64}
			return all(
				shape(name, "op", op),
				both(sd(name+"-inplace-17", "op", op, "inplace", 1, "n", 2, "k", 17, "len", 17)),
				both(sd(name+"-inplace-33", "op", op, "inplace", 1, "n", 3, "k", 33, "len", 33)),
				both(sd(name+"-edges", "op", op, "n", 5, "k", 4, "len", 20, "x", edges)),
				dyEdges(name, op, edges),
				both(sd(name+"-empty", "op", op, "len", 0)),
				faults(map[bool][]int{true: rowKinds, false: elementKinds}[primRows(op)], "op", op, "k", 3, "n", 2, "len", 6),
			)
		}),
		both(sd("LogSoftmax-long-k32769", "op", primLogSoftmax, "n", 2, "k", 32769)),
		opSweep(func(op int) []*seed {
			return withRunners(primitiveNames[op], "op", op, "n", 512, "k", 17, "len", 4099)
		}),
		withRunners("Softmax-inplace-k1000", "op", primSoftmax, "inplace", 1, "n", 16, "k", 1000),
		withRunners("SoftmaxBackward-inplacedy-k1000", "op", primSoftmaxBackward, "inplacedy", 1, "n", 16, "k", 1000),
		both(sd("LogSoftmaxBackward-long-k32769", "op", primLogSoftmaxBackward, "n", 2, "k", 32769)),
		both(sd("LogSumExpBackward-inplace-k4099", "op", primLogSumExpBackward, "inplace", 1, "n", 3, "k", 4099)),
		opSweep(func(op int) []*seed {
			if op != primSoftplusBeta && op != primSoftplusBackward {
				return nil
			}
			var out []*seed
			for b := range softplusBetas {
				for t := range softplusThresholds {
					out = append(out, both(sd(fmt.Sprintf("%s-beta%d-thr%d", primitiveNames[op], b, t), "op", op, "beta", b, "thr", t, "len", 37))...)
				}
			}
			return out
		}),
		both(sd("Softmax-long-k8192", "op", primSoftmax, "n", 3, "k", 8192)),
	),
}

// faults returns one seed per way of breaking a call: each fault kind the
// family has, with a few choices of what to break and how.
// broadcastWeights gives the binary losses' class and row weights over one
// block, over many blocks of short rows, and over rows longer than a block
// (kernels/broadcast.go), and the fault of two weights at once.
func broadcastWeights(kv ...any) []*seed {
	var out []*seed
	prefix := ""
	for i := 0; i+1 < len(kv); i += 2 {
		prefix += fmt.Sprintf("%s%v-", kv[i], kv[i+1])
	}
	for mode, name := range []string{"", "class", "row"} {
		if name == "" {
			continue
		}
		for _, shape := range [][2]int{{3, 5}, {4096, 3}, {2, 4097}} {
			args := append([]any{"n", shape[0], "k", shape[1], "weight", 1, "weight.broadcast", mode}, kv...)
			out = append(out, both(sd(fmt.Sprintf("%s%s-weight-%dx%d", prefix, name, shape[0], shape[1]), args...))...)
		}
	}
	args := append([]any{"fault", faultOption, "fault.what", 6, "weight", 1, "n", 2, "k", 3}, kv...)
	return append(out, both(sd(prefix+"fault-two-weights", args...))...)
}

// withRunners gives a seed under each of the Runners that spread every
// call (fuzzRunners 1 and 2: blocks of 64 and 1000 elements).
func withRunners(name string, kv ...any) []*seed {
	var out []*seed
	for _, r := range []int{1, 2} {
		args := append([]any{"runner", r}, kv...)
		out = append(out, both(sd(fmt.Sprintf("runner%d-%s", r, name), args...))...)
	}
	return out
}

func faults(kinds []int, kv ...any) []*seed {
	var out []*seed
	names := map[int]string{faultShape: "shape", faultLength: "length", faultTarget: "target",
		faultWeight: "weight", faultOption: "option", faultOverlap: "overlap"}
	prefix := ""
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == "probs" || kv[i] == "kind" || kv[i] == "op" || kv[i] == "divergence" {
			prefix += fmt.Sprintf("%s%v-", kv[i], kv[i+1])
		}
	}
	seen := map[int]bool{}
	for _, kind := range kinds {
		if seen[kind] {
			continue
		}
		seen[kind] = true
		for v := 0; v < 6; v++ {
			args := append([]any{"fault", kind, "fault.what", v, "fault.how", v / 2, "f64", v % 2, "weight", 1}, kv...)
			out = append(out, sd(fmt.Sprintf("fault-%s%s-%d", prefix, names[kind], v), args...))
		}
	}
	return out
}

// f64only is for options float32 cannot represent (see fullOptions).
func f64only(s *seed) []*seed { return []*seed{s.with(s.name+"-f64", "f64", 1)} }

func gammaSweep(f func(g float64) *seed) []*seed {
	var out []*seed
	for _, g := range []float64{0, 0.5, 1, 2, 5} {
		out = append(out, both(f(g))...)
	}
	return out
}

func kindSweep(f func(kind int) []*seed) []*seed {
	var out []*seed
	for kind := range regressionNames {
		out = append(out, f(kind)...)
	}
	return out
}

// dyEdges is a backward pass's seed with the edge values in dy (nil for
// the forwards and LogSumExpBackward, whose dy has one value per row).
func dyEdges(name string, op int, edges []float64) []*seed {
	if op < primSoftmaxBackward || op == primLogSumExpBackward {
		return nil
	}
	return both(sd(name+"-dy-edges", "op", op, "n", 5, "k", 4, "len", 20, "dy", edges))
}

func opSweep(f func(op int) []*seed) []*seed {
	var out []*seed
	for op := range primitiveNames {
		out = append(out, f(op)...)
	}
	return out
}
