package kernels_test

// Conformance: every backend this CPU runs, every operation, float32 and
// float64, over a grid of shapes (row lengths around every vector width,
// and long rows), option combinations and data (large logits, ±Inf, NaN),
// compared with the float64 reference under its accuracy contract
// (package reference). Each call also has its buffers surrounded by guard
// elements at shifting offsets; the test checks that the guards, the inputs
// (except an in-place gradient) and the targets are untouched and that
// every output element was written.

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/internal/shardtest"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// requireBackendEnv names backends (comma-separated) that must be available:
// CI sets it under qemu so that a silent fallback to generic fails the run.
const requireBackendEnv = "LOSSFUSE_TEST_REQUIRE_BACKEND"

// cfMaxFailures stops a grid early: one bug tends to fail many cases.
var cfMaxFailures = 20

// conformBackends runs f once per backend this CPU supports, with that
// backend active.
func conformBackends(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	names := kernels.Backends()
	if req := os.Getenv(requireBackendEnv); req != "" {
		for _, want := range strings.Split(req, ",") {
			if !slices.Contains(names, want) {
				t.Fatalf("%s=%s but this CPU runs only %v", requireBackendEnv, req, names)
			}
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			restore, err := kernels.UseBackend(name)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			f(t)
		})
	}
}

// Row lengths: 1 to 49 covers one to three vectors plus tails for every
// width (4, 8, 16 lanes), then long rows with awkward tails.
func cfShapes() (ks, ns []int) {
	if testing.Short() {
		return []int{1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 49, 1000}, []int{1, 3}
	}
	ks = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 15, 16, 17, 23, 24, 25, 31, 32, 33, 40, 47, 48, 49, 1000, 4099}
	return ks, []int{1, 2, 3, 5}
}

// cfCombos is how many random option combinations each shape gets.
func cfCombos(k int) int {
	switch {
	case k >= 1000 && testing.Short():
		return 2
	case k >= 1000:
		return 4
	case testing.Short():
		return 4
	}
	return 10
}

// ---- guarded buffers ----

const (
	cfGuardPayload  = 0x6a6a // NaN payload of the guard elements
	cfUnsetPayload  = 0x5e5e // NaN payload of output elements before the call
	cfMaxGuardShift = 3
)

func cfIs32[T kernels.Float]() bool { return float64(T(1+0x1p-30)) == 1 }

func cfNaN[T kernels.Float](payload uint32) T {
	if cfIs32[T]() {
		return T(math.Float32frombits(0x7fc00000 | payload))
	}
	return T(math.Float64frombits(0x7ff8000000000000 | uint64(payload)))
}

func cfBits[T kernels.Float](v T) uint64 {
	if cfIs32[T]() {
		return uint64(math.Float32bits(float32(v)))
	}
	return math.Float64bits(float64(v))
}

// cfBuf is n elements inside guard elements: shift before, 3 after.
type cfBuf[T kernels.Float] struct {
	mem   []T
	lo, n int
}

func cfNew[T kernels.Float](n, shift int) *cfBuf[T] {
	b := &cfBuf[T]{mem: make([]T, shift+n+cfMaxGuardShift), lo: shift, n: n}
	g := cfNaN[T](cfGuardPayload)
	for i := range b.mem {
		b.mem[i] = g
	}
	return b
}

func cfFrom[T kernels.Float](v []float64, shift int) *cfBuf[T] {
	b := cfNew[T](len(v), shift)
	for i, x := range v {
		b.mem[shift+i] = T(x)
	}
	return b
}

func (b *cfBuf[T]) s() []T {
	if b == nil {
		return nil
	}
	return b.mem[b.lo : b.lo+b.n : b.lo+b.n]
}

func (b *cfBuf[T]) guardsIntact() bool {
	g := cfBits(cfNaN[T](cfGuardPayload))
	for i, v := range b.mem {
		if (i < b.lo || i >= b.lo+b.n) && cfBits(v) != g {
			return false
		}
	}
	return true
}

// ---- one call ----

// cfCall is one kernel call with its buffers and the reference's answer.
type cfCall[T kernels.Float] struct {
	name    string
	ins     []*cfBuf[T] // inputs, which must come back unchanged unless in place
	targets []int32
	grad    *cfBuf[T] // outputs, or nil
	items   *cfBuf[T]
	lse     *cfBuf[T]
	out     *cfBuf[T]
	inPlace *cfBuf[T] // the input that is also grad or out
	noLoss  bool      // primitives: no returned loss
	ref     func() (*reference.Result, error)
	call    func() (T, error)
}

// cfRun runs c and reports every violation; it returns false if any.
func cfRun[T kernels.Float](t *testing.T, c cfCall[T]) bool {
	t.Helper()
	ref, refErr := c.ref() // before the call: an in-place call overwrites its input
	unset := cfNaN[T](cfUnsetPayload)
	outs := map[string]*cfBuf[T]{"grad": c.grad, "items": c.items, "lse": c.lse, "out": c.out}
	for _, b := range outs {
		if b != nil && b != c.inPlace {
			for i := range b.s() {
				b.s()[i] = unset
			}
		}
	}
	before := make([][]T, len(c.ins))
	for i, b := range c.ins {
		before[i] = slices.Clone(b.s())
	}
	targets := slices.Clone(c.targets)

	loss, err := c.call()

	fail := func(format string, a ...any) {
		t.Errorf("%s/%s/%s %s: %s%s", kernels.Backend(), cfDType[T](), cfCaseID, c.name, fmt.Sprintf(format, a...), cfInputs(c.ins, before, targets))
	}
	ok := true
	if (err != nil) != (refErr != nil) {
		fail("kernel error %v, reference error %v", err, refErr)
		return false
	}
	if err != nil {
		return true
	}
	for name, b := range outs {
		if b != nil && !b.guardsIntact() {
			fail("wrote outside %s", name)
			ok = false
		}
	}
	for i, b := range c.ins {
		if !b.guardsIntact() {
			fail("wrote outside input %d", i)
			ok = false
		}
		if b == c.inPlace {
			continue
		}
		for j, v := range b.s() {
			if cfBits(v) != cfBits(before[i][j]) {
				fail("input %d changed at %d", i, j)
				ok = false
				break
			}
		}
	}
	if !slices.Equal(targets, c.targets) {
		fail("targets changed")
		ok = false
	}
	got := reference.Got[T]{CheckLoss: !c.noLoss, Loss: loss, Grad: c.grad.s(), Items: c.items.s(), LSE: c.lse.s(), Out: c.out.s()}
	if uerr := cfUnwritten(got); uerr != nil { // before any deviation is set aside
		fail("%v", uerr)
		return false
	}
	key := cfDeviationKey[T](cfCaseID + " " + c.name)
	if dev, listed := cfDeviations[key]; listed {
		cfDeviationsSeen[key] = true
		if reference.Check(ref, got) == nil {
			fail("listed deviation (%s) no longer reproduces: remove it from cfDeviations and docs/deviations.md", dev.why)
			ok = false
		}
		got = cfSetAside(ref, got, dev.outputs)
	}
	err = reference.Check(ref, got)
	if err != nil {
		fail("%v", err)
		ok = false
	}
	return ok
}

// ---- listed deviations ----

// cfDeviation is a case in which one backend is known to break the
// contract on some outputs (docs/deviations.md): those outputs are set
// aside (replaced with the reference's values), every other output of the
// case is still checked, and the case fails if the listed outputs no
// longer break the contract, so that the entry goes with the fix.
type cfDeviation struct {
	outputs []string // of "loss", "items", "lse", "grad", "out"
	why     string   // the defect, and where it is documented
}

// cfDeviations is keyed by backend/dtype/case, the case as cfRun names it
// (grid position, shape and option combination), for example
// "avx2/float32/#11.412 CE n=3 k=17 combo=[...]" (seed 11: the
// CrossEntropy grid). Empty: every backend meets
// the contract on every case of the grid.
var cfDeviations = map[string]cfDeviation{}

// cfDeviationsSeen records the listed cases that ran.
var cfDeviationsSeen = map[string]bool{}

func cfDType[T kernels.Float]() string {
	if cfIs32[T]() {
		return "float32"
	}
	return "float64"
}

func cfDeviationKey[T kernels.Float](name string) string {
	return kernels.Backend() + "/" + cfDType[T]() + "/" + name
}

// cfSetAside returns got with the named outputs replaced by the reference.
func cfSetAside[T kernels.Float](ref *reference.Result, got reference.Got[T], outputs []string) reference.Got[T] {
	repl := func(dst []T, src []float64) []T {
		if dst == nil {
			return nil
		}
		out := make([]T, len(dst))
		for i := range out {
			out[i] = T(src[i])
		}
		return out
	}
	for _, o := range outputs {
		switch o {
		case "loss":
			got.Loss = T(ref.Loss)
		case "items":
			got.Items = repl(got.Items, ref.Items)
		case "lse":
			got.LSE = repl(got.LSE, ref.LSE)
		case "grad":
			got.Grad = repl(got.Grad, ref.Grad)
		case "out":
			got.Out = repl(got.Out, ref.Out)
		}
	}
	return got
}

// cfCheckDeviationsRan fails a full run in which a listed case of grid
// seed, on a backend this CPU has, did not run (the grid changed under it).
func cfCheckDeviationsRan(t *testing.T, seed int64) {
	t.Helper()
	if testing.Short() {
		return
	}
	for key := range cfDeviations {
		parts := strings.SplitN(key, "/", 3)
		if len(parts) == 3 && slices.Contains(kernels.Backends(), parts[0]) &&
			strings.HasPrefix(parts[2], fmt.Sprintf("#%d.", seed)) && !cfDeviationsSeen[key] {
			t.Errorf("listed deviation %q did not run: update cfDeviations and docs/deviations.md", key)
		}
	}
}

// cfCaseID names the grid case being run: "#seed.index", the index
// counting the cases of one grid (backend and dtype) from 0, so that a
// case's name is unique and the same on every backend.
var cfCaseID string

// cfUnwritten reports an output element that still holds the sentinel.
func cfUnwritten[T kernels.Float](g reference.Got[T]) error {
	unset := cfBits(cfNaN[T](cfUnsetPayload))
	for name, s := range map[string][]T{"items": g.Items, "lse": g.LSE, "grad": g.Grad, "out": g.Out} {
		for i, v := range s {
			if cfBits(v) == unset {
				return fmt.Errorf("%s[%d] not written", name, i)
			}
		}
	}
	return nil
}

// cfInputs prints a small case's inputs (as they were before the call), so
// that a failure can be reproduced by hand.
func cfInputs[T kernels.Float](ins []*cfBuf[T], before [][]T, targets []int32) string {
	total := len(targets)
	for _, b := range before {
		total += len(b)
	}
	if total > 40 {
		return ""
	}
	var sb strings.Builder
	for i := range ins {
		fmt.Fprintf(&sb, "\n\tinput %d: %v", i, before[i])
	}
	if targets != nil {
		fmt.Fprintf(&sb, "\n\ttargets: %v", targets)
	}
	return sb.String()
}

// ---- data ----

// cfData kinds: 0 normal, 1 large (±1e4), 2 special (±Inf, NaN, ±1e4 in
// some rows), 3 peaked (one dominant logit per row).
const cfDataKinds = 4

func cfLogits(rng *rand.Rand, n, k, kind int) []float64 {
	v := make([]float64, n*k)
	for i := range v {
		v[i] = rng.NormFloat64() * 3
	}
	switch kind {
	case 1:
		for i := range v {
			if rng.Intn(2) == 0 {
				v[i] = (rng.Float64()*2 - 1) * 1e4
			}
		}
	case 2:
		specials := []float64{math.Inf(1), math.Inf(-1), math.NaN(), -1e4, 1e4, math.Inf(-1)}
		for i := 0; i < n; i++ {
			for s := 0; s < 2; s++ {
				if rng.Intn(2) == 0 {
					v[i*k+rng.Intn(k)] = specials[rng.Intn(len(specials))]
				}
			}
		}
	case 3:
		for i := 0; i < n; i++ {
			v[i*k+rng.Intn(k)] += 25
		}
	}
	return v
}

func cfUniform(rng *rand.Rand, n int, lo, hi float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + (hi-lo)*rng.Float64()
	}
	return v
}

// cfWeights are non-negative, some exactly 0.
func cfWeights(rng *rand.Rand, n int) []float64 {
	v := cfUniform(rng, n, 0, 2)
	for i := range v {
		if rng.Intn(7) == 0 {
			v[i] = 0
		}
	}
	return v
}

// cfProbRows are probability rows: dense, sparse (zeros) or one-hot.
func cfProbRows(rng *rand.Rand, n, k int) []float64 {
	v := make([]float64, n*k)
	for i := 0; i < n; i++ {
		row := v[i*k : i*k+k]
		switch rng.Intn(3) {
		case 0:
			row[rng.Intn(k)] = 1
		default:
			var s float64
			for j := range row {
				if rng.Intn(3) != 0 || j == 0 {
					row[j] = rng.Float64()
					s += row[j]
				}
			}
			for j := range row {
				row[j] /= s
			}
		}
	}
	return v
}

// ---- option combinations ----

// cfPick decodes combination index c into choices of the given sizes.
func cfPick(c int, sizes ...int) []int {
	out := make([]int, len(sizes))
	for i, s := range sizes {
		out[i] = c % s
		c /= s
	}
	return out
}

func cfProduct(sizes ...int) int {
	p := 1
	for _, s := range sizes {
		p *= s
	}
	return p
}

// cfGrid runs body for every shape with a few random option combinations,
// then for many combinations on one fixed shape: a uniform sample of the
// product (every pair of option values occurs many times), or all of it
// when it is small.
func cfGrid(t *testing.T, seed int64, sizes []int, body func(rng *rand.Rand, n, k, combo int) bool) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	total := cfProduct(sizes...)
	failures, index := 0, 0
	run := func(n, k, combo int) {
		cfCaseID = fmt.Sprintf("#%d.%d", seed, index)
		index++
		if !body(rng, n, k, combo) {
			failures++
		}
		if failures > cfMaxFailures {
			t.Fatal("too many failures")
		}
	}
	ks, ns := cfShapes()
	for _, k := range ks {
		rowCounts := ns
		if k <= 32 {
			// Rows of up to 32 go through kernels that take 8 or 16 rows at
			// a time (across the lanes) when there are that many: 37 is two
			// groups of 16 and five left over for the row-wise kernels.
			rowCounts = append(ns[:len(ns):len(ns)], 37)
		}
		for _, n := range rowCounts {
			for r := 0; r < cfCombos(k); r++ {
				run(n, k, rng.Intn(total))
			}
		}
	}
	n, k, samples := 3, 17, 1500
	if testing.Short() {
		n, k, samples = 2, 9, 300
	}
	if total <= samples {
		for c := 0; c < total; c++ {
			run(n, k, c)
		}
		return
	}
	for i := 0; i < samples; i++ {
		run(n, k, rng.Intn(total))
	}
}

var cfReductions = []kernels.Reduction{kernels.Mean, kernels.Sum, kernels.None}

const (
	cfGradNone = iota
	cfGradSeparate
	cfGradInPlace
)

// ---- cross-entropy family ----

func TestConformanceCrossEntropy(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfCrossEntropy[float32](t, false) })
		t.Run("float64", func(t *testing.T) { cfCrossEntropy[float64](t, false) })
	})
	cfCheckDeviationsRan(t, 11)
}

// TestConformanceCrossEntropyShards runs the CrossEntropy grid (seed 12)
// through the vocabulary-shard calls: the classes cut into 1 to 5 shards at
// random points, pass 1 per shard, the stats combined in one of three
// groupings, the loss, pass 2 per shard, against the reference of the
// whole call.
func TestConformanceCrossEntropyShards(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfCrossEntropy[float32](t, true) })
		t.Run("float64", func(t *testing.T) { cfCrossEntropy[float64](t, true) })
	})
}

// cfCECall is the call of CrossEntropy on x (and the class weights w,
// when non-nil) with o, against the reference: with RowLoss (rowLoss, or
// a reduction of None), RowLSE and the gradient (gradMode) in buffers of
// their own at random guard shifts, set in o.
func cfCECall[T kernels.Float](rng *rand.Rand, name string, x, w *cfBuf[T], targets []int32, n, k int,
	o *kernels.CrossEntropyOptions[T], rowLoss, rowLSE bool, gradMode int) cfCall[T] {
	var items, lse *cfBuf[T]
	if rowLoss || o.Reduction == kernels.None {
		items = cfNew[T](n, rng.Intn(4))
		o.RowLoss = items.s()
	}
	if rowLSE {
		lse = cfNew[T](n, rng.Intn(4))
		o.RowLSE = lse.s()
	}
	call := cfCall[T]{name: name, ins: []*cfBuf[T]{x}, targets: targets, items: items, lse: lse}
	if w != nil {
		call.ins = append(call.ins, w)
	}
	switch gradMode {
	case cfGradSeparate:
		call.grad = cfNew[T](n*k, rng.Intn(4))
	case cfGradInPlace:
		call.grad, call.inPlace = x, x
	}
	call.ref = func() (*reference.Result, error) { return reference.CrossEntropy(x.s(), targets, n, k, o) }
	call.call = func() (T, error) { return kernels.CrossEntropy(x.s(), targets, n, k, call.grad.s(), o) }
	return call
}

func cfCrossEntropy[T kernels.Float](t *testing.T, sharded bool) {
	// weights, ignore mode, smoothing, reduction, z-loss, soft-cap, grad mode,
	// RowLoss, RowLSE, normaliser/EmptyMean, data kind
	sizes := []int{2, 3, 3, 3, 2, 3, 3, 2, 2, 3, cfDataKinds}
	seed := int64(11)
	if sharded {
		seed = 12
	}
	cfGrid(t, seed, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		var o kernels.CrossEntropyOptions[T]
		desc := fmt.Sprintf("CE n=%d k=%d combo=%v", n, k, c)
		shift := rng.Intn(cfMaxGuardShift + 1)
		xv := cfLogits(rng, n, k, c[10])
		x := cfFrom[T](xv, shift)
		var w *cfBuf[T]
		if c[0] == 1 {
			w = cfFrom[T](cfWeights(rng, k), rng.Intn(4))
			o.Weight = w.s()
		}
		targets := make([]int32, n)
		allIgnored := rng.Intn(12) == 0
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
			ignoreRow := allIgnored || rng.Intn(4) == 0
			switch c[1] {
			case 0:
				if ignoreRow {
					targets[i] = -100 // the zero value of Ignore
				}
			case 1:
				o.Ignore = kernels.IgnoreIndex(int32(k - 1))
				if ignoreRow {
					targets[i] = int32(k - 1)
				}
			case 2:
				o.Ignore = kernels.NoIgnore()
			}
		}
		o.LabelSmoothing = []float64{0, 0.1, 1}[c[2]]
		o.Reduction = cfReductions[c[3]]
		o.ZLoss = []float64{0, 1e-3}[c[4]]
		o.SoftCap = []float64{0, 5, 30}[c[5]]
		switch c[9] {
		case 1:
			o.EmptyMean = kernels.EmptyMeanZero
		case 2:
			o.Normalizer = 7.5
		}
		call := cfCECall(rng, desc, x, w, targets, n, k, &o, c[7] == 1, c[8] == 1, c[6])
		if sharded {
			cuts := shardCuts(rng, k)
			grouping := rng.Intn(3)
			call.name += fmt.Sprintf(" cuts=%v grouping=%d", cuts, grouping)
			call.call = func() (T, error) {
				return shardtest.CrossEntropy(x.s(), targets, n, k, call.grad.s(), &o, cuts, grouping)
			}
		}
		return cfRun(t, call)
	})
}

func TestConformanceCrossEntropyProbs(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfCrossEntropyProbs[float32](t) })
		t.Run("float64", func(t *testing.T) { cfCrossEntropyProbs[float64](t) })
	})
	cfCheckDeviationsRan(t, 12)
}

func cfCrossEntropyProbs[T kernels.Float](t *testing.T) {
	// weights, smoothing, reduction, z-loss, soft-cap, grad mode, RowLoss, RowLSE, data
	sizes := []int{2, 2, 3, 2, 2, 3, 2, 2, cfDataKinds}
	cfGrid(t, 12, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		var o kernels.CrossEntropyOptions[T]
		shift := rng.Intn(cfMaxGuardShift + 1)
		xv := cfLogits(rng, n, k, c[8])
		x := cfFrom[T](xv, shift)
		probs := cfFrom[T](cfProbRows(rng, n, k), rng.Intn(4))
		call := cfCall[T]{name: fmt.Sprintf("CEProbs n=%d k=%d combo=%v", n, k, c), ins: []*cfBuf[T]{x, probs}}
		if c[0] == 1 {
			w := cfFrom[T](cfWeights(rng, k), rng.Intn(4))
			o.Weight = w.s()
			call.ins = append(call.ins, w)
		}
		o.LabelSmoothing = []float64{0, 0.2}[c[1]]
		o.Reduction = cfReductions[c[2]]
		o.ZLoss = []float64{0, 1e-2}[c[3]]
		o.SoftCap = []float64{0, 10}[c[4]]
		if c[6] == 1 || o.Reduction == kernels.None {
			call.items = cfNew[T](n, rng.Intn(4))
			o.RowLoss = call.items.s()
		}
		if c[7] == 1 {
			call.lse = cfNew[T](n, rng.Intn(4))
			o.RowLSE = call.lse.s()
		}
		switch c[5] {
		case cfGradSeparate:
			call.grad = cfNew[T](n*k, rng.Intn(4))
		case cfGradInPlace:
			call.grad, call.inPlace = x, x
		}
		call.ref = func() (*reference.Result, error) { return reference.CrossEntropyProbs(x.s(), probs.s(), n, k, &o) }
		call.call = func() (T, error) { return kernels.CrossEntropyProbs(x.s(), probs.s(), n, k, call.grad.s(), &o) }
		return cfRun(t, call)
	})
}

func TestConformanceSoftmaxFocal(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfSoftmaxFocal[float32](t) })
		t.Run("float64", func(t *testing.T) { cfSoftmaxFocal[float64](t) })
	})
	cfCheckDeviationsRan(t, 13)
}

func cfSoftmaxFocal[T kernels.Float](t *testing.T) {
	// gamma, alpha, ignore, reduction, EmptyMean, grad mode, RowLoss, data
	sizes := []int{5, 2, 2, 3, 2, 3, 2, cfDataKinds}
	cfGrid(t, 13, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		var o kernels.SoftmaxFocalOptions[T]
		xv := cfLogits(rng, n, k, c[7])
		x := cfFrom[T](xv, rng.Intn(cfMaxGuardShift+1))
		call := cfCall[T]{name: fmt.Sprintf("SoftmaxFocal n=%d k=%d combo=%v", n, k, c), ins: []*cfBuf[T]{x}}
		o.Gamma = []float64{0, 0.5, 1, 2, 5}[c[0]]
		if c[1] == 1 {
			a := cfFrom[T](cfWeights(rng, k), rng.Intn(4))
			o.Alpha = a.s()
			call.ins = append(call.ins, a)
		}
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
			if c[2] == 1 && rng.Intn(3) == 0 {
				targets[i] = -100
			}
		}
		call.targets = targets
		o.Reduction = cfReductions[c[3]]
		if c[4] == 1 {
			o.EmptyMean = kernels.EmptyMeanZero
		}
		if c[6] == 1 || o.Reduction == kernels.None {
			call.items = cfNew[T](n, rng.Intn(4))
			o.RowLoss = call.items.s()
		}
		switch c[5] {
		case cfGradSeparate:
			call.grad = cfNew[T](n*k, rng.Intn(4))
		case cfGradInPlace:
			call.grad, call.inPlace = x, x
		}
		call.ref = func() (*reference.Result, error) { return reference.SoftmaxFocal(x.s(), targets, n, k, &o) }
		call.call = func() (T, error) { return kernels.SoftmaxFocal(x.s(), targets, n, k, call.grad.s(), &o) }
		return cfRun(t, call)
	})
}

// ---- binary losses ----

func TestConformanceBinary(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfBinary[float32](t) })
		t.Run("float64", func(t *testing.T) { cfBinary[float64](t) })
	})
	cfCheckDeviationsRan(t, 14)
}

// cfBinaryInputs: logits (normal, ±1e4 and saturating, special) or
// probabilities (interior, with exact 0/1 and near-0/1, special); targets
// hard, soft or mixed.
func cfBinaryInputs(rng *rand.Rand, nk int, logits bool, xKind, yKind int) (x, y []float64) {
	x, y = make([]float64, nk), make([]float64, nk)
	for i := range x {
		if logits {
			x[i] = rng.NormFloat64() * 4
			switch {
			case xKind == 1 && rng.Intn(2) == 0:
				x[i] = []float64{1e4, -1e4, 30, -30, 90, -90, 17, -17}[rng.Intn(8)]
			case xKind == 2 && rng.Intn(6) == 0:
				x[i] = []float64{math.Inf(1), math.Inf(-1), math.NaN()}[rng.Intn(3)]
			}
		} else {
			x[i] = rng.Float64()
			switch {
			case xKind == 1 && rng.Intn(2) == 0:
				x[i] = []float64{0, 1, 1e-8, 1 - 1e-7, 1e-30, 0.5, 1e-7}[rng.Intn(7)]
			case xKind == 2 && rng.Intn(6) == 0:
				x[i] = []float64{0, 1, math.NaN()}[rng.Intn(3)]
			}
		}
		switch {
		case yKind == 0 || (yKind == 2 && rng.Intn(2) == 0):
			y[i] = float64(rng.Intn(2))
		default:
			y[i] = rng.Float64()
		}
	}
	return x, y
}

func cfBinary[T kernels.Float](t *testing.T) {
	// kind, weights, pos_weight, asymmetric, clip, alpha, gamma, reduction,
	// grad mode, Loss, x data, y data
	sizes := []int{4, 2, 2, 2, 3, 3, 5, 3, 3, 2, 3, 3}
	kinds := []string{"BCEWithLogits", "BCE", "SigmoidFocal", "FocalProbs"}
	cfGrid(t, 14, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		kind := c[0]
		logits := kind == 0 || kind == 2
		xv, yv := cfBinaryInputs(rng, n*k, logits, c[10], c[11])
		x := cfFrom[T](xv, rng.Intn(cfMaxGuardShift+1))
		y := cfFrom[T](yv, rng.Intn(4))
		call := cfCall[T]{name: fmt.Sprintf("%s n=%d k=%d combo=%v", kinds[kind], n, k, c), ins: []*cfBuf[T]{x, y}}
		var o kernels.FocalOptions[T]
		if c[1] == 1 {
			w := cfFrom[T](cfWeights(rng, n*k), rng.Intn(4))
			o.Weight = w.s()
			call.ins = append(call.ins, w)
		}
		if c[2] == 1 && kind == 0 {
			pw := cfFrom[T](cfUniform(rng, k, 0, 4), rng.Intn(4))
			o.PosWeight = pw.s()
			call.ins = append(call.ins, pw)
		}
		if c[3] == 1 && kind < 2 {
			o.Asymmetric = &kernels.Asymmetric{FalseNegative: 0.5, FalsePositive: 3}
		}
		if !logits {
			o.Clip = []float64{0, 1e-7, 0.01}[c[4]]
		}
		o.Alpha = []float64{-1, 0.25, 0.9}[c[5]]
		o.Gamma = []float64{0, 0.5, 1, 2, 5}[c[6]]
		o.Reduction = cfReductions[c[7]]
		if c[9] == 1 || o.Reduction == kernels.None {
			call.items = cfNew[T](n*k, rng.Intn(4))
			o.Loss = call.items.s()
		}
		switch c[8] {
		case cfGradSeparate:
			call.grad = cfNew[T](n*k, rng.Intn(4))
		case cfGradInPlace:
			call.grad, call.inPlace = x, x
		}
		bo := &o.BinaryOptions
		switch kind {
		case 0:
			call.ref = func() (*reference.Result, error) { return reference.BCEWithLogits(x.s(), y.s(), n, k, bo) }
			call.call = func() (T, error) { return kernels.BCEWithLogits(x.s(), y.s(), n, k, call.grad.s(), bo) }
		case 1:
			call.ref = func() (*reference.Result, error) { return reference.BCE(x.s(), y.s(), n, k, bo) }
			call.call = func() (T, error) { return kernels.BCE(x.s(), y.s(), n, k, call.grad.s(), bo) }
		case 2:
			call.ref = func() (*reference.Result, error) { return reference.SigmoidFocal(x.s(), y.s(), n, k, &o) }
			call.call = func() (T, error) { return kernels.SigmoidFocal(x.s(), y.s(), n, k, call.grad.s(), &o) }
		case 3:
			call.ref = func() (*reference.Result, error) { return reference.FocalProbs(x.s(), y.s(), n, k, &o) }
			call.call = func() (T, error) { return kernels.FocalProbs(x.s(), y.s(), n, k, call.grad.s(), &o) }
		}
		return cfRun(t, call)
	})
}

// ---- regression ----

func TestConformanceRegression(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfRegression[float32](t) })
		t.Run("float64", func(t *testing.T) { cfRegression[float64](t) })
	})
	cfCheckDeviationsRan(t, 15)
}

func cfRegression[T kernels.Float](t *testing.T) {
	// kind, weights (none, some zero, all zero), EmptyMean, reduction, param,
	// grad mode, Loss, data (normal, large, special)
	sizes := []int{4, 3, 2, 3, 3, 3, 2, 3}
	kinds := []string{"MSE", "L1", "Huber", "SmoothL1"}
	cfGrid(t, 15, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		m := n * k
		pv, tv := make([]float64, m), make([]float64, m)
		for i := range pv {
			pv[i], tv[i] = rng.NormFloat64()*2, rng.NormFloat64()*2
			if rng.Intn(8) == 0 {
				tv[i] = pv[i] // residual exactly 0
			}
			switch {
			case c[7] == 1 && rng.Intn(3) == 0:
				pv[i] = []float64{1e4, -1e4, 1e15, -3e19}[rng.Intn(4)]
			case c[7] == 2 && rng.Intn(6) == 0:
				pv[i] = []float64{math.Inf(1), math.Inf(-1), math.NaN()}[rng.Intn(3)]
			}
		}
		x := cfFrom[T](pv, rng.Intn(cfMaxGuardShift+1))
		y := cfFrom[T](tv, rng.Intn(4))
		var o kernels.RegressionOptions[T]
		call := cfCall[T]{ins: []*cfBuf[T]{x, y}}
		switch c[1] {
		case 1:
			w := cfFrom[T](cfWeights(rng, m), rng.Intn(4))
			o.Weight = w.s()
			call.ins = append(call.ins, w)
		case 2:
			w := cfFrom[T](make([]float64, m), rng.Intn(4))
			o.Weight = w.s()
			call.ins = append(call.ins, w)
		}
		if c[2] == 1 {
			o.EmptyMean = kernels.EmptyMeanZero
		}
		o.Reduction = cfReductions[c[3]]
		param := []float64{0.5, 1, 2}[c[4]]
		if c[6] == 1 || o.Reduction == kernels.None {
			call.items = cfNew[T](m, rng.Intn(4))
			o.Loss = call.items.s()
		}
		switch c[5] {
		case cfGradSeparate:
			call.grad = cfNew[T](m, rng.Intn(4))
		case cfGradInPlace:
			call.grad, call.inPlace = x, x
		}
		call.name = fmt.Sprintf("%s len=%d combo=%v", kinds[c[0]], m, c)
		refs := []func() (*reference.Result, error){
			func() (*reference.Result, error) { return reference.MSE(x.s(), y.s(), &o) },
			func() (*reference.Result, error) { return reference.L1(x.s(), y.s(), &o) },
			func() (*reference.Result, error) {
				return reference.Huber(x.s(), y.s(), &kernels.HuberOptions[T]{RegressionOptions: o, Delta: param})
			},
			func() (*reference.Result, error) {
				return reference.SmoothL1(x.s(), y.s(), &kernels.SmoothL1Options[T]{RegressionOptions: o, Beta: param})
			},
		}
		calls := []func() (T, error){
			func() (T, error) { return kernels.MSE(x.s(), y.s(), call.grad.s(), &o) },
			func() (T, error) { return kernels.L1(x.s(), y.s(), call.grad.s(), &o) },
			func() (T, error) {
				return kernels.Huber(x.s(), y.s(), call.grad.s(), &kernels.HuberOptions[T]{RegressionOptions: o, Delta: param})
			},
			func() (T, error) {
				return kernels.SmoothL1(x.s(), y.s(), call.grad.s(), &kernels.SmoothL1Options[T]{RegressionOptions: o, Beta: param})
			},
		}
		call.ref, call.call = refs[c[0]], calls[c[0]]
		return cfRun(t, call)
	})
}

// ---- primitives ----

func TestConformancePrimitives(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		t.Run("float32", func(t *testing.T) { cfPrimitives[float32](t) })
		t.Run("float64", func(t *testing.T) { cfPrimitives[float64](t) })
	})
	cfCheckDeviationsRan(t, 16)
}

func cfPrimitives[T kernels.Float](t *testing.T) {
	// op, in place, data
	sizes := []int{6, 2, cfDataKinds}
	ops := []string{"Softmax", "LogSoftmax", "LogSumExp", "Sigmoid", "LogSigmoid", "Softplus"}
	cfGrid(t, 16, sizes, func(rng *rand.Rand, n, k, combo int) bool {
		c := cfPick(combo, sizes...)
		op, inPlace := c[0], c[1] == 1 && c[0] != 2
		xv := cfLogits(rng, n, k, c[2])
		if op >= 3 && c[2] == 1 { // element-wise: also the saturation ranges
			for i := range xv {
				if rng.Intn(3) == 0 {
					xv[i] = []float64{17, -17, 40, -40, 90, -90, 750, -750}[rng.Intn(8)]
				}
			}
		}
		m := n * k
		if op >= 3 && rng.Intn(10) == 0 {
			xv, m = nil, 0 // an empty element-wise call is valid
		}
		x := cfFrom[T](xv, rng.Intn(cfMaxGuardShift+1))
		call := cfCall[T]{name: fmt.Sprintf("%s n=%d k=%d combo=%v", ops[op], n, k, c), ins: []*cfBuf[T]{x}, noLoss: true}
		switch {
		case inPlace:
			call.out, call.inPlace = x, x
		case op == 2:
			call.out = cfNew[T](n, rng.Intn(4))
		default:
			call.out = cfNew[T](m, rng.Intn(4))
		}
		dst := call.out
		rowRef := []func([]T, int, int) (*reference.Result, error){reference.Softmax[T], reference.LogSoftmax[T], reference.LogSumExp[T]}
		rowK := []func([]T, []T, int, int, *kernels.PrimitiveOptions) error{kernels.Softmax[T], kernels.LogSoftmax[T], kernels.LogSumExp[T]}
		elemRef := []func([]T) (*reference.Result, error){reference.Sigmoid[T], reference.LogSigmoid[T], reference.Softplus[T]}
		elemK := []func([]T, []T, *kernels.PrimitiveOptions) error{kernels.Sigmoid[T], kernels.LogSigmoid[T], kernels.Softplus[T]}
		if op < 3 {
			call.ref = func() (*reference.Result, error) { return rowRef[op](x.s(), n, k) }
			call.call = func() (T, error) { return 0, rowK[op](dst.s(), x.s(), n, k, nil) }
		} else {
			call.ref = func() (*reference.Result, error) { return elemRef[op-3](x.s()) }
			call.call = func() (T, error) { return 0, elemK[op-3](dst.s(), x.s(), nil) }
		}
		return cfRun(t, call)
	})
}
