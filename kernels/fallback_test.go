package kernels_test

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/internal/fallbacks"
	"github.com/lossfuse/lossfuse/internal/shardtest"
	"github.com/lossfuse/lossfuse/kernels"
)

var updateFallbacks = flag.Bool("update-fallbacks", false, "rewrite docs/fallbacks.md from internal/fallbacks")

// combo is one call of the enumeration: a kernel with a set of options.
type combo struct {
	kernel string
	opts   []string // sorted option names
	n, k   int
}

func (c combo) String() string {
	return fmt.Sprintf("%s[%s] %d×%d", c.kernel, strings.Join(c.opts, ","), c.n, c.k)
}

// subsets returns every subset of names (as sorted slices).
func subsets(names ...string) [][]string {
	var out [][]string
	for m := 0; m < 1<<len(names); m++ {
		var s []string
		for i, n := range names {
			if m>>i&1 != 0 {
				s = append(s, n)
			}
		}
		slices.Sort(s)
		out = append(out, s)
	}
	return out
}

// with returns opts plus extra, sorted.
func with(opts []string, extra ...string) []string {
	s := append(slices.Clone(opts), extra...)
	slices.Sort(s)
	return s
}

// shapes are the row lengths on either side of the small-row kernels (K <
// 16 and ≤ 32), a fused-kernel row and a long row, with one row and many.
var fallbackShapes = [][2]int{{1, 3}, {37, 3}, {20, 15}, {20, 37}, {3, 1000}, {2, 5000}}

// enumerate lists every kernel × option set × shape. The options of each
// family are combined in every subset (reduction and grad modes included).
func enumerate() []combo {
	var out []combo
	add := func(kernel string, sets [][]string, shapes [][2]int) {
		for _, s := range sets {
			for _, sh := range shapes {
				out = append(out, combo{kernel, s, sh[0], sh[1]})
			}
		}
	}
	gradModes := func(sets [][]string) [][]string { // separate (default), in place, none
		var r [][]string
		for _, s := range sets {
			r = append(r, s, with(s, "in-place"), with(s, "no-grad"))
		}
		return r
	}
	add("CrossEntropy", gradModes(subsets("weight", "ignore", "smoothing", "zloss", "softcap", "row-out")), fallbackShapes)
	add("CrossEntropyShards", gradModes(subsets("weight", "ignore", "smoothing", "zloss", "softcap", "row-out")), fallbackShapes)
	add("CrossEntropyProbs", gradModes(subsets("weight", "smoothing", "zloss", "softcap", "row-out")), fallbackShapes)
	add("NLL", gradModes(subsets("weight", "ignore", "row-out")), fallbackShapes)
	add("KLDiv", gradModes(subsets("log-target", "row-out")), fallbackShapes)
	var distill [][]string
	for _, s := range gradModes(subsets("ignore", "scale-t2", "row-out")) {
		for _, d := range []string{"forward-kl", "reverse-kl", "jsd"} {
			distill = append(distill, with(s, d))
		}
	}
	add("Distill", distill, fallbackShapes)
	var focal [][]string
	for _, s := range gradModes(subsets("alpha", "ignore", "row-out")) {
		for _, g := range []string{"gamma0", "gamma1", "gamma2", "gamma1.5"} {
			focal = append(focal, with(s, g))
		}
	}
	add("SoftmaxFocal", focal, fallbackShapes)
	binModes := func(sets [][]string) [][]string { // grad and loss outputs
		var r [][]string
		for _, s := range sets {
			r = append(r, s, with(s, "in-place"), with(s, "no-grad"), with(s, "loss-out"))
		}
		return r
	}
	binShapes := [][2]int{{1, 7}, {3, 5}, {40, 37}, {2, 300}}
	add("BCEWithLogits", binModes(subsets("weight", "pos-weight", "asym", "soft-labels")), binShapes)
	add("BCE", binModes(subsets("weight", "asym", "clip", "soft-labels")), binShapes)
	var sf, fp [][]string
	for _, s := range binModes(subsets("weight", "alpha", "soft-labels")) {
		for _, g := range []string{"gamma0", "gamma1", "gamma2", "gamma1.5"} {
			sf = append(sf, with(s, g))
			fp = append(fp, with(s, g), with(s, g, "clip"))
		}
	}
	add("SigmoidFocal", sf, binShapes)
	add("FocalProbs", fp, binShapes)
	flat := [][2]int{{1, 7}, {1, 40}, {1, 1000}}
	for _, r := range []string{"MSE", "L1", "Huber", "SmoothL1"} {
		add(r, binModes(subsets("weight")), flat)
	}
	for _, p := range []string{"Softmax", "LogSoftmax", "LogSumExp"} {
		add(p, [][]string{nil, {"in-place"}}, fallbackShapes)
	}
	for _, p := range []string{"Sigmoid", "LogSigmoid", "Softplus"} {
		add(p, [][]string{nil, {"in-place"}}, flat)
	}
	add("SoftplusBeta", [][]string{nil, {"in-place"}}, flat)
	for _, p := range []string{"SoftmaxBackward", "LogSoftmaxBackward", "LogSumExpBackward"} {
		add(p, [][]string{nil, {"in-place"}}, fallbackShapes)
	}
	for _, p := range []string{"SigmoidBackward", "LogSigmoidBackward", "SoftplusBackward", "SoftplusBetaBackward"} {
		add(p, [][]string{nil, {"in-place"}}, flat)
	}
	return out
}

// runCombo makes the inputs of c (normal logits, labels in [0, 1]) and calls
// its kernel; it returns the call's error.
func runCombo[T kernels.Float](c combo) error {
	has := func(o string) bool { return slices.Contains(c.opts, o) }
	n, k := c.n, c.k
	rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
	vec := func(m int, f func() float64) []T {
		s := make([]T, m)
		for i := range s {
			s[i] = T(f())
		}
		return s
	}
	normal := func() float64 { return rng.NormFloat64() * 2 }
	unit := func() float64 { return 0.02 + 0.96*rng.Float64() }
	label := func() float64 {
		if has("soft-labels") {
			return 0.05 + 0.9*rng.Float64()
		}
		return float64(rng.IntN(2))
	}
	x := vec(n*k, normal)
	grad := make([]T, n*k)
	switch {
	case has("in-place"):
		grad = x
	case has("no-grad"):
		grad = nil
	}
	var loss []T
	if has("loss-out") {
		loss = make([]T, n*k)
	}
	red := kernels.Mean
	if has("row-out") {
		red = kernels.None
	}
	gamma := 0.0
	for _, g := range []string{"gamma1", "gamma2", "gamma1.5"} {
		if has(g) {
			fmt.Sscan(strings.TrimPrefix(g, "gamma"), &gamma)
		}
	}
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.IntN(k))
		if has("ignore") && i%3 == 1 {
			targets[i] = kernels.DefaultIgnoreIndex
		}
	}
	ce := func() *kernels.CrossEntropyOptions[T] {
		o := &kernels.CrossEntropyOptions[T]{Reduction: red}
		if has("weight") {
			o.Weight = vec(k, unit)
		}
		if has("smoothing") {
			o.LabelSmoothing = 0.1
		}
		if has("zloss") {
			o.ZLoss = 1e-4
		}
		if has("softcap") {
			o.SoftCap = 30
		}
		if has("row-out") {
			o.RowLoss = make([]T, n)
			o.RowLSE = make([]T, n)
		}
		return o
	}
	bin := func() kernels.BinaryOptions[T] {
		o := kernels.BinaryOptions[T]{Loss: loss}
		if has("weight") {
			o.Weight = vec(n*k, unit)
		}
		if has("pos-weight") {
			o.PosWeight = vec(k, unit)
		}
		if has("asym") {
			o.Asymmetric = &kernels.Asymmetric{FalseNegative: 2, FalsePositive: 0.5}
		}
		if has("clip") {
			o.Clip = 1e-4
		}
		return o
	}
	focal := func() *kernels.FocalOptions[T] {
		o := &kernels.FocalOptions[T]{BinaryOptions: bin(), Alpha: -1, Gamma: gamma}
		if has("alpha") {
			o.Alpha = 0.25
		}
		return o
	}
	var err error
	switch c.kernel {
	case "CrossEntropy":
		_, err = kernels.CrossEntropy(x, targets, n, k, grad, ce())
	case "CrossEntropyShards":
		_, err = shardtest.CrossEntropy(x, targets, n, k, grad, ce(), []int{0, (k + 1) / 2, k}[:min(k, 2)+1], 0)
	case "KLDiv":
		t := vec(n*k, unit)
		ko := &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean, LogTarget: has("log-target")}
		if ko.LogTarget {
			for i, v := range t {
				t[i] = T(math.Log(float64(v)))
			}
		}
		if has("row-out") {
			ko.Reduction, ko.Loss = kernels.None, make([]T, n*k)
		}
		for i := range x {
			x[i] = -T(math.Abs(float64(x[i]))) // log-probabilities
		}
		_, err = kernels.KLDiv(x, t, n, k, grad, ko)
	case "Distill":
		do := &kernels.DistillOptions[T]{Reduction: red, Temperature: 1.5, ScaleT2: has("scale-t2"), RowLoss: ce().RowLoss}
		switch {
		case has("reverse-kl"):
			do.Divergence = kernels.ReverseKL
		case has("jsd"):
			do.Divergence, do.Beta = kernels.JSD, 0.3
		}
		if has("ignore") {
			do.Labels = targets
		}
		_, err = kernels.Distill(x, vec(n*k, rng.NormFloat64), n, k, grad, do)
	case "NLL":
		co := ce()
		_, err = kernels.NLL(x, targets, n, k, grad, &kernels.NLLOptions[T]{Reduction: red, Weight: co.Weight, RowLoss: co.RowLoss})
	case "CrossEntropyProbs":
		_, err = kernels.CrossEntropyProbs(x, vec(n*k, rng.Float64), n, k, grad, ce())
	case "SoftmaxFocal":
		o := &kernels.SoftmaxFocalOptions[T]{Reduction: red, Gamma: gamma}
		if has("alpha") {
			o.Alpha = vec(k, unit)
		}
		if has("row-out") {
			o.RowLoss = make([]T, n)
		}
		_, err = kernels.SoftmaxFocal(x, targets, n, k, grad, o)
	case "BCEWithLogits":
		o := bin()
		_, err = kernels.BCEWithLogits(x, vec(n*k, label), n, k, grad, &o)
	case "BCE":
		o := bin()
		_, err = kernels.BCE(vec(n*k, unit), vec(n*k, label), n, k, grad, &o)
	case "SigmoidFocal":
		_, err = kernels.SigmoidFocal(x, vec(n*k, label), n, k, grad, focal())
	case "FocalProbs":
		_, err = kernels.FocalProbs(vec(n*k, unit), vec(n*k, label), n, k, grad, focal())
	case "MSE", "L1", "Huber", "SmoothL1":
		o := &kernels.RegressionOptions[T]{Loss: loss}
		if has("weight") {
			o.Weight = vec(n*k, unit)
		}
		y := vec(n*k, normal)
		switch c.kernel {
		case "MSE":
			_, err = kernels.MSE(x, y, grad, o)
		case "L1":
			_, err = kernels.L1(x, y, grad, o)
		case "Huber":
			_, err = kernels.Huber(x, y, grad, &kernels.HuberOptions[T]{RegressionOptions: *o, Delta: 1})
		default:
			_, err = kernels.SmoothL1(x, y, grad, &kernels.SmoothL1Options[T]{RegressionOptions: *o, Beta: 0.5})
		}
	default:
		dst := make([]T, n*k)
		if has("in-place") {
			dst = x
		}
		switch c.kernel {
		case "Softmax":
			err = kernels.Softmax(dst, x, n, k, nil)
		case "LogSoftmax":
			err = kernels.LogSoftmax(dst, x, n, k, nil)
		case "LogSumExp":
			err = kernels.LogSumExp(make([]T, n), x, n, k, nil)
		case "Sigmoid":
			err = kernels.Sigmoid(dst, x, nil)
		case "LogSigmoid":
			err = kernels.LogSigmoid(dst, x, nil)
		case "Softplus":
			err = kernels.Softplus(dst, x, nil)
		case "SoftplusBeta":
			err = kernels.SoftplusBeta(dst, x, 2, 20, nil)
		default: // backward passes: dx over dy in place
			dy := vec(len(x), normal)
			dx := make([]T, n*k)
			if has("in-place") {
				dx = dy
			}
			switch c.kernel {
			case "SoftmaxBackward":
				err = kernels.SoftmaxBackward(dx, dy, x, n, k, nil)
			case "LogSoftmaxBackward":
				err = kernels.LogSoftmaxBackward(dx, dy, x, n, k, nil)
			case "LogSumExpBackward":
				err = kernels.LogSumExpBackward(dx, vec(n, normal), x, vec(n, normal), n, k, nil)
			case "SigmoidBackward":
				err = kernels.SigmoidBackward(dx, dy, x, nil)
			case "LogSigmoidBackward":
				err = kernels.LogSigmoidBackward(dx, dy, x, nil)
			case "SoftplusBackward":
				err = kernels.SoftplusBackward(dx, dy, x, nil)
			case "SoftplusBetaBackward":
				err = kernels.SoftplusBetaBackward(dx, dy, x, 0.5, 10, nil)
			default:
				panic("runCombo: no call for " + c.kernel)
			}
		}
	}
	return err
}

// genericKernel reports whether path is a generic kernel (not the generic
// validation scan, which the SIMD backends without a vector scan share).
func genericKernel(path string) bool { return kernels.IsFallback(path) }

// TestNoSilentFallback enumerates every kernel × option set × dtype at row
// lengths on both sides of the small-row kernels, on every SIMD backend of
// this CPU, and fails when a call reaches a generic kernel that
// internal/fallbacks does not list, and when a listed entry matches no
// call that falls back (it was vectorised: delete it).
func TestNoSilentFallback(t *testing.T) {
	used := map[string]bool{}
	checked := 0
	for _, backend := range kernels.Backends() {
		if backend == "generic" {
			continue
		}
		restore, err := kernels.UseBackend(backend)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range enumerate() {
			for _, dt := range []string{"f32", "f64"} {
				var err error
				paths := traced(func() {
					if dt == "f32" {
						err = runCombo[float32](c)
					} else {
						err = runCombo[float64](c)
					}
				})
				if err != nil {
					t.Fatalf("%s %s %s: %v", backend, dt, c, err)
				}
				checked++
				if !slices.ContainsFunc(paths, genericKernel) {
					continue
				}
				listed := false
				for _, e := range fallbacks.List {
					if e.Matches(backend, c.kernel, dt, c.opts) {
						listed, used[e.Name()] = true, true
					}
				}
				if !listed {
					t.Errorf("%s %s %s falls back to %v, and internal/fallbacks lists no such entry", backend, dt, c, paths)
				}
			}
		}
		restore()
	}
	for _, e := range fallbacks.List {
		native := false
		for _, b := range kernels.Backends() {
			native = native || e.Matches(b, e.Kernel, "f32", e.Options) || e.Matches(b, e.Kernel, "f64", e.Options)
		}
		if native && !used[e.Name()] {
			t.Errorf("fallback %s: no call falls back any more; delete the entry", e.Name())
		}
	}
	t.Logf("%d calls checked on %v", checked, kernels.Backends())
}

// TestFallbacksDoc keeps docs/fallbacks.md in step with internal/fallbacks.
func TestFallbacksDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString(`# Deliberate fallbacks to the generic kernels

Generated by ` + "`go test ./kernels -run TestFallbacksDoc -update-fallbacks`" + ` from
internal/fallbacks. Every other kernel × option × dtype runs vectorised on
avx2, avx512 and neon: ` + "`TestNoSilentFallback`" + ` enumerates them (every subset
of each family's options, grad and loss outputs, row lengths 3 to 5000) on
each SIMD backend of the CPU (neon under qemu-aarch64 in CI) and fails on a
generic kernel that this list does not name. Cost is the entry's time
against the same call without the option that forces the fallback, from
` + "`go test -run '^$' -bench Fallbacks ./bench`" + `.

`)
	if len(fallbacks.List) == 0 {
		b.WriteString("There are none: every kernel × option × dtype runs vectorised on every SIMD backend.\n")
	} else {
		b.WriteString("| backend | kernel | options | dtype | reason | cost |\n|---|---|---|---|---|---|\n")
	}
	for _, e := range fallbacks.List {
		dt := e.DType
		if dt == "" {
			dt = "both"
		}
		cost := e.Cost
		if cost == "" {
			cost = "not measured"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", e.Backend, e.Kernel, strings.Join(e.Options, " + "), dt, e.Reason, cost)
	}
	const file = "../docs/fallbacks.md"
	if *updateFallbacks {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got, err := os.ReadFile(file); err != nil || string(got) != b.String() {
		t.Errorf("%s is missing or stale: run go test ./kernels -run TestFallbacksDoc -update-fallbacks", file)
	}
}
