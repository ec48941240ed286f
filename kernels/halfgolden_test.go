package kernels_test

// Golden test of CrossEntropyHalf against PyTorch 1.13 on bfloat16 logits
// (family ce_half, tools/golden/gen.py build_ce_half), on every backend.
//
// Each case runs twice, with a float32 gradient and with a bfloat16 one:
//
//  1. The loss, rows, RowLSE and the float32 gradient against PyTorch in
//     float32 on the widened logits and weights (block "f32") under family
//     ce's tolerance (closeTo with scaleOf's S).
//  2. The bfloat16 gradient against the same block: it is the float32
//     gradient a rounded to nearest, so |g16 − t| ≤ u·|t| + (1+u)·τ with t
//     PyTorch's float32 value, τ the tolerance of 1 and u = 2⁻⁸ (bfloat16's
//     unit roundoff: half an ulp is at most u·|a|).
//  3. The loss (mean, sum) or rows (none) and the bfloat16 gradient
//     against PyTorch in bfloat16 (block "bf16"), within the bound below.
//
// What PyTorch 1.13 rounds on CPU (read from aten's SoftMaxKernel.cpp,
// LossNLL.cpp and Loss.cpp, and checked by emulation: for 529089
// log-softmax outputs and 256143 gradient entries of random cases the
// emulation below reproduced PyTorch's bfloat16 bits exactly):
//
//   - log_softmax: the maximum m (exact), S = Σ e^{x−m} in float32, then S,
//     log S and x − m − log S each rounded to bfloat16: ŷ_j has an
//     absolute error e_j ≤ u·(1 + ℓ + |y_j|) + (K+8)·2⁻²⁴, ℓ = lse − m,
//     y_j = z_j − lse (rounding S costs u·1 after the log, log S u·ℓ, the
//     output u·|y_j|; the float32 sum and exp the last term);
//   - nll_loss and the label-smoothing terms are bfloat16 tensor ops,
//     each product, sum, division and scalar (1−ε, ε/K) rounded once:
//     a row costs one rounding without smoothing and eight with it
//     (1−ε, its product, −w·ŷ, ε/K, its product, ŷ·w, the row sum,
//     the final add), each at most u times the row (all its terms have
//     the row's sign); the reduced loss adds n − 1 roundings for the
//     running sum over rows, n − 1 for the weight total and one for the
//     division, and with smoothing a second such chain and the final add:
//     R = 2n without smoothing, 2n + 4 with it;
//   - backward: the upstream gradient g_j at the log-softmax output is
//     −gs·coef_j after n + 4 roundings (the weight total n − 1, 1/total,
//     ·w, the scalar and its product, the add of the two terms); then
//     ŝ = Σ g_j in float32 rounded to bfloat16 (one more), and the output
//     g_j − e^{ŷ_j}·ŝ formed in float32 and rounded to bfloat16 once,
//     nearest even: PyTorch's gradient is exactly the round-to-nearest-even
//     of that float32 value (that is what the emulation matched).
//
// Hence, with coef_c the target mass on class c (scaleOf), P = Σ coef,
// p_j = e^{y_j}, gs the mean's 1/normaliser (1 for sum and none), the
// distance between lossfuse's value and PyTorch's bfloat16 value is at most
//
//	row:   Σ_c coef_c·e_c + R_row·u·|row|, R_row = 1 (ε = 0) or 8
//	loss:  (Σ_rows (Σ_c coef_c·e_c) + R·u·Σ|row|)·gs
//	grad:  2u·|g_j| + gs·P·p_j·(expm1(e_j) + (n+5)·u + (K+4)·2⁻²⁴) + (n+4)·u·gs·coef_j
//
// (the grad's 2u·|g_j|: PyTorch's final rounding and lossfuse's), each
// first-order bound times 1 + 32u for the products of the (1 + δ) factors
// (at most 20 of them: (1+u)²⁰ − 1 ≤ 20u·(1 + 32u)), plus lossfuse's own
// float32 tolerance (1) and float32's smallest normal. Infinite and NaN
// values must match exactly.

import (
	"fmt"
	"math"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

const bf16U = 0x1p-8 // bfloat16's unit roundoff

// halfBounds is the bound of the file comment for a case's bfloat16
// outputs: per row, per gradient entry, and for the reduced loss.
type halfBounds struct {
	loss       float64
	rows, grad []float64
}

func halfBF16Bounds(c *goldenCase, in *inputs64, want *got) *halfBounds {
	n, k := in.n, in.k
	b := &halfBounds{rows: make([]float64, n), grad: make([]float64, n*k)}
	var w []float64
	if c.Weight {
		w = in.w
	}
	ignore, hasIgnore := ignoreOf(c).Index()
	var norm float64
	live := 0
	for _, y := range in.t {
		if !(hasIgnore && y == ignore) {
			norm += weightAt(w, int(y))
			live++
		}
	}
	gs := 1.0
	if reductionOf(c.Reduction) == kernels.Mean && norm != 0 {
		gs = 1 / norm
	}
	eps := c.Smoothing
	rRow, rLoss := 1.0, float64(2*n)
	if eps != 0 {
		rRow, rLoss = 8, float64(2*n+4)
	}
	const hi = 1 + 32*bf16U // second-order terms
	coef := make([]float64, k)
	e := make([]float64, k)
	var lossB float64
	for i := 0; i < n; i++ {
		if hasIgnore && in.t[i] == ignore {
			continue // loss and gradient exactly 0 on both sides
		}
		z := in.x[i*k : i*k+k]
		m, lse := lseOf(z)
		ell := lse - m
		y := int(in.t[i])
		var pc float64
		for j := range coef {
			coef[j] = eps / float64(k) * weightAt(w, j)
			if j == y {
				coef[j] += (1 - eps) * weightAt(w, y)
			}
			pc += coef[j]
			e[j] = bf16U*(1+ell+absf(z[j]-lse)) + float64(k+8)*0x1p-24
		}
		var rb float64
		for j, cj := range coef {
			if cj != 0 && !math.IsInf(z[j], -1) {
				rb += cj * e[j]
			}
		}
		row := absf(want.rows[i])
		b.rows[i] = hi * (rb + rRow*bf16U*row)
		lossB += rb + rLoss*bf16U*row
		for j := range coef {
			p := math.Exp(z[j] - lse)
			var pe float64
			if p != 0 {
				pe = p * (math.Expm1(e[j]) + float64(n+5)*bf16U + float64(k+4)*0x1p-24)
			}
			b.grad[i*k+j] = hi * (2*bf16U*absf(want.grad[i*k+j]) + gs*pc*pe + float64(n+4)*bf16U*gs*coef[j])
		}
	}
	b.loss = hi * lossB * gs
	return b
}

// halfClose: g within bound of want, infinities and NaN exactly.
func halfClose(g, want, bound float64) bool {
	switch {
	case math.IsNaN(want):
		return math.IsNaN(g)
	case math.IsInf(want, 0):
		return g == want
	case math.IsNaN(g) || math.IsInf(g, 0):
		return false
	}
	return math.Abs(g-want) <= bound+0x1p-126
}

// f32Tol is family ce's float32 tolerance (closeTo) as a distance.
func f32Tol(want, scale float64) float64 {
	return slack*dt32.u*(math.Abs(want)+scale) + dt32.tiny
}

func TestGoldenCrossEntropyHalf(t *testing.T) {
	g := loadGolden(t, "ce_half")
	type prepared struct {
		c            *goldenCase
		in           *inputs64
		x            []kernels.BF16
		w            []float32
		want, want16 *got
		s            *scales
		b            *halfBounds
	}
	var cases []prepared
	for _, c := range g.Cases {
		in := widen(g.Inputs[c.In])
		p := prepared{c: c, in: in, x: make([]kernels.BF16, len(in.x))}
		for i, v := range in.x {
			p.x[i] = kernels.BF16FromFloat32(float32(v))
			if float64(p.x[i].Float32()) != v && !math.IsNaN(v) {
				t.Fatalf("%s: logit %d = %v is not a bfloat16 value", c.Name, i, v)
			}
		}
		if c.Weight {
			p.w = conv[float32](in.w)
		}
		p.want = expected(c, dt32)
		b := c.Out["bf16"]
		p.want16 = &got{rows: parseAll(b.Rows, 32), grad: parseAll(b.Grad, 32)}
		if b.Loss != nil {
			p.want16.loss = b.Loss.parse(32)
		}
		p.s = scaleOf(c, in, p.want)
		p.b = halfBF16Bounds(c, in, p.want)
		cases = append(cases, p)
	}
	t.Logf("%d ce_half cases", len(cases))
	conformBackends(t, func(t *testing.T) {
		bad := 0
		for _, p := range cases {
			c, n, k := p.c, p.in.n, p.in.k
			opts := func() *kernels.CrossEntropyOptions[float32] {
				return &kernels.CrossEntropyOptions[float32]{
					Reduction: reductionOf(c.Reduction), Ignore: ignoreOf(c), LabelSmoothing: c.Smoothing,
					Weight: p.w, RowLoss: make([]float32, n), RowLSE: make([]float32, n),
				}
			}
			var errs []string
			fail := func(format string, a ...any) {
				if len(errs) < 6 {
					errs = append(errs, fmt.Sprintf(format, a...))
				} else if len(errs) == 6 {
					errs = append(errs, "…")
				}
			}
			// 1: float32 gradient against PyTorch's float32 on the widened logits.
			o := opts()
			g32 := make([]float32, n*k)
			loss, err := kernels.CrossEntropyHalf(p.x, p.in.t, n, k, g32, o)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if !closeTo(dt32, float64(loss), p.want.loss, p.s.loss) {
				fail("f32 loss %v, PyTorch float32 %v ± %.3g", loss, p.want.loss, f32Tol(p.want.loss, p.s.loss))
			}
			for i := range n {
				if !closeTo(dt32, float64(o.RowLoss[i]), p.want.rows[i], p.s.rows[i]) {
					fail("f32 row %d: %v, PyTorch float32 %v", i, o.RowLoss[i], p.want.rows[i])
				}
				if !closeTo(dt32, float64(o.RowLSE[i]), p.want.lse[i], p.s.lse[i]) {
					fail("lse %d: %v, PyTorch float32 %v", i, o.RowLSE[i], p.want.lse[i])
				}
			}
			for j, v := range g32 {
				if !closeTo(dt32, float64(v), p.want.grad[j], p.s.grad[j]) {
					fail("f32 grad[%d] %v, PyTorch float32 %v ± %.3g", j, v, p.want.grad[j], f32Tol(p.want.grad[j], p.s.grad[j]))
				}
			}
			// 2 and 3: bfloat16 gradient.
			o = opts()
			g16 := make([]kernels.BF16, n*k)
			loss16, err := kernels.CrossEntropyHalf(p.x, p.in.t, n, k, g16, o)
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if !closeTo(dt32, float64(loss16), p.want.loss, p.s.loss) {
				fail("bf16-grad call: loss %v, PyTorch float32 %v", loss16, p.want.loss)
			}
			if c.Reduction == "none" {
				for i := range n {
					if !halfClose(float64(o.RowLoss[i]), p.want16.rows[i], p.b.rows[i]+f32Tol(p.want.rows[i], p.s.rows[i])) {
						fail("row %d: %v, PyTorch bfloat16 %v ± %.3g", i, o.RowLoss[i], p.want16.rows[i], p.b.rows[i])
					}
				}
			} else if !halfClose(float64(loss16), p.want16.loss, p.b.loss+f32Tol(p.want.loss, p.s.loss)) {
				fail("loss %v, PyTorch bfloat16 %v ± %.3g", loss16, p.want16.loss, p.b.loss)
			}
			for j, h := range g16 {
				v := float64(h.Float32())
				w32, tau := p.want.grad[j], f32Tol(p.want.grad[j], p.s.grad[j])
				if !halfClose(v, w32, bf16U*math.Abs(w32)+(1+bf16U)*tau) {
					fail("bf16 grad[%d] %v is not PyTorch float32's %v rounded to nearest (± %.3g)", j, v, w32, bf16U*math.Abs(w32)+(1+bf16U)*tau)
				}
				if !halfClose(v, p.want16.grad[j], p.b.grad[j]+tau) {
					fail("bf16 grad[%d] %v, PyTorch bfloat16 %v ± %.3g", j, v, p.want16.grad[j], p.b.grad[j]+tau)
				}
			}
			if errs != nil {
				t.Errorf("%s: %s", c.Name, fmt.Sprint(errs))
				if bad++; bad > 10 {
					t.Fatal("too many failures")
				}
			}
		}
	})
}
