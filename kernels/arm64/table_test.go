//go:build arm64 && !purego

package arm64

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

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
		for mask := 0; mask < 64; mask++ {
			weights, ignore, smooth, zloss, withGrad, inPlace := mask&1 != 0, mask&2 != 0, mask&4 != 0, mask&8 != 0, mask&16 != 0, mask&32 != 0
			if inPlace && !withGrad {
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
			name := fmt.Sprintf("k=%d/opts=%06b", k, mask)
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
