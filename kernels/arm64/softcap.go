//go:build arm64 && !purego

package arm64

import "github.com/lossfuse/lossfuse/kernels/internal/args"

// Soft-capped logits z = cap·tanh(x/cap) in the cross-entropy rows. With a
// gradient, the row's z is written into it (vcap) and the usual passes run
// over that; the last pass (vexpAffine*Z) turns each z into its gradient
// element with the cap's derivative. Without one, the sum of exponentials
// caps as it reads (sumExpCap) and the other sums over z (smoothing,
// probability targets) cap the row chunk by chunk into a stack buffer.

// capRow holds a row's capping state.
type capRow[T args.Float] struct {
	capv float64
	zy   float64 // the target's capped logit
	buf  [chunk]T
}

func newCapRow[T args.Float](capv float64) capRow[T] { return capRow[T]{capv: capv} }

// one caps a single value with the vector tanh, so that it equals the
// capped element of the row bit for bit.
func (c *capRow[T]) one(v float64) float64 {
	var in, out [1]T
	in[0] = T(v)
	vcap(out[:], in[:], c.capv)
	return float64(out[0])
}

// sumExp is Σ exp(z − m) − 1 over the row: over z itself when stored
// (the gradient holds it) or not capped, else capping x as it reads.
func (c *capRow[T]) sumExp(x []T, m float64, stored bool) float64 {
	if stored || c.capv == 0 {
		return vsumExp(x, m)
	}
	if is32[T]() {
		return sumExpCapF32(as32(x), float32(m), float32(c.capv), float32(1/c.capv))
	}
	return sumExpCapF64(as64(x), m, c.capv, 1/c.capv)
}

// dotSub is Σ w·(z − m) (w nil: 1) over the capped logits of x, chunk by
// chunk (sums of non-positive terms: chunking changes no digit pattern
// the single pass would keep).
func (c *capRow[T]) dotSub(x, w []T, m float64) float64 {
	var s float64
	for j := 0; j < len(x); j += chunk {
		e := min(j+chunk, len(x))
		z := c.buf[:e-j]
		vcap(z, x[j:e], c.capv)
		if w != nil {
			s += vdotSub(z, w[j:e], m)
		} else {
			s += vsumSub(z, m)
		}
	}
	return s
}

// dotSub3 is Σ t·w·(z − m) (w nil: 1) over the capped logits, as dotSub.
func (c *capRow[T]) dotSub3(x, t, w []T, m float64) float64 {
	var s float64
	for j := 0; j < len(x); j += chunk {
		e := min(j+chunk, len(x))
		z := c.buf[:e-j]
		vcap(z, x[j:e], c.capv)
		if w != nil {
			s += vdotSub3(z, t[j:e], w[j:e], m)
		} else {
			s += vdotSub(z, t[j:e], m)
		}
	}
	return s
}

func vcap[T args.Float](dst, x []T, capv float64) {
	if is32[T]() {
		capF32(as32(dst), as32(x), float32(capv), float32(1/capv))
	} else {
		capF64(as64(dst), as64(x), capv, 1/capv)
	}
}

func vexpAffineZ[T args.Float](z []T, m, a, b, inv float64) {
	if is32[T]() {
		expAffineZF32(as32(z), as32(z), float32(m), float32(a), float32(b), float32(inv))
	} else {
		expAffineZF64(as64(z), as64(z), m, a, b, inv)
	}
}

func vexpAffineWZ[T args.Float](z, w []T, m, a, b, inv float64) {
	if is32[T]() {
		expAffineWZF32(as32(z), as32(z), as32(w), float32(m), float32(a), float32(b), float32(inv))
	} else {
		expAffineWZF64(as64(z), as64(z), as64(w), m, a, b, inv)
	}
}

func vexpAffineTZ[T args.Float](z, t []T, m, a, b, c, inv float64) {
	if is32[T]() {
		expAffineTZF32(as32(z), as32(z), as32(t), float32(m), float32(a), float32(b), float32(c), float32(inv))
	} else {
		expAffineTZF64(as64(z), as64(z), as64(t), m, a, b, c, inv)
	}
}

func vexpAffineWTZ[T args.Float](z, t, w []T, m, a, b, c, inv float64) {
	if is32[T]() {
		expAffineWTZF32(as32(z), as32(z), as32(t), as32(w), float32(m), float32(a), float32(b), float32(c), float32(inv))
	} else {
		expAffineWTZF64(as64(z), as64(z), as64(t), as64(w), m, a, b, c, inv)
	}
}
