//go:build !purego

package amd64

import (
	"fmt"
	"testing"
)

// BenchmarkExp times the vector exp on inputs of one kind: ordinary, far
// below the underflow threshold (masked logits, −Inf fills: zeroed without
// a microcode assist) and in the subnormal-result range (correct gradual
// underflow, which does take the assist on Intel).
func BenchmarkExp(b *testing.B) {
	for _, in := range []struct {
		name string
		v    float32
	}{{"ordinary", -1.5}, {"masked", -1e9}, {"subnormal", -95}} {
		for _, tc := range isas(b) {
			b.Run(fmt.Sprintf("%s/%s", in.name, tc.name), func(b *testing.B) {
				x := make([]float32, 4096)
				for i := range x {
					x[i] = in.v
				}
				d := make([]float32, len(x))
				b.SetBytes(int64(4 * len(x)))
				for range b.N {
					tc.exp(&x[0], &d[0], len(x))
				}
			})
		}
	}
}
