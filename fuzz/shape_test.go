package fuzz

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

// maxElems caps N×K so that one input stays fast (the reference and every
// backend run on it).
const maxElems = 1 << 13

// decodeShape draws N and K (K from kTable) and trims N to fit maxElems.
func decodeShape(s *source) (n, k int) {
	n = s.pick("n", nTable)
	k = s.pick("k", kTable)
	for n > 1 && n*k > maxElems {
		n /= 2
	}
	return n, k
}

// lengthTable holds flat lengths for the element-wise losses: 0 to three
// widths plus one, and the large ones.
var lengthTable = append([]int{0}, kTable...)

// decodeLength draws a flat length (0 allowed where the API allows it).
func decodeLength(s *source, allowZero bool) int {
	l := s.pick("len", lengthTable)
	if l == 0 && !allowZero {
		l = 1
	}
	return l
}
