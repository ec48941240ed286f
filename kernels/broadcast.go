package kernels

import (
	"sync"

	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// The binary losses' broadcast weights (BinaryOptions.ClassWeight and
// RowWeight) run the per-element kernels over blocks of whole rows whose
// weights come from a tile: an L1-resident buffer of tileElems weights
// laid out as the block's elements are. A class-weight tile is filled once
// per call (every block starts a row, so every block sees the same
// classes); a row-weight tile is refilled per block. Rows longer than a
// tile are cut into column blocks, with PosWeight cut alike. The weights
// are never copied N×K times, and the backend's own kernels do the work.

// tileElems is the weights one block covers: 8–16 KiB, so that the tile,
// a block's inputs and its outputs share L1, while the per-block dispatch
// (tens of ns) is spread over thousands of elements.
const tileElems = 2048

var (
	tilePool32 = sync.Pool{New: func() any { return new([tileElems]float32) }}
	tilePool64 = sync.Pool{New: func() any { return new([tileElems]float64) }}
)

// getTile borrows a tile (pooled: a stack array would escape through the
// backend's function value).
func getTile[T Float]() *[tileElems]T {
	var zero T
	if _, ok := any(zero).(float32); ok {
		return any(tilePool32.Get()).(*[tileElems]T)
	}
	return any(tilePool64.Get()).(*[tileElems]T)
}

func putTile[T Float](t *[tileElems]T) {
	var zero T
	if _, ok := any(zero).(float32); ok {
		tilePool32.Put(t)
		return
	}
	tilePool64.Put(t)
}

// block is a's rows [r0, r0+rows) and columns [c0, c0+cols) (whole rows
// when cols = K), weighted by w.
func block[T Float](a args.Binary[T], r0, rows, c0, cols int, w []T) args.Binary[T] {
	k := a.K
	lo, hi := r0*k+c0, (r0+rows-1)*k+c0+cols
	b := a
	b.N, b.K = rows, cols
	b.X, b.Y, b.Weight = a.X[lo:hi], a.Y[lo:hi], w
	if a.Grad != nil {
		b.Grad = a.Grad[lo:hi]
	}
	if a.Loss != nil {
		b.Loss = a.Loss[lo:hi]
	}
	if a.PosWeight != nil {
		b.PosWeight = a.PosWeight[c0 : c0+cols]
	}
	return b
}

// classWeighted runs a with weight cw[j] on every element of class j.
func classWeighted[T Float](a args.Binary[T], cw []T) float64 {
	run := impl[T]().Binary
	n, k := a.N, a.K
	var sum float64
	if k > tileElems {
		// The class weights are a row's per-element weights as they stand.
		for i := range n {
			sum += run(block(a, i, 1, 0, k, cw))
		}
		return sum
	}
	t := getTile[T]()
	defer putTile(t)
	per := tileElems / k // rows per block
	tile := t[:per*k]
	for i := 0; i < len(tile); i += k {
		copy(tile[i:i+k], cw)
	}
	for r0 := 0; r0 < n; r0 += per {
		rows := min(per, n-r0)
		sum += run(block(a, r0, rows, 0, k, tile[:rows*k]))
	}
	return sum
}

// rowWeighted runs a with weight rw[i] on every element of row i.
func rowWeighted[T Float](a args.Binary[T], rw []T) float64 {
	run := impl[T]().Binary
	n, k := a.N, a.K
	if k == 1 {
		// Rows of one element: the row weights are per-element weights.
		a.Weight = rw
		return run(a)
	}
	t := getTile[T]()
	defer putTile(t)
	var sum float64
	if k > tileElems {
		for i := range n {
			fill(t[:], rw[i])
			for c0 := 0; c0 < k; c0 += tileElems {
				cols := min(tileElems, k-c0)
				sum += run(block(a, i, 1, c0, cols, t[:cols]))
			}
		}
		return sum
	}
	per := tileElems / k
	for r0 := 0; r0 < n; r0 += per {
		rows := min(per, n-r0)
		for i := range rows {
			fill(t[i*k:i*k+k], rw[r0+i])
		}
		sum += run(block(a, r0, rows, 0, k, t[:rows*k]))
	}
	return sum
}

// fill sets every element of dst to v: by doubling copies (memmove's
// vector loops) past a few elements, where a store loop ran at one element
// a cycle and cost a row-weighted call a fifth of its time.
func fill[T Float](dst []T, v T) {
	if len(dst) < 32 {
		for i := range dst {
			dst[i] = v
		}
		return
	}
	for i := range 16 {
		dst[i] = v
	}
	for m := 16; m < len(dst); m *= 2 {
		copy(dst[m:], dst[:m])
	}
}
