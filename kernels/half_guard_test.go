//go:build linux

package kernels_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/kernels/internal/half"
)

// TestGuardHalf runs the four slice conversions with src and dst each flush
// against a guard page (both at their ends, then both at their starts), for
// every length 0 to three AVX-512 vectors plus one, on every backend, and
// checks each value against the scalar conversion.
func TestGuardHalf(t *testing.T) {
	rs, rd := newRegion(t), newRegion(t)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rng := rand.New(rand.NewPCG(18, 1))
	for _, b := range kernels.Backends() {
		if guardSkipped(b) { // not guardSkips: no masked tails here, so qemu can guard-test avx2 too
			continue
		}
		restore, err := kernels.UseBackend(b)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n <= 3*maxVec+1; n++ {
			for _, front := range []bool{true, false} {
				guardHalfCase(t, b, n, front, rs, rd, rng)
			}
		}
		restore()
	}
}

func guardHalfCase(t *testing.T, b string, n int, front bool, rs, rd region, rng *rand.Rand) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s n=%d front=%v: %v", b, n, front, r)
		}
	}()
	f32 := slice[float32](rs, n, front)
	copy(f32, halfValues(rng, n))
	d16 := slice[uint16](rd, n, front)
	mustNil(t, kernels.Float32ToBF16(asHalf[kernels.BF16](d16), f32))
	for i, x := range f32 {
		if d16[i] != half.F32ToBF16(x) {
			t.Fatalf("%s Float32ToBF16 n=%d [%d]", b, n, i)
		}
	}
	mustNil(t, kernels.Float32ToF16(asHalf[kernels.F16](d16), f32))
	for i, x := range f32 {
		if d16[i] != half.F32ToF16(x) {
			t.Fatalf("%s Float32ToF16 n=%d [%d]", b, n, i)
		}
	}
	s16 := slice[uint16](rs, n, front)
	for i := range s16 {
		s16[i] = uint16(rng.Uint32())
	}
	d32 := slice[float32](rd, n, front)
	mustNil(t, kernels.BF16ToFloat32(d32, asHalf[kernels.BF16](s16)))
	for i, h := range s16 {
		if math.Float32bits(d32[i]) != math.Float32bits(half.BF16ToF32(h)) {
			t.Fatalf("%s BF16ToFloat32 n=%d [%d]", b, n, i)
		}
	}
	mustNil(t, kernels.F16ToFloat32(d32, asHalf[kernels.F16](s16)))
	for i, h := range s16 {
		if math.Float32bits(d32[i]) != math.Float32bits(half.F16ToF32(h)) {
			t.Fatalf("%s F16ToFloat32 n=%d [%d]", b, n, i)
		}
	}
}
