package kernels_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/kernels/internal/half"
)

// The slice conversions of every backend against the scalar conversions,
// which kernels/internal/half tests against a value oracle: every 16-bit
// value widened; the float32 patterns of half.Patterns (all 2^32 without
// -short) narrowed; every length 0…70 at odd offsets for the tails; the
// errors.

func TestHalfWidenExhaustive(t *testing.T) {
	b := make([]kernels.BF16, 1<<16)
	f := make([]kernels.F16, 1<<16)
	for i := range b {
		b[i], f[i] = kernels.BF16(i), kernels.F16(i)
	}
	got := make([]float32, 1<<16)
	conformBackends(t, func(t *testing.T) {
		if err := kernels.BF16ToFloat32(got, b); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if w := half.BF16ToF32(uint16(i)); math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("bf16 %#04x: got %#08x, want %#08x", i, math.Float32bits(g), math.Float32bits(w))
			}
		}
		if err := kernels.F16ToFloat32(got, f); err != nil {
			t.Fatal(err)
		}
		for i, g := range got {
			if w := half.F16ToF32(uint16(i)); math.Float32bits(g) != math.Float32bits(w) {
				t.Fatalf("f16 %#04x: got %#08x, want %#08x", i, math.Float32bits(g), math.Float32bits(w))
			}
		}
	})
}

// TestHalfNarrowPatterns narrows float32 patterns on every backend and
// compares with the scalar code: a dense sample by default, all 2^32 with
// LOSSFUSE_TEST_EXHAUSTIVE=1 (half.ExhaustiveEnv; CI runs that once).
func TestHalfNarrowPatterns(t *testing.T) {
	const chunk = 1 << 16
	src := make([]float32, 0, chunk)
	b := make([]kernels.BF16, chunk)
	f := make([]kernels.F16, chunk)
	conformBackends(t, func(t *testing.T) {
		fails := 0
		flush := func() {
			if err := kernels.Float32ToBF16(b[:len(src)], src); err != nil {
				t.Fatal(err)
			}
			if err := kernels.Float32ToF16(f[:len(src)], src); err != nil {
				t.Fatal(err)
			}
			for i, x := range src {
				wb, wf := half.F32ToBF16(x), half.F32ToF16(x)
				if uint16(b[i]) != wb || uint16(f[i]) != wf {
					if fails++; fails <= 10 {
						t.Errorf("%#08x: bf16 %#04x (want %#04x), f16 %#04x (want %#04x)",
							math.Float32bits(x), b[i], wb, f[i], wf)
					}
				}
			}
			src = src[:0]
		}
		half.Patterns(half.Sampled(testing.Short()), 0, 1, func(p uint32) {
			src = append(src, math.Float32frombits(p))
			if len(src) == chunk {
				flush()
			}
		})
		flush()
		if fails > 0 {
			t.Fatalf("%d mismatches", fails)
		}
	})
}

// halfValues is n float32 values that exercise every case: ordinary
// values, ties, subnormals of both formats, overflow, ±Inf, NaNs.
func halfValues(rng *rand.Rand, n int) []float32 {
	special := []uint32{0, 0x80000000, 1, 0x00400000, 0x33000000, 0x33800001, 0x387fc000, 0x477ff000,
		0x477fefff, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00001, 0xffa00000, 0x7f801234, 0x3f808000, 0x3f801000}
	s := make([]float32, n)
	for i := range s {
		switch rng.IntN(4) {
		case 0:
			s[i] = math.Float32frombits(special[rng.IntN(len(special))])
		case 1:
			s[i] = math.Float32frombits(rng.Uint32())
		default:
			s[i] = float32(rng.NormFloat64() * math.Exp(rng.Float64()*40-20))
		}
	}
	return s
}

// TestHalfTails runs every length 0…70 at offsets 0…3 of both slices and
// checks the values and that nothing outside dst[:n] is written.
func TestHalfTails(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 16))
	const canary = 0x5a5a
	conformBackends(t, func(t *testing.T) {
		for n := 0; n <= 70; n++ {
			for off := 0; off < 4; off++ {
				xs := halfValues(rng, n+8)[off : off+n]
				hs := make([]uint16, n+8)
				for i := range hs {
					hs[i] = uint16(rng.Uint32())
				}
				hs = hs[3-off : 3-off+n]
				out16 := make([]uint16, n+8)
				out32 := make([]float32, n+8)
				for i := range out16 {
					out16[i], out32[i] = canary, canary
				}
				d16, d32 := out16[off:off+n], out32[3-off:3-off+n]
				check := func(what string, i int, got, want uint32) {
					t.Helper()
					if got != want {
						t.Fatalf("%s n=%d off=%d [%d]: got %#x, want %#x", what, n, off, i, got, want)
					}
				}
				untouched := func(what string) {
					t.Helper()
					for i := range out16 {
						if (i < off || i >= off+n) && out16[i] != canary {
							t.Fatalf("%s n=%d off=%d: wrote outside dst at %d", what, n, off, i-off)
						}
						if (i < 3-off || i >= 3-off+n) && out32[i] != canary {
							t.Fatalf("%s n=%d off=%d: wrote outside dst at %d", what, n, off, i-(3-off))
						}
					}
				}
				mustNil(t, kernels.Float32ToBF16(asHalf[kernels.BF16](d16), xs))
				for i, x := range xs {
					check("Float32ToBF16", i, uint32(d16[i]), uint32(half.F32ToBF16(x)))
				}
				mustNil(t, kernels.Float32ToF16(asHalf[kernels.F16](d16), xs))
				for i, x := range xs {
					check("Float32ToF16", i, uint32(d16[i]), uint32(half.F32ToF16(x)))
				}
				mustNil(t, kernels.BF16ToFloat32(d32, asHalf[kernels.BF16](hs)))
				for i, h := range hs {
					check("BF16ToFloat32", i, math.Float32bits(d32[i]), math.Float32bits(half.BF16ToF32(h)))
				}
				mustNil(t, kernels.F16ToFloat32(d32, asHalf[kernels.F16](hs)))
				for i, h := range hs {
					check("F16ToFloat32", i, math.Float32bits(d32[i]), math.Float32bits(half.F16ToF32(h)))
				}
				untouched("conversions")
			}
		}
	})
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func asHalf[H kernels.BF16 | kernels.F16](s []uint16) []H {
	return unsafe.Slice((*H)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// Bad calls return the documented error and write nothing.
func TestHalfErrors(t *testing.T) {
	f32 := []float32{1, 2, 3, 4}
	h := []kernels.BF16{7, 7, 7}
	g := []kernels.F16{7, 7, 7}
	for name, err := range map[string]error{
		"Float32ToBF16": kernels.Float32ToBF16(h, f32),
		"Float32ToF16":  kernels.Float32ToF16(g, f32),
		"BF16ToFloat32": kernels.BF16ToFloat32(f32, h),
		"F16ToFloat32":  kernels.F16ToFloat32(f32, g),
	} {
		if !errors.Is(err, kernels.ErrLength) {
			t.Errorf("%s, lengths 3 and 4: got %v, want ErrLength", name, err)
		}
	}
	if f32[0] != 1 || h[0] != 7 || g[0] != 7 {
		t.Fatal("a failed call wrote its output")
	}
	// Overlap: a 16-bit view of part of a float32 buffer, at either end
	// and inside, either way round.
	buf := make([]float32, 16)
	for i := range buf {
		buf[i] = float32(i)
	}
	view := func(from, n int) []uint16 {
		return unsafe.Slice((*uint16)(unsafe.Add(unsafe.Pointer(&buf[0]), from)), n)
	}
	// Each case overlaps both buf[:n] (bytes [0, 4n)) and buf[16−n:].
	for _, c := range []struct{ from, n int }{{18, 8}, {30, 8}, {0, 16}, {32, 16}, {2, 12}, {40, 12}} {
		v := view(c.from, c.n)
		d := buf[:c.n]
		for name, err := range map[string]error{
			"Float32ToBF16": kernels.Float32ToBF16(asHalf[kernels.BF16](v), buf[:c.n]),
			"Float32ToF16":  kernels.Float32ToF16(asHalf[kernels.F16](v), buf[16-c.n:]),
			"BF16ToFloat32": kernels.BF16ToFloat32(d, asHalf[kernels.BF16](v)),
			"F16ToFloat32":  kernels.F16ToFloat32(buf[16-c.n:], asHalf[kernels.F16](v)),
		} {
			if !errors.Is(err, kernels.ErrOverlap) {
				t.Errorf("%s, 16-bit view at byte %d of %d: got %v, want ErrOverlap", name, c.from, c.n, err)
			}
		}
	}
	for i := range buf {
		if buf[i] != float32(i) {
			t.Fatal("an overlapping call wrote its output")
		}
	}
	// Adjacent (not overlapping) and empty slices are fine.
	if err := kernels.Float32ToBF16(asHalf[kernels.BF16](view(32, 8)), buf[:8]); err != nil {
		t.Errorf("adjacent: %v", err)
	}
	if err := kernels.BF16ToFloat32(nil, nil); err != nil {
		t.Errorf("empty: %v", err)
	}
}

func TestHalfNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	n := 1000
	f32 := halfValues(rand.New(rand.NewPCG(1, 2)), n)
	b, f := make([]kernels.BF16, n), make([]kernels.F16, n)
	conformBackends(t, func(t *testing.T) {
		allocs := testing.AllocsPerRun(20, func() {
			_ = kernels.Float32ToBF16(b, f32)
			_ = kernels.BF16ToFloat32(f32, b)
			_ = kernels.Float32ToF16(f, f32)
			_ = kernels.F16ToFloat32(f32, f)
			_ = kernels.F16ToFloat32(f32[:7], f[:7])   // a tail only
			_ = kernels.Float32ToF16(f[:13], f32[:13]) // a tail only
		})
		if allocs != 0 {
			t.Errorf("%v allocations per run", allocs)
		}
	})
	runtime.KeepAlive(f32)
}

func TestHalfScalarMethods(t *testing.T) {
	for _, c := range []struct {
		f float32
		b kernels.BF16
		h kernels.F16
	}{{1, 0x3f80, 0x3c00}, {-65504, 0xc780, 0xfbff}, {0x1p-24, 0x3380, 0x0001}} {
		if kernels.BF16FromFloat32(c.f) != c.b || c.b.Float32() != float32(math.Float32frombits(uint32(c.b)<<16)) {
			t.Errorf("bf16 %g", c.f)
		}
		if kernels.F16FromFloat32(c.f) != c.h || c.h.Float32() != c.f {
			t.Errorf("f16 %g", c.f)
		}
	}
}
