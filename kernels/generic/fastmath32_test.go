package generic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFastMath32 measures the single-grade exp, log and log1p against the
// math package as relative error, which must stay below 2⁻³⁴ (a
// thousandth of a float32 ULP), and checks that special arguments give
// the full forms' results exactly.
func TestFastMath32(t *testing.T) {
	const bound = 0x1p-34
	n := 1 << 20
	if testing.Short() {
		n = 1 << 16
	}
	cases := []struct {
		name     string
		into     func(dst, src []float64)
		full     func(dst, src []float64)
		std      func(float64) float64
		lo, hi   float64
		logScale bool
	}{
		{"exp", expInto32, expInto, expStd, -745.2, 709.8, false},
		{"exp/small", expInto32, expInto, math.Exp, -1, 1, false},
		{"exp/top", expInto32, expInto, expStd, 709, 709.8, false},
		{"log", logInto32, logInto, logSub, 0x1p-1074, math.MaxFloat64, true},
		{"log/near1", logInto32, logInto, logSub, 0.7, 1.45, false},
		{"log/closer1", logInto32, logInto, logSub, 0.99, 1.01, false},
		{"log1p", log1pInto32, log1pInto, math.Log1p, 0x1p-1074, math.MaxFloat64, true},
		{"log1p/unit", log1pInto32, log1pInto, math.Log1p, -0.5, 1, false},
		{"log1p/neg", log1pInto32, log1pInto, math.Log1p, -1, -0x1p-60, false},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	src := make([]float64, n)
	dst := make([]float64, n)
	for _, c := range cases {
		for i := range src {
			if c.logScale {
				src[i] = math.Exp2(math.Log2(c.lo) + rng.Float64()*(math.Log2(c.hi)-math.Log2(c.lo)))
			} else {
				src[i] = c.lo + rng.Float64()*(c.hi-c.lo)
			}
		}
		c.into(dst, src)
		worst, at := 0.0, 0.0
		for i, x := range src {
			want := c.std(x)
			if want == 0 || math.Abs(want) < 0x1p-1022 { // subnormal results: the edge paths, compared below
				continue
			}
			if e := math.Abs(dst[i]-want) / math.Abs(want); e > worst {
				worst, at = e, x
			}
		}
		t.Logf("%-12s worst %.3g relative (2^%.1f) at %v", c.name, worst, math.Log2(worst), at)
		if worst > bound {
			t.Errorf("%s: relative error %.3g at %v, bound 2⁻³⁴", c.name, worst, at)
		}
		// Off the fast range both grades take the same edge path.
		specials := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), -707, -707.0001, 709.0001, 709.79, 710,
			-745.1, -746, 0x1p-1074, 0x1p-1023, math.MaxFloat64, -1, math.Nextafter(-1, 0)}
		got, full := make([]float64, len(specials)), make([]float64, len(specials))
		c.into(got, specials)
		c.full(full, specials)
		for i, x := range specials {
			if x < -1 && c.name[:3] == "log" {
				continue
			}
			g, f := got[i], full[i]
			same := math.Float64bits(g) == math.Float64bits(f) || g != g && f != f
			if !same && (f == 0 || math.IsInf(f, 0) || math.Abs(g-f) > bound*math.Abs(f)) {
				t.Errorf("%s(%v) = %v, the full form gives %v", c.name, x, g, f)
			}
		}
	}
}

// TestSingleGradeChoice checks that float32 kernels take the single grade
// and float64 kernels the full one.
func TestSingleGradeChoice(t *testing.T) {
	if !single[float32]() || single[float64]() {
		t.Fatal("single reports the wrong type")
	}
	x := []float64{0.3}
	a32, a64 := make([]float64, 1), make([]float64, 1)
	expIntoT[float32](a32, x)
	expIntoT[float64](a64, x)
	b32, b64 := make([]float64, 1), make([]float64, 1)
	expInto32(b32, x)
	expInto(b64, x)
	if a32[0] != b32[0] || a64[0] != b64[0] || b32[0] == b64[0] {
		t.Errorf("expIntoT: %v %v, want %v %v (and the grades to differ)", a32[0], a64[0], b32[0], b64[0])
	}
}
