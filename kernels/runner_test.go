package kernels_test

// The Runner's promises: bit-identical results for every worker count
// (1, 2, 3, 8) on every backend, gradients and per-row outputs identical to
// a call without a Runner and its loss within the two summations' error,
// no allocation per call, no goroutine left after Close, correct results
// after Close and from many goroutines at once.

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lossfuse/lossfuse/kernels"
)

// runnerCase is one call that takes a Runner; it writes into out (which it
// owns) and returns the loss.
type runnerCase[T kernels.Float] struct {
	name string
	call func(r *kernels.Runner, out *runnerOut[T]) (T, error)
}

type runnerOut[T kernels.Float] struct{ grad, rowLoss, rowLSE []T }

func (o *runnerOut[T]) equal(p *runnerOut[T]) bool {
	eq := func(a, b []T) bool {
		return slices.EqualFunc(a, b, func(x, y T) bool {
			return math.Float64bits(float64(x)) == math.Float64bits(float64(y))
		})
	}
	return eq(o.grad, p.grad) && eq(o.rowLoss, p.rowLoss) && eq(o.rowLSE, p.rowLSE)
}

// runnerCases are calls of every family in two blocks or more (rows of
// 17: the 16-row groups; 1000; 70000 > a block), with the options
// that change how a call is cut (per-row outputs, class, row and element
// weights, pos_weight).
func runnerCases[T kernels.Float](n, k int) []runnerCase[T] {
	rng := rand.New(rand.NewSource(int64(n*k + 7)))
	nk := n * k
	fill := func(m int, lo, hi float64) []T {
		s := make([]T, m)
		for i := range s {
			s[i] = T(lo + (hi-lo)*rng.Float64())
		}
		return s
	}
	logits, probs, y, p := fill(nk, -6, 6), fill(nk, 0, 1), fill(nk, 0, 1), fill(nk, 0.01, 0.99)
	cw, ew, rw, pw := fill(k, 0, 2), fill(nk, 0, 2), fill(n, 0, 2), fill(k, 0.5, 3)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(k))
		if i%13 == 5 {
			targets[i] = -100
		}
	}
	out := func(o *runnerOut[T], rows bool) {
		o.grad = make([]T, nk)
		if rows {
			o.rowLoss, o.rowLSE = make([]T, n), make([]T, n)
		}
	}
	binary := func(name string, o kernels.BinaryOptions[T]) runnerCase[T] {
		return runnerCase[T]{name, func(r *kernels.Runner, res *runnerOut[T]) (T, error) {
			out(res, false)
			res.rowLoss = make([]T, nk) // per-element losses
			o := o
			o.Runner, o.Loss = r, res.rowLoss
			return kernels.BCEWithLogits(logits, y, n, k, res.grad, &o)
		}}
	}
	return []runnerCase[T]{
		{"CrossEntropy", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, true)
			return kernels.CrossEntropy(logits, targets, n, k, o.grad, &kernels.CrossEntropyOptions[T]{
				Weight: cw, LabelSmoothing: 0.1, ZLoss: 1e-4, RowLoss: o.rowLoss, RowLSE: o.rowLSE, Runner: r})
		}},
		{"CrossEntropy/softcap/inplace", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			copy(o.grad, logits)
			return kernels.CrossEntropy(o.grad, targets, n, k, o.grad, &kernels.CrossEntropyOptions[T]{SoftCap: 5, Runner: r})
		}},
		{"CrossEntropyProbs", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, true)
			return kernels.CrossEntropyProbs(logits, probs, n, k, o.grad, &kernels.CrossEntropyOptions[T]{
				Reduction: kernels.Sum, RowLoss: o.rowLoss, RowLSE: o.rowLSE, Runner: r})
		}},
		{"SoftmaxFocal", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, true)
			o.rowLSE = nil
			return kernels.SoftmaxFocal(logits, targets, n, k, o.grad, &kernels.SoftmaxFocalOptions[T]{Gamma: 2, RowLoss: o.rowLoss, Runner: r})
		}},
		binary("BCEWithLogits", kernels.BinaryOptions[T]{}),
		binary("BCEWithLogits/Weight/PosWeight", kernels.BinaryOptions[T]{Weight: ew, PosWeight: pw}),
		binary("BCEWithLogits/ClassWeight", kernels.BinaryOptions[T]{ClassWeight: cw}),
		binary("BCEWithLogits/RowWeight", kernels.BinaryOptions[T]{RowWeight: rw}),
		{"BCE", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return kernels.BCE(p, y, n, k, o.grad, &kernels.BinaryOptions[T]{Runner: r})
		}},
		{"SigmoidFocal", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			f := kernels.DefaultFocal[T]()
			f.Runner = r
			return kernels.SigmoidFocal(logits, y, n, k, o.grad, &f)
		}},
		{"FocalProbs", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			f := kernels.FocalOptions[T]{Gamma: 1.5, BinaryOptions: kernels.BinaryOptions[T]{RowWeight: rw, Runner: r}}
			return kernels.FocalProbs(p, y, n, k, o.grad, &f)
		}},
		{"MSE/Weight", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			o.rowLoss = make([]T, nk)
			return kernels.MSE(logits, y, o.grad, &kernels.RegressionOptions[T]{Weight: ew, Loss: o.rowLoss, Runner: r})
		}},
		{"L1", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return kernels.L1(logits, y, o.grad, &kernels.RegressionOptions[T]{Reduction: kernels.Sum, Runner: r})
		}},
		{"Huber", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return kernels.Huber(logits, y, o.grad, &kernels.HuberOptions[T]{Delta: 0.5, RegressionOptions: kernels.RegressionOptions[T]{Runner: r}})
		}},
		{"Softmax", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return 0, kernels.Softmax(o.grad, logits, n, k, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"LogSoftmax/inplace", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			copy(o.grad, logits)
			return 0, kernels.LogSoftmax(o.grad, o.grad, n, k, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"LogSumExp", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			o.rowLSE = make([]T, n)
			return 0, kernels.LogSumExp(o.rowLSE, logits, n, k, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"Sigmoid", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return 0, kernels.Sigmoid(o.grad, logits, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"LogSigmoid", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return 0, kernels.LogSigmoid(o.grad, logits, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"Softplus/inplace", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			copy(o.grad, logits)
			return 0, kernels.Softplus(o.grad, o.grad, &kernels.PrimitiveOptions{Runner: r})
		}},
		{"SmoothL1", func(r *kernels.Runner, o *runnerOut[T]) (T, error) {
			out(o, false)
			return kernels.SmoothL1(logits, y, o.grad, &kernels.SmoothL1Options[T]{RegressionOptions: kernels.RegressionOptions[T]{Runner: r}})
		}},
	}
}

func runnerShapes() [][2]int {
	if testing.Short() { // qemu: a tenth of the elements, still several blocks of short and long rows
		return [][2]int{{1100, 17}, {9, 4100}}
	}
	return [][2]int{{2000, 17}, {70, 1000}, {10, 70000}, {kernels.ParallelMinElems - 1, 1}}
}

func TestRunnerDeterministic(t *testing.T) {
	runners := map[int]*kernels.Runner{}
	for _, p := range []int{1, 2, 3, 8} {
		runners[p] = kernels.NewRunner(p)
		runners[p].SetMinElems(1) // every shape below is cut into two blocks or more
		defer runners[p].Close()
	}
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { runnerDeterministic[float32](t, runners) })
		t.Run("float64", func(t *testing.T) { runnerDeterministic[float64](t, runners) })
	})
}

func runnerDeterministic[T kernels.Float](t *testing.T, runners map[int]*kernels.Runner) {
	eps := 0x1p-52
	if isFloat32[T]() {
		eps = 0x1p-23
	}
	for _, shape := range runnerShapes() {
		for _, c := range runnerCases[T](shape[0], shape[1]) {
			t.Run(fmt.Sprintf("%s/%dx%d", c.name, shape[0], shape[1]), func(t *testing.T) {
				var plain runnerOut[T]
				want, err := c.call(nil, &plain)
				if err != nil {
					t.Fatal(err)
				}
				var first runnerOut[T]
				var firstLoss T
				for _, p := range []int{1, 2, 3, 8} {
					var o runnerOut[T]
					got, err := c.call(runners[p], &o)
					if err != nil {
						t.Fatal(err)
					}
					if !o.equal(&plain) {
						t.Fatalf("P=%d: gradient or per-row outputs differ from the call without a Runner", p)
					}
					// Both sum the same non-negative terms in float64 in
					// another order: each is within nk·u·|loss| of the exact
					// sum (the plain call adds them one by one), then rounds
					// to T.
					nk := float64(shape[0] * shape[1])
					if d := math.Abs(float64(got - want)); !(d <= (2*eps+2*nk*0x1p-53)*math.Abs(float64(want))) {
						t.Fatalf("P=%d: loss %v, without a Runner %v: further apart than two summations' error", p, got, want)
					}
					if p == 1 {
						first, firstLoss = o, got
						continue
					}
					if math.Float64bits(float64(got)) != math.Float64bits(float64(firstLoss)) || !o.equal(&first) {
						t.Fatalf("P=%d: loss %v differs from P=1's %v (or its outputs do)", p, got, firstLoss)
					}
				}
			})
		}
	}
}

// TestRunnerGOMAXPROCS: the same call on Runners made under GOMAXPROCS 1,
// 2 and 5 (NewRunner(0): that many goroutines, of which at most GOMAXPROCS
// run at once) gives the same loss and output bits as on a Runner of one
// goroutine under the test's own GOMAXPROCS.
func TestRunnerGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	n, k := 300, 70
	if testing.Short() {
		n = 100
	}
	cases := runnerCases[float64](n, k)
	run := func(r *kernels.Runner) ([]float64, []runnerOut[float64]) {
		losses, outs := make([]float64, len(cases)), make([]runnerOut[float64], len(cases))
		for i, c := range cases {
			var err error
			if losses[i], err = c.call(r, &outs[i]); err != nil {
				t.Fatal(err)
			}
		}
		return losses, outs
	}
	one := kernels.NewRunner(1)
	one.SetMinElems(1)
	one.SetBlockElems(700) // ten rows of 70 per block: 10 to 30 blocks per call
	wantLoss, wantOut := run(one)
	one.Close()
	for _, procs := range []int{1, 2, 5} {
		runtime.GOMAXPROCS(procs)
		r := kernels.NewRunner(0)
		r.SetMinElems(1)
		r.SetBlockElems(700)
		if got := r.Goroutines(); got != procs {
			t.Errorf("GOMAXPROCS %d: NewRunner(0) has %d goroutines", procs, got)
		}
		loss, out := run(r)
		r.Close()
		for i, c := range cases {
			if math.Float64bits(loss[i]) != math.Float64bits(wantLoss[i]) || !out[i].equal(&wantOut[i]) {
				t.Errorf("GOMAXPROCS %d, %s: loss %v, on one goroutine %v (or its outputs differ)", procs, c.name, loss[i], wantLoss[i])
			}
		}
	}
}

func isFloat32[T kernels.Float]() bool {
	var zero T
	_, ok := any(zero).(float32)
	return ok
}

func TestRunnerNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops items on purpose")
	}
	r := kernels.NewRunner(2)
	defer r.Close()
	for _, c := range runnerCases[float32](2000, 17) {
		var o runnerOut[float32]
		c.call(r, &o) // allocates the outputs; the calls below reuse them
		logits := make([]float32, 2000*17)
		targets := make([]int32, 2000)
		grad := make([]float32, len(logits))
		opts := &kernels.CrossEntropyOptions[float32]{Runner: r}
		if a := testing.AllocsPerRun(50, func() {
			if _, err := kernels.CrossEntropy(logits, targets, 2000, 17, grad, opts); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Fatalf("%s: %v allocations per call with a Runner", c.name, a)
		}
		break
	}
	x, y, g := make([]float32, 1<<17), make([]float32, 1<<17), make([]float32, 1<<17)
	for name, f := range map[string]func(){
		"BCEWithLogits/RowWeight": func() {
			kernels.BCEWithLogits(x[:1<<16], y[:1<<16], 256, 256, g[:1<<16], &kernels.BinaryOptions[float32]{RowWeight: y[:256], Runner: r})
		},
		"MSE":     func() { kernels.MSE(x, y, g, &kernels.RegressionOptions[float32]{Runner: r}) },
		"Softmax": func() { kernels.Softmax(g, x, 128, 1024, &kernels.PrimitiveOptions{Runner: r}) },
		"Sigmoid": func() { kernels.Sigmoid(g, x, &kernels.PrimitiveOptions{Runner: r}) },
	} {
		if a := testing.AllocsPerRun(50, f); a != 0 {
			t.Fatalf("%s: %v allocations per call with a Runner", name, a)
		}
	}
}

// TestRunnerClose: no goroutine outlives Close, and a closed Runner still
// gives the same results (on the caller's goroutine).
func TestRunnerClose(t *testing.T) {
	before := runtime.NumGoroutine()
	r := kernels.NewRunner(8)
	if got := runtime.NumGoroutine(); got < before+7 {
		t.Fatalf("NewRunner(8) started %d goroutines, want 7", got-before)
	}
	c := runnerCases[float64](2000, 17)[0]
	var open, closed runnerOut[float64]
	want, err := c.call(r, &open)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		t.Fatalf("%d goroutines left after Close", got-before)
	}
	got, err := c.call(r, &closed)
	if err != nil || got != want || !closed.equal(&open) {
		t.Fatalf("after Close: loss %v (err %v), before %v; outputs equal: %v", got, err, want, closed.equal(&open))
	}
}

// TestRunnerConcurrent: eight goroutines share one Runner of two workers;
// each gets the serial result (run it with -race).
func TestRunnerConcurrent(t *testing.T) {
	r := kernels.NewRunner(3)
	defer r.Close()
	cases := runnerCases[float32](2000, 17)
	wants := make([]float32, len(cases))
	outs := make([]runnerOut[float32], len(cases))
	for i, c := range cases {
		var err error
		if wants[i], err = c.call(r, &outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := range 3 {
				i := (g + rep) % len(cases)
				var o runnerOut[float32]
				got, err := cases[i].call(r, &o)
				if err != nil || got != wants[i] || !o.equal(&outs[i]) {
					errs <- fmt.Errorf("goroutine %d, %s: loss %v (err %v), want %v", g, cases[i].name, got, err, wants[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	for len(errs) > 0 {
		t.Error(<-errs)
	}
}

// TestRunnerErrors: a Runner scans inputs in parallel blocks; a bad value
// in any block is still the error, with every output untouched.
func TestRunnerErrors(t *testing.T) {
	r := kernels.NewRunner(2)
	defer r.Close()
	const n, k = 300, 1000
	for _, at := range []int{0, n*k/2 + 7, n*k - 1} {
		x, y, w, grad := make([]float32, n*k), make([]float32, n*k), make([]float32, n*k), make([]float32, n*k)
		for i := range grad {
			y[i], w[i], grad[i] = 0.5, 1, float32(math.NaN())
		}
		untouched := func(what string) {
			t.Helper()
			for i, g := range grad {
				if g == g {
					t.Fatalf("%s at %d: grad[%d] written after an error", what, at, i)
				}
			}
		}
		y[at] = 1.5
		if _, err := kernels.BCEWithLogits(x, y, n, k, grad, &kernels.BinaryOptions[float32]{Runner: r}); !errors.Is(err, kernels.ErrTarget) {
			t.Fatalf("target 1.5 at %d: err %v, want ErrTarget", at, err)
		}
		untouched("target")
		if _, err := kernels.CrossEntropyProbs(x, y, n, k, grad, &kernels.CrossEntropyOptions[float32]{Runner: r}); !errors.Is(err, kernels.ErrTarget) {
			t.Fatalf("CrossEntropyProbs, probability 1.5 at %d: err %v, want ErrTarget", at, err)
		}
		untouched("probability")
		y[at], w[at] = 0.5, -1
		if _, err := kernels.SigmoidFocal(x, y, n, k, grad, &kernels.FocalOptions[float32]{BinaryOptions: kernels.BinaryOptions[float32]{Weight: w, Runner: r}}); !errors.Is(err, kernels.ErrWeight) {
			t.Fatalf("weight −1 at %d: err %v, want ErrWeight", at, err)
		}
		untouched("weight")
		w[at] = 1
		if _, err := kernels.SigmoidFocal(x, y, n, k, grad, &kernels.FocalOptions[float32]{BinaryOptions: kernels.BinaryOptions[float32]{Weight: w, Runner: r}}); err != nil {
			t.Fatalf("valid call: %v", err)
		}
	}
}
