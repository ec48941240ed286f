//go:build arm64 && !purego

package arm64

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// near compares with a relative tolerance, NaN equal to NaN.
func near(got, want, tol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func tolOf[T args.Float]() float64 {
	if is32[T]() {
		return 2e-5
	}
	return 1e-12
}

func checkSlice[T args.Float](t *testing.T, name string, got, want []T) {
	t.Helper()
	for i := range want {
		if !near(float64(got[i]), float64(want[i]), tolOf[T]()) {
			t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestCrossEntropyMatchesGeneric runs the NEON table and the generic one
// on the same inputs for every option combination the NEON kernel handles
// itself (and a few it hands back), lengths around the vector widths.
func TestCrossEntropyMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testCE[float32](t) })
	t.Run("f64", func(t *testing.T) { testCE[float64](t) })
}

func testCE[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	neon := table[T]()
	for _, k := range []int{1, 2, 3, 4, 5, 7, 16, 17, 33, 100} {
		for mask := 0; mask < 128; mask++ {
			weights, ignore, smooth, zloss, withGrad, inPlace, focal := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0, mask&16 != 0, mask&32 != 0, mask&64 != 0
			if inPlace && !withGrad || focal && (smooth || zloss) {
				continue
			}
			n := 5
			x := make([]T, n*k)
			for i := range x {
				x[i] = T(rng.NormFloat64() * 4)
			}
			tg := make([]int32, n)
			for i := range tg {
				tg[i] = int32(rng.Intn(k))
			}
			a := args.CE[T]{X: x, N: n, K: k, Targets: tg, GradScale: T(1) / T(n),
				RowLoss: make([]T, n), RowLSE: make([]T, n)}
			if weights {
				a.Weight = make([]T, k)
				for i := range a.Weight {
					a.Weight[i] = T(rng.Float64() * 2)
				}
				a.Weight[0] = 0
			}
			if ignore {
				a.HasIgnore, a.Ignore = true, tg[1]
			}
			if smooth {
				a.Smoothing = 0.1
			}
			if zloss {
				a.ZLoss = 1e-3
			}
			if focal {
				a.Focal, a.FocalGamma = true, T([]float64{0, 0.5, 2}[k%3])
			}
			b := a
			b.X = append([]T(nil), x...)
			b.RowLoss, b.RowLSE = make([]T, n), make([]T, n)
			if withGrad {
				a.Grad = make([]T, n*k)
				b.Grad = make([]T, n*k)
				if inPlace {
					a.Grad = a.X
				}
			}
			name := fmt.Sprintf("k=%d/opts=%07b", k, mask)
			want := generic.CrossEntropy(b)
			got := neon.CrossEntropy(a)
			if !near(got, want, tolOf[T]()) {
				t.Errorf("%s: loss %v, want %v", name, got, want)
			}
			checkSlice(t, name+" rowloss", a.RowLoss, b.RowLoss)
			checkSlice(t, name+" rowlse", a.RowLSE, b.RowLSE)
			if withGrad {
				checkSlice(t, name+" grad", a.Grad, b.Grad)
			}
		}
	}
}

// TestSpecialRows: rows with ±Inf or NaN logits give what generic gives.
func TestSpecialRows(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	rows := [][]float32{
		{1, 2, inf, 3, 4},
		{-inf, -inf, -inf, -inf, -inf},
		{1, -inf, 2, 3, 4},
		{1, nan, 2, 3, 4},
		{inf, inf, 1, 2, 3},
	}
	for _, r := range rows {
		x := append([]float32(nil), r...)
		a := args.CE[float32]{X: x, N: 1, K: len(x), Targets: []int32{2}, GradScale: 1, Grad: make([]float32, len(x)), RowLSE: make([]float32, 1)}
		b := a
		b.Grad, b.RowLSE = make([]float32, len(x)), make([]float32, 1)
		got, want := F32().CrossEntropy(a), generic.CrossEntropy(b)
		if !near(got, want, 1e-6) {
			t.Errorf("%v: loss %v, want %v", r, got, want)
		}
		checkSlice(t, fmt.Sprint(r, " grad"), a.Grad, b.Grad)
		checkSlice(t, fmt.Sprint(r, " lse"), a.RowLSE, b.RowLSE)
	}
}

func TestRowsMatchGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testRows[float32](t) })
	t.Run("f64", func(t *testing.T) { testRows[float64](t) })
}

func testRows[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	neon, gen := table[T](), generic.Impl[T]()
	for _, k := range []int{1, 3, 4, 5, 16, 19, 64, 1000} {
		n := 3
		x := make([]T, n*k)
		for i := range x {
			x[i] = T(rng.NormFloat64() * 10)
		}
		for _, c := range []struct {
			name string
			f, g func(args.Rows[T])
			out  int
		}{
			{"Softmax", neon.Softmax, gen.Softmax, n * k},
			{"LogSoftmax", neon.LogSoftmax, gen.LogSoftmax, n * k},
			{"LogSumExp", neon.LogSumExp, gen.LogSumExp, n},
		} {
			got, want := make([]T, c.out), make([]T, c.out)
			c.f(args.Rows[T]{X: x, N: n, K: k, Dst: got})
			c.g(args.Rows[T]{X: x, N: n, K: k, Dst: want})
			checkSlice(t, fmt.Sprintf("%s k=%d", c.name, k), got, want)
		}
	}
}

func TestElementwiseMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	neon, gen := F32(), generic.Impl[float32]()
	x := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, 17, -17, 88, -88, 89, -104, 200, -200,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	for i := 0; i < 300; i++ {
		x = append(x, float32(rng.NormFloat64()*math.Pow(10, rng.Float64()*4-2)))
	}
	for _, c := range []struct {
		name string
		f, g func(args.Elementwise[float32])
	}{
		{"Sigmoid", neon.Sigmoid, gen.Sigmoid},
		{"Softplus", neon.Softplus, gen.Softplus},
		{"LogSigmoid", neon.LogSigmoid, gen.LogSigmoid},
	} {
		for n := 0; n <= len(x); n += 1 + n/8 {
			got, want := make([]float32, n), make([]float32, n)
			c.f(args.Elementwise[float32]{X: x[:n], Dst: got})
			c.g(args.Elementwise[float32]{X: x[:n], Dst: want})
			for i := range want {
				if !near(float64(got[i]), float64(want[i]), 4e-7) && ulp32(got[i], float64(want[i])) > 2 {
					t.Errorf("%s(%v) = %v, want %v", c.name, x[i], got[i], want[i])
				}
			}
		}
	}
}

func TestElementwiseF64MatchesGeneric(t *testing.T) {
	x := []float64{0, math.Copysign(0, -1), 1e-300, -1e-300, 1e-8, -1e-8, 0.5, -0.5, 17, -17, 36, -36, 700, -700, 746, -746, 800, -800,
		math.Inf(1), math.Inf(-1), math.NaN()}
	rng := rand.New(rand.NewSource(6))
	for i := 0; i < 200; i++ {
		x = append(x, rng.NormFloat64()*math.Pow(10, rng.Float64()*4-2))
	}
	neon, gen := F64(), generic.Impl[float64]()
	for _, c := range []struct {
		name string
		f, g func(args.Elementwise[float64])
	}{
		{"Sigmoid", neon.Sigmoid, gen.Sigmoid},
		{"Softplus", neon.Softplus, gen.Softplus},
		{"LogSigmoid", neon.LogSigmoid, gen.LogSigmoid},
	} {
		for n := 0; n <= len(x); n += 1 + n/8 {
			got, want := make([]float64, n), make([]float64, n)
			c.f(args.Elementwise[float64]{X: x[:n], Dst: got})
			c.g(args.Elementwise[float64]{X: x[:n], Dst: want})
			for i := range want {
				if !near(got[i], want[i], 1e-15) && ulp64(got[i], want[i]) > 2 {
					t.Errorf("%s(%v) = %v, want %v", c.name, x[i], got[i], want[i])
				}
			}
		}
	}
}

func TestBCELogitsMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testBCE[float32](t) })
	t.Run("f64", func(t *testing.T) { testBCE[float64](t) })
}

func testBCE[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, k := range []int{1, 3, 4, 7, 300} {
		for mask := 0; mask < 32; mask++ {
			n := 3
			nk := n * k
			a := args.Binary[T]{Kind: args.BCEWithLogits, N: n, K: k, FNWeight: 1, FPWeight: 1, GradScale: 0.5, Alpha: -1,
				X: make([]T, nk), Y: make([]T, nk)}
			for i := range a.X {
				a.X[i] = T(rng.NormFloat64() * 6)
				a.Y[i] = T(rng.Intn(2))
				if mask&16 != 0 {
					a.Y[i] = T(rng.Float64())
				}
			}
			a.X[0], a.Y[0] = T(math.Inf(-1)), 0
			if nk > 1 {
				a.X[1], a.Y[1] = T(math.Inf(1)), 1
			}
			if mask&1 != 0 {
				a.Weight = make([]T, nk)
				for i := range a.Weight {
					a.Weight[i] = T(rng.Float64())
				}
			}
			if mask&2 != 0 {
				a.PosWeight = make([]T, k)
				for i := range a.PosWeight {
					a.PosWeight[i] = T(rng.Float64() * 3)
				}
			}
			if mask&4 != 0 {
				a.FNWeight, a.FPWeight = 2, 0.5
			}
			if mask&8 != 0 {
				a.Grad, a.Loss = make([]T, nk), make([]T, nk)
			}
			b := a
			if a.Grad != nil {
				b.Grad, b.Loss = make([]T, nk), make([]T, nk)
			}
			name := fmt.Sprintf("k=%d/opts=%05b", k, mask)
			got, want := table[T]().Binary(a), generic.Binary(b)
			if !near(got, want, tolOf[T]()) {
				t.Errorf("%s: sum %v, want %v", name, got, want)
			}
			if a.Grad != nil {
				checkSlice(t, name+" grad", a.Grad, b.Grad)
				checkSlice(t, name+" loss", a.Loss, b.Loss)
			}
		}
	}
}

func TestRegressionMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testRegression[float32](t) })
	t.Run("f64", func(t *testing.T) { testRegression[float64](t) })
}

func testRegression[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for kind := args.MSE; kind <= args.SmoothL1; kind++ {
		for _, n := range []int{0, 1, 3, 4, 5, 9, 300, 600} {
			for mask := 0; mask < 4; mask++ {
				a := args.Regression[T]{Kind: kind, X: make([]T, n), Y: make([]T, n), Param: 0.7, GradScale: 0.25}
				for i := range a.X {
					a.X[i] = T(rng.NormFloat64() * 2)
					a.Y[i] = T(rng.NormFloat64())
				}
				if n > 3 {
					a.X[0], a.X[1], a.X[2] = a.Y[0], T(math.NaN()), T(math.Inf(-1))
				}
				if mask&1 != 0 {
					a.Weight = make([]T, n)
					for i := range a.Weight {
						a.Weight[i] = T(rng.Float64())
					}
				}
				if mask&2 != 0 {
					a.Grad, a.Loss = make([]T, n), make([]T, n)
				}
				b := a
				if a.Grad != nil {
					b.Grad, b.Loss = make([]T, n), make([]T, n)
				}
				name := fmt.Sprintf("kind=%d n=%d opts=%02b", kind, n, mask)
				got, want := table[T]().Regression(a), generic.Regression(b)
				if !near(got, want, tolOf[T]()) {
					t.Errorf("%s: sum %v, want %v", name, got, want)
				}
				if a.Grad != nil {
					checkSlice(t, name+" grad", a.Grad, b.Grad)
					checkSlice(t, name+" loss", a.Loss, b.Loss)
				}
			}
		}
	}
}

func TestSigmoidFocalMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testFocal[float32](t) })
	t.Run("f64", func(t *testing.T) { testFocal[float64](t) })
}

func testFocal[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, gamma := range []T{0, 1, 2, 0.5, 3.5} {
		for _, alpha := range []T{-1, 0.25} {
			for _, n := range []int{1, 3, 4, 7, 300, 700} {
				for mask := 0; mask < 8; mask++ {
					a := args.Binary[T]{Kind: args.SigmoidFocal, N: 1, K: n, FNWeight: 1, FPWeight: 1, GradScale: 0.5,
						Alpha: alpha, Gamma: gamma, X: make([]T, n), Y: make([]T, n)}
					for i := range a.X {
						a.X[i] = T(rng.NormFloat64() * 6)
						a.Y[i] = T(rng.Intn(2))
					}
					if n > 4 {
						a.X[0], a.X[1], a.X[2], a.X[3] = T(math.Inf(1)), T(math.Inf(-1)), 40, -40
					}
					if mask&4 != 0 && n > 5 {
						a.Y[5] = 0.3 // a soft label: that chunk goes to generic
					}
					if mask&1 != 0 {
						a.Weight = make([]T, n)
						for i := range a.Weight {
							a.Weight[i] = T(rng.Float64())
						}
					}
					if mask&2 != 0 {
						a.Grad, a.Loss = make([]T, n), make([]T, n)
					}
					b := a
					if a.Grad != nil {
						b.Grad, b.Loss = make([]T, n), make([]T, n)
					}
					name := fmt.Sprintf("gamma=%v alpha=%v n=%d opts=%03b", gamma, alpha, n, mask)
					got, want := table[T]().Binary(a), generic.Binary(b)
					if !near(got, want, tolOf[T]()) {
						t.Errorf("%s: sum %v, want %v", name, got, want)
					}
					if a.Grad != nil {
						checkSlice(t, name+" grad", a.Grad, b.Grad)
						checkSlice(t, name+" loss", a.Loss, b.Loss)
					}
				}
			}
		}
	}
}

func TestCrossEntropyProbsMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testCEProbs[float32](t) })
	t.Run("f64", func(t *testing.T) { testCEProbs[float64](t) })
}

func testCEProbs[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, k := range []int{1, 2, 3, 4, 5, 7, 16, 17, 33, 100} {
		for mask := 0; mask < 64; mask++ {
			weights, smooth, zloss, withGrad, inPlace, sparse := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0, mask&16 != 0, mask&32 != 0
			if inPlace && !withGrad {
				continue
			}
			n := 4
			x, p := make([]T, n*k), make([]T, n*k)
			for i := range x {
				x[i] = T(rng.NormFloat64() * 4)
			}
			for r := 0; r < n; r++ {
				var s float64
				for j := 0; j < k; j++ {
					v := rng.Float64()
					if sparse && j%3 != 0 {
						v = 0
						x[r*k+j] = T(math.Inf(-1)) // 0·(−Inf) must not poison the row
					}
					p[r*k+j] = T(v)
					s += v
				}
				for j := 0; j < k; j++ {
					if s > 0 {
						p[r*k+j] /= T(s)
					}
				}
			}
			a := args.CE[T]{X: x, Probs: p, N: n, K: k, GradScale: T(1) / T(n), RowLoss: make([]T, n), RowLSE: make([]T, n)}
			if weights {
				a.Weight = make([]T, k)
				for i := range a.Weight {
					a.Weight[i] = T(rng.Float64() * 2)
				}
				a.Weight[0] = 0
			}
			if smooth && !sparse {
				a.Smoothing = 0.1
			}
			if zloss {
				a.ZLoss = 1e-3
			}
			b := a
			b.X = append([]T(nil), x...)
			b.RowLoss, b.RowLSE = make([]T, n), make([]T, n)
			if withGrad {
				a.Grad, b.Grad = make([]T, n*k), make([]T, n*k)
				if inPlace {
					a.Grad = a.X
				}
			}
			name := fmt.Sprintf("k=%d/opts=%06b", k, mask)
			want := generic.CrossEntropy(b)
			got := table[T]().CrossEntropy(a)
			if !near(got, want, tolOf[T]()) {
				t.Errorf("%s: loss %v, want %v", name, got, want)
			}
			checkSlice(t, name+" rowloss", a.RowLoss, b.RowLoss)
			checkSlice(t, name+" rowlse", a.RowLSE, b.RowLSE)
			if withGrad {
				checkSlice(t, name+" grad", a.Grad, b.Grad)
			}
		}
	}
}

// backwardLengths are the lengths (element-wise) and row widths the
// backward passes are tested at: around the vector and unroll widths.
var backwardLengths = []int{1, 2, 3, 4, 5, 7, 15, 16, 17, 33, 1000}

// backwardInputs returns n values of scale s with the special values
// (±0, ±Inf, NaN, values where exp over- or underflows) spread through
// them from index off on when n allows.
func backwardInputs[T args.Float](rng *rand.Rand, n, off int, s float64) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(rng.NormFloat64() * s)
	}
	special := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 120, -120, 800, -800, 1e-30}
	for j, v := range special {
		if i := (j*7 + off) % (n + 1); n >= 8 && i < n {
			x[i] = T(v)
		}
	}
	return x
}

// guardedT is guarded for an args.Float type parameter.
func guardedT[T args.Float](t *testing.T, n int, atEnd bool) []T {
	if is32[T]() {
		s := guarded[float32](t, n, atEnd)
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), n)
	}
	s := guarded[float64](t, n, atEnd)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(s))), n)
}

// checkBackward compares got with want elementwise: the NEON kernels
// round in T several times where generic rounds its float64 result once.
func checkBackward[T args.Float](t *testing.T, name string, got, want []T) {
	t.Helper()
	tol := 8e-7
	if !is32[T]() {
		tol = 1e-14
	}
	for i := range want {
		if !near(float64(got[i]), float64(want[i]), tol) {
			t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
			return
		}
	}
}

// TestBackwardMatchesGeneric runs each backward pass and Softplus with β
// and threshold on the NEON table and the generic one, element-wise slices
// flush against guard pages, rows of every width in backwardLengths, dx
// separate, equal to dy and equal to the saved tensor.
func TestBackwardMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testBackward[float32](t) })
	t.Run("f64", func(t *testing.T) { testBackward[float64](t) })
}

func testBackward[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	neon, gen := table[T](), generic.Impl[T]()
	inf := T(math.Inf(1))
	type ew struct {
		name      string
		f, g      func(args.Elementwise[T])
		beta, thr T
		prob      bool // X is a sigmoid's output: mostly in [0, 1]
	}
	ews := []ew{
		{"Softplus", neon.Softplus, gen.Softplus, 1, inf, false},
		{"SoftplusBeta(2,20)", neon.Softplus, gen.Softplus, 2, 20, false},
		{"SoftplusBeta(-0.5,3)", neon.Softplus, gen.Softplus, -0.5, 3, false},
		{"SoftplusBeta(1,20)", neon.Softplus, gen.Softplus, 1, 20, false},
		{"SoftplusBeta(0.3,+Inf)", neon.Softplus, gen.Softplus, 0.3, inf, false},
		{"SoftplusBeta(3,-Inf)", neon.Softplus, gen.Softplus, 3, -inf, false},
		{"SigmoidBackward", neon.SigmoidBackward, gen.SigmoidBackward, 1, inf, true},
		{"LogSigmoidBackward", neon.LogSigmoidBackward, gen.LogSigmoidBackward, 1, inf, false},
		{"SoftplusBackward", neon.SoftplusBackward, gen.SoftplusBackward, 1, inf, false},
		{"SoftplusBackward(2,20)", neon.SoftplusBackward, gen.SoftplusBackward, 2, 20, false},
		{"SoftplusBackward(-0.5,3)", neon.SoftplusBackward, gen.SoftplusBackward, -0.5, 3, false},
	}
	for _, c := range ews {
		for _, n := range append([]int{0}, backwardLengths...) {
			x := backwardInputs[T](rng, n, 3, 8)
			if c.prob {
				for i := range x {
					if v := float64(x[i]); v-v == 0 && v != 0 {
						x[i] = T(1 / (1 + math.Exp(-v)))
					}
				}
			}
			dy := backwardInputs[T](rng, n, 5, 1)
			for i, v := range x {
				if v == 120 || v == -120 { // ±Inf times a σ that underflows in float32
					dy[i] = T(math.Copysign(math.Inf(1), float64(v)))
				}
			}
			want := make([]T, n)
			c.g(args.Elementwise[T]{X: x, Dy: dy, Dst: want, Beta: c.beta, Threshold: c.thr})
			for _, atEnd := range []bool{false, true} {
				for _, alias := range []string{"", "x", "dy"} {
					gx, gdy := guardedT[T](t, n, atEnd), guardedT[T](t, n, atEnd)
					copy(gx, x)
					copy(gdy, dy)
					dst := guardedT[T](t, n, atEnd)
					switch alias {
					case "x":
						dst = gx
					case "dy":
						dst = gdy
					}
					c.f(args.Elementwise[T]{X: gx, Dy: gdy, Dst: dst, Beta: c.beta, Threshold: c.thr})
					checkBackward(t, fmt.Sprintf("%s n=%d atEnd=%v dst=%q", c.name, n, atEnd, alias), dst, want)
				}
			}
		}
	}

	type rows struct {
		name   string
		f, g   func(args.Rows[T])
		perRow bool // LogSumExpBackward: dy and lse per row
	}
	for _, c := range []rows{
		{"SoftmaxBackward", neon.SoftmaxBackward, gen.SoftmaxBackward, false},
		{"LogSoftmaxBackward", neon.LogSoftmaxBackward, gen.LogSoftmaxBackward, false},
		{"LogSumExpBackward", neon.LogSumExpBackward, gen.LogSumExpBackward, true},
	} {
		for _, k := range backwardLengths {
			n := 4
			x := backwardInputs[T](rng, n*k, 3, 3)
			var dy, lse []T
			if c.perRow {
				dy, lse = backwardInputs[T](rng, n, 0, 1), make([]T, n)
				gen.LogSumExp(args.Rows[T]{X: x, N: n, K: k, Dst: lse})
				lse[0] -= 200 // a stale lse: exp(x − lse) overflows
				dy[1], dy[2], dy[3] = inf, 0, T(math.NaN())
			} else {
				// The saved output of Softmax or LogSoftmax on all rows but
				// the first, which keeps its special values.
				y := make([]T, n*k)
				if c.name == "SoftmaxBackward" {
					gen.Softmax(args.Rows[T]{X: x, N: n, K: k, Dst: y})
				} else {
					gen.LogSoftmax(args.Rows[T]{X: x, N: n, K: k, Dst: y})
				}
				copy(x[k:], y[k:])
				dy = backwardInputs[T](rng, n*k, 5, 1)
				for j := k; j < len(dy); j++ {
					if v := float64(dy[j]); v-v != 0 {
						dy[j] = 0.5
					}
				}
			}
			want := make([]T, n*k)
			c.g(args.Rows[T]{X: x, N: n, K: k, Dy: dy, LSE: lse, Dst: want})
			aliases := []string{"", "x", "dy"}
			if c.perRow {
				aliases = aliases[:2]
			}
			for _, alias := range aliases {
				gx, gdy := append([]T(nil), x...), append([]T(nil), dy...)
				dst := make([]T, n*k)
				switch alias {
				case "x":
					dst = gx
				case "dy":
					dst = gdy
				}
				c.f(args.Rows[T]{X: gx, N: n, K: k, Dy: gdy, LSE: lse, Dst: dst})
				name := fmt.Sprintf("%s k=%d dst=%q", c.name, k, alias)
				// The products y·dy and the row sum are rounded to T.
				checkSlice(t, name, dst, want)
			}
		}
	}
}

// TestKLDivMatchesGeneric runs kl_div (probability and log targets) on the
// NEON table and the generic one at lengths around the vector and unroll
// widths, with the edge values spread through the inputs: p = 0 beside
// x = −Inf and NaN, subnormal p, t = −Inf, t = −800 (e^t underflows even
// float64) beside x = −Inf, NaN on either side; gradient separate or in
// place, per-element loss or none, gradient or none.
func TestKLDivMatchesGeneric(t *testing.T) {
	t.Run("f32", func(t *testing.T) { testKLDiv[float32](t) })
	t.Run("f64", func(t *testing.T) { testKLDiv[float64](t) })
}

func testKLDiv[T args.Float](t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	inf, nan := math.Inf(1), math.NaN()
	tiny := 0x1p-140 // subnormal in float32
	if !is32[T]() {
		tiny = 0x1p-1060
	}
	for _, kind := range []args.RegressionKind{args.KLDiv, args.KLDivLogTarget} {
		// (x, y) pairs placed at the start of the slices (as many as fit)
		// and again from index 9 on.
		type pair struct{ x, y float64 }
		special := []pair{{-inf, 0}, {nan, 0}, {-1, 0}, {-2, tiny}, {-inf, tiny}, {-3, tiny / 7}, {nan, 0.5}, {-1, nan}, {-inf, 1}, {0, 1}}
		if kind == args.KLDivLogTarget {
			special = []pair{{-inf, -inf}, {nan, -inf}, {-1, -inf}, {-inf, -800}, {-2, -800}, {-inf, -110}, {-3, -103.5}, {nan, -1}, {-1, nan}, {-inf, 0}, {-2, -745.5}}
		}
		// A second round keeps only the pairs whose loss is finite, so that
		// the sums are compared as numbers, not as NaN or Inf.
		var finite []pair
		for _, s := range special {
			l := []T{0}
			generic.KLDiv(args.Regression[T]{Kind: kind, X: []T{T(s.x)}, Y: []T{T(s.y)}, Loss: l})
			if v := float64(l[0]); v-v == 0 {
				finite = append(finite, s)
			}
		}
		for round, n := range append(append([]int{0}, backwardLengths...), backwardLengths...) {
			if round > len(backwardLengths) {
				special = finite
			}
			x, y := make([]T, n), make([]T, n)
			for i := range x {
				x[i] = T(math.Log(rng.Float64()) * 2)
				p := rng.Float64()
				if kind == args.KLDivLogTarget {
					y[i] = T(math.Log(p) * 3)
				} else {
					y[i] = T(p * p)
				}
			}
			for j, s := range special {
				for _, i := range []int{j, 9 + j} {
					if i < n {
						x[i], y[i] = T(s.x), T(s.y)
					}
				}
			}
			for mask := 0; mask < 8; mask++ { // grad, loss, in place
				wantG, wantL := make([]T, n), make([]T, n)
				b := args.Regression[T]{Kind: kind, X: x, Y: y, GradScale: 0.37}
				a := args.Regression[T]{Kind: kind, X: append([]T(nil), x...), Y: append([]T(nil), y...), GradScale: 0.37}
				if mask&1 != 0 {
					b.Grad, a.Grad = wantG, make([]T, n)
					if mask&4 != 0 {
						a.Grad = a.X
					}
				} else if mask&4 != 0 {
					continue
				}
				if mask&2 != 0 {
					b.Loss, a.Loss = wantL, make([]T, n)
				}
				name := fmt.Sprintf("kind=%d n=%d opts=%03b finite=%v", kind, n, mask, round > len(backwardLengths))
				got, want := table[T]().KLDiv(a), generic.KLDiv(b)
				if !near(got, want, tolOf[T]()) {
					t.Errorf("%s: sum %v, want %v", name, got, want)
				}
				if a.Grad != nil {
					checkKL(t, name+" grad", kind, x, y, a.Grad, b.Grad, true)
				}
				if a.Loss != nil {
					checkKL(t, name+" loss", kind, x, y, a.Loss, b.Loss, false)
				}
			}
		}
	}
}

// checkKL compares kl_div's outputs element by element with a bound that
// still sees errors in the smallest values (near's absolute floor of the
// tolerance would hide them): a few roundings of T relative to the terms
// p·log p and p·x, plus the least subnormal of T a rounding, times |t − x|
// with log targets (p = e^t is rounded to T before the product; generic
// rounds once). A non-finite value must match exactly.
func checkKL[T args.Float](t *testing.T, name string, kind args.RegressionKind, x, y, got, want []T, grad bool) {
	t.Helper()
	eps, least := 0x1p-23, 0x1p-149
	if !is32[T]() {
		eps, least = 0x1p-52, 0x1p-1074
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if w-w != 0 || g-g != 0 {
			if !(g == w || math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("%s[%d] = %v, want %v (x=%v y=%v)", name, i, got[i], want[i], x[i], y[i])
				return
			}
			continue
		}
		xf, yf := float64(x[i]), float64(y[i])
		p, lp := yf, math.Log(yf)
		if kind == args.KLDivLogTarget {
			p, lp = math.Exp(yf), yf
		}
		bound := 8*eps*(math.Abs(p*lp)+math.Abs(p*xf)) + 2*least
		if grad {
			bound = 4*eps*math.Abs(w) + 2*least
		}
		if kind == args.KLDivLogTarget && !grad {
			bound += least * math.Abs(lp-xf)
		}
		if !(math.Abs(g-w) <= bound) && !(bound != bound && g == w) {
			t.Errorf("%s[%d] = %v, want %v (x=%v y=%v)", name, i, got[i], want[i], x[i], y[i])
			return
		}
	}
}

// TestDistillMatchesGeneric runs Distill on the NEON table and the generic
// one for each divergence (ForwardKL, ReverseKL, JSD at β = 0.5, 0.1 and
// 0.9) at every row width from 1 to 40 (around the vector and unroll
// widths) and at 100, 1000, 1003 and 4099 (fewer under -short), with the student, teacher and
// gradient flush against guard pages, the gradient separate, in place or
// absent, ignored rows, four temperatures with and without T² scaling,
// and rows of these kinds: plain; teacher −Inf (student −Inf at some of
// them) and exponentials that underflow T; large offsets; huge negative
// student logits beside finite teacher ones; and, in the special rounds,
// student −Inf beside a teacher whose exponential underflows even float64
// (+Inf), NaN, teacher +Inf, a student logit of −MaxFloat (its scaled
// value −Inf where τ > 1), an all −Inf student (NaN rows), student +Inf,
// an all −Inf teacher, and student −Inf beside finite teacher logits.
func TestDistillMatchesGeneric(t *testing.T) {
	for _, d := range []struct {
		name string
		div  args.Divergence
		beta float64
	}{{"fwd", args.ForwardKL, 0}, {"rev", args.ReverseKL, 0}, {"jsd0.5", args.JSD, 0.5}, {"jsd0.1", args.JSD, 0.1}, {"jsd0.9", args.JSD, 0.9}} {
		if testing.Short() && d.beta == 0.9 {
			continue // -short: JSD at β = 0.5 and 0.1 (the kernels take β only through log β, log(1−β) and 1−β)
		}
		t.Run(d.name+"/f32", func(t *testing.T) { testDistill[float32](t, d.div, d.beta) })
		t.Run(d.name+"/f64", func(t *testing.T) { testDistill[float64](t, d.div, d.beta) })
	}
}

func testDistill[T args.Float](t *testing.T, div args.Divergence, beta float64) {
	rng := rand.New(rand.NewSource(12))
	var ks []int
	for k := 1; k <= 40; k++ {
		ks = append(ks, k)
	}
	ks = append(ks, 100, 1000, 1003, 4099)
	// -short (CI under qemu): ReverseKL and JSD skip K = 21…30, 34…40,
	// 1000 and 1003 (the tails and the vector pairs stay covered by 1…20
	// and 31…33), and at K = 4099 the guard page at the end.
	short := testing.Short() && div != args.ForwardKL
	const n = 12
	for _, k := range ks {
		if short && (k == 1000 || k == 1003 || k > 20 && k <= 40 && (k < 31 || k > 33)) {
			continue
		}
		for mask := 0; mask < 32; mask++ {
			withGrad, inPlace, special, atEnd, ignore := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0, mask&16 != 0
			if inPlace && !withGrad || short && k > 1000 && atEnd {
				continue
			}
			temp := []float64{1, 2, 0.5, 3}[(k+mask)%4]
			lam := 1.0
			if (k+mask/4)%2 == 0 {
				lam = temp * temp
			}
			tau := T(1 / temp)
			s, te := distillInputs[T](rng, n, k, special)
			a := args.CE[T]{N: n, K: k, InvTemp: tau, LossScale: T(lam),
				GradScale: T(lam * float64(tau) / n), RowLoss: make([]T, n),
				Divergence: div, Beta: T(beta)}
			if ignore {
				a.Targets = make([]int32, n)
				a.Targets[1], a.Targets[4] = -100, -100
				a.HasIgnore, a.Ignore = true, -100
			}
			b := a
			b.X, b.Teacher, b.RowLoss = s, te, make([]T, n)
			a.X, a.Teacher = guardedT[T](t, n*k, atEnd), guardedT[T](t, n*k, atEnd)
			copy(a.X, s)
			copy(a.Teacher, te)
			if withGrad {
				b.Grad = make([]T, n*k)
				a.Grad = guardedT[T](t, n*k, atEnd)
				if inPlace {
					a.Grad = a.X
				}
			}
			name := fmt.Sprintf("k=%d/opts=%05b", k, mask)
			want := generic.Distill(b)
			got := table[T]().Distill(a)
			checkDistill(t, name, b, a.RowLoss, a.Grad, got, want)
		}
	}
}

// distillInputs returns n rows of k student and teacher logits, row r of
// the kind listed in TestDistillMatchesGeneric.
func distillInputs[T args.Float](rng *rand.Rand, n, k int, special bool) (s, t []T) {
	inf, huge := math.Inf(1), 1e30
	if !is32[T]() {
		huge = 1e300
	}
	kinds := []int{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}
	if special {
		kinds = []int{0, 1, 4, 5, 6, 7, 8, 3, 2, 9, 10, 11}
	}
	s, t = make([]T, n*k), make([]T, n*k)
	for r := range n {
		rs, rt := s[r*k:r*k+k], t[r*k:r*k+k]
		for j := range rs {
			rs[j], rt[j] = T(rng.NormFloat64()*3), T(rng.NormFloat64()*3)
		}
		switch kinds[r%len(kinds)] {
		case 1: // teacher −Inf, student −Inf at some of them; underflows
			for j := range rs {
				switch {
				case j%10 == 1:
					rs[j], rt[j] = T(-inf), T(-inf)
				case j%5 == 1:
					rt[j] = T(-inf)
				case j%7 == 3:
					rt[j] = -300 // e^{v−mv} underflows float32 at τ ≥ ½
				case j%7 == 5:
					rs[j] = -300
				}
			}
		case 2: // large offsets (cancel in both softmaxes)
			for j := range rs {
				rs[j] += 4000
				rt[j] -= 6000
			}
		case 3: // huge negative student logits beside finite teacher ones
			for j := range rs {
				switch j % 6 {
				case 2:
					rs[j] = T(-huge)
					rt[j] -= 20
				case 4:
					rs[j], rt[j] = T(-huge), -1e4 // the teacher's e^{v−mv} underflows
				}
			}
		case 4: // student −Inf beside a teacher whose e^{v−mv} underflows float64: +Inf
			rs[0], rt[0] = T(-inf), -1e4
		case 5: // NaN
			if k%2 == 0 {
				rs[k/2] = T(math.NaN())
			} else {
				rt[k/2] = T(math.NaN())
			}
		case 6: // teacher +Inf
			rt[k-1] = T(inf)
		case 7: // −MaxFloat: −Inf once scaled by τ > 1
			rs[k/3] = -T(maxFloat[T]())
		case 8: // a student with no finite logit
			for j := range rs {
				rs[j] = T(-inf)
			}
		case 9: // student +Inf (NaN rows)
			rs[k/2] = T(inf)
		case 10: // a teacher with no finite logit (NaN rows)
			for j := range rt {
				rt[j] = T(-inf)
			}
		case 11: // student −Inf beside finite teacher logits: Q = 0, P > 0
			for j := range rs {
				if j%3 == 1 {
					rs[j] = T(-inf)
				}
			}
		}
	}
	return s, t
}

func maxFloat[T args.Float]() float64 {
	if is32[T]() {
		return math.MaxFloat32
	}
	return math.MaxFloat64
}

// checkDistill compares the NEON outputs with generic's (b holds its
// inputs and outputs). The special-value pattern must be generic's: a
// loss or gradient element that is NaN or ±Inf in either must be the same
// in both, ignored rows exactly +0, and a gradient element whose student
// logit scales to −Inf (Q_j = 0: no term) bit-identical to generic's
// (±0, the sign of the gradient scale). Finite values are within a bound
// derived per divergence (checkForwardRow, checkReverseRow, checkJSDRow)
// from the roundings each side makes, in units of eps (T's) and u64
// (float64's), plus least (T's least subnormal) per gradient element for
// exponentials below T's normal range.
func checkDistill[T args.Float](t *testing.T, name string, b args.CE[T], rowLoss, grad []T, got, want float64) {
	t.Helper()
	k := b.K
	tau := b.InvTemp
	var totalTol float64
	for i := range b.N {
		ignored := b.HasIgnore && b.Targets[i] == b.Ignore
		r := newDistillRef(b, i)
		var g []T
		if grad != nil {
			g = grad[i*k : i*k+k]
		}
		wantG := b.Grad
		if wantG != nil {
			wantG = wantG[i*k : i*k+k]
		}
		gl, wl := float64(rowLoss[i]), float64(b.RowLoss[i])
		var tol float64
		var gradTol func(j int) float64
		switch b.Divergence {
		case args.ReverseKL:
			tol, gradTol = r.reverseTol()
		case args.JSD:
			tol, gradTol = r.jsdTol(float64(b.Beta))
		default:
			tol, gradTol = r.forwardTol()
			tol += tolOf[T]() * math.Max(1, math.Abs(wl))
		}
		if r.ok && !ignored && wl-wl == 0 {
			totalTol += tol
		}
		if ignored {
			tol = 0
		}
		if !(math.Abs(gl-wl) <= tol || gl == wl || math.IsNaN(gl) && math.IsNaN(wl)) || ignored && math.Float64bits(gl) != 0 {
			t.Errorf("%s: row %d loss %v, want %v (tol %g)", name, i, gl, wl, tol)
			return
		}
		if g == nil {
			continue
		}
		for j := range k {
			gj, wj := float64(g[j]), float64(wantG[j])
			ok := false
			switch {
			case ignored:
				ok = math.Float64bits(gj) == 0 && math.Float64bits(wj) == 0
			case wj-wj != 0 || gj-gj != 0:
				ok = gj == wj || math.IsNaN(gj) && math.IsNaN(wj)
			case b.Divergence != args.ForwardKL && math.IsInf(float64(b.X[i*k+j]*tau), -1):
				ok = math.Float64bits(gj) == math.Float64bits(wj) // Q_j = 0: exactly generic's c·0
			default:
				ok = math.Abs(gj-wj) <= gradTol(j)
			}
			if !ok {
				t.Errorf("%s: grad[%d][%d] = %v (%x), want %v (%x) (s=%v t=%v)", name, i, j, gj, math.Float64bits(gj), wj, math.Float64bits(wj), b.X[i*k+j], b.Teacher[i*k+j])
				return
			}
		}
	}
	if !(math.Abs(got-want) <= totalTol || got == want || math.IsNaN(got) && math.IsNaN(want)) {
		t.Errorf("%s: loss %v, want %v", name, got, want)
	}
}

// distillRef is one row's reference quantities in float64: the scaled
// logits z, v, their maxima and log-sum-exps, the loss and gradient
// scales, T's eps and least, and ok when both maxima are finite.
type distillRef struct {
	k                  int
	z, v               []float64
	mz, mv, lz, lv     float64
	lam, c, eps, least float64
	ok                 bool
}

const u64 = 0x1p-53

func newDistillRef[T args.Float](b args.CE[T], i int) distillRef {
	k, tau := b.K, b.InvTemp
	r := distillRef{k: k, z: make([]float64, k), v: make([]float64, k), lam: float64(b.LossScale), c: float64(b.GradScale),
		eps: 0x1p-23, least: 0x1p-149, mz: math.Inf(-1), mv: math.Inf(-1)}
	if !is32[T]() {
		r.eps, r.least = 0x1p-52, 0x1p-1074
	}
	for j := range k {
		r.z[j], r.v[j] = float64(b.X[i*k+j]*tau), float64(b.Teacher[i*k+j]*tau)
		r.mz, r.mv = math.Max(r.mz, r.z[j]), math.Max(r.mv, r.v[j])
	}
	r.ok = r.mz-r.mz == 0 && r.mv-r.mv == 0
	var sz, sv float64
	for j := range k {
		sz += math.Exp(r.z[j] - r.mz)
		sv += math.Exp(r.v[j] - r.mv)
	}
	r.lz, r.lv = r.mz+math.Log(sz), r.mv+math.Log(sv)
	return r
}

// of is x·|d| with 0 where x is 0 (d may be infinite there).
func of(x, d float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Abs(d)
}

// fin is |x|, or 0 where x is not finite (the difference of a −Inf logit,
// whose probability is 0).
func fin(x float64) float64 {
	if x-x != 0 {
		return 0
	}
	return math.Abs(x)
}

// forwardTol: loss, near's tolerance (added by checkDistill) plus float64 roundings of the
// log-sum-exps and of Σ P_j·|v_j − z_j| (both kernels form the divergence
// as Σ P_j·(v_j − z_j) + (lz − lv), which cancel when the logits are
// large; 16 + 2√K of them, the float64 sums' error growing with the row:
// 22 at most were measured, at K = 4099). Gradient: a few roundings of T
// relative to c·Q_j and c·P_j (and |z − m| of them, the rounding of the
// difference each exponential is taken of; 2 u64·|lz| from generic's
// rounded log-sum-exps), plus least·|c| for exponentials below T's normal
// range.
func (r distillRef) forwardTol() (float64, func(int) float64) {
	var abs float64
	for j := range r.k {
		if d := math.Abs(r.v[j] - r.z[j]); r.v[j] > math.Inf(-1) && d-d == 0 {
			abs += math.Exp(r.v[j]-r.lv) * d
		}
	}
	tol := (16 + 2*math.Sqrt(float64(r.k))) * u64 * r.lam * (math.Abs(r.lz) + math.Abs(r.lv) + abs)
	return tol, func(j int) float64 {
		q, p := math.Exp(r.z[j]-r.lz), math.Exp(r.v[j]-r.lv)
		return math.Abs(r.c)*(r.eps*(16*(q+p)+of(q, r.z[j]-r.mz)+of(p, r.v[j]-r.mv))+2*u64*(of(q, r.lz)+of(p, r.lv))) +
			4*r.least*math.Max(1, math.Abs(r.c))
	}
}

// reverseTol: KL(Q‖P) = D + lv − lz, D = Σ Q_j·(z_j − v_j), the forward
// divergence with the roles swapped, bounded without near's floor. Loss:
// T's exponentials e^{z−mz} carry (8 + |z − mz|) eps relative (exp's
// error and the rounding of the difference), which reaches the sums,
// their logs and each term Q_j·(z_j − v_j), and D once more through
// Σe^{z−mz}; float64's roundings as forwardTol's. Gradient
// c·Q_j·((z_j − v_j) − D): the same relative error of Q_j times
// |δ_j − D| (δ_j = z_j − v_j), the roundings of δ_j, of D to T and of the
// difference (2 eps·(|δ_j| + |D|)), the error of D itself, generic's
// u64·|lz| in Q_j, and least·|c| per unit of |δ_j − D| for Q_j below T's
// normal range (T's exponential underflows, or is subnormal, where
// float64's is not).
func (r distillRef) reverseTol() (float64, func(int) float64) {
	var absQ, errD, errLse float64
	q := make([]float64, r.k)
	for j := range r.k {
		q[j] = math.Exp(r.z[j] - r.lz)
		errLse += q[j]*(8+fin(r.z[j]-r.mz)) + math.Exp(r.v[j]-r.lv)*(8+fin(r.v[j]-r.mv))
	}
	var d float64
	for j := range r.k {
		if q[j] != 0 {
			d += q[j] * (r.z[j] - r.v[j])
		}
	}
	for j := range r.k {
		if q[j] != 0 {
			absQ += q[j] * math.Abs(r.z[j]-r.v[j])
			errD += r.eps * q[j] * (8 + math.Abs(r.z[j]-r.mz)) * (math.Abs(r.z[j]-r.v[j]) + math.Abs(d))
		}
	}
	fl := 2 * (8 + math.Sqrt(float64(r.k))) * u64
	errD += fl * absQ
	tol := r.lam * (r.eps*errLse + errD + fl*(math.Abs(r.lz)+math.Abs(r.lv)))
	return tol, func(j int) float64 {
		dd := math.Abs(r.z[j] - r.v[j] - d)
		if q[j] == 0 { // no term: |z − v| may overflow, and 0·Inf is NaN
			return 4 * r.least * math.Max(1, math.Abs(r.c))
		}
		return math.Abs(r.c)*q[j]*(r.eps*((8+fin(r.z[j]-r.mz))*dd+2*(math.Abs(r.z[j]-r.v[j])+math.Abs(d)))+errD+2*u64*math.Abs(r.lz)*dd) +
			4*r.least*math.Max(1, math.Abs(r.c))*math.Max(1, dd)
	}
}

// jsdTol: β·KP + (1−β)·KQ, KP = Σ P_j·(a_j − lm_j), KQ = Σ Q_j·(b_j − lm_j),
// a = log P, b = log Q, lm = log M. Each difference a_j − lm_j is formed
// from roundings of T no larger than |v − mv|, |z − mz|, log K, |log β|,
// |log(1−β)| and the differences themselves (a = (v − mv) − log Σ, la, lb,
// log1p's few eps absolute, lm, a − lm): 16 eps times
// r_j = 1 + |v_j − mv| + |z_j − mz| + log K + |log β| + |log(1−β)| +
// |a_j − lm_j| + |b_j − lm_j|; P_j and Q_j carry (8 + |v − mv|) and
// (8 + |z − mz|) eps relative; generic rounds lv and lz to float64
// (2 u64·(|lv| + |lz|) per unit of probability) and both sum in float64
// (2√K u64 of Σ|terms|); least per element for T's underflowed
// probabilities. Gradient c·(1−β)·Q_j·((b_j − lm_j) − KQ): Q_j's error
// times the factor, the factor's roundings (16 eps·r_j and eps·|KQ|), KQ's
// own error, and least·|c| per unit of the factor.
func (r distillRef) jsdTol(beta float64) (float64, func(int) float64) {
	lb, lb1 := math.Log(beta), math.Log1p(-beta)
	k := r.k
	p, q, da, db, rr := make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k), make([]float64, k)
	var kq float64
	for j := range k {
		a, b := r.v[j]-r.lv, r.z[j]-r.lz
		la, lbb := a+lb, b+lb1
		e := -math.Abs(la - lbb)
		if e != e {
			e = math.Inf(-1)
		}
		lm := math.Max(la, lbb) + math.Log1p(math.Exp(e))
		p[j], q[j] = math.Exp(a), math.Exp(b)
		if p[j] != 0 {
			da[j] = a - lm
		}
		if q[j] != 0 {
			db[j] = b - lm
			kq += q[j] * db[j]
		}
		rr[j] = 1 + fin(r.v[j]-r.mv) + fin(r.z[j]-r.mz) + math.Log(float64(k)) - lb - lb1 + math.Abs(da[j]) + math.Abs(db[j])
	}
	fl := 2 * math.Sqrt(float64(k)) * u64
	var errP, errQ float64
	for j := range k {
		errP += p[j]*(16*r.eps*rr[j]+r.eps*(8+fin(r.v[j]-r.mv))*math.Abs(da[j])+fl*math.Abs(da[j])) + r.least*(1+math.Abs(da[j]))
		errQ += q[j]*(16*r.eps*rr[j]+r.eps*(8+fin(r.z[j]-r.mz))*math.Abs(db[j])+fl*math.Abs(db[j])) + r.least*(1+math.Abs(db[j]))
	}
	lse := 2 * u64 * (math.Abs(r.lz) + math.Abs(r.lv))
	errP += lse
	errQ += lse
	tol := r.lam * (beta*errP + (1-beta)*errQ)
	c1 := r.c * (1 - beta)
	return tol, func(j int) float64 {
		f := math.Abs(db[j] - kq)
		if q[j] == 0 {
			return 4 * r.least * math.Max(1, math.Abs(c1)) * math.Max(1, f)
		}
		return math.Abs(c1)*q[j]*(r.eps*(8+fin(r.z[j]-r.mz))*f+16*r.eps*rr[j]+r.eps*math.Abs(kq)+errQ+2*u64*math.Abs(r.lz)*f) +
			4*r.least*math.Max(1, math.Abs(c1))*math.Max(1, f)
	}
}
