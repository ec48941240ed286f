package fuzz

import (
	"math"
	"os"
	"regexp"
	"strconv"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// Known findings: disagreements the fuzzer found that are reported (see
// docs/fuzzing.md, "Findings") and not fixed yet. Every valid case's values
// are compared with the reference; a violation is excused only when the
// element it names (a row's loss, LSE or gradient, an element's loss or
// gradient, a primitive's output, or the reduced loss) lies in a finding's
// input class on that backend and type: the row or element holds the
// inputs the finding is about (for the reduced loss: some counted row or
// element does). The check then goes on past the excused element (it is
// set to the reference's value), so that one excused element hides no
// other violation. Delete an entry when its fix lands;
// LOSSFUSE_FUZZ_STRICT=1 ignores them all, and TestKnownClasses proves
// that each class still fails somewhere.
var strict = os.Getenv("LOSSFUSE_FUZZ_STRICT") != ""

// Finding identifiers, as docs/fuzzing.md lists them.
const (
	findWeightOrder   = "F5 float64: CE family, a class weight beyond 1e290 or below 1e-290 (SIMD backends; generic fixed); binary and regression, SIMD backends, such a weight at the element (binary: pos_weight or Asymmetric; regression: the element's weight)"
	findHugeLogits    = "F11 float64, CE family: a row holding a finite logit beyond MaxFloat64/4; regression: an element beyond 1e300 (all backends)"
	findFarFirstLogit = "F14 SIMD backends, CrossEntropy with smoothing: a row whose first logit is more than 64·(1 + max|rest|) in magnitude"
	findSmoothL1Sq    = "F10 SIMD backends, Huber and SmoothL1: an element with |d| < δ whose d² overflows"
	findScaleSubnorm  = "F16 float32 mean: the gradient scale 1/norm is no normal float32 (norm above 2¹²⁶ or below 1/MaxFloat32)"
	findF32Huge       = "F18 float32 SIMD backends: a row or element holding a finite magnitude beyond 1e37, a weight beyond 1e±20 (CE: any class weight; not regression) or a target below 1e-20; regression's loss: a weighted term w·e below 2^-126"
)

// simd reports whether the backend computes in the element type (the
// generic kernels compute in float64).
func simd(backend string) bool { return backend != "generic" }

// knownFor returns every known finding the predicates name (their
// non-empty answers).
func knownFor(preds ...func() string) []string {
	var ids []string
	for _, p := range preds {
		if id := p(); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// elem is the output element a contract violation names: name is "loss"
// (the reduced loss, i = −1), "items", "lse", "grad" or "out".
type elem struct {
	name string
	i    int
}

// violationRe parses reference.Check's message: "float32 grad[12] (row 0,
// col 12): got …", "float64 loss: got …".
var violationRe = regexp.MustCompile(`^float(?:32|64) (loss|items|lse|grad|out)(?:\[(\d+)\])?(?: \(row \d+, col \d+\))?: got `)

func violation(err error) (elem, bool) {
	m := violationRe.FindStringSubmatch(err.Error())
	if m == nil {
		return elem{}, false
	}
	e := elem{name: m[1], i: -1}
	if m[2] != "" {
		e.i, _ = strconv.Atoi(m[2])
	}
	return e, true
}

// excuse decides a failed comparison: it returns the known finding whose
// class holds every violating element, or "" and the first violation no
// class holds. Each excused element is set to the reference's value and
// the comparison repeated, up to a bound.
func excuse[T kernels.Float](c kernelCase[T], backend string, r *reference.Result, a *arena[T], loss T, err error) (string, error) {
	first := ""
	var last elem
	for try := 0; err != nil && try < 256; try++ {
		e, ok := violation(err)
		if !ok {
			return "", err // a wrong length: never excused
		}
		ids := c.known(backend, r, e)
		if len(ids) == 0 {
			return "", err
		}
		if first == "" {
			first = ids[0]
		}
		if try > 0 && e == last {
			break // the reference's value is not representable in T
		}
		last = e
		if e.name == "loss" {
			loss = T(r.Loss)
		} else {
			want := map[string][]float64{"items": r.Items, "lse": r.LSE, "grad": r.Grad, "out": r.Out}[e.name]
			a.get(c.output(e.name))[e.i] = T(want[e.i])
		}
		err = c.check(r, a, loss)
	}
	return first, nil
}

// rows returns the rows (CE family, row-wise primitives) or elements an
// output element depends on: one, or every one for the reduced loss.
func rows(e elem, n, k int) []int {
	switch {
	case e.name == "loss":
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all
	case e.name == "grad" || e.name == "out" && k > 1:
		return []int{e.i / k}
	}
	return []int{e.i}
}

func (c *ceCase[T]) output(name string) string {
	return map[string]string{"items": "rowloss", "lse": "rowlse", "grad": "grad"}[name]
}

// counts reports whether row i takes part in the loss (not ignored).
func (c *ceCase[T]) counts(i int) bool {
	ig, has := c.opts.Ignore.Index()
	return c.targets == nil || !(has && c.targets[i] == ig)
}

func (c *ceCase[T]) known(backend string, r *reference.Result, e elem) []string {
	var zero T
	f32, f64 := !isFloat64(zero), isFloat64(zero)
	rs := rows(e, c.n, c.k)
	anyRow := func(p func(row []T, i int) bool) bool {
		for _, i := range rs {
			if c.counts(i) && p(c.logits[i*c.k:(i+1)*c.k], i) {
				return true
			}
		}
		return false
	}
	return knownFor(
		func() string {
			if f64 && simd(backend) && extremeWeights(c.weight) {
				return findWeightOrder
			}
			return ""
		},
		func() string {
			if f64 && anyRow(func(row []T, _ int) bool { return maxAbs(row) > math.MaxFloat64/4 }) {
				return findHugeLogits
			}
			return ""
		},
		func() string {
			if !simd(backend) || c.variant != ceInt || c.opts.LabelSmoothing == 0 {
				return ""
			}
			if anyRow(func(row []T, _ int) bool { return math.Abs(float64(row[0])) > 64*(1+maxAbs(row[1:])) }) {
				return findFarFirstLogit
			}
			return ""
		},
		func() string {
			if f32 && simd(backend) && (extremeWeights32(c.weight) || anyRow(func(row []T, _ int) bool { return maxAbs(row) > 1e37 })) {
				return findF32Huge
			}
			return ""
		},
		func() string {
			if f32 && c.opts.Reduction == kernels.Mean && (e.name == "grad" || e.name == "loss") && badScale32(c.norm()) {
				return findScaleSubnorm
			}
			return ""
		},
	)
}

func (c *binaryCase[T]) output(name string) string {
	return map[string]string{"items": "loss", "grad": "grad"}[name]
}

func (c *binaryCase[T]) known(backend string, r *reference.Result, e elem) []string {
	var zero T
	f32, f64 := !isFloat64(zero), isFloat64(zero)
	at := func(s []T, i int) []T {
		if s == nil {
			return nil
		}
		return s[i : i+1]
	}
	any := func(p func(i int) bool) bool {
		for _, i := range rows(e, c.n*c.k, 1) {
			if p(i) {
				return true
			}
		}
		return false
	}
	return knownFor(
		func() string {
			// The coefficients pos_weight·FalseNegative and FalsePositive;
			// element weights pass since the gradient is formed as
			// g·(w·scale), or (w·g)·scale where w·scale underflows.
			if f64 && simd(backend) && (c.asym != nil && extremeWeights([]float64{c.asym.FalseNegative, c.asym.FalsePositive}) ||
				any(func(i int) bool { return extremeWeights(at(c.pos, i%c.k)) })) {
				return findWeightOrder
			}
			return ""
		},
		func() string {
			if f32 && simd(backend) && any(func(i int) bool {
				return math.Abs(float64(c.x[i])) > 1e37 && !math.IsInf(float64(c.x[i]), 0) || extremeWeights32(at(c.weight, i)) ||
					extremeWeights32(at(c.pos, i%c.k)) || tinyTarget(c.y[i:i+1])
			}) {
				return findF32Huge
			}
			return ""
		},
	)
}

func (c *regressionCase[T]) output(name string) string {
	return map[string]string{"items": "loss", "grad": "grad"}[name]
}

func (c *regressionCase[T]) known(backend string, r *reference.Result, e elem) []string {
	var zero T
	f32, f64 := !isFloat64(zero), isFloat64(zero)
	any := func(p func(i int) bool) bool {
		for _, i := range rows(e, c.n, 1) {
			if p(i) {
				return true
			}
		}
		return false
	}
	w := func(i int) float64 {
		if c.w == nil {
			return 1
		}
		return float64(c.w[i])
	}
	return knownFor(
		func() string {
			// Sums of values near MaxFloat64: the reference overflows where a
			// kernel that scales first keeps the (finite) mean.
			if f64 && any(func(i int) bool { return math.Abs(float64(c.x[i])) > 1e300 || math.Abs(float64(c.y[i])) > 1e300 }) {
				return findHugeLogits
			}
			return ""
		},
		func() string {
			if f64 && simd(backend) && c.w != nil && any(func(i int) bool {
				d := math.Abs(float64(c.x[i])) + math.Abs(float64(c.y[i]))
				return extremeWeights(c.w[i:i+1]) || w(i) > 0 && (c.kind == regHuber && c.param*w(i) < 1e-280 ||
					c.kind == regSmoothL1 && w(i)/c.param < 1e-280) || d*w(i) > 1e300
			}) {
				return findWeightOrder
			}
			return ""
		},
		func() string {
			// A magnitude beyond 1e37: d = x − y overflows float32 where the
			// weighted term does not (Huber δ = 0.001, x = −y = MaxFloat32,
			// w = 0.019: loss +Inf, want 1.3e34). Weights of any magnitude
			// pass since the gradient is formed as g·(w·scale), or
			// (w·g)·scale where w·scale underflows.
			if f32 && simd(backend) && any(func(i int) bool {
				return math.Abs(float64(c.x[i])) > 1e37 || math.Abs(float64(c.y[i])) > 1e37
			}) {
				return findF32Huge
			}
			// The loss (not the gradient): a weighted term w·e below
			// float32's normal range, which the kernels form in float32
			// and keep with few bits (MSE, w = 4.4e-39, d² = 9.8e-4: the
			// mean 1.5e-5 off relative; CI's engine run at 73715cf).
			if f32 && simd(backend) && c.w != nil && (e.name == "loss" || e.name == "items") && any(func(i int) bool {
				t := math.Abs(r.Items[i])
				return t != 0 && t < 0x1p-126
			}) {
				return findF32Huge
			}
			return ""
		},
		func() string {
			if f32 && c.reduction == kernels.Mean && c.w != nil && (e.name == "grad" || e.name == "loss") && badScale32(sumOf(c.w)) {
				return findScaleSubnorm
			}
			return ""
		},
		func() string {
			if simd(backend) && (c.kind == regSmoothL1 || c.kind == regHuber) && any(func(i int) bool {
				d := float64(c.x[i]) - float64(c.y[i])
				return math.Abs(d) < c.param && math.IsInf(d*d, 0)
			}) {
				return findSmoothL1Sq
			}
			return ""
		},
	)
}

func (c *primitiveCase[T]) output(string) string { return "dst" }

// No known finding excuses a primitive: F2 (a row holding +Inf) and F18r
// excused nothing in 4×5000 strict random inputs per target on Zen 5 and
// 1500 under qemu-aarch64.
func (c *primitiveCase[T]) known(string, *reference.Result, elem) []string { return nil }

// maxAbs is the largest finite magnitude in s.
func maxAbs[T kernels.Float](s []T) float64 {
	m := 0.0
	for _, v := range s {
		if a := math.Abs(float64(v)); a <= math.MaxFloat64 {
			m = math.Max(m, a)
		}
	}
	return m
}

// extremeWeights reports a finite weight beyond 1e290 or a non-zero one
// below 1e-290 (F5).
func extremeWeights[T kernels.Float](w []T) bool {
	for _, v := range w {
		a := math.Abs(float64(v))
		if a > 1e290 && a <= math.MaxFloat64 || a != 0 && a < 1e-290 {
			return true
		}
	}
	return false
}

// extremeWeights32 reports a finite weight beyond 1e20 or a non-zero one
// below 1e-20 (F18).
func extremeWeights32[T kernels.Float](w []T) bool {
	for _, v := range w {
		a := math.Abs(float64(v))
		// Infinite weights count too: an intermediate that underflows to 0
		// in float32 (the generic kernels compute in float64) gives ∞·0 = NaN.
		if a > 1e20 || a != 0 && a < 1e-20 {
			return true
		}
	}
	return false
}

// tinyTarget reports a target below 1e-20 but not 0, whose product with a
// weight underflows in float32 (F18: NEON drops pos_weight·y·softplus(+Inf)).
func tinyTarget[T kernels.Float](y []T) bool {
	for _, v := range y {
		if v != 0 && math.Abs(float64(v)) < 1e-20 {
			return true
		}
	}
	return false
}

// badScale32 reports whether 1/norm is no normal float32.
func badScale32(norm float64) bool {
	return norm > 0x1p126 || norm > 0 && norm < 1/math.MaxFloat32
}

// norm is the mean's denominator as the API defines it.
func (c *ceCase[T]) norm() float64 {
	if c.opts.Normalizer > 0 {
		return c.opts.Normalizer
	}
	if c.variant == ceProbs {
		return float64(c.n)
	}
	ig, has := c.opts.Ignore.Index()
	var norm float64
	for _, y := range c.targets {
		switch {
		case has && y == ig:
		case y < 0 || int(y) >= c.k: // a fault case; never compared
		case c.weight != nil && (c.variant == ceInt || c.variant == ceShards || c.variant == ceNLL):
			norm += float64(c.weight[y])
		default:
			norm++
		}
	}
	return norm
}

func sumOf[T kernels.Float](s []T) float64 {
	t := 0.0
	for _, v := range s {
		t += float64(v)
	}
	return t
}

func isFloat64[T kernels.Float](v T) bool { return float64(T(1+0x1p-30)) != 1 }

// Binary targets, probability targets and probabilities outside [0, 1]
// are rejected (ErrTarget): such cases are fault cases, never valid.
func (c *ceCase[T]) domain() string         { return "" }
func (c *binaryCase[T]) domain() string     { return "" }
func (c *regressionCase[T]) domain() string { return "" }
func (c *primitiveCase[T]) domain() string  { return "" }
