//go:build !purego

package amd64

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestStreamedMatchesCached: the non-temporal pass 2 must write exactly what
// the ordinary one writes, for every alignment of the output (its masked
// head), every row length around the vector widths and in place.
func TestStreamedMatchesCached(t *testing.T) {
	for _, tc := range isas(t) {
		s := isa(tc.name == "avx512")
		rng := rand.New(rand.NewPCG(1, 2))
		for _, k := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000} {
			const n = 3
			for off := 0; off < 16; off++ {
				x := make([]float32, n*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 4)
				}
				var m, ls, coef, bias [n]float32
				s.maxLogRows(x, n, k, &m[0], &ls[0])
				for i := range coef {
					coef[i], bias[i] = float32(rng.Float64()+0.5), float32(rng.Float64()*0.01)
				}
				want := make([]float32, n*k)
				s.expAffineRows(x, want, n, k, &m[0], &ls[0], &coef[0], &bias[0], false)
				buf := make([]float32, n*k+32)
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
				got := buf[off : off+n*k]
				s.expAffineRows(x, got, n, k, &m[0], &ls[0], &coef[0], &bias[0], true)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s k=%d offset %d: element %d = %v, cached %v", tc.name, k, off, i, got[i], want[i])
					}
				}
				for i, v := range buf {
					if (i < off || i >= off+n*k) && !math.IsNaN(float64(v)) {
						t.Fatalf("%s k=%d offset %d: wrote buf[%d] outside the output", tc.name, k, off, i)
					}
				}
				// In place.
				in := append(buf[:0:0], buf...)
				copy(in[off:], x)
				s.expAffineRows(in[off:off+n*k], in[off:off+n*k], n, k, &m[0], &ls[0], &coef[0], &bias[0], true)
				for i := range want {
					if math.Float32bits(in[off+i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s k=%d offset %d in place: element %d = %v, cached %v", tc.name, k, off, i, in[off+i], want[i])
					}
				}
			}
		}
	}
}
