// Package nn is the smallest layer kit the examples need: a fully connected
// layer on gonum matrices, ReLU, and SGD with momentum. The loss and its
// gradient come from elsewhere (lossfuse or the naive losses).
package nn

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Linear is y = x·W + b for a batch x of n rows of In features.
type Linear struct {
	In, Out        int
	W, GradW, velW *mat.Dense // In×Out
	B, GradB, velB []float64  // Out
}

// NewLinear initialises W with N(0, scale²/In) entries (scale² = 2 is He
// initialisation for a ReLU layer, 1 suits a layer feeding a loss) and b = 0.
func NewLinear(in, out int, scale float64, rng *rand.Rand) *Linear {
	w := make([]float64, in*out)
	sd := scale / math.Sqrt(float64(in))
	for i := range w {
		w[i] = sd * rng.NormFloat64()
	}
	return &Linear{
		In: in, Out: out,
		W: mat.NewDense(in, out, w), GradW: mat.NewDense(in, out, nil), velW: mat.NewDense(in, out, nil),
		B: make([]float64, out), GradB: make([]float64, out), velB: make([]float64, out),
	}
}

// Forward writes x·W + b into y (n×Out).
func (l *Linear) Forward(x, y *mat.Dense) {
	y.Mul(x, l.W)
	raw := y.RawMatrix()
	for i := 0; i < raw.Rows; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
		for j := range row {
			row[j] += l.B[j]
		}
	}
}

// Backward stores the parameter gradients for upstream gradient dy (n×Out)
// at input x and, when dx is not nil, writes the input gradient dy·Wᵀ.
func (l *Linear) Backward(x, dy, dx *mat.Dense) {
	l.GradW.Mul(x.T(), dy)
	raw := dy.RawMatrix()
	clear(l.GradB)
	for i := 0; i < raw.Rows; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
		for j, v := range row {
			l.GradB[j] += v
		}
	}
	if dx != nil {
		dx.Mul(dy, l.W.T())
	}
}

// Step applies SGD with momentum: v ← μ·v − lr·g, θ ← θ + v.
func (l *Linear) Step(lr, momentum float64) {
	step(l.W.RawMatrix().Data, l.GradW.RawMatrix().Data, l.velW.RawMatrix().Data, lr, momentum)
	step(l.B, l.GradB, l.velB, lr, momentum)
}

func step(p, g, v []float64, lr, mu float64) {
	for i := range p {
		v[i] = mu*v[i] - lr*g[i]
		p[i] += v[i]
	}
}

// ReLU applies max(x, 0) in place.
func ReLU(m *mat.Dense) {
	raw := m.RawMatrix()
	for i := 0; i < raw.Rows; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+raw.Cols]
		for j, v := range row {
			row[j] = math.Max(v, 0)
		}
	}
}

// ReLUBackward zeroes the gradient d where the ReLU output h was 0.
func ReLUBackward(h, d *mat.Dense) {
	hr, dr := h.RawMatrix(), d.RawMatrix()
	for i := 0; i < hr.Rows; i++ {
		for j := 0; j < hr.Cols; j++ {
			if hr.Data[i*hr.Stride+j] <= 0 {
				dr.Data[i*dr.Stride+j] = 0
			}
		}
	}
}

// Batches returns one epoch of mini-batches: the row indices 0..n−1 in a
// new random order, cut into batches of size rows (the last may be smaller).
func Batches(n, size int, rng *rand.Rand) [][]int {
	perm := rng.Perm(n)
	var b [][]int
	for lo := 0; lo < n; lo += size {
		b = append(b, perm[lo:min(lo+size, n)])
	}
	return b
}

// Gather copies rows idx of the row-major x (d columns) into the first
// len(idx) rows of dst and returns that n×d view of dst.
func Gather(dst *mat.Dense, x []float64, d int, idx []int) *mat.Dense {
	v := dst.Slice(0, len(idx), 0, d).(*mat.Dense)
	raw := v.RawMatrix()
	for r, i := range idx {
		copy(raw.Data[r*raw.Stride:r*raw.Stride+d], x[i*d:(i+1)*d])
	}
	return v
}

// Rows returns the view of the first n rows of m.
func Rows(m *mat.Dense, n int) *mat.Dense {
	_, c := m.Dims()
	return m.Slice(0, n, 0, c).(*mat.Dense)
}

// Data returns the contiguous row-major backing slice of m, which must not be
// a column slice of a wider matrix (the loss kernels take flat slices).
func Data(m *mat.Dense) []float64 {
	raw := m.RawMatrix()
	if raw.Stride != raw.Cols {
		panic("nn.Data: matrix is not contiguous")
	}
	return raw.Data[:raw.Rows*raw.Cols]
}
