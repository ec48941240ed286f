package kernels_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// The 16-bit cross-entropy against the float64 reference on the widened
// logits, on every backend: the loss and per-row outputs under the float32
// contract, a float32 gradient likewise, a 16-bit gradient as one more
// rounding of a value the contract allows (reference.RoundGrad).

func TestCrossEntropyHalfBF16(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		halfCEGrid[kernels.BF16](t, 21, kernels.BF16FromFloat32, kernels.BF16.Float32)
	})
}

func TestCrossEntropyHalfF16(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		halfCEGrid[kernels.F16](t, 22, kernels.F16FromFloat32, kernels.F16.Float32)
	})
}

// halfCEShapes adds to the conformance grid's shapes the block edges of
// the 16-bit driver: rows around 8192 (one row per block above it), long
// rows, and short rows over several blocks.
func halfCEShapes() [][2]int {
	ks, ns := cfShapes()
	var s [][2]int
	for _, k := range ks {
		for _, n := range ns {
			s = append(s, [2]int{n, k})
		}
	}
	s = append(s, [2]int{37, 17}, [2]int{900, 10}, [2]int{2, 8191}, [2]int{3, 8192}, [2]int{2, 8193}, [2]int{300, 33})
	if !testing.Short() {
		s = append(s, [2]int{2, 32000}, [2]int{1700, 5})
	}
	return s
}

const (
	halfGradNone = iota
	halfGradSame // in the logits' type, separate
	halfGradInPlace
	halfGradF32
)

func halfCEGrid[H kernels.BF16 | kernels.F16](t *testing.T, seed int64, from func(float32) H, to func(H) float32) {
	rng := rand.New(rand.NewSource(seed))
	failures := 0
	for _, shape := range halfCEShapes() {
		n, k := shape[0], shape[1]
		for range 4 {
			if !halfCECase(t, rng, n, k, from, to) {
				failures++
				if failures > cfMaxFailures {
					t.Fatal("too many failures")
				}
			}
		}
	}
}

func halfCECase[H kernels.BF16 | kernels.F16](t *testing.T, rng *rand.Rand, n, k int, from func(float32) H, to func(H) float32) bool {
	t.Helper()
	var o kernels.CrossEntropyOptions[float32]
	c := cfPick(rng.Intn(1<<20), 2, 3, 3, 3, 2, 3, 4, 2, 2, 3, cfDataKinds)
	desc := fmt.Sprintf("n=%d k=%d combo=%v", n, k, c)
	xv := cfLogits(rng, n, k, c[10])
	x := make([]H, n*k, n*k+4)
	wide := make([]float32, n*k)
	for i, v := range xv {
		x[i] = from(float32(v))
		wide[i] = to(x[i])
	}
	if c[0] == 1 {
		o.Weight = make([]float32, k)
		for i, v := range cfWeights(rng, k) {
			o.Weight[i] = float32(v)
		}
	}
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(k))
		ignoreRow := rng.Intn(4) == 0
		switch c[1] {
		case 0:
			if ignoreRow {
				targets[i] = -100
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
	if c[7] == 1 || o.Reduction == kernels.None {
		o.RowLoss = make([]float32, n)
	}
	if c[8] == 1 {
		o.RowLSE = make([]float32, n)
	}
	switch c[9] {
	case 1:
		o.EmptyMean = kernels.EmptyMeanZero
	case 2:
		o.Normalizer = 7.5
	}
	ref, err := reference.CrossEntropy(wide, targets, n, k, &o)
	if err != nil {
		t.Fatalf("%s: reference: %v", desc, err)
	}
	before := slices.Clone(x)
	const sentinel = 0x7e5e // a NaN in both formats: must stay past the end
	x = append(x, sentinel)[:n*k]
	var loss float32
	got := reference.Got[float32]{CheckLoss: true, Items: o.RowLoss, LSE: o.RowLSE}
	var grad16 []H
	switch c[6] {
	case halfGradNone:
		loss, err = kernels.CrossEntropyHalf(x, targets, n, k, []H(nil), &o)
	case halfGradSame, halfGradInPlace:
		grad16 = x
		if c[6] == halfGradSame {
			grad16 = append(make([]H, n*k, n*k+1), sentinel)[:n*k]
		}
		loss, err = kernels.CrossEntropyHalf(x, targets, n, k, grad16, &o)
	case halfGradF32:
		g := append(make([]float32, n*k, n*k+1), 12345)[:n*k]
		loss, err = kernels.CrossEntropyHalf(x, targets, n, k, g, &o)
		if g[:n*k+1][n*k] != 12345 {
			t.Errorf("%s %s: wrote past the float32 gradient", kernels.Backend(), desc)
			return false
		}
		got.Grad = g
	}
	if err != nil {
		t.Errorf("%s %s: %v", kernels.Backend(), desc, err)
		return false
	}
	got.Loss = loss
	r := ref
	if grad16 != nil {
		if grad16[:n*k+1][n*k] != sentinel {
			t.Errorf("%s %s: wrote past the 16-bit gradient", kernels.Backend(), desc)
			return false
		}
		got.Grad = make([]float32, n*k)
		for i, v := range grad16 {
			got.Grad[i] = to(v)
		}
		r = ref.RoundGrad(func(f float32) float32 { return to(from(f)) })
	}
	if c[6] != halfGradInPlace && !slices.Equal(x, before) {
		t.Errorf("%s %s: the logits changed", kernels.Backend(), desc)
		return false
	}
	if x[:n*k+1][n*k] != sentinel {
		t.Errorf("%s %s: wrote past the logits", kernels.Backend(), desc)
		return false
	}
	if err := reference.Check(r, got); err != nil {
		t.Errorf("%s %s grad=%d: %v", kernels.Backend(), desc, c[6], err)
		return false
	}
	return true
}

// TestCrossEntropyHalfErrors: bad calls return the right error and write
// nothing.
func TestCrossEntropyHalfErrors(t *testing.T) {
	x := make([]kernels.BF16, 6)
	g := []kernels.BF16{1, 2, 3, 4, 5, 6}
	targets := []int32{0, 1}
	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: error %v, want %v", name, err, want)
		}
		if !slices.Equal(g, []kernels.BF16{1, 2, 3, 4, 5, 6}) {
			t.Errorf("%s: grad written", name)
		}
	}
	_, err := kernels.CrossEntropyHalf(x, targets, 2, 3, g, &kernels.CrossEntropyOptions[float32]{LabelSmoothing: 2})
	check("smoothing", err, kernels.ErrOption)
	_, err = kernels.CrossEntropyHalf(x, []int32{0, 3}, 2, 3, g, nil)
	check("target", err, kernels.ErrTarget)
	_, err = kernels.CrossEntropyHalf(x[:5], targets, 2, 3, g, nil)
	check("length", err, kernels.ErrLength)
	_, err = kernels.CrossEntropyHalf(x, targets, 2, 3, g[:5], nil)
	check("grad length", err, kernels.ErrLength)
	_, err = kernels.CrossEntropyHalf(x, targets, 2, 3, make([]kernels.F16, 6), nil)
	check("grad type", err, kernels.ErrOption)
	_, err = kernels.CrossEntropyHalf(x, targets, 2, 3, g, &kernels.CrossEntropyOptions[float32]{RowLoss: make([]float32, 3)})
	check("RowLoss", err, kernels.ErrLength)
	_, err = kernels.CrossEntropyHalf(x[:3], targets[:1], 1, 3, x[1:4], nil)
	check("overlap", err, kernels.ErrOverlap)
	_, err = kernels.CrossEntropyHalf(x, targets, 0, 3, g, nil)
	check("shape", err, kernels.ErrShape)
	if !math.IsNaN(float64(kernels.BF16(0x7fc0).Float32())) {
		t.Fatal("0x7fc0 is not a NaN")
	}
}

// TestCrossEntropyHalfRunner: a Runner spreads the blocks over goroutines
// with bit-identical results.
func TestCrossEntropyHalfRunner(t *testing.T) {
	r := kernels.NewRunner(3)
	defer r.Close()
	rng := rand.New(rand.NewSource(5))
	for _, sh := range [][2]int{{5000, 10}, {40, 20000}} {
		n, k := sh[0], sh[1]
		x := make([]kernels.BF16, n*k)
		for i := range x {
			x[i] = kernels.BF16FromFloat32(float32(rng.NormFloat64() * 4))
		}
		targets := make([]int32, n)
		for i := range targets {
			targets[i] = int32(rng.Intn(k))
		}
		run := func(r *kernels.Runner) (float32, []kernels.BF16, []float32) {
			g := make([]kernels.BF16, n*k)
			o := &kernels.CrossEntropyOptions[float32]{LabelSmoothing: 0.1, RowLSE: make([]float32, n), Runner: r}
			loss, err := kernels.CrossEntropyHalf(x, targets, n, k, g, o)
			if err != nil {
				t.Fatal(err)
			}
			return loss, g, o.RowLSE
		}
		l1, g1, s1 := run(nil)
		l2, g2, s2 := run(r)
		if math.Float32bits(l1) != math.Float32bits(l2) || !slices.Equal(g1, g2) || !slices.Equal(s1, s2) {
			t.Errorf("%d×%d: a Runner changed the results (loss %v vs %v)", n, k, l1, l2)
		}
	}
}

// TestCrossEntropyHalfLongRows: rows of more than 4096 classes with a
// 16-bit gradient, the calls amd64 runs natively (16-bit loads and
// stores in the stashed kernels, the row tails through float32 buffers),
// against the reference on every backend: tails of every length mod 16,
// rows whose pass-1 reference moves (a spike past the first vector),
// ignored rows, rows holding +Inf, NaN or only −Inf, factors beyond float32,
// in place and not. On avx2 and avx512 every native path must run.
func TestCrossEntropyHalfLongRows(t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		seen := map[string]bool{}
		paths := kernels.PathsTaken(func() {
			halfLongRows[kernels.BF16](t, kernels.BF16FromFloat32, kernels.BF16.Float32)
			halfLongRows[kernels.F16](t, kernels.F16FromFloat32, kernels.F16.Float32)
		})
		for _, p := range paths {
			seen[p] = true
		}
		if b := kernels.Backend(); b == "avx2" || b == "avx512" {
			for _, p := range []string{"stashed", "stash-pipelined", "stash-pipelined-g32", "stash-last-row", "moved", "wide-coef"} {
				if !seen["amd64/f32/ce16/"+p] {
					t.Errorf("path amd64/f32/ce16/%s not taken (took %v)", p, paths)
				}
			}
		}
	})
}

func halfLongRows[H kernels.BF16 | kernels.F16](t *testing.T, from func(float32) H, to func(H) float32) {
	rng := rand.New(rand.NewSource(77))
	ks := []int{4097, 4111, 8193} // tails 1, 15 and 1 past the vectors
	if !testing.Short() {         // qemu runs -short
		ks = append(ks, 32000, 32769, 50257, 128256)
	}
	for _, k := range ks {
		for c := range 6 {
			n := 1 + c%4
			var o kernels.CrossEntropyOptions[float32]
			o.Reduction = cfReductions[c%3]
			if c%3 == 2 || c == 4 {
				o.RowLoss = make([]float32, n)
			}
			if c%2 == 1 {
				o.RowLSE = make([]float32, n)
			}
			wide := c == 5 // a class weight whose factor overflows float32
			if c >= 3 {
				o.Weight = make([]float32, k)
				for i := range o.Weight {
					o.Weight[i] = float32(rng.Float64() * 2)
				}
				o.ZLoss = 1e-3
			}
			xv := make([]float32, n*k)
			for i := range xv {
				xv[i] = float32(rng.NormFloat64() * 3)
			}
			targets := make([]int32, n)
			for i := range targets {
				targets[i] = int32(rng.Intn(k))
			}
			switch c {
			case 1: // the reference moves: a spike past the first vector
				xv[(n-1)*k+k/2] = 60
			case 2:
				targets[0] = -100
			case 3: // a row holding +Inf, and one of only −Inf
				xv[k/3] = float32(math.Inf(1))
				if n > 1 {
					for j := range k {
						xv[k+j] = float32(math.Inf(-1))
					}
				}
			case 4: // a row holding NaN: a NaN gradient row (the
				// stashed kernels' bfloat16 rounding has no NaN path)
				xv[k/5] = float32(math.NaN())
			case 5:
				o.Reduction, o.ZLoss = kernels.Sum, 1
				o.Weight[targets[0]] = 3e38
			}
			x := make([]H, n*k)
			wideX := make([]float32, n*k)
			for i, v := range xv {
				x[i] = from(v)
				wideX[i] = to(x[i])
			}
			ref, err := reference.CrossEntropy(wideX, targets, n, k, &o)
			if err != nil {
				t.Fatal(err)
			}
			r := ref.RoundGrad(func(f float32) float32 { return to(from(f)) })
			for mode := range 3 { // a 16-bit gradient, in place, float32
				xs := slices.Clone(x)
				got := reference.Got[float32]{CheckLoss: true, Items: o.RowLoss, LSE: o.RowLSE, Grad: make([]float32, n*k)}
				if mode == 2 {
					got.Loss, err = kernels.CrossEntropyHalf(xs, targets, n, k, got.Grad, &o)
				} else {
					g := make([]H, n*k)
					if mode == 1 {
						g = xs
					}
					got.Loss, err = kernels.CrossEntropyHalf(xs, targets, n, k, g, &o)
					for i, v := range g {
						got.Grad[i] = to(v)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				rr := r
				if mode == 2 {
					rr = ref
				}
				if err := reference.Check(rr, got); err != nil {
					t.Errorf("%s n=%d k=%d case %d wide=%v grad mode %d: %v", kernels.Backend(), n, k, c, wide, mode, err)
				}
			}
		}
	}
}
