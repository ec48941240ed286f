package fuzz

import (
	"slices"
	"testing"

	"github.com/lossfuse/lossfuse/internal/pathtable"
)

// Vector widths on the supported backends run from 2 (float64 NEON) to 16
// (float32 AVX-512), so every K from 1 to three 16-wide vectors plus one is
// drawn, then a few sizes around larger powers of two and odd large rows
// whose tails no unrolled loop divides.
var kTable = func() []int {
	var t []int
	for k := 1; k <= 49; k++ {
		t = append(t, k)
	}
	return append(t, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 4099)
}()

// nTable holds the row counts.
var nTable = []int{1, 2, 3, 4, 5, 7, 8, 16, 17, 33}

// The long-row and many-row extensions. A shape decision is one byte b;
// b % len(table) picks from the table above, except that the top bytes
// (256 − len(ext) and up) pick from the extension instead, so that every
// input written before the extensions existed keeps its meaning unless it
// used one of those few byte values (docs/paths.md lists the paths they
// reach):
//
//   - kLong: rows past the amd64 fused kernel (K > 4096): the stashed,
//     pipelined path (32768, 32769, a vocabulary size, 50257, and 131073,
//     the first row of its wide scratch rows) and the blockwise path that
//     takes float32 rows from 262145 (float64 rows past 4096). New values
//     go at the front: the byte values already in use keep their meaning.
//   - nMany: many rows, for many whole groups of the small-K transposed
//     kernels and, with a K from kLong, outputs of 16 MiB and more (the
//     non-temporal stores; args.StreamMinBytes).
var (
	kLong = []int{262145, 131073, 4097, 8192, 32768, 32769, 50257}
	nMany = []int{128, 512, 4096, 65536}
)

// Element caps for N×K, by where N and K come from: maxElems for the
// ordinary tables; maxManyRowsElems for N from nMany with an ordinary K;
// maxLongElems for K from kLong (N ≥ 2 is kept whatever the cap: two rows
// are what the pipelined path pipelines); maxStreamElems for both
// extensions at once (an output of 16 MiB of float32 for K = 4097, 8192,
// 32768, 32769, 131073 and 262145, of float64 for every K in kLong). Costs, natively with
// three backends and the reference: about 1 µs per element, so an input of
// maxStreamElems takes a few seconds; one input in 2341 draws both
// extensions (19 of their 28 shapes reach 16 MiB in float32, 23 in
// float64: one float32 input in 3449 streams, one float64 input in 2849),
// one in 36 a long row (~0.07 s; K = 131073 and 262145, one in 256 each:
// two rows, ~0.3 s and ~0.6 s), so the average input takes about twice as
// long as without the extensions.
const (
	maxElems         = 1 << 13
	maxManyRowsElems = 1 << 14
	maxLongElems     = 1 << 16
	maxStreamElems   = 5 << 20
)

// pickExt draws from table, or from ext when the byte is one of the top
// len(ext); a script names the value (searched in table first).
func (s *source) pickExt(label string, table, ext []int) int {
	first := 256 - len(ext)
	if s.script != nil {
		want := s.script.Int(label)
		for i, v := range table {
			if v == want {
				return table[s.record(label, 256, i)]
			}
		}
		for i, v := range ext {
			if v == want {
				s.record(label, 256, first+i)
				return v
			}
		}
		panic("seed script: " + label + " is not an option")
	}
	b := s.intn(label, 256)
	if b >= first {
		return ext[b-first]
	}
	return table[b%len(table)]
}

// decodeShape draws N (nTable or nMany) and K (kTable or kLong) and halves
// N until N×K fits its cap (shapeCap).
func decodeShape(s *source) (n, k int) {
	n = s.pickExt("n", nTable, nMany)
	k = s.pickExt("k", kTable, kLong)
	limit, minN := shapeCap(n, k)
	for n > minN && n*k > limit {
		n /= 2
	}
	return n, k
}

// shapeCap is the N×K cap for a drawn n and k and the fewest rows trimming
// keeps (see maxElems).
func shapeCap(n, k int) (limit, minN int) {
	long, many := k > kTable[len(kTable)-1], n > nTable[len(nTable)-1]
	switch {
	case long && many:
		return maxStreamElems, 1
	case long:
		return maxLongElems, 2
	case many:
		return maxManyRowsElems, 1
	}
	return maxElems, 1
}

// lengthTable holds flat lengths for the element-wise losses: 0 to three
// widths plus one, and the large ones.
var lengthTable = append([]int{0}, kTable...)

// lengthLong extends lengthTable as kLong extends kTable (the element-wise
// kernels have no non-temporal variants: lengths stay moderate).
var lengthLong = []int{4097, 32769, 1 << 16}

// decodeLength draws a flat length (0 allowed where the API allows it).
func decodeLength(s *source, allowZero bool) int {
	l := s.pickExt("len", lengthTable, lengthLong)
	if l == 0 && !allowZero {
		l = 1
	}
	return l
}

// TestPathShapesDrawable checks that the shape tables reach every code
// path of docs/paths.md: for each row of the path table (internal/pathtable)
// some N and K the decoder draws lie in the row's class (rows, row-length
// range, output size) for each of the row's element types.
func TestPathShapesDrawable(t *testing.T) {
	type shape struct{ n, k int }
	var rows, flat []shape
	for bn := range 256 {
		for bk := range 256 {
			n, k := decodeShape(newSource([]byte{byte(bn), byte(bk)}))
			rows = append(rows, shape{n, k})
		}
		flat = append(flat, shape{1, decodeLength(newSource([]byte{byte(bn)}), true)})
	}
	for _, r := range pathtable.Rows {
		drawn := rows
		if r.Fn.Flat() {
			drawn = flat
		}
		for _, ty := range r.Types() {
			size := 4
			if ty == "f64" {
				size = 8
			}
			c := r.Class
			if !slices.ContainsFunc(drawn, func(s shape) bool {
				return s.n >= c.NMin && s.k >= c.KMin && s.k <= c.KMax && s.n*s.k*size >= c.OutMin
			}) {
				t.Errorf("path table row %s (%s): the fuzzer draws no shape with N ≥ %d, %d ≤ K ≤ %d, output ≥ %d bytes",
					r.Name, ty, c.NMin, c.KMin, c.KMax, c.OutMin)
			}
		}
	}
}
