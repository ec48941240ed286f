package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/lossfuse/lossfuse/bench/suite"
)

// The sweep (-sweep) measures the row kernels over K = 2 … 262144 at about
// a million elements a call (N = 2^20/K, 1 … 4096) and over N = 1 … 4096 at
// K = 10 and 1000, and the flat kernels over 256 … 4M elements; then it
// fits each series' time per call to fixed + per-row + per-element costs
// and reports every shape more than cliffFactor slower than that fit: the
// cliffs a user would fall off.

// cliffFactor is how far above its series' fit a shape counts as a cliff.
const cliffFactor = 1.5

// sweepKs are the row lengths of the K sweep: powers of two, the lengths
// on both sides of each dispatch boundary (16 lanes, 4096 fused, 32768
// stashed), and the vocabulary sizes of language models.
var sweepKs = []int{2, 3, 4, 8, 10, 15, 16, 17, 32, 64, 128, 256, 512, 1000, 1024, 2048, 4096, 4097,
	8192, 16384, 32000, 32768, 32769, 50257, 65536, 128256, 131072, 262144}

// sweepNs are the row counts of the N sweeps.
var sweepNs = []int{1, 2, 4, 8, 16, 64, 256, 1024, 4096}

// sweepShapes is the sweep's shapes for kernel k, each tagged with the
// series it belongs to.
func sweepShapes(k *suite.Kernel) []sweepShape {
	var out []sweepShape
	switch k.Family {
	case suite.FamilyCE, suite.FamilyRows:
		for _, kk := range sweepKs {
			out = append(out, sweepShape{suite.Shape{N: min(max(1<<20/kk, 1), 4096), K: kk}, "K"})
		}
		for _, kk := range []int{10, 1000} {
			for _, n := range sweepNs {
				out = append(out, sweepShape{suite.Shape{N: n, K: kk}, fmt.Sprintf("N@K=%d", kk)})
			}
		}
	default: // flat: N·K elements; K = 256 keeps pos_weight rows as in the default shape
		for n := 1; n <= 16384; n *= 4 {
			out = append(out, sweepShape{suite.Shape{N: n, K: 256}, "N·K"})
		}
	}
	return out
}

type sweepShape struct {
	suite.Shape
	series string // the swept axis: "K", "N@K=10", …
}

// Cliff is a shape whose time per call is more than cliffFactor above the
// fit of its series.
type Cliff struct {
	Kernel, Op, DType, Isa, Series string
	N, K                           int
	NsPerElem, FitNsPerElem, Ratio float64
}

// series is one curve of the sweep: one kernel × op × dtype × backend
// along one axis.
type series struct {
	key string
	rs  []Result
}

// sweepSeries groups the results by kernel, op, dtype, backend and axis.
func sweepSeries(rs []Result, axis func(Result) string) []series {
	idx := map[string]int{}
	var out []series
	for _, r := range rs {
		key := strings.Join([]string{r.Kernel, r.Op, r.DType, r.Isa, axis(r)}, "\x00")
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, series{key: key})
		}
		out[i].rs = append(out[i].rs, r)
	}
	return out
}

// fitCost fits t ≈ a + b·N + c·N·K (fixed, per-row and per-element cost,
// all ≥ 0) to the results by least squares on the relative error, leaving
// out the points excluded. It returns the fitted time of each point.
func fitCost(rs []Result, excluded []bool) []float64 {
	// Normal equations of Σ ((a + b·N + c·N·K − t)/t)², with the three
	// basis functions; a coefficient that comes out negative is dropped
	// and the fit redone without it.
	use := []bool{true, true, true}
	var coef [3]float64
	for range 3 {
		var m [3][4]float64
		for i, r := range rs {
			if excluded[i] {
				continue
			}
			f := [3]float64{1, float64(r.N), float64(r.N) * float64(r.K)}
			w := 1 / (r.NsPerCall * r.NsPerCall)
			for p := range 3 {
				if !use[p] {
					continue
				}
				for q := range 3 {
					if use[q] {
						m[p][q] += w * f[p] * f[q]
					}
				}
				m[p][3] += w * f[p] * r.NsPerCall
			}
		}
		for p := range 3 {
			if !use[p] {
				m[p] = [4]float64{}
				m[p][p] = 1
			}
		}
		coef = solve3(m)
		neg := false
		for p := range 3 {
			if use[p] && coef[p] < 0 {
				use[p], neg = false, true
			}
		}
		if !neg {
			break
		}
	}
	fit := make([]float64, len(rs))
	for i, r := range rs {
		fit[i] = coef[0] + coef[1]*float64(r.N) + coef[2]*float64(r.N)*float64(r.K)
	}
	return fit
}

// solve3 solves the 3×3 system m·x = m[·][3] by Gaussian elimination with
// partial pivoting (a singular system gives zeros).
func solve3(m [3][4]float64) [3]float64 {
	for c := range 3 {
		p := c
		for r := c + 1; r < 3; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		if m[c][c] == 0 {
			return [3]float64{}
		}
		for r := range 3 {
			if r != c {
				f := m[r][c] / m[c][c]
				for j := c; j < 4; j++ {
					m[r][j] -= f * m[c][j]
				}
			}
		}
	}
	return [3]float64{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}
}

// findCliffs fits each series, leaves out the points more than cliffFactor
// above the fit, refits without them (a cliff must not pull its own trend
// up), and returns those still more than cliffFactor above the refit.
func findCliffs(rs []Result, axis func(Result) string) []Cliff {
	var out []Cliff
	for _, s := range sweepSeries(rs, axis) {
		if len(s.rs) < 4 {
			continue // too few points for a trend
		}
		excluded := make([]bool, len(s.rs))
		fit := fitCost(s.rs, excluded)
		for i, r := range s.rs {
			excluded[i] = r.NsPerCall > cliffFactor*fit[i]
		}
		fit = fitCost(s.rs, excluded)
		for i, r := range s.rs {
			if fit[i] > 0 && r.NsPerCall > cliffFactor*fit[i] {
				elems := float64(r.N) * float64(r.K)
				out = append(out, Cliff{Kernel: r.Kernel, Op: r.Op, DType: r.DType, Isa: r.Isa, Series: axis(r),
					N: r.N, K: r.K, NsPerElem: r.NsPerElem, FitNsPerElem: fit[i] / elems, Ratio: r.NsPerCall / fit[i]})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Ratio > out[j].Ratio })
	return out
}

// writeCliffs prints the cliffs found, worst first.
func writeCliffs(w io.Writer, cliffs []Cliff) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nCliffs: shapes more than %.1f× slower than their series' fit of fixed + per-row + per-element cost\n", cliffFactor)
	if len(cliffs) == 0 {
		b.WriteString("  none\n")
	}
	for _, c := range cliffs {
		fmt.Fprintf(&b, "  %-17s %-6s %s %-8s %-9s %6dx%-6d %9.3f ns/elem, fit %9.3f: %.2f×\n",
			c.Kernel, c.Op, c.DType, c.Isa, c.Series, c.N, c.K, c.NsPerElem, c.FitNsPerElem, c.Ratio)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sweepAxis returns, for each result of the sweep, the series its shape
// was measured in (a shape in two series, as K = 10 at N = 4096 in the
// K sweep's neighbourhood, is counted in the first).
func sweepAxis(kernels []*suite.Kernel) func(Result) string {
	axes := map[string]string{}
	for _, k := range kernels {
		for _, s := range sweepShapes(k) {
			key := k.Name + "/" + s.Shape.String()
			if _, ok := axes[key]; !ok {
				axes[key] = s.series
			}
		}
	}
	return func(r Result) string { return axes[r.Kernel+"/"+r.shape().String()] }
}

// sweepShapeList is every distinct shape of the sweep for k, in order.
func sweepShapeList(k *suite.Kernel) []suite.Shape {
	var out []suite.Shape
	for _, s := range sweepShapes(k) {
		if !slices.Contains(out, s.Shape) {
			out = append(out, s.Shape)
		}
	}
	return out
}
