//go:build !purego

package amd64

import (
	"math"
	"testing"

	"golang.org/x/sys/cpu"
)

type vecFunc func(x, dst *float32, n int)

// isas lists the variants this CPU runs, with the kernels under test.
func isas(t testing.TB) []struct {
	name                  string
	exp, log, log1p, tanh vecFunc
} {
	type v = struct {
		name                  string
		exp, log, log1p, tanh vecFunc
	}
	var r []v
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		r = append(r, v{"avx2", expVecAVX2, logVecAVX2, log1pVecAVX2, tanhVecAVX2})
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
		r = append(r, v{"avx512", expVecAVX512, logVecAVX512, log1pVecAVX512, tanhVecAVX512})
	}
	if len(r) == 0 {
		t.Skip("CPU has neither AVX2+FMA nor AVX-512")
	}
	return r
}

// ordered maps float32 bits to integers whose difference counts the
// representable values between two floats (ULPs), subnormals included.
func ordered(f float32) int64 {
	b := int64(math.Float32bits(f))
	if b&(1<<31) != 0 {
		return -(b &^ (1 << 31))
	}
	return b
}

func ulpDist(got, want float32) int64 {
	if math.IsNaN(float64(want)) || math.IsNaN(float64(got)) {
		if math.IsNaN(float64(want)) && math.IsNaN(float64(got)) {
			return 0
		}
		return math.MaxInt64
	}
	d := ordered(got) - ordered(want)
	if d < 0 {
		d = -d
	}
	return d
}

// sweep evaluates f over every stride-th float32 from lo to hi (by bit
// pattern, so every binade is covered as densely) and returns the worst
// ULP error against ref rounded to float32, and where it occurs.
func sweep(f vecFunc, ref func(float64) float64, lo, hi float32, stride int64) (worst int64, at float32) {
	const chunk = 4096
	var x, y [chunk]float32
	n := 0
	flush := func() {
		f(&x[0], &y[0], n)
		for i := 0; i < n; i++ {
			want := float32(ref(float64(x[i])))
			if d := ulpDist(y[i], want); d > worst {
				worst, at = d, x[i]
			}
		}
		n = 0
	}
	for o := ordered(lo); o <= ordered(hi); o += stride {
		var v float32
		if o < 0 {
			v = -math.Float32frombits(uint32(-o))
		} else {
			v = math.Float32frombits(uint32(o))
		}
		x[n] = v
		n++
		if n == chunk {
			flush()
		}
	}
	if n > 0 {
		flush()
	}
	return worst, at
}

func stride(t *testing.T) int64 {
	if testing.Short() {
		return 997
	}
	return 17
}

// TestExpULP: the bound is 2 ULP over the whole input range,
// including the subnormal results below −87.3 and the overflow above 88.7.
func TestExpULP(t *testing.T) {
	for _, s := range isas(t) {
		worst, at := sweep(s.exp, math.Exp, -105, 90, stride(t))
		t.Logf("%s exp: worst %d ULP at x=%g (stride %d over [−105, 90])", s.name, worst, at, stride(t))
		if worst > 2 {
			t.Errorf("%s exp: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
	}
}

func TestLogULP(t *testing.T) {
	for _, s := range isas(t) {
		worst, at := sweep(s.log, math.Log, math.SmallestNonzeroFloat32*(1<<23), math.MaxFloat32, stride(t))
		t.Logf("%s log: worst %d ULP at x=%g (stride %d over normal floats)", s.name, worst, at, stride(t))
		if worst > 2 {
			t.Errorf("%s log: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
		worst, at = sweep(s.log1p, math.Log1p, 0, 1, stride(t))
		t.Logf("%s log1p: worst %d ULP at x=%g (stride %d over [0, 1])", s.name, worst, at, stride(t))
		if worst > 2 {
			t.Errorf("%s log1p: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
	}
}

// TestTanhULP covers the soft-cap's tanh over [−20, 20] (±1 beyond).
func TestTanhULP(t *testing.T) {
	for _, s := range isas(t) {
		worst, at := sweep(s.tanh, math.Tanh, -20, 20, stride(t))
		t.Logf("%s tanh: worst %d ULP at x=%g (stride %d over [−20, 20])", s.name, worst, at, stride(t))
		if worst > 2 {
			t.Errorf("%s tanh: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
	}
}

// TestSpecial checks the edges the issue names: underflow to 0, overflow to
// +Inf, NaN propagation, and log's 0, +Inf and NaN.
func TestSpecial(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, s := range isas(t) {
		in := []float32{float32(math.Inf(-1)), -1000, -104, 89, 1000, inf, nan, 0}
		want := []float32{0, 0, 0, inf, inf, inf, nan, 1}
		out := make([]float32, len(in))
		s.exp(&in[0], &out[0], len(in))
		for i := range in {
			if ulpDist(out[i], want[i]) != 0 {
				t.Errorf("%s exp(%g) = %g, want %g", s.name, in[i], out[i], want[i])
			}
		}
		in = []float32{0, 1, inf, nan}
		want = []float32{float32(math.Inf(-1)), 0, inf, nan}
		s.log(&in[0], &out[0], len(in))
		for i := range in {
			if ulpDist(out[i], want[i]) != 0 {
				t.Errorf("%s log(%g) = %g, want %g", s.name, in[i], out[i], want[i])
			}
		}
	}
}

// TestExpFlushULP: the softmax passes' exp keeps Exp's bound wherever its
// result is at least 2^−125 (inputs ExpFlushMin..88), returns exactly 0
// below, +Inf for +Inf and NaN for NaN.
func TestExpFlushULP(t *testing.T) {
	const flushMin = -86.64339 // x86.ExpFlushMin in the generator
	hooks := map[string]vecFunc{"avx2": expFlushVecAVX2, "avx512": expFlushVecAVX512}
	for _, s := range isas(t) {
		f := hooks[s.name]
		worst, at := sweep(f, math.Exp, flushMin, 88, stride(t))
		t.Logf("%s expFlush: worst %d ULP at x=%g (stride %d over [%g, 88])", s.name, worst, at, stride(t), float32(flushMin))
		if worst > 2 {
			t.Errorf("%s expFlush: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
		in := []float32{math.Nextafter32(flushMin, -200), -87.5, -100, -1e9, float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), 0}
		out := make([]float32, len(in))
		f(&in[0], &out[0], len(in))
		for i, x := range in[:5] {
			if s.name == "avx2" && out[i] != 0 || s.name == "avx512" && out[i] != float32(math.Exp(float64(x))) {
				t.Errorf("%s expFlush(%g) = %g, want %g", s.name, x, out[i], map[bool]float32{true: 0, false: float32(math.Exp(float64(x)))}[s.name == "avx2"])
			}
		}
		if !math.IsInf(float64(out[5]), 1) || !math.IsNaN(float64(out[6])) || out[7] != 1 {
			t.Errorf("%s expFlush(+Inf, NaN, 0) = %v, want +Inf, NaN, 1", s.name, out[5:])
		}
	}
}

// TestLog1pUnitULP: softplus' log1p (a polynomial on [0, 1], no range
// reduction) within 2 ULP over [0, 1], NaN kept.
func TestLog1pUnitULP(t *testing.T) {
	hooks := map[string]vecFunc{"avx2": log1pUnitVecAVX2, "avx512": log1pUnitVecAVX512}
	for _, s := range isas(t) {
		worst, at := sweep(hooks[s.name], math.Log1p, 0, 1, stride(t))
		t.Logf("%s log1pUnit: worst %d ULP at x=%g (stride %d over [0, 1])", s.name, worst, at, stride(t))
		if worst > 2 {
			t.Errorf("%s log1pUnit: %d ULP at x=%g, want ≤ 2", s.name, worst, at)
		}
		in, out := []float32{float32(math.NaN())}, []float32{0}
		hooks[s.name](&in[0], &out[0], 1)
		if !math.IsNaN(float64(out[0])) {
			t.Errorf("%s log1pUnit(NaN) = %v", s.name, out[0])
		}
	}
}
