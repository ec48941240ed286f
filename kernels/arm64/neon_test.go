//go:build arm64 && !purego

package arm64

import (
	"math"
	"syscall"
	"testing"
	"unsafe"
)

// ulp32 is the distance from got to the exact value want in units of the
// float32 spacing at want (the spacing of the subnormals below 2^−126).
func ulp32(got float32, want float64) float64 {
	if math.IsNaN(want) {
		if math.IsNaN(float64(got)) {
			return 0
		}
		return math.Inf(1)
	}
	if math.IsInf(want, 0) || math.IsInf(float64(got), 0) {
		if float64(got) == want {
			return 0
		}
		return math.Inf(1)
	}
	e := math.Max(math.Abs(want), 0x1p-126)
	_, exp := math.Frexp(e)            // e = f·2^exp, f ∈ [½, 1)
	spacing := math.Ldexp(1, exp-1-23) // float32 ulp in that binade
	return math.Abs(float64(got)-want) / spacing
}

func ulp64(got, want float64) float64 {
	if math.IsNaN(want) || math.IsNaN(got) {
		if math.IsNaN(want) && math.IsNaN(got) {
			return 0
		}
		return math.Inf(1)
	}
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		if got == want {
			return 0
		}
		return math.Inf(1)
	}
	e := math.Max(math.Abs(want), 0x1p-1022)
	_, exp := math.Frexp(e)
	return math.Abs(got-want) / math.Ldexp(1, exp-1-52)
}

// sweep32 returns every step-th float32 between lo and hi (by bit pattern,
// so every binade is covered evenly), plus both ends.
func sweep32(lo, hi float32, step uint32) []float32 {
	var xs []float32
	add := func(a, b float32) { // a ≤ b, same sign
		ba, bb := math.Float32bits(a), math.Float32bits(b)
		if ba > bb {
			ba, bb = bb, ba
		}
		for u := ba; u <= bb && u >= ba; u += step {
			xs = append(xs, math.Float32frombits(u))
		}
		xs = append(xs, b)
	}
	if lo < 0 {
		add(-0.0, lo)
		if hi > 0 {
			add(0, hi)
		}
	} else {
		add(lo, hi)
	}
	return xs
}

// TestExpULP measures the worst error of expF32 over a dense sweep of
// [−104, 89] (every 256th float32 by bit pattern; every 4096th with -short) and checks the
// special values.
func TestExpULP(t *testing.T) {
	step := uint32(256)
	if testing.Short() {
		step = 4096
	}
	xs := sweep32(-104, 89, step)
	xs = append(xs, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 88.72283, 88.72284, -87.33655, -103.97208, -103.9721, 1e-30, -1e-30, 0)
	got := make([]float32, len(xs))
	expF32(got, xs)
	worst, at := 0.0, float32(0)
	for i, x := range xs {
		want := math.Exp(float64(x))
		if want > math.MaxFloat32*(1+0x1p-25) {
			want = math.Inf(1)
		}
		u := ulp32(got[i], want)
		if u > worst {
			worst, at = u, x
		}
	}
	t.Logf("expF32: %d inputs, worst error %.3f ULP at x=%v", len(xs), worst, at)
	if worst > 2 {
		t.Errorf("expF32 worst error %.3f ULP at x=%v (exp %v, got %v)", worst, at, math.Exp(float64(at)), got)
	}
}

// TestLogULP measures logF32 over every 256th positive float32 (4096th with -short) (subnormals
// included) and checks the special values.
func TestLogULP(t *testing.T) {
	step := uint32(256)
	if testing.Short() {
		step = 4096
	}
	xs := sweep32(math.SmallestNonzeroFloat32, math.MaxFloat32, step)
	specials := []float32{0, float32(math.Copysign(0, -1)), -1, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1, 2, 0.5}
	xs = append(xs, specials...)
	got := make([]float32, len(xs))
	logF32(got, xs)
	worst, at := 0.0, float32(0)
	for i, x := range xs {
		want := math.Log(float64(x))
		u := ulp32(got[i], want)
		if u > worst {
			worst, at = u, x
		}
	}
	t.Logf("logF32: %d inputs, worst error %.3f ULP at x=%v", len(xs), worst, at)
	if worst > 2 {
		t.Errorf("logF32 worst error %.3f ULP at x=%v", worst, at)
	}
}

// TestExpF64ULP sweeps float64 exp over [−746, 710] with random-ish
// mantissas (every binade, 4096 samples each).
func TestExpF64ULP(t *testing.T) {
	var xs []float64
	for e := -40; e <= 10; e++ {
		for j := 0; j < 512; j++ {
			m := 1 + float64(j*2654435761%4096)/4096
			x := math.Ldexp(m, e)
			if x < 710 {
				xs = append(xs, x)
			}
			if x < 746 {
				xs = append(xs, -x)
			}
		}
	}
	xs = append(xs, 0, math.Inf(1), math.Inf(-1), math.NaN(), 709.78, 709.79, -745.13, -745.14, -708.4)
	got := make([]float64, len(xs))
	expF64(got, xs)
	worst, at := 0.0, 0.0
	for i, x := range xs {
		if u := ulp64(got[i], math.Exp(x)); u > worst {
			worst, at = u, x
		}
	}
	t.Logf("expF64: %d inputs, worst error %.3f ULP (vs math.Exp) at x=%v", len(xs), worst, at)
	if worst > 2 {
		t.Errorf("expF64 worst error %.3f ULP at x=%v", worst, at)
	}
}

// guarded returns a float32 slice of length n placed flush against an
// inaccessible page: at the end of its mapping when atEnd, else at the
// start. Any read or write outside it faults.
func guarded[T float32 | float64](t *testing.T, n int, atEnd bool) []T {
	ps := syscall.Getpagesize()
	var z T
	size := int(unsafe.Sizeof(z))
	need := (n*size + ps - 1) / ps * ps
	if need == 0 {
		need = ps
	}
	mem, err := syscall.Mmap(-1, 0, need+2*ps, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:ps], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mprotect(mem[ps+need:], syscall.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	off := ps
	if atEnd {
		off = ps + need - n*size
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[off])), n)
}

// TestKernelsGuarded runs every generated function at every length from 0
// to three vector blocks plus one, with each slice flush against a guard
// page at either end, and compares with a float64 loop.
func TestKernelsGuarded(t *testing.T) {
	for _, atEnd := range []bool{false, true} {
		for n := 0; n <= 3*16+1; n++ {
			x, w, d := guarded[float32](t, n, atEnd), guarded[float32](t, n, atEnd), guarded[float32](t, n, atEnd)
			x64, w64, d64 := guarded[float64](t, n, atEnd), guarded[float64](t, n, atEnd), guarded[float64](t, n, atEnd)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)*1.7) * 5)
				w[i] = float32(i % 3)
				x64[i], w64[i] = float64(x[i]), float64(w[i])
			}
			var wantMax, wantSum, wantDot, wantSub float64 = math.Inf(-1), 0, 0, 0
			m := 0.5
			for i := range x {
				v := float64(x[i])
				wantMax = math.Max(wantMax, v)
				wantSum += math.Exp(v - m)
				wantDot += float64(w[i]) * (v - m)
				wantSub += v - m
			}
			close := func(name string, got, want, tol float64) {
				t.Helper()
				// Equal infinities (an empty row's max is -Inf) differ by NaN.
				if got != want && !(math.Abs(got-want) <= tol*(1+math.Abs(want))) {
					t.Errorf("n=%d atEnd=%v %s = %v, want %v", n, atEnd, name, got, want)
				}
			}
			close("maxF32", float64(maxF32(x)), wantMax, 0)
			close("maxF64", maxF64(x64), wantMax, 0)
			close("sumExpF32", sumExpF32(x, float32(m)), wantSum-1, 1e-6)
			close("sumExpF64", sumExpF64(x64, m), wantSum-1, 1e-14)
			close("dotSubF32", dotSubF32(x, w, float32(m)), wantDot, 1e-6)
			close("dotSubF64", dotSubF64(x64, w64, m), wantDot, 1e-13)
			close("sumSubF32", sumSubF32(x, float32(m)), wantSub, 1e-6)
			close("sumSubF64", sumSubF64(x64, m), wantSub, 1e-13)
			close("expStoreSumF32", expStoreSumF32(d, x, float32(m)), wantSum-1, 1e-6)
			close("expStoreSumF64", expStoreSumF64(d64, x64, m), wantSum-1, 1e-14)
			for i := range d {
				close("expStoreSumF32 dst", float64(d[i]), math.Exp(float64(x[i])-m), 1e-6)
				close("expStoreSumF64 dst", d64[i], math.Exp(x64[i]-m), 1e-14)
			}
			affineF32(d, x, 2, 3)
			affineF64(d64, x64, 2, 3)
			for i := range d {
				close("affineF32", float64(d[i]), 2*float64(x[i])-3, 1e-6)
				close("affineF64", d64[i], 2*x64[i]-3, 1e-15)
			}
			affineWF32(d, x, w, 2, 3)
			affineWF64(d64, x64, w64, 2, 3)
			for i := range d {
				close("affineWF32", float64(d[i]), 2*float64(x[i])-3*float64(w[i]), 1e-6)
				close("affineWF64", d64[i], 2*x64[i]-3*w64[i], 1e-15)
			}
			expF32(d, x)
			expF64(d64, x64)
			logF32(w, d)
			for i := range d {
				close("expF32", float64(d[i]), math.Exp(float64(x[i])), 3e-7)
				close("expF64", d64[i], math.Exp(x64[i]), 1e-15)
				close("logF32(expF32)", float64(w[i]), float64(x[i]), 1e-6)
			}
		}
	}
}

// TestDotSubZeroWeight: a zero weight cancels an infinite logit.
func TestDotSubZeroWeight(t *testing.T) {
	x := []float32{1, float32(math.Inf(-1)), 2, 3, 4, 5}
	w := []float32{1, 0, 1, 1, 1, 1}
	if got := dotSubF32(x, w, 1); got != 10 {
		t.Errorf("dotSubF32 = %v, want 10", got)
	}
}

// TestSumExpKeepsTinyTerms: with m the maximum, the sum minus 1 keeps
// terms far below the float64 spacing at 1 (and counts repeated maxima).
func TestSumExpKeepsTinyTerms(t *testing.T) {
	x := []float32{0, -40, -45, 0, -50}
	for n := 1; n <= len(x); n++ {
		want := -1.0 // the 1s are exact: sum them apart
		for _, v := range x[:n] {
			if v == 0 {
				want++
			}
		}
		for _, v := range x[:n] {
			if v != 0 {
				want += math.Exp(float64(v))
			}
		}
		x64 := make([]float64, n)
		for i, v := range x[:n] {
			x64[i] = float64(v)
		}
		if got := sumExpF32(x[:n], 0); !(math.Abs(got-want) <= 1e-6*math.Abs(want)) {
			t.Errorf("n=%d: sumExpF32 = %g, want %g", n, got, want)
		}
		if got := sumExpF64(x64, 0); !(math.Abs(got-want) <= 1e-14*math.Abs(want)) {
			t.Errorf("n=%d: sumExpF64 = %g, want %g", n, got, want)
		}
	}
}

// TestElementwiseULP measures sigmoid, softplus and log-sigmoid (float32)
// against float64 formulas over a sweep of [−120, 120] (every 1024th
// float32; every 16384th with -short).
func TestElementwiseULP(t *testing.T) {
	step := uint32(1024)
	if testing.Short() {
		step = 16384
	}
	xs := sweep32(-120, 120, step)
	got := make([]float32, len(xs))
	for _, c := range []struct {
		name string
		f    func(dst, x []float32)
		ref  func(x float64) float64
	}{
		{"sigmoidF32", sigmoidF32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"softplusF32", softplusF32, func(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }},
		{"logSigmoidF32", logSigmoidF32, func(x float64) float64 { return math.Min(x, 0) - math.Log1p(math.Exp(-math.Abs(x))) }},
	} {
		c.f(got, xs)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			if u := ulp32(got[i], c.ref(float64(x))); u > worst {
				worst, at = u, x
			}
		}
		t.Logf("%s: %d inputs, worst error %.3f ULP at x=%v", c.name, len(xs), worst, at)
		if worst > 3 {
			t.Errorf("%s: worst error %.3f ULP at x=%v", c.name, worst, at)
		}
	}
}

// TestElementwiseF64ULP measures softplus and log-sigmoid (float64) against
// math.Log1p and math.Exp over [−40, 40] and the tails.
func TestElementwiseF64ULP(t *testing.T) {
	var xs []float64
	for i := -200000; i <= 200000; i++ {
		xs = append(xs, float64(i)*2e-4+float64(i%7)*1e-9)
	}
	xs = append(xs, -745, -700, -100, 100, 700, 1e300, -1e300, 0, math.Inf(1), math.Inf(-1), math.NaN())
	got := make([]float64, len(xs))
	for _, c := range []struct {
		name string
		f    func(dst, x []float64)
		ref  func(x float64) float64
	}{
		{"softplusF64", softplusF64, func(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }},
		{"logSigmoidF64", logSigmoidF64, func(x float64) float64 { return math.Min(x, 0) - math.Log1p(math.Exp(-math.Abs(x))) }},
		{"sigmoidF64", sigmoidF64, func(x float64) float64 {
			e := math.Exp(-math.Abs(x))
			if x >= 0 {
				return 1 / (1 + e)
			}
			return e / (1 + e)
		}},
	} {
		c.f(got, xs)
		worst, at := 0.0, 0.0
		for i, x := range xs {
			if u := ulp64(got[i], c.ref(x)); u > worst {
				worst, at = u, x
			}
		}
		t.Logf("%s: %d inputs, worst error %.3f ULP (vs math) at x=%v", c.name, len(xs), worst, at)
		if worst > 3 {
			t.Errorf("%s: worst error %.3f ULP at x=%v", c.name, worst, at)
		}
	}
}

// TestTanhULP checks the soft-cap's tanh (capF32, capF64 with cap = 1)
// against math.Tanh: small arguments, where E = expm1(−2|x|) must not
// cancel, the reduction's binades, saturation, and the special values.
func TestTanhULP(t *testing.T) {
	const n = 20000
	x32, d32 := make([]float32, n), make([]float32, n)
	x64, d64 := make([]float64, n), make([]float64, n)
	for _, r := range [][2]float64{{-25, 25}, {1e-9, 2}, {-2, -1e-9}} {
		for i := range x32 {
			// Log-spaced over the positive part, mirrored for negative ranges.
			lo, hi := math.Abs(r[0]), math.Abs(r[1])
			if r[0] < 0 && r[1] > 0 {
				lo = 1e-9
				hi = math.Max(-r[0], r[1])
			}
			v := lo * math.Pow(hi/lo, float64(i)/(n-1))
			if r[1] < 0 || r[0] < 0 && i%2 == 1 {
				v = -v
			}
			x32[i], x64[i] = float32(v), v
		}
		capF32(d32, x32, 1, 1)
		capF64(d64, x64, 1, 1)
		var w32, w64 float64
		for i := range x32 {
			w32 = math.Max(w32, ulp32(d32[i], math.Tanh(float64(x32[i]))))
			w64 = math.Max(w64, ulp64(d64[i], math.Tanh(x64[i])))
		}
		if w32 > 3 || w64 > 3 {
			t.Errorf("tanh over %v: worst %.2f ULP (float32), %.2f ULP (float64), want ≤ 3", r, w32, w64)
		}
	}
	sp := []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e30, -1e30}
	for _, v := range sp {
		in32, out32 := []float32{float32(v)}, []float32{7}
		in64, out64 := []float64{v}, []float64{7}
		capF32(out32, in32, 1, 1)
		capF64(out64, in64, 1, 1)
		want := math.Tanh(v)
		if ulp32(out32[0], want) != 0 || ulp64(out64[0], want) != 0 ||
			want == 0 && (math.Signbit(float64(out32[0])) != math.Signbit(want) || math.Signbit(out64[0]) != math.Signbit(want)) {
			t.Errorf("tanh(%v) = %v (float32), %v (float64), want %v", v, out32[0], out64[0], want)
		}
	}
}
