//go:build !purego

package amd64

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
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

// TestStashedMatchesBlocks: the stashed long-row cross-entropy (pass 2
// scales pass 1's exponentials) agrees with the exp-recomputing blockwise
// path, on rows that keep pass 1's reference, rows where it moves (those
// fall back to recomputing), tiny weights (the factor check) and in place.
func TestStashedMatchesBlocks(t *testing.T) {
	for _, tc := range isas(t) {
		s := isa(tc.name == "avx512")
		rng := rand.New(rand.NewPCG(3, 4))
		for _, k := range []int{4097, 10000, len(stashRows{})/2 + 1, stashMaxK} { // the wide rows from 128K + 1
			for _, kind := range []string{"normal", "rising", "tiny-weights", "in-place", "z-loss"} {
				const n = 3
				x := make([]float32, n*k)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * 3)
					if kind == "rising" {
						x[i] += float32(i%k) * 0.01 // reference moves after the first vector
					}
				}
				targets := []int32{0, int32(k - 1), int32(k / 2)}
				w := make([]float32, k)
				for i := range w {
					w[i] = 1
					if kind == "tiny-weights" {
						w[i] = 1e-33
					}
				}
				a := args.CE[float32]{X: x, N: n, K: k, Targets: targets, Weight: w, GradScale: 1.0 / n,
					RowLoss: make([]float32, n), RowLSE: make([]float32, n)}
				if kind == "z-loss" {
					a.ZLoss = 1e-3
				}
				want := a
				want.X = append([]float32(nil), x...)
				want.Grad = make([]float32, n*k)
				want.RowLoss, want.RowLSE = make([]float32, n), make([]float32, n)
				wantLoss := s.crossEntropyBlocks(want, nil, nil)
				got := a
				if kind == "in-place" {
					got.Grad = got.X
				} else {
					got.Grad = make([]float32, n*k)
				}
				gotLoss := s.crossEntropyStashed(got)
				if d := math.Abs(gotLoss - wantLoss); d > 1e-6*math.Abs(wantLoss) {
					t.Errorf("%s k=%d %s: loss %v, blockwise %v", tc.name, k, kind, gotLoss, wantLoss)
				}
				var gmax float64
				for _, v := range want.Grad {
					gmax = math.Max(gmax, math.Abs(float64(v)))
				}
				for i := range want.Grad {
					if d := math.Abs(float64(got.Grad[i] - want.Grad[i])); d > 4e-7*gmax || math.IsNaN(float64(got.Grad[i])) {
						t.Fatalf("%s k=%d %s: grad[%d] = %v, blockwise %v", tc.name, k, kind, i, got.Grad[i], want.Grad[i])
					}
				}
				for i := range n {
					if got.RowLoss[i] != want.RowLoss[i] || got.RowLSE[i] != want.RowLSE[i] {
						t.Errorf("%s k=%d %s: row %d loss/lse %v/%v, blockwise %v/%v", tc.name, k, kind, i,
							got.RowLoss[i], got.RowLSE[i], want.RowLoss[i], want.RowLSE[i])
					}
				}
			}
		}
	}
}
