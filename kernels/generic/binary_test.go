package generic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHardLogs checks the one-log path of BCE on probabilities against the
// two staged logs it replaces: log p (logInto) where y = 1, log1p(−p)
// (log1pInto) where y = 0, bit for bit (a zero's sign aside), for float32
// and float64 probabilities including 0, subnormals, values whose 1 − p
// rounds, 1 and NaN; and that a label other than 0 or 1 turns it down.
func TestHardLogs(t *testing.T) {
	special := []float64{0, 5e-324, 1e-310, 1e-45, 0x1p-30, 0x1p-29, 1e-9, 0.3, 0.5, 0.75, 1 - 0x1p-24, 1 - 0x1p-53, 1, math.NaN()}
	rng := rand.New(rand.NewPCG(15, 1))
	var ps, ys []float64
	for _, p := range special {
		for _, y := range []float64{0, 1} {
			ps, ys = append(ps, p), append(ys, y)
		}
	}
	for range 2000 {
		ps = append(ps, math.Ldexp(rng.Float64(), -rng.IntN(60)))
		ys = append(ys, float64(rng.IntN(2)))
	}
	check := func(t *testing.T, ps, ys []float64) {
		lv, tmp := make([]float64, len(ps)), make([]float64, len(ps))
		if !hardLogs(lv, tmp, ps, ys) {
			t.Fatal("labels of 0 and 1 turned down")
		}
		want := make([]float64, len(ps))
		for i, p := range ps {
			if ys[i] == 1 {
				logInto(want[i:i+1], []float64{p})
			} else {
				log1pInto(want[i:i+1], []float64{-p})
			}
			if g, w := lv[i], want[i]; g != w && !(g != g && w != w) {
				t.Errorf("p = %g, y = %g: got %v, want %v", p, ys[i], g, w)
			}
		}
	}
	t.Run("float64", func(t *testing.T) { check(t, ps, ys) })
	t.Run("float32", func(t *testing.T) {
		// float32 values, widened: float64 arithmetic on them as the kernel does.
		ps32 := make([]float64, len(ps))
		for i, p := range ps {
			ps32[i] = float64(float32(p))
		}
		check(t, ps32, ys)
	})
	for _, y := range []float64{0.5, 1e-30, math.NaN(), -0.0 + 2} {
		lv, tmp := make([]float64, 3), make([]float64, 3)
		if hardLogs(lv, tmp, []float64{0.2, 0.3, 0.4}, []float64{1, y, 0}) {
			t.Errorf("label %v taken as hard", y)
		}
	}
}
