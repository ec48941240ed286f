//go:build !purego

package amd64

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// distillCall runs the isa's Distill driver for either element type.
func distillCall[T args.Float](s isa, a args.CE[T]) float64 {
	switch a := any(a).(type) {
	case args.CE[float32]:
		return s.distill(a)
	case args.CE[float64]:
		return s.distill64(a)
	}
	panic("element type")
}

// distillRowKinds are the rows of every differential case: each fills a
// student and a teacher row of k logits. The special ones exercise the
// spec's rules (generic/distill.go): a zero probability adds no term, a
// row holding NaN or +Inf or only −Inf in either input is NaN, a student's
// mass beside a teacher's −Inf makes ReverseKL +Inf with a NaN gradient
// (also where the student's weight underflows), the mirror for ForwardKL.
var distillRowKinds = []struct {
	name string
	fill func(rng *rand.Rand, s, t []float64)
}{
	{"normal", func(rng *rand.Rand, s, t []float64) { normals(rng, s, 1, 0); normals(rng, t, 1, 0) }},
	{"wide-offset", func(rng *rand.Rand, s, t []float64) { normals(rng, s, 4, 30); normals(rng, t, 4, -20) }},
	{"student-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 2, 0)
		normals(rng, t, 2, 0)
		someNegInf(rng, s)
	}},
	{"teacher-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 2, 0)
		normals(rng, t, 2, 0)
		someNegInf(rng, t)
	}},
	{"both-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 2, 0)
		normals(rng, t, 2, 0)
		someNegInf(rng, s)
		for j := range s {
			if math.IsInf(s[j], -1) {
				t[j] = s[j]
			}
		}
	}},
	{"student-nan", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		s[rng.IntN(len(s))] = math.NaN()
	}},
	{"teacher-nan", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		t[rng.IntN(len(t))] = math.NaN()
	}},
	{"student-posinf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		s[rng.IntN(len(s))] = math.Inf(1)
	}},
	{"teacher-posinf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		t[rng.IntN(len(t))] = math.Inf(1)
	}},
	{"student-all-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, t, 1, 0)
		for j := range s {
			s[j] = math.Inf(-1)
		}
	}},
	{"teacher-all-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		for j := range t {
			t[j] = math.Inf(-1)
		}
	}},
	{"huge", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		for _, r := range [][]float64{s, t} {
			for range 1 + len(r)/8 {
				r[rng.IntN(len(r))] = float64(1-2*rng.IntN(2)) * 1e30
			}
		}
	}},
	{"equal", func(rng *rand.Rand, s, t []float64) { normals(rng, s, 3, 0); copy(t, s) }},
	{"underflow-beside-teacher-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		j := rng.IntN(len(s))
		s[j], t[j] = -2000, math.Inf(-1) // the student's weight underflows: ReverseKL is still +Inf
	}},
	{"underflow-beside-student-neginf", func(rng *rand.Rand, s, t []float64) {
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		j := rng.IntN(len(s))
		t[j], s[j] = -2000, math.Inf(-1)
	}},
	{"ignored-nan", func(rng *rand.Rand, s, t []float64) { // marked ignored below
		normals(rng, s, 1, 0)
		normals(rng, t, 1, 0)
		s[0], t[len(t)-1] = math.NaN(), math.Inf(1)
	}},
}

func normals(rng *rand.Rand, r []float64, sd, off float64) {
	for j := range r {
		r[j] = rng.NormFloat64()*sd + off
	}
}

// someNegInf sets about a quarter of r to −Inf, keeping one finite logit.
func someNegInf(rng *rand.Rand, r []float64) {
	keep := rng.IntN(len(r))
	for j := range r {
		if j != keep && rng.IntN(4) == 0 {
			r[j] = math.Inf(-1)
		}
	}
}

// distillTolR is the multiple of the unit roundoff u allowed for one
// condition-weighted unit of error (see distillTol).
const distillTolR = 4

// distillTol bounds |SIMD − generic| for one finite row (from the rows
// already rounded to T: z = T(s·τ), v = T(t·τ), in float64). With
// a = log P, b = log Q, L = |lse_z − lse_v| and Ā = 2 + log K + |log β| +
// |log(1−β)| (the size of the log-sum-exps, mixing logs and the
// exponentials' argument scale), every kernel quantity is a rounded
// log-domain value: its absolute error is u times its magnitude, an
// exponential's relative error is its argument's absolute error, and the
// two-level sums lose at most x86.SumBlock·u of their terms' magnitudes.
// So a probability carries a relative error of order u·(Ā + |log p|), a
// row's divergence one of order u·S with
//
//	S = Σ_j (P_j·(Ā + |a_j|) + Q_j·(Ā + |b_j|))·(1 + |a_j − b_j| + L)
//
// (finite parts only: a zero probability has no term), and one gradient
// element c·W·Δ (W = Q_j, or Q_j + P_j for ForwardKL) one of order
// u·(|c|·W·(Ā + |log W|)·(1 + S) + (Ā + |b_j| + |a_j|)·|g_j|). Both get
// distillTolR times that, plus 2u·|want| for rounding the result. Where
// the probability is below the kernels' flush threshold (float32 exp
// flushes below 2^−125 on AVX2) the gradient may be 0: |want| is allowed.
func distillTol(z, v []float64, div args.Divergence, beta, c, lam, u, flush float64, want []float64) (loss float64, grad []float64, flushed []bool) {
	k := len(z)
	lse := func(x []float64) float64 {
		m := math.Inf(-1)
		for _, e := range x {
			m = max(m, e)
		}
		var sum float64
		for _, e := range x {
			sum += math.Exp(e - m)
		}
		return m + math.Log(sum)
	}
	fin := func(x float64) float64 {
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0
		}
		return math.Abs(x)
	}
	lz, lv := lse(z), lse(v)
	L := math.Abs(lz - lv)
	// The spec forms each log-sum-exp as one float64 m + log Σ, whose
	// rounding (2^−53·|m|) is an absolute error in every log P and log Q
	// it computes: a relative error gen of its probabilities. Past 1%
	// (|logit·τ| beyond about 1e13: the "huge" rows) its finite values
	// carry no digits to compare; only the special-value pattern is
	// checked there.
	gen := 0x1p-53 * 4 * (fin(lz) + fin(lv))
	if gen > 0.01 {
		inf := make([]float64, k)
		for j := range inf {
			inf[j] = math.Inf(1)
		}
		return math.Inf(1), inf, make([]bool, k)
	}
	abar := 2 + math.Log(float64(k))
	if div == args.JSD {
		abar += math.Abs(math.Log(beta)) + math.Abs(math.Log1p(-beta))
	}
	var S float64
	for j := range z {
		a, b := v[j]-lv, z[j]-lz
		p, q := math.Exp(a), math.Exp(b)
		S += (p*(abar+fin(a)) + q*(abar+fin(b))) * (1 + fin(a-b) + L)
	}
	grad, flushed = make([]float64, k), make([]bool, k)
	for j := range z {
		a, b := v[j]-lv, z[j]-lz
		p, q := math.Exp(a), math.Exp(b)
		w, lw := q, abar+fin(b)
		if div == args.ForwardKL {
			w, lw = q+p, abar+max(fin(a), fin(b))
		}
		g := math.Abs(want[j])
		grad[j] = distillTolR*(math.Abs(c)*w*(u*lw+gen)*(1+S)+u*(abar+fin(a)+fin(b))*g) + 2*u*g
		if w < 4*flush {
			grad[j] += g
			flushed[j] = true
		}
	}
	return distillTolR*math.Abs(lam)*(u*(S+abar)+gen*(1+S)) + 2*u*math.Abs(lam)*S, grad, flushed
}

// TestDistillMatchesGeneric is the differential test of the SIMD Distill
// paths (ForwardKL, ReverseKL, JSD; AVX2 and AVX-512; float32 and float64;
// cached and streamed gradient stores; in place and not) against
// generic.Distill, the spec: the special-value pattern must be identical
// (NaN where NaN, ±Inf where ±Inf, exact 0 where the spec has a
// structural 0: ignored rows and classes the student gives probability
// 0) and finite values must agree within distillTol.
func TestDistillMatchesGeneric(t *testing.T) {
	testDistillMatches[float32](t, 0x1p-24, 0x1p-125)
	testDistillMatches[float64](t, 0x1p-53, 0x1p-1020)
}

func testDistillMatches[T args.Float](t *testing.T, u, flush float64) {
	distillWorst, distillULPWorst = 0, 0
	defer func() {
		t.Logf("%T: largest error %.3g of its tolerance; %.2f u on well-conditioned rows", T(0), distillWorst, distillULPWorst)
	}()
	ks := []int{1, 2, 3, 15, 16, 17, 31, 33, 100, 4099}
	taus := []float64{1, 0.4, 1000} // T = 1, 2.5, 0.001
	type_ := fmt.Sprintf("%T", T(0))
	for _, tc := range isas(t) {
		s := isa(tc.name == "avx512")
		rng := rand.New(rand.NewPCG(7, 11))
		for _, k := range ks {
			n := len(distillRowKinds)
			for _, div := range []args.Divergence{args.ForwardKL, args.ReverseKL, args.JSD} {
				for ti, tau := range taus {
					for _, mode := range []string{"out", "in-place", "streamed", "loss-only"} {
						beta := []float64{0.5, 0.1, 0.9}[ti]
						if div != args.JSD {
							beta = 0
						}
						sv, tv := make([]float64, n*k), make([]float64, n*k)
						targets := make([]int32, n)
						for i, kind := range distillRowKinds {
							kind.fill(rng, sv[i*k:i*k+k], tv[i*k:i*k+k])
							if kind.name == "ignored-nan" {
								targets[i] = -100
							}
						}
						name := fmt.Sprintf("%s/%s/div%d/k%d/tau%v/%s", tc.name, type_, div, k, tau, mode)
						checkDistill(t, s, name, sv, tv, targets, n, k, div, T(tau), T(beta), mode, u, flush)
					}
				}
			}
		}
	}
}

func checkDistill[T args.Float](t *testing.T, s isa, name string, sv, tv []float64, targets []int32, n, k int, div args.Divergence, tau, beta T, mode string, u, flush float64) {
	t.Helper()
	conv := func(x []float64) []T {
		r := make([]T, len(x))
		for i, e := range x {
			r[i] = T(e)
		}
		return r
	}
	lam, c := T(2.25), T(0.75)
	mk := func() args.CE[T] {
		a := args.CE[T]{X: conv(sv), Teacher: conv(tv), N: n, K: k, Targets: targets, Ignore: -100, HasIgnore: true,
			InvTemp: tau, LossScale: lam, GradScale: c, Divergence: div, Beta: beta, RowLoss: make([]T, n)}
		switch mode {
		case "in-place":
			a.Grad = a.X
		case "loss-only":
		default:
			a.Grad = make([]T, n*k)
			for i := range a.Grad {
				a.Grad[i] = T(math.NaN()) // every element must be written
			}
		}
		if mode == "streamed" {
			a.Whole = 1 << 30 // the non-temporal pass 2 (args.StreamMinBytes)
		}
		return a
	}
	want, got := mk(), mk()
	wantTotal := generic.Distill(want)
	gotTotal := distillCall(s, got)
	var totalTol float64
	for i := range n {
		row := fmt.Sprintf("%s row %d (%s)", name, i, distillRowKinds[i].name)
		z, v := make([]float64, k), make([]float64, k)
		xs := conv(sv[i*k : i*k+k]) // the student before an in-place gradient overwrote it
		for j := range k {
			z[j], v[j] = float64(xs[j]*tau), float64(T(T(tv[i*k+j])*tau))
		}
		var wg []float64
		if want.Grad != nil {
			wg = make([]float64, k)
			for j := range wg {
				wg[j] = float64(want.Grad[i*k+j])
			}
		} else {
			wg = make([]float64, k)
		}
		lt, gt, flushed := distillTol(z, v, div, float64(beta), float64(c), float64(lam), u, flush, wg)
		if !math.IsInf(float64(want.RowLoss[i]), 0) {
			totalTol += lt
		}
		distillUsed(float64(got.RowLoss[i]), float64(want.RowLoss[i]), lt)
		if e := distillDiff(float64(got.RowLoss[i]), float64(want.RowLoss[i]), lt, false); e != "" {
			t.Fatalf("%s: loss %s", row, e)
		}
		if want.Grad == nil {
			continue
		}
		if distillRowKinds[i].name == "normal" && tau <= 1 {
			// Well-conditioned rows (logits N(0, 1), τ ≤ 1): every element
			// within distillULPs units of u·|c|·max_j(P_j + Q_j), the
			// scale of the row's gradient c·Q·(log-ratio − divergence),
			// and the loss within distillULPs·u·(1 + |loss|).
			// float64 sums are plain per-lane accumulators (the spec's
			// four of K/4 terms each): their error grows with K.
			kf := 1.0
			if u < 0x1p-30 {
				kf = max(1, float64(k)/256)
			}
			gmax := kf * math.Abs(float64(c)) * distillMaxProb(z, v)
			for j := range k {
				d := math.Abs(float64(got.Grad[i*k+j])-wg[j]) / (u * gmax)
				distillULPWorst = max(distillULPWorst, d)
				if d > distillULPs {
					t.Fatalf("%s: grad[%d] = %v, want %v: %.1f units of u·max|g| (> %d)", row, j, got.Grad[i*k+j], wg[j], d, distillULPs)
				}
			}
			wl := float64(want.RowLoss[i])
			d := math.Abs(float64(got.RowLoss[i])-wl) / (kf * u * (1 + math.Abs(wl)))
			distillULPWorst = max(distillULPWorst, d)
			if d > distillULPs {
				t.Fatalf("%s: loss = %v, want %v: %.1f units of u·(1 + |loss|) (> %d)", row, got.RowLoss[i], wl, d, distillULPs)
			}
		}
		for j := range k {
			// The spec's structural zeros: ignored rows, and classes the
			// student gives probability 0 (ForwardKL: both do).
			structural := targets[i] == -100 || math.IsInf(z[j], -1) && (div != args.ForwardKL || math.IsInf(v[j], -1))
			if !flushed[j] && !structural {
				distillUsed(float64(got.Grad[i*k+j]), wg[j], gt[j])
			}
			if e := distillDiff(float64(got.Grad[i*k+j]), wg[j], gt[j], structural); e != "" {
				t.Fatalf("%s: grad[%d] %s (z=%v v=%v)\nz=%v\nv=%v\nloss %v want %v", row, j, e, z[j], v[j], z, v, got.RowLoss[i], want.RowLoss[i])
			}
		}
	}
	if e := distillDiff(gotTotal, wantTotal, totalTol, false); e != "" {
		t.Fatalf("%s: total %s", name, e)
	}
}

// distillWorst is the largest |got − want|/tol seen on finite values
// outside the flush range, logged by the test: how much of the tolerance
// the kernels use.
var distillWorst float64

// distillULPs bounds the error on well-conditioned rows in units of u
// times the row's largest gradient (or 1 + |loss|); distillULPWorst is
// the largest seen.
const distillULPs = 32

var distillULPWorst float64

func distillUsed(got, want, tol float64) {
	if d := math.Abs(got - want); d == d && !math.IsInf(d, 0) && tol > 0 && !math.IsInf(tol, 0) {
		distillWorst = max(distillWorst, d/tol)
	}
}

// distillDiff describes how got fails to match want (empty if it does):
// NaN, each infinity and (structural) zeros must match exactly, finite
// values within tol.
func distillDiff(got, want, tol float64, structural bool) string {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		if math.IsNaN(want) != math.IsNaN(got) {
			return fmt.Sprintf("= %v, want %v", got, want)
		}
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		if got != want {
			return fmt.Sprintf("= %v, want %v", got, want)
		}
	case structural:
		if got != 0 || want != 0 {
			return fmt.Sprintf("= %v, want exactly 0 (spec: %v)", got, want)
		}
	default:
		if math.Abs(got-want) > tol {
			return fmt.Sprintf("= %v, want %v (diff %.3g > tol %.3g)", got, want, math.Abs(got-want), tol)
		}
	}
	return ""
}

// distillMaxProb is max_j (P_j + Q_j) of the rows z (student) and v.
func distillMaxProb(z, v []float64) float64 {
	mz, mv := math.Inf(-1), math.Inf(-1)
	for j := range z {
		mz, mv = max(mz, z[j]), max(mv, v[j])
	}
	var sz, sv float64
	for j := range z {
		sz += math.Exp(z[j] - mz)
		sv += math.Exp(v[j] - mv)
	}
	var r float64
	for j := range z {
		r = max(r, math.Exp(z[j]-mz)/sz+math.Exp(v[j]-mv)/sv)
	}
	return r
}

// BenchmarkDistill is Distill's loss and gradient (float32, 256×32000,
// T = 2) per divergence and ISA, through the drivers the public API
// dispatches to; ns/elem is per logit of the student.
func BenchmarkDistill(b *testing.B) {
	const n, k = 256, 32000
	rng := rand.New(rand.NewPCG(5, 6))
	x, te, g := make([]float32, n*k), make([]float32, n*k), make([]float32, n*k)
	for i := range x {
		x[i], te[i] = float32(rng.NormFloat64()*3), float32(rng.NormFloat64()*3)
	}
	for _, tc := range isas(b) {
		s := isa(tc.name == "avx512")
		for _, d := range []struct {
			name string
			div  args.Divergence
		}{{"ForwardKL", args.ForwardKL}, {"ReverseKL", args.ReverseKL}, {"JSD", args.JSD}} {
			b.Run(tc.name+"/"+d.name, func(b *testing.B) {
				a := args.CE[float32]{X: x, Teacher: te, N: n, K: k, InvTemp: 0.5, LossScale: 4, GradScale: 4 * 0.5 / n,
					Divergence: d.div, Beta: 0.5, Grad: g}
				b.SetBytes(int64(3 * 4 * n * k)) // two inputs read, one gradient written
				for b.Loop() {
					s.distill(a)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(n*k), "ns/elem")
			})
		}
	}
}
