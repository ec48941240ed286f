//go:build linux

package kernels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/lossfuse/lossfuse/internal/pathtable"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The guard-page test places every input and output slice flush against a
// PROT_NONE page, first at its end and then at its start, for every length
// from 0 (1 for row widths) to three vector widths plus one, and runs every
// kernel on every backend this CPU supports. An access outside a slice
// faults; with SetPanicOnFault the fault becomes a panic naming the case.
// Each result is also compared with the generic backend on the same inputs.

// maxVec is the widest vector in elements of any backend (AVX-512 float32).
const maxVec = 16

var pageSize = os.Getpagesize()

// region is one mapping: guard page, data page, guard page.
type region struct{ mem []byte }

func newRegion(t *testing.T) region {
	mem, err := syscall.Mmap(-1, 0, 3*pageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	for _, g := range [][]byte{mem[:pageSize], mem[2*pageSize:]} {
		if err := syscall.Mprotect(g, syscall.PROT_NONE); err != nil {
			t.Skipf("mprotect PROT_NONE: %v", err)
		}
	}
	return region{mem}
}

// slice returns n elements of the data page flush against the guard page
// before it (front) or after it, with capacity n.
func slice[E any](r region, n int, front bool) []E {
	var e E
	size := int(unsafe.Sizeof(e))
	if n*size > pageSize {
		panic("guarded slice larger than a page")
	}
	off := pageSize
	if !front {
		off = 2*pageSize - n*size
	}
	return unsafe.Slice((*E)(unsafe.Pointer(&r.mem[off])), n)
}

// env hands out guarded slices for one kernel call and records the outputs.
type env[T kernels.Float] struct {
	regions []region
	used    int
	front   bool
	rng     *rand.Rand
	outs    [][]T
	loss    T
}

func (e *env[T]) next() region {
	r := e.regions[e.used]
	e.used++
	return r
}

// in returns a guarded input of n values uniform in [lo, hi).
func (e *env[T]) in(n int, lo, hi float64) []T {
	s := slice[T](e.next(), n, e.front)
	for i := range s {
		s[i] = T(lo + (hi-lo)*e.rng.Float64())
	}
	return s
}

// out returns a guarded output of n zeros that is compared after the call.
func (e *env[T]) out(n int) []T {
	s := slice[T](e.next(), n, e.front)
	clear(s)
	e.outs = append(e.outs, s)
	return s
}

// labels returns n guarded hard labels (0 or 1).
func (e *env[T]) labels(n int) []T {
	s := slice[T](e.next(), n, e.front)
	for i := range s {
		s[i] = T(e.rng.IntN(2))
	}
	return s
}

// targets returns n guarded class indices in [0, k), some equal to ignore.
func (e *env[T]) targets(n, k int, ignore int32) []int32 {
	s := slice[int32](e.next(), n, e.front)
	for i := range s {
		s[i] = int32(e.rng.IntN(k))
		if e.rng.IntN(4) == 0 {
			s[i] = ignore
		}
	}
	return s
}

type guardCase[T kernels.Float] struct {
	name  string
	rows  bool // n rows of k (k ≥ 1); otherwise one flat length k
	flat1 bool // flat kernels taking a shape: length ≥ 1
	run   func(e *env[T], n, k int) error
}

func guardCases[T kernels.Float]() []guardCase[T] {
	ce := func(name string, o func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T], grad, inPlace bool) guardCase[T] {
		return guardCase[T]{name, true, false, func(e *env[T], n, k int) error {
			x := e.in(n*k, -8, 8)
			tg := e.targets(n, k, -100)
			opt := o(e, n, k)
			var g []T
			switch {
			case inPlace:
				g = x
				e.outs = append(e.outs, x)
			case grad:
				g = e.out(n * k)
			}
			l, err := kernels.CrossEntropy(x, tg, n, k, g, opt)
			e.loss = l
			return err
		}}
	}
	// manyRows runs a row case with 2·maxVec+1 rows when rows are short, so
	// that kernels working on groups of rows meet whole groups and a rest.
	manyRows := func(c guardCase[T]) guardCase[T] {
		run := c.run
		c.name += "/manyrows"
		c.run = func(e *env[T], n, k int) error {
			if k <= maxVec {
				var z T
				n = min(2*maxVec+1, pageSize/(k*int(unsafe.Sizeof(z))))
			}
			return run(e, n, k)
		}
		return c
	}
	none := func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] { return nil }
	full := func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
		return &kernels.CrossEntropyOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2),
			LabelSmoothing: 0.1, ZLoss: 1e-3, RowLoss: e.out(n), RowLSE: e.out(n)}
	}
	weighted := func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
		return &kernels.CrossEntropyOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2),
			RowLoss: e.out(n), RowLSE: e.out(n)}
	}
	smooth := func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
		return &kernels.CrossEntropyOptions[T]{Reduction: kernels.Sum, LabelSmoothing: 0.2}
	}
	softcap := func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
		return &kernels.CrossEntropyOptions[T]{SoftCap: 5, EmptyMean: kernels.EmptyMeanZero}
	}
	binary := func(name string, f func(e *env[T], n, k int, g []T) (T, error)) guardCase[T] {
		return guardCase[T]{name, false, true, func(e *env[T], n, k int) error {
			l, err := f(e, 1, k, e.out(k))
			e.loss = l
			return err
		}}
	}
	rowsPrim := func(name string, f func(dst, x []T, n, k int, o *kernels.PrimitiveOptions) error, full bool) guardCase[T] {
		return guardCase[T]{name, true, false, func(e *env[T], n, k int) error {
			x := e.in(n*k, -20, 20)
			m := n
			if full {
				m = n * k
			}
			return f(e.out(m), x, n, k, nil)
		}}
	}
	elem := func(name string, f func(dst, x []T, o *kernels.PrimitiveOptions) error) guardCase[T] {
		return guardCase[T]{name, false, false, func(e *env[T], n, k int) error {
			return f(e.out(k), e.in(k, -30, 30), nil)
		}}
	}
	nonNone := func(o kernels.BinaryOptions[T], e *env[T], k int) *kernels.BinaryOptions[T] {
		o.Reduction = kernels.None
		o.Loss = e.out(k)
		return &o
	}
	// shards runs the vocabulary-shard calls over two shards of the row
	// (one when k = 1), each in its own guarded buffers, with every option.
	shards := func(name string, inPlace bool) guardCase[T] {
		return guardCase[T]{name, true, false, func(e *env[T], n, k int) error {
			cuts := []int{0, (k + 1) / 2, k}
			if k == 1 {
				cuts = cuts[:2]
			}
			xs := make([][]T, len(cuts)-1)
			for i := range xs {
				xs[i] = e.in(n*(cuts[i+1]-cuts[i]), -8, 8)
			}
			tg := e.targets(n, k, -100)
			o := &kernels.CrossEntropyOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2), LabelSmoothing: 0.1,
				ZLoss: 1e-3, SoftCap: 20, RowLoss: e.out(n), RowLSE: e.out(n)}
			gs := make([][]T, len(xs))
			for i, x := range xs {
				gs[i] = x
				if inPlace {
					e.outs = append(e.outs, x)
				} else {
					gs[i] = e.out(len(x))
				}
			}
			all := kernels.NewShardStats(n)
			for i, x := range xs {
				st := all
				if i > 0 {
					st = kernels.NewShardStats(n)
				}
				sh := kernels.VocabShard{Lo: cuts[i], Hi: cuts[i+1], V: k}
				if err := kernels.CrossEntropyShard(x, tg, n, sh, st, o); err != nil {
					return err
				}
				if i > 0 {
					if err := all.Combine(st); err != nil {
						return err
					}
				}
			}
			l, err := kernels.CrossEntropyShardLoss(all, tg, n, k, o)
			e.loss = l
			if err != nil {
				return err
			}
			for i, x := range xs {
				sh := kernels.VocabShard{Lo: cuts[i], Hi: cuts[i+1], V: k}
				if err := kernels.CrossEntropyShardGrad(x, tg, n, sh, all, gs[i], o); err != nil {
					return err
				}
			}
			return nil
		}}
	}
	return []guardCase[T]{
		shards("CrossEntropyShards/two-shards", false),
		shards("CrossEntropyShards/two-shards/inplace", true),
		ce("CrossEntropy/mean", none, true, false),
		ce("CrossEntropy/lossonly", none, false, false),
		ce("CrossEntropy/inplace", none, true, true),
		ce("CrossEntropy/weight+smooth+zloss+rows", full, true, false),
		ce("CrossEntropy/smooth", smooth, true, false),
		ce("CrossEntropy/weight+rows", weighted, true, false),
		ce("CrossEntropy/weight+rows/inplace", weighted, true, true),
		ce("CrossEntropy/weight+rows/lossonly", weighted, false, false),
		manyRows(ce("CrossEntropy/mean", none, true, false)),
		manyRows(ce("CrossEntropy/lossonly", none, false, false)),
		manyRows(ce("CrossEntropy/weight+rows/inplace", weighted, true, true)),
		manyRows(ce("CrossEntropy/weight+rows/lossonly", weighted, false, false)),
		ce("CrossEntropy/softcap", softcap, true, false),
		{"CrossEntropyProbs", true, false, func(e *env[T], n, k int) error {
			l, err := kernels.CrossEntropyProbs(e.in(n*k, -8, 8), e.in(n*k, 0, 1), n, k, e.out(n*k), nil)
			e.loss = l
			return err
		}},
		{"CrossEntropyProbs/weight+smooth+zloss+rows+inplace", true, false, func(e *env[T], n, k int) error {
			x := e.in(n*k, -8, 8)
			e.outs = append(e.outs, x)
			o := &kernels.CrossEntropyOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2), LabelSmoothing: 0.1,
				ZLoss: 1e-3, RowLoss: e.out(n), RowLSE: e.out(n)}
			l, err := kernels.CrossEntropyProbs(x, e.in(n*k, 0, 1), n, k, x, o)
			e.loss = l
			return err
		}},
		{"SoftmaxFocal", true, false, func(e *env[T], n, k int) error {
			l, err := kernels.SoftmaxFocal(e.in(n*k, -8, 8), e.targets(n, k, -100), n, k, e.out(n*k),
				&kernels.SoftmaxFocalOptions[T]{Gamma: 2, Alpha: e.in(k, 0, 1), Reduction: kernels.Sum})
			e.loss = l
			return err
		}},
		binary("BCEWithLogits", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.BCEWithLogits(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, nil)
		}),
		binary("BCEWithLogits/weights", func(e *env[T], n, k int, g []T) (T, error) {
			o := nonNone(kernels.BinaryOptions[T]{Weight: e.in(k, 0, 2), PosWeight: e.in(k, 0, 3)}, e, k)
			return kernels.BCEWithLogits(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, o)
		}),
		binary("BCEWithLogits/class-weight", func(e *env[T], n, k int, g []T) (T, error) {
			o := nonNone(kernels.BinaryOptions[T]{ClassWeight: e.in(k, 0, 2), PosWeight: e.in(k, 0, 3)}, e, k)
			return kernels.BCEWithLogits(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, o)
		}),
		binary("SigmoidFocal/row-weight", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.FocalOptions[T]{BinaryOptions: *nonNone(kernels.BinaryOptions[T]{RowWeight: e.in(n, 0, 2)}, e, k), Gamma: 2}
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, &o)
		}),
		binary("BCEWithLogits/w+asym+loss", func(e *env[T], n, k int, g []T) (T, error) {
			o := nonNone(kernels.BinaryOptions[T]{Weight: e.in(k, 0, 2), Asymmetric: &kernels.Asymmetric{FalseNegative: 2, FalsePositive: 0.5}}, e, k)
			return kernels.BCEWithLogits(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, o)
		}),
		{"BCEWithLogits/lossonly", false, true, func(e *env[T], n, k int) error {
			l, err := kernels.BCEWithLogits(e.in(k, -20, 20), e.in(k, 0, 1), 1, k, nil, &kernels.BinaryOptions[T]{Reduction: kernels.Sum})
			e.loss = l
			return err
		}},
		binary("BCE", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.BCE(e.in(k, 0.01, 0.99), e.in(k, 0, 1), n, k, g, nil)
		}),
		binary("SigmoidFocal/g2", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.DefaultFocal[T]()
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, &o)
		}),
		binary("SigmoidFocal/g1.5", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.FocalOptions[T]{Alpha: -1, Gamma: 1.5}
			o.BinaryOptions = *nonNone(o.BinaryOptions, e, k)
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.in(k, 0, 1), n, k, g, &o)
		}),
		binary("SigmoidFocal/hard/g0", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.FocalOptions[T]{Alpha: 0.25, Gamma: 0}
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.labels(k), n, k, g, &o)
		}),
		binary("SigmoidFocal/hard/g1+w+loss", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.FocalOptions[T]{Alpha: 0.25, Gamma: 1}
			o.BinaryOptions = *nonNone(kernels.BinaryOptions[T]{Weight: e.in(k, 0, 2)}, e, k)
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.labels(k), n, k, g, &o)
		}),
		binary("SigmoidFocal/hard/g2", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.DefaultFocal[T]()
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.labels(k), n, k, g, &o)
		}),
		binary("SigmoidFocal/hard/g0.7-noalpha", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.FocalOptions[T]{Alpha: -1, Gamma: 0.7}
			return kernels.SigmoidFocal(e.in(k, -20, 20), e.labels(k), n, k, g, &o)
		}),
		binary("MSE/w+loss", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.MSE(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.RegressionOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2), Loss: e.out(k)})
		}),
		binary("FocalProbs", func(e *env[T], n, k int, g []T) (T, error) {
			o := kernels.DefaultFocal[T]()
			return kernels.FocalProbs(e.in(k, 0.01, 0.99), e.in(k, 0, 1), n, k, g, &o)
		}),
		binary("MSE", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.MSE(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.RegressionOptions[T]{Reduction: kernels.Sum})
		}),
		binary("L1/weighted", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.L1(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.RegressionOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2), Loss: e.out(k)})
		}),
		binary("Huber", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.Huber(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.HuberOptions[T]{RegressionOptions: kernels.RegressionOptions[T]{Reduction: kernels.Sum}, Delta: 1.5})
		}),
		binary("SmoothL1", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.SmoothL1(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.SmoothL1Options[T]{RegressionOptions: kernels.RegressionOptions[T]{Reduction: kernels.Sum}, Beta: 0.5})
		}),
		rowsPrim("Softmax", kernels.Softmax[T], true),
		rowsPrim("LogSoftmax", kernels.LogSoftmax[T], true),
		rowsPrim("LogSumExp", kernels.LogSumExp[T], false),
		elem("Sigmoid", kernels.Sigmoid[T]),
		elem("LogSigmoid", kernels.LogSigmoid[T]),
		elem("Softplus", kernels.Softplus[T]),
		// Through a Runner that cuts every call into blocks of one row or
		// one element on two goroutines: the blocks' slicing stays inside
		// the guarded slices too. (A fault on the worker's goroutine
		// crashes the binary instead of panicking, SetPanicOnFault being
		// per goroutine: a failure all the same.)
		manyRows(ce("CrossEntropy/full/runner", func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
			o := full(e, n, k)
			o.Runner = guardRunner
			return o
		}, true, false)),
		ce("CrossEntropy/inplace/runner", func(e *env[T], n, k int) *kernels.CrossEntropyOptions[T] {
			return &kernels.CrossEntropyOptions[T]{LabelSmoothing: 0.1, Runner: guardRunner}
		}, true, true),
		binary("BCEWithLogits/w+loss/runner", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.BCEWithLogits(e.in(k, -8, 8), e.in(k, 0, 1), k, 1, g,
				&kernels.BinaryOptions[T]{Reduction: kernels.None, RowWeight: e.in(k, 0, 2), Loss: e.out(k), Runner: guardRunner})
		}),
		binary("MSE/w+loss/runner", func(e *env[T], n, k int, g []T) (T, error) {
			return kernels.MSE(e.in(k, -5, 5), e.in(k, -5, 5), g, &kernels.RegressionOptions[T]{Reduction: kernels.None, Weight: e.in(k, 0, 2), Loss: e.out(k), Runner: guardRunner})
		}),
		manyRows(rowsPrim("Softmax/runner", func(dst, x []T, n, k int, _ *kernels.PrimitiveOptions) error {
			return kernels.Softmax(dst, x, n, k, &kernels.PrimitiveOptions{Runner: guardRunner})
		}, true)),
		elem("Sigmoid/runner", func(dst, x []T, _ *kernels.PrimitiveOptions) error {
			return kernels.Sigmoid(dst, x, &kernels.PrimitiveOptions{Runner: guardRunner})
		}),
	}
}

// guardRunner spreads every call it is given, in blocks of one row (or one
// element), over two goroutines.
var guardRunner = func() *kernels.Runner {
	r := kernels.NewRunner(2)
	r.SetBlockElems(1)
	r.SetMinElems(1)
	return r
}()

// guardSkipEnv names backends (comma-separated) whose guard-page runs are
// skipped, by hand. Emulators need not be named: see maskedTailsFault.
const guardSkipEnv = "LOSSFUSE_GUARD_SKIP"

func guardSkipped(b string) bool {
	for _, s := range strings.Split(os.Getenv(guardSkipEnv), ",") {
		if s == b {
			return true
		}
	}
	return false
}

// maskedTailsFault reports whether backend b faults on a guard page that
// only masked-off lanes of its vector tail reach: one element of Sigmoid,
// in place, flush against the guard page. Hardware suppresses faults on
// masked-off lanes (VMASKMOVPS, AVX-512 masks, and neon has no masked
// loads), so this is true only where an emulator loads them: qemu-x86_64
// (7.2) emulates VMASKMOVPS full-width. The guard test cannot see bad
// reads there, and skips that backend with a log line; the native runs
// keep it. Call with panic-on-fault set.
func maskedTailsFault(t *testing.T, b string, r region) (faulted bool) {
	restore, err := kernels.UseBackend(b)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	defer func() {
		if recover() != nil {
			faulted = true
		}
	}()
	x := slice[float32](r, 1, false)
	x[0] = 0.5
	if err := kernels.Sigmoid(x, x, nil); err != nil {
		t.Fatal(err)
	}
	return false
}

// guardSkips is the set of backends whose guard runs are skipped: those
// LOSSFUSE_GUARD_SKIP names and those whose masked-off lanes fault (an
// emulator). generic, the reference, is never skipped.
func guardSkips(t *testing.T) map[string]bool {
	r := newRegion(t)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	skip := map[string]bool{}
	for _, b := range kernels.Backends() {
		switch {
		case guardSkipped(b):
			skip[b] = true
		case maskedTailsFault(t, b, r):
			t.Logf("%s: masked-off tail lanes fault here (an emulator: hardware suppresses those faults); its guard runs are skipped", b)
			skip[b] = true
		}
	}
	if skip["generic"] {
		t.Fatal("generic, which has no vector tails, cannot be skipped: it is the guard tests' reference")
	}
	return skip
}

func TestGuardPages(t *testing.T) {
	if v := os.Getenv(guardSkipEnv); v != "" {
		t.Logf("%s=%s: not guard-testing those backends", guardSkipEnv, v)
	}
	t.Run("float32", guardPages[float32])
	t.Run("float64", guardPages[float64])
	// Again with every output written by the non-temporal (streamed)
	// variants, which have a head of their own to reach vector alignment.
	defer func(v int) { args.StreamMinBytes = v }(args.StreamMinBytes)
	args.StreamMinBytes = 0
	t.Run("float32/streamed", guardPages[float32])
	t.Run("float64/streamed", guardPages[float64])
}

func guardPages[T kernels.Float](t *testing.T) {
	regions := make([]region, 8)
	for i := range regions {
		regions[i] = newRegion(t)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	runtime.LockOSThread() // SetPanicOnFault is per goroutine; stay on one thread
	defer runtime.UnlockOSThread()
	const rowsN = 2 // rows per row-kernel call: exercises the row stride
	skip := guardSkips(t)
	for _, c := range guardCases[T]() {
		for _, front := range []bool{true, false} {
			for k := 0; k <= 3*maxVec+1; k++ {
				if (c.rows || c.flat1) && k == 0 {
					continue
				}
				n := 1
				if c.rows {
					n = rowsN
				}
				seed := uint64(k)<<1 | uint64(b2i(front))
				// Reference: the generic backend on the same inputs.
				want, wantLoss := runGuarded(t, c, regions, front, seed, n, k, "generic")
				for _, b := range kernels.Backends() {
					if skip[b] {
						continue
					}
					got, loss := runGuarded(t, c, regions, front, seed, n, k, b)
					where := fmt.Sprintf("%s %s k=%d front=%v", c.name, b, k, front)
					if !close(float64(loss), float64(wantLoss), tolOf[T]()) {
						t.Errorf("%s: loss %v, generic %v", where, loss, wantLoss)
					}
					for o := range got {
						for i := range got[o] {
							if !close(float64(got[o][i]), float64(want[o][i]), tolOf[T]()) {
								t.Errorf("%s: output %d[%d] = %v, generic %v", where, o, i, got[o][i], want[o][i])
								break
							}
						}
					}
				}
			}
		}
	}
}

// runGuarded runs one case on backend b and returns copies of its outputs.
func runGuarded[T kernels.Float](t *testing.T, c guardCase[T], regions []region, front bool, seed uint64, n, k int, b string) ([][]T, T) {
	restore, err := kernels.UseBackend(b)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	e := &env[T]{regions: regions, front: front, rng: rand.New(rand.NewPCG(seed, 7))}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s on %s, k=%d front=%v: %v", c.name, b, k, front, r)
			}
		}()
		if err := c.run(e, n, k); err != nil {
			t.Fatalf("%s on %s, k=%d: %v", c.name, b, k, err)
		}
	}()
	outs := make([][]T, len(e.outs))
	for i, o := range e.outs {
		outs[i] = append([]T(nil), o...)
	}
	return outs, e.loss
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tolOf is 32 units of roundoff of T: the values are only a sanity check
// at every edge length (golden_test.go checks accuracy with scaled bounds).
func tolOf[T kernels.Float]() float64 {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return 32 * 0x1p-24
	}
	return 32 * 0x1p-53
}

// close accepts |a − b| ≤ tol·(|b| + 1): inputs here are O(1–30), so
// float32 kernels carry absolute errors of a few ULP of 1 in values formed
// from them (x − lse, p − 1), as PyTorch's float32 kernels do.
func close(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= tol*(math.Abs(b)+1)
}

// TestGuardPaths runs every row of the path table (paths_test.go,
// docs/paths.md) on every backend with each of its buffers flush against
// a PROT_NONE page, first at the buffer's end, then at its start, asserts
// that it took the row's paths and checks its results against the
// reference. This reaches what the short lengths above cannot: the long-row
// paths (K = 4097…32769, N ≥ 2: stashed, pipelined, blockwise), the
// small-K transposed kernels with many whole groups, and outputs of 16 MiB
// (non-temporal stores at their real threshold). Those rows, which
// TestPaths leaves to this test, are not run under -short, skip the
// generic backend (no streamed stores; its one path is every row's) and
// take the end placement only: the streamed variants' heads are
// guard-tested at both ends at short lengths with StreamMinBytes = 0 above.
func TestGuardPaths(t *testing.T) {
	skips := guardSkips(t)
	for _, r := range pathtable.Rows {
		big := bigRow(r)
		if testing.Short() && big {
			continue
		}
		for _, front := range []bool{false, true} {
			if front && big {
				continue
			}
			for _, ty := range r.Types() {
				skip := func(b string) bool { return skips[b] }
				if big {
					skip = func(b string) bool { return b == "generic" || skips[b] }
				}
				t.Run(fmt.Sprintf("%s/%s/front=%v", r.Name, ty, front), func(t *testing.T) {
					// Per goroutine (each subtest has its own), on one thread.
					defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					if ty == "f32" {
						runPathRow(t, r, guardedBufs[float32](t, front), skip, true)
					} else {
						runPathRow(t, r, guardedBufs[float64](t, front), skip, true)
					}
				})
			}
		}
	}
}

// guardedBufs hands out buffers each in a mapping of its own, flush against
// a PROT_NONE page at its start (front) or end; release unmaps them.
func guardedBufs[T kernels.Float](t *testing.T, front bool) func() (bufs[T], func()) {
	return func() (bufs[T], func()) {
		var maps [][]byte
		place := func(bytes int) unsafe.Pointer {
			data := (bytes + pageSize - 1) / pageSize * pageSize
			mem, err := syscall.Mmap(-1, 0, data+2*pageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				t.Fatalf("mmap: %v", err)
			}
			maps = append(maps, mem)
			for _, g := range [][]byte{mem[:pageSize], mem[pageSize+data:]} {
				if err := syscall.Mprotect(g, syscall.PROT_NONE); err != nil {
					t.Fatalf("mprotect: %v", err)
				}
			}
			off := pageSize
			if !front {
				off = pageSize + data - bytes
			}
			return unsafe.Pointer(&mem[off])
		}
		var z T
		b := bufs[T]{
			floats: func(n int) []T { return unsafe.Slice((*T)(place(n*int(unsafe.Sizeof(z)))), n) },
			ints:   func(n int) []int32 { return unsafe.Slice((*int32)(place(4*n)), n) },
			halfs:  func(n int) []uint16 { return unsafe.Slice((*uint16)(place(2*n)), n) },
		}
		return b, func() {
			for _, m := range maps {
				syscall.Munmap(m)
			}
		}
	}
}
