package kernels

import (
	"reflect"
	"testing"
)

// TestHalfNotGeneric: every SIMD backend's table holds its own slice
// conversions, not the generic loops (a silent fallback would pass every
// value test).
func TestHalfNotGeneric(t *testing.T) {
	g := registry[0].f32
	for _, b := range registry[1:] {
		for _, p := range [][2]any{
			{b.f32.BF16ToF32, g.BF16ToF32}, {b.f32.F32ToBF16, g.F32ToBF16},
			{b.f32.F16ToF32, g.F16ToF32}, {b.f32.F32ToF16, g.F32ToF16},
		} {
			if reflect.ValueOf(p[0]).Pointer() == reflect.ValueOf(p[1]).Pointer() {
				t.Errorf("%s: a 16-bit conversion is the generic loop", b.name)
			}
		}
	}
}
