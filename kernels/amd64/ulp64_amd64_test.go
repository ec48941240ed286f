//go:build !purego

package amd64

import (
	"math"
	"math/big"
	"testing"

	"golang.org/x/sys/cpu"
)

type vecFunc64 func(x, dst *float64, n int)

func isas64(t *testing.T) []struct {
	name                  string
	exp, log, log1p, tanh vecFunc64
} {
	type v = struct {
		name                  string
		exp, log, log1p, tanh vecFunc64
	}
	var r []v
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		r = append(r, v{"avx2", expVecDAVX2, logVecDAVX2, log1pVecDAVX2, tanhVecDAVX2})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
		r = append(r, v{"avx512", expVecDAVX512, logVecDAVX512, log1pVecDAVX512, tanhVecDAVX512})
	}
	if len(r) == 0 {
		t.Skip("CPU has neither AVX2+FMA nor AVX-512")
	}
	return r
}

func ordered64(f float64) int64 {
	b := int64(math.Float64bits(f))
	if b < 0 {
		return -(b & math.MaxInt64)
	}
	return b
}

func ulpDist64(got, want float64) int64 {
	if math.IsNaN(want) || math.IsNaN(got) {
		if math.IsNaN(want) && math.IsNaN(got) {
			return 0
		}
		return math.MaxInt64
	}
	d := ordered64(got) - ordered64(want)
	if d < 0 {
		d = -d
	}
	return d
}

// sweep64 evaluates f at samples points of [lo, hi] spread evenly by bit
// pattern (every binade as densely) and as many spread evenly by value,
// and returns the worst ULP distance from ref (Go's math package, itself
// within 1 ULP of the correctly rounded result).
func sweep64(f vecFunc64, ref func(float64) float64, lo, hi float64, samples int64) (worst int64, at float64) {
	const chunk = 4096
	var x, y [chunk]float64
	n := 0
	flush := func() {
		f(&x[0], &y[0], n)
		for i := 0; i < n; i++ {
			if d := ulpDist64(y[i], ref(x[i])); d > worst {
				worst, at = d, x[i]
			}
		}
		n = 0
	}
	add := func(v float64) {
		x[n] = v
		n++
		if n == chunk {
			flush()
		}
	}
	// The span of [−746, 710] in ULPs exceeds MaxInt64: step in uint64.
	olo, ohi := ordered64(lo), ordered64(hi)
	step := max(1, uint64(ohi-olo)/uint64(samples))
	for i := uint64(0); i <= uint64(ohi-olo)/step; i++ {
		o := olo + int64(i*step)
		if o < 0 {
			add(-math.Float64frombits(uint64(-o)))
		} else {
			add(math.Float64frombits(uint64(o)))
		}
	}
	for i := int64(0); i <= samples; i++ {
		add(lo + (hi-lo)*float64(i)/float64(samples))
	}
	if n > 0 {
		flush()
	}
	return worst, at
}

func samples64() int64 {
	if testing.Short() {
		return 50_000
	}
	return 2_000_000
}

// exp64Ref is math.Exp, except above 709 where Go's amd64 math.Exp
// overflows early (it returns +Inf from about 709.44, below ln MaxFloat64 =
// 709.78): there e^(x−1)·e, with e to 60 digits and one rounding of the
// product (≤ 1 ULP of e^(x−1) plus that rounding).
func exp64Ref(x float64) float64 {
	if x <= 709 || x > 710 || x != x {
		return math.Exp(x)
	}
	e, _, _ := big.ParseFloat("2.71828182845904523536028747135266249775724709369995957496696763", 10, 200, big.ToNearestEven)
	r := new(big.Float).SetPrec(200).Mul(big.NewFloat(math.Exp(x-1)), e)
	f, _ := r.Float64()
	return f
}

// TestExp64ULP: [−746, 710] covers the subnormal results below −708.4 and
// the overflow above 709.78.
func TestExp64ULP(t *testing.T) {
	for _, s := range isas64(t) {
		worst, at := sweep64(s.exp, exp64Ref, -746, 710, samples64())
		t.Logf("%s float64 exp: worst %d ULP at x=%g (2×%d samples over [−746, 710])", s.name, worst, at, samples64())
		if worst > 2 {
			t.Errorf("%s float64 exp: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
	}
}

func TestLog64ULP(t *testing.T) {
	for _, s := range isas64(t) {
		worst, at := sweep64(s.log, math.Log, 0x1p-1022, math.MaxFloat64, samples64())
		t.Logf("%s float64 log: worst %d ULP at x=%g (normal floats)", s.name, worst, at)
		if worst > 2 {
			t.Errorf("%s float64 log: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
		worst, at = sweep64(s.log, math.Log, 0.5, 2, samples64())
		t.Logf("%s float64 log: worst %d ULP at x=%g ([0.5, 2])", s.name, worst, at)
		if worst > 2 {
			t.Errorf("%s float64 log: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
		worst, at = sweep64(s.log1p, math.Log1p, 0, 1, samples64())
		t.Logf("%s float64 log1p: worst %d ULP at x=%g ([0, 1])", s.name, worst, at)
		if worst > 2 {
			t.Errorf("%s float64 log1p: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
	}
}

// TestTanh64ULP covers the float64 soft-cap's tanh: small arguments (where
// the polynomial form's E = expm1(−2|u|) must not cancel), the binades
// around the reduction's n = −1, and the saturation near ±20.
func TestTanh64ULP(t *testing.T) {
	for _, s := range isas64(t) {
		for _, r := range [][2]float64{{-25, 25}, {0x1p-30, 2}, {-2, -0x1p-30}} {
			worst, at := sweep64(s.tanh, math.Tanh, r[0], r[1], samples64())
			t.Logf("%s float64 tanh: worst %d ULP at x=%g ([%g, %g])", s.name, worst, at, r[0], r[1])
			if worst > 3 {
				t.Errorf("%s float64 tanh: %d ULP at x=%g, want ≤ 3", s.name, worst, at)
			}
		}
		in := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e300, -1e300, 0x1p-1074}
		out := make([]float64, len(in))
		s.tanh(&in[0], &out[0], len(in))
		for i, v := range in {
			if want := math.Tanh(v); ulpDist64(out[i], want) != 0 || want == want && math.Signbit(out[i]) != math.Signbit(want) {
				t.Errorf("%s float64 tanh(%g) = %g, want %g", s.name, v, out[i], want)
			}
		}
	}
}

func TestSpecial64(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, s := range isas64(t) {
		in := []float64{math.Inf(-1), -1e4, -745.2, 709.8, 1e4, inf, nan, 0, -745.1}
		want := []float64{0, 0, 0, inf, inf, inf, nan, 1, math.Exp(-745.1)}
		out := make([]float64, len(in))
		s.exp(&in[0], &out[0], len(in))
		for i := range in {
			if ulpDist64(out[i], want[i]) != 0 {
				t.Errorf("%s exp(%g) = %g, want %g", s.name, in[i], out[i], want[i])
			}
		}
		in = []float64{0, 1, inf, nan}
		want = []float64{math.Inf(-1), 0, inf, nan}
		s.log(&in[0], &out[:4][0], len(in))
		for i := range in {
			if ulpDist64(out[i], want[i]) != 0 {
				t.Errorf("%s log(%g) = %g, want %g", s.name, in[i], out[i], want[i])
			}
		}
	}
}
