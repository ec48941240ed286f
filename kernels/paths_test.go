package kernels_test

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/lossfuse/lossfuse/internal/pathtable"
	"github.com/lossfuse/lossfuse/internal/shardtest"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
	"github.com/lossfuse/lossfuse/reference"
)

// The path table (internal/pathtable, docs/paths.md) lists every code path
// of every backend and a call that reaches it. TestPaths runs every row on
// every backend this CPU runs, asserts through args.Trace that the call
// took exactly the paths the row lists for that backend, and checks the
// results against the float64 reference; TestPathTableComplete checks that
// every path named in the backends' sources is some row's; TestPathsDoc
// that docs/paths.md is the table's (go test ./kernels -run TestPathsDoc
// -update-paths rewrites it). TestGuardPaths (guard_test.go) runs every
// row with its buffers against guard pages.

var (
	printPaths  = flag.Bool("paths.print", false, "print the paths each row of the path table takes")
	updatePaths = flag.Bool("update-paths", false, "rewrite docs/paths.md from the path table")
)

// rowCall is one row built for type T: run calls the kernel on the
// buffers (fresh for every backend: a row may work in place), ref asks
// the reference the same question (before run: in place overwrites).
type rowCall[T kernels.Float] struct {
	run func() (reference.Got[T], error)
	ref func() (*reference.Result, error)
}

// bufs hands out a row's buffers; the guard-page test puts each against a
// guard page.
type bufs[T kernels.Float] struct {
	floats func(n int) []T
	ints   func(n int) []int32
	halfs  func(n int) []uint16
}

func heapBufs[T kernels.Float]() (bufs[T], func()) {
	return bufs[T]{floats: func(n int) []T { return make([]T, n) }, ints: func(n int) []int32 { return make([]int32, n) },
		halfs: func(n int) []uint16 { return make([]uint16, n) }}, func() {}
}

// buildRow makes row r's inputs (deterministic: the same for every
// backend) in buffers from b.
func buildRow[T kernels.Float](r pathtable.Row, b bufs[T]) rowCall[T] {
	o, n, k := r.Opt, r.N, r.K
	rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
	// Long arrays tile a pool of normal deviates (offset per row), which
	// keeps rows of 16 MiB cheap to fill.
	pool := make([]float64, 4093)
	for i := range pool {
		pool[i] = rng.NormFloat64()
	}
	normal := func(i int) float64 { return pool[(i+i/k*61)%len(pool)] }
	fill := func(m int, f func(i int) float64) []T {
		s := b.floats(m)
		for i := range s {
			s[i] = T(f(i))
		}
		return s
	}
	nan := func(m int) []T { return fill(m, func(int) float64 { return math.NaN() }) }
	logits := func(m int) []T {
		return fill(m, func(i int) float64 {
			switch r.Data {
			case pathtable.Ramp:
				return float64(i%k) * 0.05
			case pathtable.InfRow:
				if i == 1 {
					return math.Inf(1)
				}
			case pathtable.HugeLogit:
				if i == 1 {
					return 1e36
				}
			}
			return normal(i) * 2
		})
	}
	unit := func(m int) []T {
		return fill(m, func(i int) float64 { return math.Mod(math.Abs(normal(i+7))*7.31, 1) })
	}
	weights := func(m int) []T {
		if r.Data == pathtable.TinyWeight {
			return fill(m, func(int) float64 { return 1e-38 })
		}
		return fill(m, func(i int) float64 { return 0.5 + math.Abs(normal(i+3))/4 })
	}
	labels := func(m int) []T {
		return fill(m, func(i int) float64 {
			switch r.Data {
			case pathtable.HardLabels:
				return float64(rng.IntN(2))
			case pathtable.LateSoft:
				if i == m-1 {
					return 0.3
				}
				return float64(rng.IntN(2))
			case pathtable.SoftLabels:
				return 0.05 + 0.9*rng.Float64()
			}
			return rng.Float64()
		})
	}
	grad := func(x []T, m int) []T {
		switch {
		case o.InPlace:
			return x
		case o.Grad:
			return nan(m)
		}
		return nil
	}
	opt := func(f bool, m int) []T {
		if f {
			return nan(m)
		}
		return nil
	}
	copyOf := func(s []T) []T { return append([]T(nil), s...) }
	var c rowCall[T]
	switch r.Fn {
	case pathtable.CrossEntropy, pathtable.CrossEntropyProbs, pathtable.SoftmaxFocal, pathtable.CrossEntropyShards, pathtable.NLL:
		x := logits(n * k)
		var tg []int32
		var probs []T
		if r.Fn == pathtable.CrossEntropyProbs {
			probs = unit(n * k)
		} else {
			tg = b.ints(n)
			for i := range tg {
				tg[i] = int32(rng.IntN(k))
				if o.Ignore && i%3 == 1 {
					tg[i] = kernels.DefaultIgnoreIndex
				}
			}
		}
		var w []T
		if o.Weight {
			w = weights(k)
		}
		rowLoss, rowLSE := opt(o.RowOut, n), opt(o.RowOut && r.Fn != pathtable.SoftmaxFocal, n)
		xs, tgs := copyOf(x), append([]int32(nil), tg...)
		g := grad(x, n*k)
		if r.Fn == pathtable.NLL {
			no := &kernels.NLLOptions[T]{Weight: w, RowLoss: rowLoss} // the mean: the gradient's scale is 1/Σw
			c.ref = func() (*reference.Result, error) { return reference.NLL(xs, tgs, n, k, no) }
			c.run = func() (reference.Got[T], error) {
				l, err := kernels.NLL(x, tg, n, k, g, no)
				return reference.Got[T]{CheckLoss: true, Loss: l, Items: rowLoss, Grad: g}, err
			}
			return c
		}
		if r.Fn == pathtable.SoftmaxFocal {
			fo := &kernels.SoftmaxFocalOptions[T]{Reduction: kernels.Sum, Gamma: o.Gamma, Alpha: w, RowLoss: rowLoss}
			c.ref = func() (*reference.Result, error) { return reference.SoftmaxFocal(xs, tgs, n, k, fo) }
			c.run = func() (reference.Got[T], error) {
				l, err := kernels.SoftmaxFocal(x, tg, n, k, g, fo)
				return reference.Got[T]{CheckLoss: true, Loss: l, Items: rowLoss, Grad: g}, err
			}
			return c
		}
		co := &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum, Weight: w, LabelSmoothing: o.Smoothing,
			ZLoss: o.ZL, SoftCap: o.SoftCap, RowLoss: rowLoss, RowLSE: rowLSE}
		if r.Fn == pathtable.CrossEntropyProbs {
			c.ref = func() (*reference.Result, error) { return reference.CrossEntropyProbs(xs, probs, n, k, co) }
			c.run = func() (reference.Got[T], error) {
				l, err := kernels.CrossEntropyProbs(x, probs, n, k, g, co)
				return reference.Got[T]{CheckLoss: true, Loss: l, Items: rowLoss, LSE: rowLSE, Grad: g}, err
			}
			return c
		}
		c.ref = func() (*reference.Result, error) { return reference.CrossEntropy(xs, tgs, n, k, co) }
		c.run = func() (reference.Got[T], error) {
			l, err := kernels.CrossEntropy(x, tg, n, k, g, co)
			return reference.Got[T]{CheckLoss: true, Loss: l, Items: rowLoss, LSE: rowLSE, Grad: g}, err
		}
		if r.Fn == pathtable.CrossEntropyShards {
			c.run = func() (reference.Got[T], error) {
				l, err := shardtest.CrossEntropy(x, tg, n, k, g, co, []int{0, (k + 1) / 2, k}[:min(k, 2)+1], 0)
				return reference.Got[T]{CheckLoss: true, Loss: l, Items: rowLoss, LSE: rowLSE, Grad: g}, err
			}
		}
	case pathtable.CrossEntropyHalf, pathtable.CrossEntropyProbsHalf, pathtable.SoftmaxFocalHalf:
		x := logits(n * k)
		var tg []int32
		var probs []T
		if r.Fn == pathtable.CrossEntropyProbsHalf {
			probs = unit(n * k)
		} else {
			tg = b.ints(n)
			for i := range tg {
				tg[i] = int32(rng.IntN(k))
				if o.Ignore && i%3 == 1 {
					tg[i] = kernels.DefaultIgnoreIndex
				}
			}
		}
		var w []T
		if o.Weight {
			w = weights(k)
		}
		rowLoss, rowLSE := opt(o.RowOut, n), opt(o.RowOut && r.Fn != pathtable.SoftmaxFocalHalf, n)
		h := halfOpts[T]{
			ce: &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum, Weight: w, LabelSmoothing: o.Smoothing,
				ZLoss: o.ZL, SoftCap: o.SoftCap, RowLoss: rowLoss, RowLSE: rowLSE},
			sf:    &kernels.SoftmaxFocalOptions[T]{Reduction: kernels.Sum, Gamma: o.Gamma, Alpha: w, RowLoss: rowLoss},
			items: rowLoss, lse: rowLSE,
		}
		return halfRow(c, b, r.Fn, o, x, probs, tg, n, k, h)
	case pathtable.BCEWithLogitsHalf, pathtable.SigmoidFocalHalf:
		m := n * k
		x := fill(m, func(int) float64 { return rng.NormFloat64() * 4 })
		y := labels(m)
		bo := kernels.BinaryOptions[T]{Reduction: kernels.Sum}
		if o.Weight {
			bo.Weight = weights(m)
		}
		if o.PosWeight {
			bo.PosWeight = weights(k)
		}
		if o.Asym {
			bo.Asymmetric = &kernels.Asymmetric{FalseNegative: 2, FalsePositive: 0.5}
		}
		if o.RowOut {
			bo.Reduction, bo.Loss = kernels.None, nan(m)
		}
		h := halfOpts[T]{fo: &kernels.FocalOptions[T]{BinaryOptions: bo, Alpha: o.Alpha, Gamma: o.Gamma}, items: bo.Loss}
		return halfRow(c, b, r.Fn, o, x, y, nil, n, k, h)
	case pathtable.BCEWithLogits, pathtable.BCE, pathtable.SigmoidFocal, pathtable.FocalProbs:
		m := n * k
		var x []T
		if r.Fn == pathtable.BCE || r.Fn == pathtable.FocalProbs {
			x = fill(m, func(int) float64 { return 0.01 + 0.98*rng.Float64() })
		} else {
			x = fill(m, func(int) float64 { return rng.NormFloat64() * 4 })
		}
		y := labels(m)
		bo := kernels.BinaryOptions[T]{Reduction: kernels.Sum, Clip: o.Clip}
		if o.Weight {
			bo.Weight = weights(m)
		}
		if o.PosWeight {
			bo.PosWeight = weights(k)
		}
		if o.Asym {
			bo.Asymmetric = &kernels.Asymmetric{FalseNegative: 2, FalsePositive: 0.5}
		}
		if o.RowOut {
			bo.Reduction, bo.Loss = kernels.None, nan(m)
		}
		fo := &kernels.FocalOptions[T]{BinaryOptions: bo, Alpha: o.Alpha, Gamma: o.Gamma}
		xs := copyOf(x)
		g := grad(x, m)
		items := func() []T { return bo.Loss }
		call := map[pathtable.Fn]func() (T, error){
			pathtable.BCEWithLogits: func() (T, error) { return kernels.BCEWithLogits(x, y, n, k, g, &fo.BinaryOptions) },
			pathtable.BCE:           func() (T, error) { return kernels.BCE(x, y, n, k, g, &fo.BinaryOptions) },
			pathtable.SigmoidFocal:  func() (T, error) { return kernels.SigmoidFocal(x, y, n, k, g, fo) },
			pathtable.FocalProbs:    func() (T, error) { return kernels.FocalProbs(x, y, n, k, g, fo) },
		}[r.Fn]
		c.ref = func() (*reference.Result, error) {
			switch r.Fn {
			case pathtable.BCEWithLogits:
				return reference.BCEWithLogits(xs, y, n, k, &fo.BinaryOptions)
			case pathtable.BCE:
				return reference.BCE(xs, y, n, k, &fo.BinaryOptions)
			case pathtable.SigmoidFocal:
				return reference.SigmoidFocal(xs, y, n, k, fo)
			}
			return reference.FocalProbs(xs, y, n, k, fo)
		}
		c.run = func() (reference.Got[T], error) {
			l, err := call()
			return reference.Got[T]{CheckLoss: !o.RowOut, Loss: l, Items: items(), Grad: g}, err
		}
	case pathtable.MSE, pathtable.L1, pathtable.Huber, pathtable.SmoothL1:
		x, y := fill(k, func(int) float64 { return rng.NormFloat64() * 3 }), fill(k, func(int) float64 { return rng.NormFloat64() * 3 })
		ro := &kernels.RegressionOptions[T]{Reduction: kernels.Sum}
		if o.Weight {
			ro.Weight = weights(k)
		}
		if o.RowOut {
			ro.Reduction, ro.Loss = kernels.None, nan(k)
		}
		xs := copyOf(x)
		g := grad(x, k)
		c.ref = func() (*reference.Result, error) {
			switch r.Fn {
			case pathtable.MSE:
				return reference.MSE(xs, y, ro)
			case pathtable.L1:
				return reference.L1(xs, y, ro)
			case pathtable.Huber:
				return reference.Huber(xs, y, &kernels.HuberOptions[T]{RegressionOptions: *ro, Delta: o.Param})
			}
			return reference.SmoothL1(xs, y, &kernels.SmoothL1Options[T]{RegressionOptions: *ro, Beta: o.Param})
		}
		c.run = func() (reference.Got[T], error) {
			var l T
			var err error
			switch r.Fn {
			case pathtable.MSE:
				l, err = kernels.MSE(x, y, g, ro)
			case pathtable.L1:
				l, err = kernels.L1(x, y, g, ro)
			case pathtable.Huber:
				l, err = kernels.Huber(x, y, g, &kernels.HuberOptions[T]{RegressionOptions: *ro, Delta: o.Param})
			default:
				l, err = kernels.SmoothL1(x, y, g, &kernels.SmoothL1Options[T]{RegressionOptions: *ro, Beta: o.Param})
			}
			return reference.Got[T]{CheckLoss: !o.RowOut, Loss: l, Items: ro.Loss, Grad: g}, err
		}
	case pathtable.KLDiv:
		m := n * k
		// log q: a log-softmax of normals; p: a softmax, some classes 0.
		lq := fill(m, func(i int) float64 { return -math.Log(float64(k)) + 0.5*rng.NormFloat64() })
		t := fill(m, func(i int) float64 {
			p := rng.Float64() / float64(k)
			if i%7 == 3 {
				p = 0
			}
			if o.LogTarget {
				return math.Log(p)
			}
			return p
		})
		xs, ts := copyOf(lq), copyOf(t)
		g := grad(lq, m)
		ko := &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean, LogTarget: o.LogTarget, Loss: opt(o.RowOut, m)}
		if o.RowOut {
			ko.Reduction = kernels.None
		}
		c.ref = func() (*reference.Result, error) { return reference.KLDiv(xs, ts, n, k, ko) }
		c.run = func() (reference.Got[T], error) {
			l, err := kernels.KLDiv(lq, t, n, k, g, ko)
			return reference.Got[T]{CheckLoss: true, Loss: l, Items: ko.Loss, Grad: g}, err
		}
	case pathtable.Distill:
		m := n * k
		st := logits(m)
		te := fill(m, func(i int) float64 {
			if i%11 == 4 && o.Divergence != 1 {
				return math.Inf(-1) // a class the teacher rules out
			}
			return rng.NormFloat64() * 3
		})
		if o.Divergence != 0 {
			for i := 7; i < m; i += 13 {
				st[i] = T(math.Inf(-1)) // a class the student rules out
			}
		}
		ss, tes := copyOf(st), copyOf(te)
		g := grad(st, m)
		do := &kernels.DistillOptions[T]{Divergence: kernels.Divergence(o.Divergence), Beta: o.Beta,
			Temperature: o.Param, ScaleT2: o.ScaleT2, RowLoss: opt(o.RowOut, n)}
		if o.RowOut {
			do.Reduction = kernels.None
		}
		if o.Ignore {
			do.Labels = make([]int32, n)
			do.Labels[n/2] = -100
		}
		c.ref = func() (*reference.Result, error) { return reference.Distill(ss, tes, n, k, do) }
		c.run = func() (reference.Got[T], error) {
			l, err := kernels.Distill(st, te, n, k, g, do)
			return reference.Got[T]{CheckLoss: true, Loss: l, Items: do.RowLoss, Grad: g}, err
		}
	case pathtable.SoftmaxBackward, pathtable.LogSoftmaxBackward, pathtable.LogSumExpBackward,
		pathtable.SigmoidBackward, pathtable.LogSigmoidBackward, pathtable.SoftplusBackward:
		c = buildBackward(r, b, fill)
	default: // primitives
		m := n * k
		x := logits(m)
		if r.Fn.Flat() {
			x = fill(m, func(int) float64 { return rng.NormFloat64() * 8 })
		}
		xs := copyOf(x)
		var dst []T
		switch {
		case r.Fn == pathtable.LogSumExp:
			dst = nan(n)
		case o.InPlace:
			dst = x
		default:
			dst = nan(m)
		}
		prim := map[pathtable.Fn]struct {
			rows func(dst, x []T, n, k int, o *kernels.PrimitiveOptions) error
			elem func(dst, x []T, o *kernels.PrimitiveOptions) error
			ref  func() (*reference.Result, error)
		}{
			pathtable.Softmax:    {rows: kernels.Softmax[T], ref: func() (*reference.Result, error) { return reference.Softmax(xs, n, k) }},
			pathtable.LogSoftmax: {rows: kernels.LogSoftmax[T], ref: func() (*reference.Result, error) { return reference.LogSoftmax(xs, n, k) }},
			pathtable.LogSumExp:  {rows: kernels.LogSumExp[T], ref: func() (*reference.Result, error) { return reference.LogSumExp(xs, n, k) }},
			pathtable.Sigmoid:    {elem: kernels.Sigmoid[T], ref: func() (*reference.Result, error) { return reference.Sigmoid(xs) }},
			pathtable.LogSigmoid: {elem: kernels.LogSigmoid[T], ref: func() (*reference.Result, error) { return reference.LogSigmoid(xs) }},
			pathtable.Softplus:   {elem: kernels.Softplus[T], ref: func() (*reference.Result, error) { return reference.Softplus(xs) }},
			pathtable.SoftplusBeta: {
				elem: func(dst, x []T, po *kernels.PrimitiveOptions) error {
					return kernels.SoftplusBeta(dst, x, T(o.Beta), T(o.Threshold), po)
				},
				ref: func() (*reference.Result, error) { return reference.SoftplusBeta(xs, T(o.Beta), T(o.Threshold)) }},
		}[r.Fn]
		c.ref = prim.ref
		c.run = func() (reference.Got[T], error) {
			var err error
			if prim.rows != nil {
				err = prim.rows(dst, x, n, k, nil)
			} else {
				err = prim.elem(dst, x, nil)
			}
			return reference.Got[T]{Out: dst}, err
		}
	}
	return c
}

// buildBackward makes a backward pass's row: the saved tensor as the
// forward leaves it (a softmax, a log-softmax, sigmoids in (0, 1), logits
// with their log-sum-exp), dy normal; dx is fresh, the saved tensor (InPlace)
// or dy (InPlaceDy).
func buildBackward[T kernels.Float](r pathtable.Row, b bufs[T], fill func(m int, f func(i int) float64) []T) rowCall[T] {
	o, n, k := r.Opt, r.N, r.K
	rng := rand.New(rand.NewPCG(uint64(n)+7, uint64(k)))
	m := n * k
	logits := make([]float64, m)
	for i := range logits {
		logits[i] = rng.NormFloat64() * 3
	}
	lse := make([]float64, n)
	for i := range lse {
		row := logits[i*k : i*k+k]
		mx := slices.Max(row)
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		lse[i] = mx + math.Log(s)
	}
	var saved []T
	switch r.Fn {
	case pathtable.SoftmaxBackward:
		saved = fill(m, func(i int) float64 { return math.Exp(logits[i] - lse[i/k]) })
	case pathtable.LogSoftmaxBackward:
		saved = fill(m, func(i int) float64 { return logits[i] - lse[i/k] })
	case pathtable.SigmoidBackward:
		saved = fill(m, func(i int) float64 { return 1 / (1 + math.Exp(-logits[i])) })
	case pathtable.LogSumExpBackward:
		saved = fill(m, func(i int) float64 { return logits[i] })
	default:
		saved = fill(m, func(i int) float64 { return logits[i] * 3 })
	}
	dyLen := m
	var lseT []T
	if r.Fn == pathtable.LogSumExpBackward {
		dyLen = n
		lseT = fill(n, func(i int) float64 { return lse[i] })
	}
	dy := fill(dyLen, func(int) float64 { return rng.NormFloat64() })
	ss, dys, lses := slices.Clone(saved), slices.Clone(dy), slices.Clone(lseT)
	var dx []T
	switch {
	case o.InPlace:
		dx = saved
	case o.InPlaceDy:
		dx = dy
	default:
		dx = fill(m, func(int) float64 { return math.NaN() })
	}
	beta, thr := T(o.Beta), T(o.Threshold)
	var c rowCall[T]
	switch r.Fn {
	case pathtable.SoftmaxBackward:
		c.ref = func() (*reference.Result, error) { return reference.SoftmaxBackward(dys, ss, n, k) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.SoftmaxBackward(dx, dy, saved, n, k, nil)
		}
	case pathtable.LogSoftmaxBackward:
		c.ref = func() (*reference.Result, error) { return reference.LogSoftmaxBackward(dys, ss, n, k) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.LogSoftmaxBackward(dx, dy, saved, n, k, nil)
		}
	case pathtable.LogSumExpBackward:
		c.ref = func() (*reference.Result, error) { return reference.LogSumExpBackward(dys, ss, lses, n, k) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.LogSumExpBackward(dx, dy, saved, lseT, n, k, nil)
		}
	case pathtable.SigmoidBackward:
		c.ref = func() (*reference.Result, error) { return reference.SigmoidBackward(dys, ss) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.SigmoidBackward(dx, dy, saved, nil)
		}
	case pathtable.LogSigmoidBackward:
		c.ref = func() (*reference.Result, error) { return reference.LogSigmoidBackward(dys, ss) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.LogSigmoidBackward(dx, dy, saved, nil)
		}
	case pathtable.SoftplusBackward:
		if o.Beta == 0 {
			c.ref = func() (*reference.Result, error) { return reference.SoftplusBackward(dys, ss) }
			c.run = func() (reference.Got[T], error) {
				return reference.Got[T]{Out: dx}, kernels.SoftplusBackward(dx, dy, saved, nil)
			}
			break
		}
		c.ref = func() (*reference.Result, error) { return reference.SoftplusBetaBackward(dys, ss, beta, thr) }
		c.run = func() (reference.Got[T], error) {
			return reference.Got[T]{Out: dx}, kernels.SoftplusBetaBackward(dx, dy, saved, beta, thr, nil)
		}
	}
	return c
}

// typeName is "f32" or "f64".
func typeName[T kernels.Float]() string {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return "f32"
	}
	return "f64"
}

// traced runs f with args.Trace recording, and returns the distinct paths
// taken, sorted.
func traced(f func()) []string {
	seen := map[string]bool{}
	args.Trace = func(p string) { seen[p] = true }
	defer func() { args.Trace = nil }()
	f()
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// bigRow reports whether a row writes 16 MiB or more: TestGuardPaths
// alone runs those (on the SIMD backends: generic has no streamed stores
// and its path is every row's), not under -short.
func bigRow(r pathtable.Row) bool { return r.Class.OutMin >= pathtable.MiB16 }

func TestPaths(t *testing.T) {
	for _, r := range pathtable.Rows {
		if bigRow(r) {
			continue // TestGuardPaths checks them, on guarded buffers
		}
		for _, ty := range r.Types() {
			t.Run(r.Name+"/"+ty, func(t *testing.T) {
				if ty == "f32" {
					runPathRow(t, r, heapBufs[float32], nil, true)
				} else {
					runPathRow(t, r, heapBufs[float64], nil, true)
				}
			})
		}
	}
}

// runPathRow runs row r on every backend (but those skip names) with
// buffers from mk, called once per backend (release frees them after the
// checks), checks the paths taken and, with checkRef, the results. A fault
// (guard page) fails the row.
func runPathRow[T kernels.Float](t *testing.T, r pathtable.Row, mk func() (b bufs[T], release func()), skip func(string) bool, checkRef bool) {
	var ref *reference.Result
	for _, b := range kernels.Backends() {
		if skip != nil && skip(b) {
			continue
		}
		restore, err := kernels.UseBackend(b)
		if err != nil {
			t.Fatal(err)
		}
		bs, release := mk()
		c := buildRow(r, bs)
		if ref == nil && checkRef {
			if ref, err = c.ref(); err != nil {
				restore()
				release()
				t.Fatalf("reference: %v", err)
			}
		}
		var got reference.Got[T]
		var callErr error
		took := traced(func() {
			defer func() {
				if e := recover(); e != nil {
					callErr = fmt.Errorf("fault: %v", e)
				}
			}()
			got, callErr = c.run()
		})
		restore()
		want, ok := r.Paths(b, typeName[T]())
		if *printPaths {
			t.Logf("%s %s: took %q", b, typeName[T](), took)
		}
		switch {
		case callErr != nil:
			t.Errorf("%s: %v", b, callErr)
		case !ok:
			t.Errorf("%s: the row lists no paths for this backend; it took %q", b, took)
		case !slices.Equal(took, sorted(want)):
			t.Errorf("%s: took paths %q, the table says %q", b, took, sorted(want))
		}
		if callErr == nil && checkRef {
			if err := reference.Check(ref, got); err != nil {
				t.Errorf("%s: %v", b, err)
			}
		}
		release()
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}

// declaredPaths reads every path name a backend's sources hand to
// args.Took or args.TookIf (and neon's unary adapters): the string
// literals of the non-test files of dir that start with prefix.
func declaredPaths(t *testing.T, dir, prefix string) []string {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, prefix) {
					seen[s] = true
				}
			}
			return true
		})
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// pathBackends are the backends of each source directory, whatever this
// CPU runs: the table is complete for all of them.
var pathBackends = []struct {
	dir, prefix string
	backends    []string
}{
	{"generic", "generic/", []string{"generic"}},
	{"amd64", "amd64/", []string{"avx2", "avx512"}},
	{"arm64", "neon/", []string{"neon"}},
}

// pathOnly names the paths that only one backend of their directory takes:
// the avx512 backend running the AVX2 kernels on groups of 8.
var pathOnly = map[string]string{
	"amd64/f32/ce/tiny-8-lanes":       "avx512",
	"amd64/f32/ce/focal-tiny-8-lanes": "avx512",
	"amd64/f32/ce/pairs-8-lanes":      "avx512",
	"amd64/f32/ce/stash-aligned-row":  "avx512",
}

// pathTypes returns the element types a path name belongs to.
func pathTypes(p string) []string {
	switch {
	case strings.Contains(p, "/f32/"):
		return []string{"f32"}
	case strings.Contains(p, "/f64/"):
		return []string{"f64"}
	}
	return []string{"f32", "f64"}
}

// TestPathTableComplete: every path a backend's source declares is listed
// by some row for that backend and each of the path's element types, and
// every path a row lists is declared.
func TestPathTableComplete(t *testing.T) {
	declared := map[string]bool{}
	for _, pb := range pathBackends {
		paths := declaredPaths(t, pb.dir, pb.prefix)
		if len(paths) == 0 {
			t.Fatalf("no paths declared in kernels/%s", pb.dir)
		}
		for _, p := range paths {
			declared[p] = true
			for _, b := range pb.backends {
				if only, ok := pathOnly[p]; ok && only != b {
					continue
				}
				for _, ty := range pathTypes(p) {
					if len(rowsReaching(b, ty, p)) == 0 {
						t.Errorf("path %s (%s, %s) is no row's: add a row to internal/pathtable", p, b, ty)
					}
				}
			}
		}
	}
	names := map[string]bool{}
	for _, r := range pathtable.Rows {
		if names[r.Name] {
			t.Errorf("two rows named %s", r.Name)
		}
		names[r.Name] = true
		for _, b := range allBackends {
			for _, ty := range r.Types() {
				want, ok := r.Paths(b, ty)
				if !ok {
					t.Errorf("row %s lists no paths for %s", r.Name, b)
				}
				for _, p := range want {
					if !declared[p] {
						t.Errorf("row %s: %s lists %s, which no backend source declares", r.Name, b, p)
					}
				}
			}
		}
	}
}

var allBackends = []string{"generic", "avx2", "avx512", "neon"}

// rowsReaching returns the names of the rows that take path p on backend b
// in type ty.
func rowsReaching(b, ty, p string) []string {
	var out []string
	for _, r := range pathtable.Rows {
		if !slices.Contains(r.Types(), ty) {
			continue
		}
		if want, _ := r.Paths(b, ty); slices.Contains(want, p) {
			out = append(out, r.Name)
		}
	}
	return out
}

// TestPathsDoc checks that docs/paths.md is generated from the table.
func TestPathsDoc(t *testing.T) {
	const file = "../docs/paths.md"
	doc := pathsDoc(t)
	if *updatePaths {
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(file)
	if err != nil || string(have) != doc {
		t.Errorf("%s is missing or stale: run go test ./kernels -run TestPathsDoc -update-paths", file)
	}
}

func pathsDoc(t *testing.T) string {
	var b strings.Builder
	b.WriteString(pathsDocIntro)
	for _, pb := range pathBackends {
		paths := declaredPaths(t, pb.dir, pb.prefix)
		for _, be := range pb.backends {
			if be == "avx512" {
				continue // one table for both ISAs
			}
			title := be
			if pb.dir == "amd64" {
				title = "avx2 and avx512 (kernels/amd64; every row runs on each ISA)"
			}
			fmt.Fprintf(&b, "\n## %s: %d paths\n\n", title, len(paths))
			b.WriteString("| path | types | rows that reach it | fuzzed | guard pages |\n|---|---|---|---|---|\n")
			for _, p := range paths {
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p, strings.Join(pathTypes(p), ", "), pathReach(pb.backends, p))
			}
		}
	}
	b.WriteString("\n## Rows\n\n")
	b.WriteString("Each row is one call; the fuzzer must be able to draw a shape of its class (`fuzz/shape_test.go`). The last four columns are the exact sets of paths the call takes on each backend.\n\n")
	b.WriteString("| row | call | types | N×K | options | data | class (fuzz) | generic | avx2 | avx512 | neon |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range pathtable.Rows {
		cols := []string{}
		for _, be := range allBackends {
			var per []string
			for _, ty := range r.Types() {
				w, _ := r.Paths(be, ty)
				short := make([]string, len(w))
				for i, p := range w {
					short[i] = "`" + p + "`"
				}
				if len(r.Types()) > 1 {
					per = append(per, ty+": "+strings.Join(short, " "))
				} else {
					per = append(per, strings.Join(short, " "))
				}
			}
			cols = append(cols, strings.Join(per, "; "))
		}
		data := string(r.Data)
		if r.Note != "" {
			data = strings.TrimPrefix(data+"; "+r.Note, "; ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d×%d | %s | %s | %s | %s |\n", r.Name, r.Fn,
			strings.Join(r.Types(), ", "), r.N, r.K, optString(r.Opt), data, classString(r.Class), strings.Join(cols, " | "))
	}
	return b.String()
}

// pathReach formats the doc's columns for path p of backends bs: the rows
// that reach it (marked where only one of bs), whether the fuzzer draws
// their shapes (and how rarely, when every such row needs an extension of
// the shape tables), and whether the guard-page test runs them.
func pathReach(bs []string, p string) string {
	var reach, targets []string
	common, long, short := false, false, false
	for _, ty := range pathTypes(p) {
		on := map[string][]string{}
		for _, be := range bs {
			for _, name := range rowsReaching(be, ty, p) {
				on[name] = append(on[name], be)
			}
		}
		for _, name := range sortedKeys(on) {
			s := "`" + name + "`/" + ty
			if len(on[name]) < len(bs) {
				s += " (" + strings.Join(on[name], ", ") + " only)"
			}
			reach = append(reach, s)
			r := rowByName(name)
			targets = append(targets, fuzzTarget(r.Fn))
			switch {
			case r.Class.OutMin > 0:
			case r.Class.KMin > 4099 || r.Class.NMin > 33:
				long = true
			default:
				common = true
			}
			short = short || !bigRow(r)
		}
	}
	if len(reach) > 8 {
		reach = append(reach[:6], fmt.Sprintf("… (%d rows)", len(reach)))
	}
	fz := "yes: " + strings.Join(sorted(targets), ", ")
	switch {
	case common:
	case long:
		fz += " (long-row or many-row shapes: about 1 input in 50)"
	default:
		fz += " (16 MiB shapes: 1 float32 input in 3855, 1 float64 input in 2979)"
		if ty := pathTypes(p); len(ty) == 1 && ty[0] == "f32" {
			fz = strings.Replace(fz, ", 1 float64 input in 2979", "", 1)
		} else if len(ty) == 1 {
			fz = strings.Replace(fz, "1 float32 input in 3855, ", "", 1)
		}
	}
	gp := "yes"
	if !short {
		gp = "yes (end placement; not under -short)"
	}
	return strings.Join(reach, ", ") + " | " + fz + " | " + gp
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func rowByName(name string) pathtable.Row {
	for _, r := range pathtable.Rows {
		if r.Name == name {
			return r
		}
	}
	panic(name)
}

// fuzzTarget names the fuzz target that draws calls of fn.
func fuzzTarget(fn pathtable.Fn) string {
	switch fn {
	case pathtable.CrossEntropy, pathtable.CrossEntropyProbs, pathtable.SoftmaxFocal, pathtable.CrossEntropyShards, pathtable.BCEWithLogits, pathtable.BCE, pathtable.NLL,
		pathtable.CrossEntropyHalf, pathtable.CrossEntropyProbsHalf, pathtable.SoftmaxFocalHalf, pathtable.BCEWithLogitsHalf, pathtable.SigmoidFocalHalf:
		return "Fuzz" + string(fn)
	case pathtable.SigmoidFocal, pathtable.FocalProbs:
		return "FuzzSigmoidFocal"
	case pathtable.MSE, pathtable.L1, pathtable.Huber, pathtable.SmoothL1:
		return "FuzzRegression"
	case pathtable.KLDiv:
		return "FuzzKLDiv"
	case pathtable.Distill:
		return "FuzzDistill"
	}
	return "FuzzPrimitives"
}

func optString(o pathtable.Opt) string {
	var s []string
	add := func(c bool, v string) {
		if c {
			s = append(s, v)
		}
	}
	add(o.Grad && !o.InPlace, "grad")
	add(o.InPlace, "in place")
	add(o.Weight, "weights")
	add(o.RowOut, "per-row/element outputs")
	add(o.Ignore, "ignored rows")
	add(o.Smoothing != 0, fmt.Sprintf("ε=%v", o.Smoothing))
	add(o.ZL != 0, fmt.Sprintf("ζ=%v", o.ZL))
	add(o.SoftCap != 0, fmt.Sprintf("cap=%v", o.SoftCap))
	add(o.Gamma != 0, fmt.Sprintf("γ=%v", o.Gamma))
	add(o.Alpha != 0, fmt.Sprintf("α=%v", o.Alpha))
	add(o.Clip != 0, fmt.Sprintf("clip=%v", o.Clip))
	add(o.PosWeight, "pos_weight")
	add(o.Asym, "asymmetric")
	add(o.Param != 0, fmt.Sprintf("δ/β=%v", o.Param))
	return strings.Join(s, ", ")
}

func classString(c pathtable.Class) string {
	s := fmt.Sprintf("N≥%d, %d≤K", c.NMin, c.KMin)
	if c.KMax < 1<<30 {
		s += fmt.Sprintf("≤%d", c.KMax)
	}
	if c.OutMin > 0 {
		s += fmt.Sprintf(", output ≥ %d MiB", c.OutMin>>20)
	}
	return s
}

const pathsDocIntro = `# Code paths

Generated by ` + "`go test ./kernels -run TestPathsDoc -update-paths`" + ` from
` + "`internal/pathtable`" + `; do not edit.

Every dispatch decision of every backend names the path it takes with
` + "`args.Took`" + ` (a load and a branch when no test traces). The table below
lists each path of each backend with the rows (calls) that reach it, and
the rows with the exact set of paths each takes on each backend. Tests:

* ` + "`TestPaths`" + ` (kernels/paths_test.go) runs every row on every backend the
  CPU runs, in each listed element type, asserts that the call took
  exactly the listed paths and checks loss, per-row outputs and gradient
  against the float64 reference (` + "`reference.Check`" + `).
* ` + "`TestPathTableComplete`" + ` parses the backends' sources: a path no row
  reaches, or a row naming a path no source declares, fails it.
* ` + "`TestGuardPaths`" + ` (kernels/guard_test.go) runs every row on every
  backend with each buffer flush against a PROT_NONE page, at its end and
  then at its start, with the same checks. Rows of 16 MiB outputs run only
  there (TestPaths leaves them to it), at the end placement, on the SIMD
  backends, and not under -short.
* ` + "`TestPathShapesDrawable`" + ` (fuzz/shape_test.go) checks that the fuzz
  decoder's shape tables draw a shape of each row's class (N, K range,
  output size) for the row's target; options are drawn from the targets'
  option tables. Outputs of 16 MiB are drawn by one random input in 3855
  (float32) or 2979 (float64), long rows by one in 43 (fuzz/shape_test.go).

Not traced: the choice among a kernel's generated variants (with or without
gradient, loss output, weights; AVX2 or AVX-512) inside one path; the rows
exercise several of them, and the guard-page test's own cases every length
from 1 to 49.

Branches no row reaches, because validation rules their inputs out: the
amd64 BCE and FocalProbs fallbacks to generic for probabilities outside
[0, 1] (the kernels' "soft" count, and the in-place check ` + "`aliasX && !unitRange`" + `),
and amd64's sigmoid focal with asymmetric weights (` + "`FNWeight != 1`" + `:
Asymmetric is rejected for the focal losses); neon's ` + "`a.Focal && a.Probs != nil`" + `
(no API makes that call). They end in the generic kernel, whose path is
traced.
`

// halfOpts are a 16-bit row's options (those of its kernel set) and its
// per-row or per-element outputs.
type halfOpts[T kernels.Float] struct {
	ce         *kernels.CrossEntropyOptions[T]
	sf         *kernels.SoftmaxFocalOptions[T]
	fo         *kernels.FocalOptions[T] // BCEWithLogitsHalf uses its BinaryOptions
	items, lse []T
}

// halfRow builds a row of a 16-bit kernel (float32 only): the input x and
// the second input y (probabilities or binary targets, or nil) rounded to
// the row's format in buffers of b's, the reference asked about the
// widened values, a 16-bit gradient checked as one more rounding
// (reference.RoundGrad).
func halfRow[T kernels.Float](c rowCall[T], b bufs[T], fn pathtable.Fn, o pathtable.Opt, x, y []T, tg []int32, n, k int, h halfOpts[T]) rowCall[T] {
	f16 := o.Half == "f16"
	round := func(v float32) uint16 {
		if f16 {
			return uint16(kernels.F16FromFloat32(v))
		}
		return uint16(kernels.BF16FromFloat32(v))
	}
	wide := func(v uint16) float32 {
		if f16 {
			return kernels.F16(v).Float32()
		}
		return kernels.BF16(v).Float32()
	}
	to16 := func(v []T) ([]uint16, []float32) {
		if v == nil {
			return nil, nil
		}
		h, w := b.halfs(len(v)), make([]float32, len(v))
		for i, e := range v {
			h[i] = round(float32(e))
			w[i] = wide(h[i])
		}
		return h, w
	}
	hx, xs := to16(x)
	hy, ys := to16(y)
	tgs := append([]int32(nil), tg...)
	var g16 []uint16
	var g32 []float32
	switch {
	case o.Grad && o.Grad32 && o.InPlace:
		panic("a float32 gradient cannot be in place over 16-bit inputs")
	case o.InPlace:
		g16 = hx
	case o.Grad && o.Grad32:
		g32 = any(b.floats(n * k)).([]float32)
	case o.Grad:
		g16 = b.halfs(n * k)
	}
	opts := any(h).(halfOpts[float32])
	c.ref = func() (*reference.Result, error) {
		var r *reference.Result
		var err error
		switch fn {
		case pathtable.CrossEntropyHalf:
			r, err = reference.CrossEntropy(xs, tgs, n, k, opts.ce)
		case pathtable.CrossEntropyProbsHalf:
			r, err = reference.CrossEntropyProbs(xs, ys, n, k, opts.ce)
		case pathtable.SoftmaxFocalHalf:
			r, err = reference.SoftmaxFocal(xs, tgs, n, k, opts.sf)
		case pathtable.BCEWithLogitsHalf:
			r, err = reference.BCEWithLogits(xs, ys, n, k, &opts.fo.BinaryOptions)
		default:
			r, err = reference.SigmoidFocal(xs, ys, n, k, opts.fo)
		}
		if err == nil && g16 != nil {
			r = r.RoundGrad(func(f float32) float32 { return wide(round(f)) })
		}
		return r, err
	}
	c.run = func() (reference.Got[T], error) {
		var l float32
		var err error
		if f16 {
			l, err = runHalfRow[kernels.F16](fn, hx, hy, tg, n, k, g16, g32, opts)
		} else {
			l, err = runHalfRow[kernels.BF16](fn, hx, hy, tg, n, k, g16, g32, opts)
		}
		got := reference.Got[float32]{CheckLoss: true, Loss: l, Items: opts.items, LSE: opts.lse, Grad: g32}
		if g16 != nil {
			got.Grad = make([]float32, len(g16))
			for i, v := range g16 {
				got.Grad[i] = wide(v)
			}
		}
		return any(got).(reference.Got[T]), err
	}
	return c
}

// runHalfRow calls a 16-bit kernel on raw 16-bit buffers viewed as H.
func runHalfRow[H kernels.BF16 | kernels.F16](fn pathtable.Fn, x, y []uint16, tg []int32, n, k int, g16 []uint16, g32 []float32, o halfOpts[float32]) (float32, error) {
	view := func(s []uint16) []H { return unsafe.Slice((*H)(unsafe.Pointer(unsafe.SliceData(s))), len(s)) }
	hx, hy := view(x), view(y)
	if g32 != nil {
		switch fn {
		case pathtable.CrossEntropyHalf:
			return kernels.CrossEntropyHalf(hx, tg, n, k, g32, o.ce)
		case pathtable.CrossEntropyProbsHalf:
			return kernels.CrossEntropyProbsHalf(hx, hy, n, k, g32, o.ce)
		case pathtable.SoftmaxFocalHalf:
			return kernels.SoftmaxFocalHalf(hx, tg, n, k, g32, o.sf)
		case pathtable.BCEWithLogitsHalf:
			return kernels.BCEWithLogitsHalf(hx, hy, n, k, g32, &o.fo.BinaryOptions)
		}
		return kernels.SigmoidFocalHalf(hx, hy, n, k, g32, o.fo)
	}
	var g []H
	if g16 != nil {
		g = view(g16)
	}
	switch fn {
	case pathtable.CrossEntropyHalf:
		return kernels.CrossEntropyHalf(hx, tg, n, k, g, o.ce)
	case pathtable.CrossEntropyProbsHalf:
		return kernels.CrossEntropyProbsHalf(hx, hy, n, k, g, o.ce)
	case pathtable.SoftmaxFocalHalf:
		return kernels.SoftmaxFocalHalf(hx, tg, n, k, g, o.sf)
	case pathtable.BCEWithLogitsHalf:
		return kernels.BCEWithLogitsHalf(hx, hy, n, k, g, &o.fo.BinaryOptions)
	}
	return kernels.SigmoidFocalHalf(hx, hy, n, k, g, o.fo)
}
