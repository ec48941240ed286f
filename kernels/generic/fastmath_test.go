package generic

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// ulps is the distance between a and b in units of the last place of b
// (0 when both are the same special value).
func ulps(a, b float64) float64 {
	if a == b || a != a && b != b {
		return 0
	}
	if math.IsInf(b, 0) || b == 0 {
		return math.Inf(1)
	}
	u := math.Nextafter(math.Abs(b), math.Inf(1)) - math.Abs(b)
	return math.Abs(a-b) / u
}

// expStd is math.Exp, except just below the overflow threshold, where
// amd64's math.Exp returns +Inf (from about 709.7) for a finite e^x: there
// e^(x−1) times e in 100 bits, rounded once.
func expStd(x float64) float64 {
	r := math.Exp(x)
	if !math.IsInf(r, 1) || x >= 710 {
		return r
	}
	e, _ := new(big.Float).SetPrec(100).SetString("2.71828182845904523536028747135266249775724709369995")
	v, _ := new(big.Float).SetPrec(100).Mul(big.NewFloat(math.Exp(x-1)), e).Float64()
	return v
}

// fastCase is one fast function against the standard library's over a
// range, with the largest error it may show.
type fastCase struct {
	name     string
	fast     func(float64) float64
	std      func(float64) float64
	lo, hi   float64
	maxULP   float64
	logScale bool // draw |x| log-uniformly (with a random sign where lo < 0)
}

var fastCases = []fastCase{
	{"exp", expFast, expStd, -745.2, 709.8, 2, false},
	{"exp/small", expFast, math.Exp, -1, 1, 2, false},
	{"exp/top", expFast, expStd, 709, 709.8, 2, false},
	{"log", logFast, logSub, 0x1p-1074, math.MaxFloat64, 2, true},
	{"log/near1", logFast, logSub, 0.7, 1.45, 2, false},
	{"log1p", log1pFast, math.Log1p, 0x1p-1074, math.MaxFloat64, 3, true},
	{"log1p/unit", log1pFast, math.Log1p, -0.5, 1, 3, false},
	{"log1p/neg", log1pFast, math.Log1p, -1, -0x1p-60, 3, false},
}

// TestFastMathULP measures the fast exp, log and log1p against the math
// package on a million random arguments per range, and checks that
// special arguments give the math package's results exactly.
func TestFastMathULP(t *testing.T) {
	n := 1 << 20
	if testing.Short() {
		n = 1 << 16
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range fastCases {
		worst, at := 0.0, 0.0
		for range n {
			var x float64
			if c.logScale {
				x = math.Exp2(math.Log2(c.lo) + rng.Float64()*(math.Log2(c.hi)-math.Log2(c.lo)))
			} else {
				x = c.lo + rng.Float64()*(c.hi-c.lo)
			}
			if e := ulps(c.fast(x), c.std(x)); e > worst {
				worst, at = e, x
			}
		}
		if e := intoMismatch(c, rng); e != "" {
			t.Error(e)
		}
		t.Logf("%-10s worst %.3f ULP at %v", c.name, worst, at)
		if worst > c.maxULP {
			t.Errorf("%s: %.3f ULP at %v (fast %v, math %v), bound %v", c.name, worst, at, c.fast(at), c.std(at), c.maxULP)
		}
	}
	specials := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, -0.5, 2, 0x1p-1074, 0x1p-1022, math.MaxFloat64, -math.MaxFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), -707, -707.0001, 709, 709.0001, 709.79, 710, -745.1, -746, math.Nextafter(-0.5, -1)}
	for _, x := range specials {
		for _, c := range fastCases {
			if x < -1 && c.name[:3] == "log" {
				continue
			}
			if got, want := c.fast(x), c.std(x); ulps(got, want) > c.maxULP || math.Signbit(got) != math.Signbit(want) && got == 0 {
				t.Errorf("%s(%v) = %v, math gives %v", c.name, x, got, want)
			}
		}
	}
}

// intoMismatch checks that the loop forms (expInto, log1pInto) give
// exactly the scalar function's results, on random and special arguments.
func intoMismatch(c fastCase, rng *rand.Rand) string {
	var into func(dst, src []float64)
	switch c.name[:3] {
	case "exp":
		into = expInto
	case "log":
		into = logInto
		if len(c.name) >= 5 && c.name[:5] == "log1p" {
			into = log1pInto
		}
	}
	src := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), c.lo, c.hi, -0.75, -1}
	for range 4096 {
		src = append(src, c.lo+rng.Float64()*(c.hi-c.lo))
	}
	dst := make([]float64, len(src))
	into(dst, src)
	for i, x := range src {
		if want := c.fast(x); math.Float64bits(dst[i]) != math.Float64bits(want) && !(want != want && dst[i] != dst[i]) {
			return fmt.Sprintf("%s: the loop form gives %v at %v, the scalar form %v", c.name, dst[i], x, want)
		}
	}
	return ""
}

var sinkF float64

func BenchmarkFastMath(b *testing.B) {
	xs := make([]float64, 1024)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range xs {
		xs[i] = -rng.Float64() * 20
	}
	for _, f := range []struct {
		name string
		fn   func(float64) float64
	}{{"expFast", expFast}, {"math.Exp", math.Exp}, {"log1pFast", func(x float64) float64 { return log1pFast(-x / 30) }},
		{"math.Log1p", func(x float64) float64 { return math.Log1p(-x / 30) }}, {"logFast", func(x float64) float64 { return logFast(-x) }},
		{"math.Log", func(x float64) float64 { return math.Log(-x) }}} {
		b.Run(f.name, func(b *testing.B) {
			var s float64
			for b.Loop() {
				for _, x := range xs {
					s += f.fn(x)
				}
			}
			sinkF = s
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/elem")
		})
	}
}
