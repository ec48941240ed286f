package kernels_test

// The package documentation's table "Semantics against PyTorch 1.13" lists
// every place where lossfuse deliberately differs from PyTorch 1.13. Each
// deviation row carries a tag, and each tag needs evidence that fails when
// the row stops being true:
//
//   - golden entries whose "dev" reason starts with "[tag]" (gen.py records
//     PyTorch's value there, and TestGolden holds lossfuse to the other
//     value; TestGoldenDeviationsDocumented checks that the two differ), or
//   - a deviationCase below with that tag: the deviations the golden format
//     cannot hold (lossfuse rejects what PyTorch accepts, or the reverse),
//     each with PyTorch's behaviour recorded next to the assertion.
//
// TestDeviationTable ties the table to the evidence both ways.

import (
	"errors"
	"go/parser"
	"go/token"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lossfuse/lossfuse/kernels"
)

type deviationCase struct {
	tag   string
	name  string
	torch string // what PyTorch 1.13 does with the same input
	// backends, when set, limits the case to these backends (the row says
	// the others behave differently).
	backends []string
	run      func(t *testing.T)
}

// wantErr fails unless err wraps sentinel.
func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("%s: err = %v, want %v", what, err, sentinel)
	}
}

func nan64() float64 { return math.NaN() }

var deviationCases = []deviationCase{
	{
		tag: "weight", name: "class weights",
		torch: "cross_entropy accepts any weight: NaN or ±Inf make the loss NaN/±Inf, a negative one flips its class's term",
		run: func(t *testing.T) {
			x := []float64{0.5, -1, 2, 0, 1, 3}
			for _, bad := range []float64{nan64(), math.Inf(1), math.Inf(-1), -1} {
				w := []float64{1, bad, 1}
				_, err := kernels.CrossEntropy(x, []int32{0, 1}, 2, 3, nil, &kernels.CrossEntropyOptions[float64]{Weight: w})
				wantErr(t, "CrossEntropy Weight[1]="+ftoa(bad), err, kernels.ErrWeight)
				_, err = kernels.CrossEntropyProbs(x, []float64{1, 0, 0, 0, 1, 0}, 2, 3, nil, &kernels.CrossEntropyOptions[float64]{Weight: w})
				wantErr(t, "CrossEntropyProbs Weight[1]="+ftoa(bad), err, kernels.ErrWeight)
			}
		},
	},
	{
		tag: "weight", name: "element weights and pos_weight",
		torch: "binary_cross_entropy(_with_logits) accept NaN, ±Inf and negative weight and pos_weight",
		run: func(t *testing.T) {
			x := []float32{0.25, 0.5}
			y := []float32{0, 1}
			for _, bad := range []float32{float32(nan64()), float32(math.Inf(1)), float32(math.Inf(-1)), -2} {
				w := []float32{1, bad}
				_, err := kernels.BCEWithLogits(x, y, 1, 2, nil, &kernels.BinaryOptions[float32]{Weight: w})
				wantErr(t, "BCEWithLogits Weight", err, kernels.ErrWeight)
				_, err = kernels.BCEWithLogits(x, y, 1, 2, nil, &kernels.BinaryOptions[float32]{PosWeight: w})
				wantErr(t, "BCEWithLogits PosWeight", err, kernels.ErrWeight)
				_, err = kernels.BCE(x, y, 1, 2, nil, &kernels.BinaryOptions[float32]{Weight: w})
				wantErr(t, "BCE Weight", err, kernels.ErrWeight)
			}
		},
	},
	{
		tag: "target", name: "binary targets outside [0, 1]",
		torch: "binary_cross_entropy_with_logits(0, 1.5) = 0.6931, binary_cross_entropy(0.5, 1.5) = 0.6931, sigmoid_focal_loss accepts any target",
		run: func(t *testing.T) {
			x := []float64{0, 0.5}
			for _, bad := range []float64{1.5, -0.5, math.Inf(1), math.Inf(-1)} {
				y := []float64{0, bad}
				_, err := kernels.BCEWithLogits(x, y, 1, 2, nil, nil)
				wantErr(t, "BCEWithLogits y="+ftoa(bad), err, kernels.ErrTarget)
				_, err = kernels.BCE(x, y, 1, 2, nil, nil)
				wantErr(t, "BCE y="+ftoa(bad), err, kernels.ErrTarget)
				f := kernels.DefaultFocal[float64]()
				_, err = kernels.SigmoidFocal(x, y, 1, 2, nil, &f)
				wantErr(t, "SigmoidFocal y="+ftoa(bad), err, kernels.ErrTarget)
			}
		},
	},
	{
		tag: "probs-range", name: "probability targets outside [0, 1]",
		torch: "cross_entropy([0, 0, 1, 2], [1.5, 0, 0, -0.5]) = 3.4938 (the formula extended); cross_entropy([0, 0, 1, 2], [0, 0, 0, +Inf]) = +Inf",
		run: func(t *testing.T) {
			x := []float64{0, 0, 1, 2}
			for _, bad := range []float64{1.5, -0.5, math.Inf(1), math.Inf(-1)} {
				p := []float64{0, 0, 0, bad}
				_, err := kernels.CrossEntropyProbs(x, p, 1, 4, nil, nil)
				wantErr(t, "CrossEntropyProbs probs="+ftoa(bad), err, kernels.ErrTarget)
			}
			p := []float64{0.25, 0, math.NaN(), 0.5}
			loss, err := kernels.CrossEntropyProbs(x, p, 1, 4, nil, nil)
			if err != nil || !math.IsNaN(loss) {
				t.Errorf("NaN target: loss %v, error %v; want NaN and no error", loss, err)
			}
		},
	},
	{
		tag: "bce-nan", name: "NaN probability",
		torch: `binary_cross_entropy raises "all elements of input should be between 0 and 1"`,
		run: func(t *testing.T) {
			for _, red := range []kernels.Reduction{kernels.Mean, kernels.Sum} {
				p := []float32{float32(nan64()), 0.5}
				grad := make([]float32, 2)
				loss, err := kernels.BCE(p, []float32{1, 0}, 1, 2, grad, &kernels.BinaryOptions[float32]{Reduction: red})
				if err != nil {
					t.Fatalf("%v: %v", red, err)
				}
				if !math.IsNaN(float64(loss)) || !math.IsNaN(float64(grad[0])) || math.IsNaN(float64(grad[1])) {
					t.Errorf("%v: loss %v, grad %v; want NaN loss, NaN at the NaN, a number elsewhere", red, loss, grad)
				}
			}
		},
	},
	{
		tag: "focal-opt", name: "alpha and gamma",
		torch: "torchvision sigmoid_focal_loss accepts alpha > 1 (1−α < 0 weighs negatives negatively), any gamma",
		run: func(t *testing.T) {
			x, y := []float64{0.5, -1}, []float64{1, 0}
			for _, o := range []kernels.FocalOptions[float64]{
				{Alpha: 1.5, Gamma: 2}, {Alpha: nan64(), Gamma: 2},
				{Alpha: 0.25, Gamma: -1}, {Alpha: 0.25, Gamma: nan64()}, {Alpha: 0.25, Gamma: math.Inf(1)},
			} {
				o := o
				_, err := kernels.SigmoidFocal(x, y, 1, 2, nil, &o)
				wantErr(t, "SigmoidFocal α="+ftoa(o.Alpha)+" γ="+ftoa(o.Gamma), err, kernels.ErrOption)
			}
		},
	},
	{
		tag: "smoothing", name: "label smoothing below 0 or NaN",
		torch: "cross_entropy(label_smoothing=-0.1 or nan) equals label_smoothing=0 (only > 1 raises)",
		run: func(t *testing.T) {
			x := []float32{0.5, -1, 2, 0, 1, 3}
			for _, eps := range []float64{-0.1, nan64()} {
				_, err := kernels.CrossEntropy(x, []int32{0, 1}, 2, 3, nil, &kernels.CrossEntropyOptions[float32]{LabelSmoothing: eps})
				wantErr(t, "CrossEntropy ε="+ftoa(eps), err, kernels.ErrOption)
				_, err = kernels.CrossEntropyProbs(x, []float32{1, 0, 0, 0, 1, 0}, 2, 3, nil, &kernels.CrossEntropyOptions[float32]{LabelSmoothing: eps})
				wantErr(t, "CrossEntropyProbs ε="+ftoa(eps), err, kernels.ErrOption)
			}
		},
	},
	{
		tag: "sl1-beta0", name: "smooth_l1 beta 0",
		torch: "smooth_l1_loss(beta=0) is l1_loss with gradient −1 at d = 0",
		run: func(t *testing.T) {
			// Beta 0 is the zero value, PyTorch's default β = 1, not L1.
			p, y := []float64{1, 2, 0.25}, []float64{1, 0, 0}
			l0, err0 := kernels.SmoothL1(p, y, nil, &kernels.SmoothL1Options[float64]{Beta: 0})
			l1, err1 := kernels.SmoothL1(p, y, nil, &kernels.SmoothL1Options[float64]{Beta: 1})
			lL1, _ := kernels.L1(p, y, nil, nil)
			if err0 != nil || err1 != nil || l0 != l1 || l0 == lL1 {
				t.Errorf("SmoothL1 β=0: %v (%v), want β=1's %v (%v), not L1's %v", l0, err0, l1, err1, lL1)
			}
		},
	},
	{
		tag: "reg-inf", name: "infinite delta and beta",
		torch: "huber_loss(delta=inf) = ½d² (mean 0.3333 for d = 0, ±1), smooth_l1_loss(beta=inf) = 0",
		run: func(t *testing.T) {
			p, y := []float64{0, 1, -1}, []float64{0, 0, 0}
			_, err := kernels.Huber(p, y, nil, &kernels.HuberOptions[float64]{Delta: math.Inf(1)})
			wantErr(t, "Huber δ=+Inf", err, kernels.ErrOption)
			_, err = kernels.SmoothL1(p, y, nil, &kernels.SmoothL1Options[float64]{Beta: math.Inf(1)})
			wantErr(t, "SmoothL1 β=+Inf", err, kernels.ErrOption)
		},
	},
	{
		tag: "probs-ignore", name: "ignore index with probability targets",
		torch: `cross_entropy with float targets and ignore_index != -100 raises "ignore_index is not supported for floating point target"`,
		run: func(t *testing.T) {
			x := []float64{0.5, -1, 2, 0, 1, 3}
			pr := []float64{0.2, 0.3, 0.5, 0, 1, 0}
			want, err := kernels.CrossEntropyProbs(x, pr, 2, 3, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kernels.CrossEntropyProbs(x, pr, 2, 3, nil, &kernels.CrossEntropyOptions[float64]{Ignore: kernels.IgnoreIndex(1)})
			if err != nil || got != want {
				t.Errorf("with Ignore 1: %v, %v; want %v, nil (Ignore unused)", got, err, want)
			}
		},
	},
	{
		tag: "f32-overflow", name: "float32 intermediates near the float32 maximum",
		backends: []string{"generic"},
		torch:    "+Inf for each: CE ε=0.1 on [3e38, 0, 1, 2], BCE-with-logits x=−3e38 y=0.3 pos_weight 2, MSE mean gradient at x−y = 6e38 (n = 20)",
		run: func(t *testing.T) {
			o := kernels.CrossEntropyOptions[float32]{LabelSmoothing: 0.1}
			ce, err := kernels.CrossEntropy([]float32{3e38, 0, 1, 2}, []int32{0}, 1, 4, nil, &o)
			within(t, "CrossEntropy", float64(ce), err, 0.1/4*3*float64(float32(3e38)))
			b := kernels.BinaryOptions[float32]{PosWeight: []float32{2}}
			bl, err := kernels.BCEWithLogits([]float32{-3e38}, []float32{0.3}, 1, 1, nil, &b)
			within(t, "BCEWithLogits", float64(bl), err, 2*float64(float32(0.3))*float64(float32(3e38))+(1-float64(float32(0.3)))*0)
			p, y := make([]float32, 20), make([]float32, 20)
			p[0], y[0] = 3e38, -3e38
			grad := make([]float32, 20)
			_, err = kernels.MSE(p, y, grad, nil)
			within(t, "MSE gradient", float64(grad[0]), err, 2*2*float64(float32(3e38))/20)
		},
	},
	{
		tag: "empty", name: "empty batch, empty rows",
		torch: "mse_loss/l1_loss/binary_cross_entropy(_with_logits)/cross_entropy of empty tensors: mean NaN, sum 0; softmax of 0 rows: []; logsumexp over 0 columns: −Inf",
		run: func(t *testing.T) {
			var e []float64
			_, err := kernels.MSE(e, e, nil, nil)
			wantErr(t, "MSE of no elements", err, kernels.ErrShape)
			_, err = kernels.L1(e, e, nil, &kernels.RegressionOptions[float64]{Reduction: kernels.Sum})
			wantErr(t, "L1 sum of no elements", err, kernels.ErrShape)
			_, err = kernels.BCEWithLogits(e, e, 0, 3, nil, nil)
			wantErr(t, "BCEWithLogits N=0", err, kernels.ErrShape)
			_, err = kernels.CrossEntropy(e, nil, 0, 3, nil, nil)
			wantErr(t, "CrossEntropy N=0", err, kernels.ErrShape)
			_, err = kernels.CrossEntropyProbs(e, e, 0, 3, nil, nil)
			wantErr(t, "CrossEntropyProbs N=0", err, kernels.ErrShape)
			wantErr(t, "Softmax N=0", kernels.Softmax(e, e, 0, 3, nil), kernels.ErrShape)
			wantErr(t, "LogSumExp K=0", kernels.LogSumExp(make([]float64, 2), e, 2, 0, nil), kernels.ErrShape)
			if err := kernels.Sigmoid(e, e, nil); err != nil {
				t.Errorf("Sigmoid of no elements: %v, want nil", err)
			}
		},
	},
	{
		tag: "zero-sign", name: "sign of a zero loss",
		torch: "cross_entropy of [0, 0, 1, 2] against an all-zero probability target: −0.0",
		run: func(t *testing.T) {
			loss, err := kernels.CrossEntropyProbs([]float32{0, 0, 1, 2}, []float32{0, 0, 0, 0}, 1, 4, nil, nil)
			if err != nil || loss != 0 || math.Signbit(float64(loss)) {
				t.Errorf("loss %v (sign bit %v), err %v; want +0", loss, math.Signbit(float64(loss)), err)
			}
		},
	},
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// within checks a finite float32 result against its float64 value.
func within(t *testing.T, what string, got float64, err error, want float64) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if math.IsInf(got, 0) || math.IsNaN(got) || math.Abs(got-want) > 1e-5*math.Abs(want) {
		t.Errorf("%s: %v, want %v (finite)", what, got, want)
	}
}

// TestDeviations runs the deviation cases on every backend they apply to.
func TestDeviations(t *testing.T) {
	for _, backend := range kernels.Backends() {
		t.Run(backend, func(t *testing.T) {
			restore, err := kernels.UseBackend(backend)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			for _, c := range deviationCases {
				if c.backends != nil && !contains(c.backends, backend) {
					continue
				}
				if c.torch == "" {
					t.Errorf("%s/%s: PyTorch's behaviour not recorded", c.tag, c.name)
				}
				t.Run(c.tag+"/"+c.name, c.run)
			}
		})
	}
}

func contains(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// docRow is one row of the table in the package documentation.
type docRow struct {
	tag, what, torch, lossfuse string
}

var tagRe = regexp.MustCompile(`^\[([a-z0-9-]+)\] `)

// devTag returns the tag a golden deviation's reason starts with.
func devTag(reason string) string {
	m := tagRe.FindStringSubmatch(reason)
	if m == nil {
		return ""
	}
	return m[1]
}

// semanticsTable parses the table "Semantics against PyTorch 1.13" out of
// the package documentation in doc.go.
func semanticsTable(t *testing.T) []docRow {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("doc.go has no package documentation")
	}
	lines := strings.Split(f.Doc.Text(), "\n")
	start := -1
	for i, l := range lines {
		if l == "# Semantics against PyTorch 1.13" {
			start = i + 1
		}
	}
	if start < 0 {
		t.Fatal(`doc.go: no heading "# Semantics against PyTorch 1.13"`)
	}
	var cols []int // rune offsets of the columns, from the header line
	var rows []docRow
	field := func(l []rune, from, to int) string {
		if from >= len(l) {
			return ""
		}
		if to > len(l) || to < 0 {
			to = len(l)
		}
		return strings.TrimSpace(string(l[from:to]))
	}
	for _, l := range lines[start:] {
		if strings.HasPrefix(l, "# ") {
			break
		}
		if !strings.HasPrefix(l, "\t") {
			if cols != nil && l != "" {
				break // the paragraph after the table
			}
			continue
		}
		r := []rune(l[1:])
		if cols == nil {
			h := string(r)
			for _, name := range []string{"tag", "what", "PyTorch", "lossfuse"} {
				i := strings.Index(h, name)
				if i < 0 {
					t.Fatalf("doc table header %q: no column %q", h, name)
				}
				cols = append(cols, utf8.RuneCountInString(h[:i]))
			}
			continue
		}
		// Every non-blank cell starts exactly at its column: the character
		// before it is a space, and a cell does not run into the next one.
		for c := 1; c < len(cols); c++ {
			if cols[c] < len(r) && r[cols[c]] != ' ' && r[cols[c]-1] != ' ' {
				t.Errorf("doc table line %q: column %d misaligned", l, c)
			}
		}
		cell := func(c int) string {
			to := -1
			if c+1 < len(cols) {
				to = cols[c+1]
			}
			return field(r, cols[c], to)
		}
		if r[0] != ' ' { // a new row
			rows = append(rows, docRow{tag: field(r, 0, cols[1]), what: cell(1), torch: cell(2), lossfuse: cell(3)})
			continue
		}
		if len(rows) == 0 {
			t.Fatalf("doc table: continuation line %q before any row", l)
		}
		p := &rows[len(rows)-1]
		for c, s := range []*string{&p.what, &p.torch, &p.lossfuse} {
			if v := cell(c + 1); v != "" {
				*s += " " + v
			}
		}
	}
	if len(rows) == 0 {
		t.Fatal("doc table: no rows")
	}
	return rows
}

// TestDeviationTable checks the package documentation's table against the
// evidence: every deviation row has golden entries or a deviation case with
// its tag, every piece of evidence names a row, and the "=" rows say "same".
func TestDeviationTable(t *testing.T) {
	rows := semanticsTable(t)
	rowTags := map[string]bool{}
	for _, r := range rows {
		switch r.tag {
		case "=":
			if !strings.HasPrefix(r.lossfuse, "same") {
				t.Errorf("row %q is marked = but lossfuse's column says %q", r.what, r.lossfuse)
			}
			continue
		case "+":
			if r.torch != "—" {
				t.Errorf("row %q is marked + (lossfuse only) but PyTorch's column says %q", r.what, r.torch)
			}
			continue
		}
		if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(r.tag) {
			t.Errorf("row %q: tag %q is not =, + or [a-z0-9-]+", r.what, r.tag)
			continue
		}
		if rowTags[r.tag] {
			t.Errorf("tag %q names two rows", r.tag)
		}
		rowTags[r.tag] = true
		if r.torch == "" || r.lossfuse == "" || strings.HasPrefix(r.lossfuse, "same") {
			t.Errorf("deviation row %s (%q): PyTorch %q, lossfuse %q: both must be stated and differ", r.tag, r.what, r.torch, r.lossfuse)
		}
	}

	evidence := map[string]int{}
	for _, fam := range goldenFamilies {
		g := loadGolden(t, fam)
		for _, c := range g.Cases {
			for _, e := range c.Dev {
				tag := devTag(e.Reason)
				if tag == "" {
					t.Errorf("%s/%s %s[%d]: deviation reason %q does not start with [tag]", fam, c.Name, e.Field, e.I, e.Reason)
					continue
				}
				if !rowTags[tag] {
					t.Errorf("%s/%s %s[%d]: tag [%s] has no row in the doc table", fam, c.Name, e.Field, e.I, tag)
				}
				evidence[tag]++
			}
		}
	}
	for _, c := range deviationCases {
		if !rowTags[c.tag] {
			t.Errorf("deviation case %s/%s: tag has no row in the doc table", c.tag, c.name)
		}
		evidence[c.tag]++
	}
	var tags []string
	for tag := range rowTags {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		if evidence[tag] == 0 {
			t.Errorf("doc table row %s: no golden deviation entry and no deviation case carries the tag", tag)
		}
	}
	t.Logf("%d rows, %d deviations with evidence %v", len(rows), len(tags), evidence)
}
