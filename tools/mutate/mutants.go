package main

import (
	"fmt"
	"strings"
)

// Mutant is one deliberate bug. Find must occur exactly once in File (the
// run is void otherwise, so a mutant cannot rot silently as the code
// changes); the mutant replaces Old inside that occurrence (all of Find
// when Old is empty) with New. A mutant of a generator (asmgen/...) is
// applied to the generator and the assembly regenerated in the copy.
type Mutant struct {
	ID      string // backend/kind[-where]
	Backend string // generic, avx2, avx512 or neon
	Kind    string // one of kinds
	File    string // relative to the repository root
	Find    string
	Old     string
	New     string
	Note    string
	Tests   []Test // nil: the backend's default suite
}

// Replace is Find with the mutation applied.
func (m Mutant) Replace() string {
	if m.Old == "" {
		return m.New
	}
	return strings.Replace(m.Find, m.Old, m.New, 1)
}

// kinds are the mutant kinds issue 13 asks every backend to catch.
var kinds = []string{
	"target-grad-x1.5",   // the target class's gradient element times 1.5
	"drop-last-class",    // the last class of a long row left out of the row's sum
	"skip-tail",          // the last element of a vector tail not written (or read)
	"off-by-one-row",     // a row paired with its neighbour's target, or a row count off by one
	"class-weight-index", // w[y+1] read for w[y]
	"swap-fn-fp",         // Asymmetric false-negative and false-positive weights swapped
	"drop-smoothing",     // the label-smoothing term of the gradient dropped
	"sign-k128256",       // one gradient element of a K = 128256 row with the wrong sign
	"half-round",         // a 16-bit conversion rounds (or widens) wrongly (issue 18)
}

var backends = []string{"generic", "avx2", "avx512", "neon"}

// Test is one test binary run: the package's tests built for GOARCH (""
// for the host; arm64 runs under qemu-aarch64 elsewhere) and run in the
// package directory with Env and Args.
type Test struct {
	Name   string
	Pkg    string
	GOARCH string
	Tags   string
	Env    []string
	Args   []string
}

func (t Test) goarch() string {
	if t.GOARCH == "" {
		return hostArch()
	}
	return t.GOARCH
}

// suites are the default tests per backend: the kernels package (every
// backend the CPU runs, the mutated one required) and the fuzz seed
// corpus. Under qemu the kernels package runs -short.
func suite(backend string) []Test {
	// The mutated backend is the default (some tests use only that) and
	// must be there: a silent fallback would hide the mutant.
	req := []string{"LOSSFUSE_MAX_ISA=" + backend, "LOSSFUSE_TEST_REQUIRE_BACKEND=" + backend}
	if backend == "neon" {
		return []Test{
			{Name: "neon:kernels", Pkg: "./kernels", GOARCH: "arm64", Env: req, Args: []string{"-test.short"}},
			{Name: "neon:fuzz", Pkg: "./fuzz", GOARCH: "arm64", Env: req},
		}
	}
	return []Test{
		{Name: backend + ":kernels", Pkg: "./kernels", Env: req},
		{Name: backend + ":fuzz", Pkg: "./fuzz", Env: req},
	}
}

func (m Mutant) tests() []Test {
	if m.Tests != nil {
		return m.Tests
	}
	return suite(m.Backend)
}

// halfSuite runs the 16-bit conversion tests of package kernels alone
// (-short: the dense sample of float32 patterns, every 16-bit value), the
// mutated backend required, and with scalar the oracle test of
// kernels/internal/half.
func halfSuite(backend string, scalar bool) []Test {
	req := []string{"LOSSFUSE_MAX_ISA=" + backend, "LOSSFUSE_TEST_REQUIRE_BACKEND=" + backend}
	args := []string{"-test.short", "-test.run", "Half"}
	t := Test{Name: backend + ":kernels-half", Pkg: "./kernels", Env: req, Args: args}
	if backend == "neon" {
		t.GOARCH = "arm64"
	}
	ts := []Test{t}
	if scalar {
		ts = append(ts, Test{Name: "half", Pkg: "./kernels/internal/half", Args: []string{"-test.short"}})
	}
	return ts
}

func byID(id string) (Mutant, bool) {
	for _, m := range mutants {
		if m.ID == id {
			return m, true
		}
	}
	return Mutant{}, false
}

// perISA makes one mutant per amd64 ISA from a change whose New text
// holds $ON, a condition true only for that ISA: in the Go drivers
// (kernels/amd64) s == avx2 or s == avx512; in the generator (asmgen/amd64)
// the *x86.ISA s of the float32 kernels, or of the float64 ones with f64.
func perISA(kind, where, file, find, old, new, note string, f64 bool) []Mutant {
	var out []Mutant
	for _, isa := range []string{"avx2", "avx512"} {
		var on string
		switch {
		case strings.HasPrefix(file, "kernels/"):
			on = "s == " + isa
		case isa == "avx2":
			on = "!s.ZMM && !s.F64"
		default:
			on = "s.ZMM && !s.F64"
		}
		if f64 && strings.HasPrefix(file, "asmgen/") {
			on = strings.Replace(on, "!s.F64", "s.F64", 1)
		}
		id := isa + "/" + kind
		if where != "" {
			id += "-" + where
		}
		out = append(out, Mutant{ID: id, Backend: isa, Kind: kind, File: file, Find: find, Old: old,
			New: strings.ReplaceAll(new, "$ON", on), Note: note})
	}
	return out
}

// Table is the mutant table as markdown (docs/mutation.md embeds it).
func Table() string {
	var b strings.Builder
	b.WriteString("| id | kind | file | mutation |\n|---|---|---|---|\n")
	for _, m := range mutants {
		note := m.Note
		if note == "" {
			note = fmt.Sprintf("`%s` → `%s`", oneLine(m.oldText()), oneLine(m.New))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.ID, m.Kind, m.File, strings.ReplaceAll(note, "|", "\\|"))
	}
	return b.String()
}

func (m Mutant) oldText() string {
	if m.Old == "" {
		return m.Find
	}
	return m.Old
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 90 {
		s = s[:87] + "…"
	}
	return s
}

var mutants = func() []Mutant {
	var ms []Mutant
	add := func(m ...Mutant) { ms = append(ms, m...) }

	// ---- generic (pure Go; float32 and float64 share the code) ----
	const gce, gbin = "kernels/generic/crossentropy.go", "kernels/generic/binary.go"
	add(Mutant{ID: "generic/target-grad-x1.5", Backend: "generic", Kind: "target-grad-x1.5", File: gce,
		Find: "\t\tgrad[y] = T(g)\n",
		Old:  "T(g)",
		New:  "T(1.5 * g)",
		Note: "ceRow pass 2 (the stashed row without smoothing or probabilities): the target element's gradient ×1.5"})
	add(Mutant{ID: "generic/drop-last-class", Backend: "generic", Kind: "drop-last-class", File: gce,
		Find: "\t\tif i := argmax - lo; i >= 0 && i < len(b) {\n",
		Old:  "if i := argmax - lo; i >= 0 && i < len(b) {\n",
		New:  "if len(x) > 4096 && lo+len(b) == len(x) {\n\t\t\tb[len(b)-1] = 0\n\t\t}\n\t\tif i := argmax - lo; i >= 0 && i < len(b) {\n",
		Note: "sumExpRow: Σ exp(z − m) leaves out the last class when K > 4096 (its gradient element stays right)"})
	add(Mutant{ID: "generic/skip-tail-rowmax", Backend: "generic", Kind: "skip-tail", File: "kernels/generic/primitives.go",
		Find: "\tfor _, v := range xs {\n\t\tm0 = max(m0, v)\n",
		Old:  "range xs",
		New:  "range xs[min(1, len(xs)):]",
		Note: "rowMax: the first element past the last group of four is left out of the maximum"})
	add(Mutant{ID: "generic/swap-fn-fp-loss-only", Backend: "generic", Kind: "swap-fn-fp", File: gbin,
		Find: "\t\t\t\t\to.put(lo+i, bceLogitsLoss(float64(xv), l1[i], float64(ys[i]), pos, c.fp), 0)\n",
		Old:  "pos, c.fp)",
		New:  "c.fp, pos)",
		Note: "BCEWithLogits without a gradient: the positive and negative terms' weights swapped"})
	add(Mutant{ID: "generic/swap-fn-fp-bce-hard", Backend: "generic", Kind: "swap-fn-fp", File: gbin,
		Find: "\t\t\t\t\tl, g := bceProbHard(float64(xv), lp[i], c.fn*y, c.fp*(1-y))\n",
		Old:  "c.fn*y, c.fp*(1-y))",
		New:  "c.fp*y, c.fn*(1-y))",
		Note: "BCE on probabilities with 0/1 labels (one log per element): the positive and negative terms' weights swapped"})
	add(Mutant{ID: "generic/drop-last-class-f32", Backend: "generic", Kind: "drop-last-class", File: gce,
		Find: "\t\tif i := argmax - lo; i >= 0 && i < len(b) {\n",
		Old:  "if i := argmax - lo; i >= 0 && i < len(b) {\n",
		New:  "if len(x) > 4096 && lo+len(b) == len(x) && float64(T(1+0x1p-30)) == 1 {\n\t\t\tb[len(b)-1] = 0\n\t\t}\n\t\tif i := argmax - lo; i >= 0 && i < len(b) {\n",
		Note: "sumExpRow, float32 only: Σ exp(z − m) leaves out the last class when K > 4096"})
	add(Mutant{ID: "generic/skip-tail", Backend: "generic", Kind: "skip-tail", File: gbin,
		Find: "\tx := a.X[lo:hi]\n",
		Old:  "a.X[lo:hi]",
		New:  "a.X[lo : hi-min(hi-lo, 1)]",
		Note: "Binary: the last element of the call (of each row with pos_weight) is neither summed nor written"})
	add(Mutant{ID: "generic/off-by-one-row", Backend: "generic", Kind: "off-by-one-row", File: gce,
		Find: "\t\t\ty = a.Targets[i]\n",
		Old:  "a.Targets[i]",
		New:  "a.Targets[min(i+1, a.N-1)]",
		Note: "CrossEntropy: row i uses row i+1's target (the last row its own)"})
	add(Mutant{ID: "generic/class-weight-index", Backend: "generic", Kind: "class-weight-index", File: gce,
		Find: "\treturn float64(a.Weight[c])\n",
		Old:  "a.Weight[c]",
		New:  "a.Weight[(c+1)%a.K]",
		Note: "weight(): w[y+1] for w[y]"})
	add(Mutant{ID: "generic/swap-fn-fp", Backend: "generic", Kind: "swap-fn-fp", File: gbin,
		Find: "fn: float64(a.FNWeight), fp: float64(a.FPWeight),",
		New:  "fn: float64(a.FPWeight), fp: float64(a.FNWeight),",
		Note: "Binary: FNWeight and FPWeight swapped"})
	add(Mutant{ID: "generic/drop-smoothing", Backend: "generic", Kind: "drop-smoothing", File: gce,
		Find: "\t\tif soft || (eps != 0 && !a.Focal) {\n\t\t\tg -= scale * targetCoef(a, probs, j, eps)\n",
		Old:  "soft || (eps != 0 && !a.Focal)",
		New:  "soft",
		Note: "ceRow pass 2: the smoothing mass (ε/K)·w_j no longer subtracted (integer targets)"})
	add(Mutant{ID: "generic/sign-k128256", Backend: "generic", Kind: "sign-k128256", File: gce,
		Find: "\t\t\tgrad[j] = T(spc * (float64(v) * invS))\n",
		New:  "\t\t\tgrad[j] = T(spc * (float64(v) * invS))\n\t\t\tif k == 128256 && j == 1000 {\n\t\t\t\tgrad[j] = -grad[j]\n\t\t\t}\n",
		Note: "ceRow pass 2 (the stashed row): gradient element 1000 negated when K = 128256"})

	// ---- the API layer's broadcast weights (kernels/broadcast.go), shared
	// by every backend: one mutant each under generic and avx512 ----
	add(Mutant{ID: "generic/off-by-one-row-row-weight", Backend: "generic", Kind: "off-by-one-row", File: "kernels/broadcast.go",
		Find: "\t\t\tfill(t[i*k:i*k+k], rw[r0+i])\n",
		Old:  "rw[r0+i]",
		New:  "rw[min(r0+i+1, n-1)]",
		Note: "RowWeight: row i weighted by row i+1's weight (the last row by its own)"})
	add(Mutant{ID: "avx512/class-weight-index-broadcast", Backend: "avx512", Kind: "class-weight-index", File: "kernels/broadcast.go",
		Find: "\t\tcopy(tile[i:i+k], cw)\n",
		Old:  "cw",
		New:  "cw[min(1, k-1):]",
		Note: "ClassWeight: the tile holds w[j+1] at class j (its last class left from the pool)"})

	// ---- the Runner (kernels/runner.go), shared by every backend ----
	add(Mutant{ID: "generic/off-by-one-row-runner-block", Backend: "generic", Kind: "off-by-one-row", File: "kernels/runner.go",
		Find: "\treturn t.run(ceBlock(t.a, lo, hi))\n",
		Old:  "hi)",
		New:  "max(lo+1, hi-1))",
		Note: "Runner: each cross-entropy block leaves its last row out"})
	add(Mutant{ID: "avx2/skip-tail-runner-scan", Backend: "avx2", Kind: "skip-tail", File: "kernels/runner.go",
		Find: "\tif scanFinds(t.s[lo:min(lo+t.block, len(t.s))], t.weights) {\n",
		Old:  "len(t.s))",
		New:  "len(t.s)-1)",
		Note: "Runner: the parallel validation scan leaves out the call's last value (a bad last target or weight passes)"})
	add(Mutant{ID: "avx2/off-by-one-row-padded", Backend: "avx2", Kind: "off-by-one-row", File: "kernels/amd64/impl_amd64.go",
		Find: "\t\tt[i] = ignore\n",
		Old:  "ignore",
		New:  "0",
		Note: "CrossEntropy on 2 to 7 short rows: the padding rows of the group are counted as class-0 rows (their losses added)"})
	add(Mutant{ID: "avx512/off-by-one-row-runner-row-weight", Backend: "avx512", Kind: "off-by-one-row", File: "kernels/runner.go",
		Find: "\t\treturn rowWeighted(blk, t.rw[lo:hi])\n",
		Old:  "t.rw[lo:hi]",
		New:  "t.rw[max(lo-1, 0):hi]",
		Note: "Runner: RowWeight blocks after the first weighted by the previous row's weight"})

	// ---- the primitives' backward passes ----
	add(Mutant{ID: "avx2/drop-last-class-softmax-backward", Backend: "avx2", Kind: "drop-last-class", File: "asmgen/amd64/backward.go",
		Find: "\t\t\tbs.AddProduct(s.LoadAt(mk, s.At(y, j), nil), s.LoadAt(mk, s.At(dy, j), nil))\n",
		New:  "\t\t\tif mk == nil {\n\t\t\t\tbs.AddProduct(s.LoadAt(mk, s.At(y, j), nil), s.LoadAt(mk, s.At(dy, j), nil))\n\t\t\t}\n",
		Note: "SoftmaxBackward: a row's masked tail is left out of Σ y·dy"})
	add(Mutant{ID: "generic/skip-tail-sigmoid-grad", Backend: "generic", Kind: "skip-tail", File: "kernels/generic/backward.go",
		Find: "\t\tfor i, tv := range t {\n",
		Old:  "range t {",
		New:  "range t[:max(len(t)-1, 0)] {",
		Note: "LogSigmoidBackward, SoftplusBackward: the last element of each block of 64 not written"})
	add(Mutant{ID: "avx512/target-grad-x1.5-logsoftmax-backward", Backend: "avx512", Kind: "target-grad-x1.5", File: "asmgen/amd64/backward.go",
		Find: "\t\t\ts.FNMA231(e, sum, g)\n",
		Old:  "s.FNMA231(e, sum, g)",
		New:  "s.FNMA231(e, sum, g)\n\t\t\ts.Mul(s.C(1.5), g, g)",
		Note: "LogSoftmaxBackward: every element ×1.5"})

	// ---- NLL and KLDiv ----
	add(Mutant{ID: "generic/class-weight-index-nll", Backend: "generic", Kind: "class-weight-index", File: "kernels/generic/crossentropy.go",
		Find: "\t\t\tw = a.Weight[y]\n\t\t}\n\t\ta.Grad[i*k+int(y)] = -w * a.GradScale\n",
		Old:  "w = a.Weight[y]",
		New:  "w = a.Weight[(int(y)+1)%k]",
		Note: "NLL: the gradient weighted by w[y+1]"})
	add(Mutant{ID: "avx512/inf-row-finite-ce-pairs", Backend: "avx512", Kind: "skip-tail", File: "asmgen/amd64/pairs.go",
		Find: "\t\tVADDPS(l1p, loss, loss) // softplus(d)\n\t\tbad.set(nan, loss)\n",
		Old:  "\t\tbad.set(nan, loss)\n",
		New:  "",
		Note: "CrossEntropy, two classes (avx512; the generator is shared with avx2): a row with a +Inf or NaN logit keeps a finite loss instead of NaN"})
	add(Mutant{ID: "avx2/target-grad-x1.5-ce-pairs", Backend: "avx2", Kind: "target-grad-x1.5", File: "asmgen/amd64/pairs.go",
		Find: "\t\t\tisOne.sel(gOther, gTarget, g0)\n",
		Old:  "isOne.sel(gOther, gTarget, g0)",
		New:  "isOne.sel(gTarget, gOther, g0)",
		Note: "CrossEntropy, two classes (avx2): class 0's gradient takes the other class's sign"})
	add(Mutant{ID: "avx512/skip-tail-bce-logits-unit", Backend: "avx512", Kind: "skip-tail", File: "asmgen/amd64/binary.go",
		Find: "\t\t\t\ts.Where(x86.EQ, c, s.C(0), s.C(0), t) // a zero coefficient leaves the term out\n",
		Old:  "\t\t\t\ts.Where(x86.EQ, c, s.C(0), s.C(0), t) // a zero coefficient leaves the term out\n",
		New:  "",
		Note: "BCEWithLogits, unit weights (avx512; the generator is shared with avx2): an infinite logit with a zero coefficient gives NaN (0·∞), not 0"})
	add(Mutant{ID: "avx512/skip-tail-kldiv", Backend: "avx512", Kind: "skip-tail", File: "asmgen/amd64/binary.go",
		Find: "\t\ts.Where(x86.EQ, p, s.C(0), s.C(0), l)\n\t\ts.Where(x86.UNORD, x, x, x, l)\n",
		Old:  "\t\ts.Where(x86.EQ, p, s.C(0), s.C(0), l)\n",
		New:  "",
		Note: "KLDiv: a zero target's term not forced to 0 (0·(−Inf) gives NaN)"})

	add(Mutant{ID: "generic/soft-plain-anchor-ce-probs", Backend: "generic", Kind: "target-grad-x1.5", File: "kernels/generic/crossentropy.go",
		Find: "\t\tsm[3] += t3 * (m - float64(x4[3]))\n",
		Old:  "t3 * (m - float64(x4[3]))",
		New:  "t3 * (m - float64(x4[2]))",
		Note: "CrossEntropyProbs (generic, plain probability rows): every fourth class's term of S = Σ t·(m − x) reads its neighbour's logit"})

	// ---- Distill ----
	add(Mutant{ID: "avx512/no-floor-distill", Backend: "avx512", Kind: "skip-tail", File: "asmgen/amd64/distill.go",
		Find: "\t\t\t\tfloorUnderflow(s, v, ev)\n\t\t\t\ts.Mul(ev, d, term)\n",
		Old:  "\t\t\t\tfloorUnderflow(s, v, ev)\n",
		New:  "",
		Note: "Distill: a teacher probability that underflows beside a student −Inf gives a finite row (0·Inf guarded to 0), not +Inf"})
	add(Mutant{ID: "avx2/grad-sign-distill", Backend: "avx2", Kind: "target-grad-x1.5", File: "asmgen/amd64/distill.go",
		Find: "\t\t\ts.Sub(s.ExpFlush(v), q, q) // Q − P\n",
		Old:  "s.Sub(s.ExpFlush(v), q, q)",
		New:  "s.Sub(q, s.ExpFlush(v), q)",
		Note: "Distill: the gradient P − Q instead of Q − P"})
	add(Mutant{ID: "avx2/reverse-kl-grad-mean-sign-distill", Backend: "avx2", Kind: "target-grad-x1.5", File: "asmgen/amd64/distill.go",
		Find: "\t\t\ts.Sub(d, v, v)\n",
		Old:  "s.Sub(d, v, v)",
		New:  "s.Add(d, v, v)",
		Note: "Distill ReverseKL: the gradient Q·((z − v) + D), the mean's sign flipped"})
	add(Mutant{ID: "avx512/jsd-grad-kq-sign-distill", Backend: "avx512", Kind: "target-grad-x1.5", File: "asmgen/amd64/distill.go",
		Find: "\t\t\ts.Sub(kq, b, b)\n",
		Old:  "s.Sub(kq, b, b)",
		New:  "s.Add(kq, b, b)",
		Note: "Distill JSD: the gradient Q·(log(Q/M) + KL(Q‖M)), its sign flipped"})
	add(Mutant{ID: "generic/no-temperature-pass2-distill", Backend: "generic", Kind: "target-grad-x1.5", File: "kernels/generic/distill.go",
		Find: "\t\t\tez[j] = lz.logp(float64(T(ss[j] * tau)))\n\t\t\tev[j]",
		Old:  "float64(T(ss[j] * tau))",
		New:  "float64(ss[j])",
		Note: "Distill: the gradient pass forgets the temperature on the student's logits"})
	add(Mutant{ID: "generic/reverse-kl-grad-no-mean-distill", Backend: "generic", Kind: "target-grad-x1.5", File: "kernels/generic/distill.go",
		Find: "\t\t\t\t\tq *= float64(T(ss[j]*tau)) - float64(T(ts[j]*tau)) - d\n",
		Old:  " - d\n",
		New:  "\n",
		Note: "Distill ReverseKL: the gradient Q·((z − v) + D), the mean's sign flipped = Σ Q·(z − v)"})
	add(Mutant{ID: "generic/jsd-mix-weight-distill", Backend: "generic", Kind: "target-grad-x1.5", File: "kernels/generic/distill.go",
		Find: "\t\tlm[j] = max(a+logB, b+logB1)",
		Old:  "max(a+logB, b+logB1)",
		New:  "max(a+logB1, b+logB)",
		Note: "Distill JSD: log M's larger part weighs P by 1 − β and Q by β"})

	// ---- vocabulary shards (kernels/shard.go), shared by every backend ----
	const shard = "kernels/shard.go"
	add(Mutant{ID: "generic/target-grad-x1.5-shard", Backend: "generic", Kind: "target-grad-x1.5", File: shard,
		Find: "\t\tg[i*ks+yc] = T(gy)\n",
		Old:  "T(gy)",
		New:  "T(1.5 * gy)",
		Note: "CrossEntropyShardGrad: the target element ×1.5"})
	add(Mutant{ID: "avx512/off-by-one-row-shard-runner", Backend: "avx512", Kind: "off-by-one-row", File: shard,
		Find: "\tt.c.rows(lo, min(lo+t.rows, t.c.n), t.pass2)\n",
		Old:  "min(lo+t.rows, t.c.n)",
		New:  "max(lo+1, min(lo+t.rows, t.c.n)-1)",
		Note: "Runner: each block of a shard pass leaves its last row out"})
	add(Mutant{ID: "neon/drop-smoothing-shard", Backend: "neon", Kind: "drop-smoothing", File: shard,
		Find: "\tbias := T(c.scale * epsV)\n",
		Old:  "c.scale * epsV",
		New:  "0",
		Note: "CrossEntropyShardGrad: the smoothing term of the vector pass dropped"})
	add(Mutant{ID: "avx2/class-weight-index-shard", Backend: "avx2", Kind: "class-weight-index", File: shard,
		Find: "\t\tif c.w != nil {\n\t\t\twy = float64(c.w[y])\n\t\t}\n\t\tpc := (1-c.eps)*wy + 2*c.zl*wy*lse\n\t\tif c.eps != 0 {\n\t\t\tpc += st.SmoothWeight\n\t\t}\n\t\tcoef",
		Old:  "c.w[y]",
		New:  "c.w[(int(y)+1)%c.v]",
		Note: "CrossEntropyShardGrad: the vector pass's coefficient with w[y+1] for w[y]"})

	// ---- amd64: the generator (asmgen/amd64) and the Go drivers ----
	const ace, abin, astash = "asmgen/amd64/crossentropy.go", "asmgen/amd64/binary.go", "asmgen/amd64/stash.go"
	const aimpl, aimpl64 = "kernels/amd64/impl_amd64.go", "kernels/amd64/impl64_amd64.go"
	const storeTarget = "\t\t\ts.StoreScalar(others, Mem{Base: grad, Index: y, Scale: sz})\n"
	const mulTarget = "\t\t\tif $ON {\n\t\t\t\ts.Mul(s.C(1.5), others, others)\n\t\t\t}\n" + storeTarget
	// The R variants of the transposed kernels run on AMD only; their test
	// compares them with the gathering kernels on any AVX-512 CPU.
	add(Mutant{ID: "avx512/target-grad-x1.5-tiny-r", Backend: "avx512", Kind: "target-grad-x1.5", File: ace,
		Find: "\t\t\t\tVPERMPS(others, idx, ov)\n",
		Old:  "VPERMPS(others, idx, ov)\n",
		New:  "VPERMPS(others, idx, ov)\n\t\t\t\tVMULPS(s.F(1.5), ov, ov)\n",
		Note: "generator ceTRowsFocal, R variants (AMD, no gathers): the blended target element ×1.5",
		Tests: append(suite("avx512"), Test{Name: "avx512:amd64", Pkg: "./kernels/amd64",
			Args: []string{"-test.run", "TestTinyRecompute"}})})
	add(perISA("target-grad-x1.5", "fused", ace, storeTarget, "", mulTarget,
		"generator ceRows (fused, K ≤ 4096): the target element −Σ_{j≠y} p_j ×1.5", false)...)
	add(perISA("target-grad-x1.5", "fused-f64", ace, storeTarget, "", mulTarget,
		"generator ceRows, float64 kernels: the target element ×1.5", true)...)
	add(perISA("target-grad-x1.5", "blocks", aimpl,
		"\t\t\trow[y] = float32(gy)\n", "",
		"\t\t\tif $ON {\n\t\t\t\tgy *= 1.5\n\t\t\t}\n\t\t\trow[y] = float32(gy)\n",
		"crossEntropyBlocks (K > 4096, smoothing, z-loss, focal): the float64 target element ×1.5", false)...)
	add(perISA("target-grad-x1.5", "blocks-f64", aimpl64,
		"\t\t\tgy = scale * (gy - cy)\n", "",
		"\t\t\tif $ON {\n\t\t\t\tgy *= 1.5\n\t\t\t}\n\t\t\tgy = scale * (gy - cy)\n",
		"crossEntropy64 (blockwise float64): the target element ×1.5", false)...)

	const stashSpan = "\tnegInf := s.CR(math.Inf(-1))\n\tsp := s.NewSpan(k)\n\tmoved := GP64()\n\tXORQ(moved, moved)\n\thooks := stashHooks(s, stash, moved)\n\tif f != nil {\n"
	add(perISA("drop-last-class", "stash", astash, stashSpan,
		"\tsp := s.NewSpan(k)\n", "\tif $ON && f == nil {\n\t\tDECQ(k)\n\t}\n\tsp := s.NewSpan(k)\n",
		"generator lseStashRow (first row of the stashed path, 4096 < K ≤ 262144): pass 1 stops at K − 1", false)...)

	add(perISA("drop-last-class", "blocks", aimpl,
		"\t\t} else {\n\t\t\ts.maxLogRows(x, m, k, &mx[0], &ls[0])\n\t\t}\n", "\t\t} else {\n",
		"\t\t} else if $ON && k > 4096 {\n\t\t\tfor r := 0; r < m; r++ {\n\t\t\t\ts.maxLogRows(x[r*k:r*k+k-1], 1, k-1, &mx[r], &ls[r])\n\t\t\t}\n\t\t} else {\n",
		"crossEntropyBlocks (float32; no gradient, or K > 262144): pass 1's max and sum leave out the last class when K > 4096", false)...)

	const afocal = "asmgen/amd64/focalrows.go"
	const storeFocalTarget = "\t\ts.StoreScalar(others, Mem{Base: grad, Index: y, Scale: sz})\n"
	add(perISA("target-grad-x1.5", "focal-fused", afocal, storeFocalTarget, "",
		"\t\tif $ON {\n\t\t\ts.Mul(s.C(1.5), others, others)\n\t\t}\n"+storeFocalTarget,
		"generator sfRows (softmax focal loss with a gradient, K ≤ 4096): the target element ×1.5", false)...)

	const tinySecond = "\tforColsFrom(tkBlock, maxTK, addCols)\n"
	add(perISA("drop-last-class", "tiny", ace, tinySecond, "",
		"\tif $ON {\n\t\tDECQ(k)\n\t}\n"+tinySecond+"\tif $ON {\n\t\tINCQ(k)\n\t}\n",
		"generator ceTRows/sfTRows (transposed, 17 ≤ K ≤ 32): the second partial sum leaves out the last class", false)...)

	const binSpan = "\tsp := s.NewSpan(n)\n\teach := func(body func(j reg.GPVirtual, mk *x86.Mask)) {\n"
	const binSkip = "\tsp := s.NewSpan(n)\n\tif $ON {\n\t\trem := GP64()\n\t\tMOVQ(n, rem)\n\t\tSUBQ(sp.Full, rem)\n\t\tDECQ(rem)\n\t\tsp.Tail = s.TailMask(rem)\n\t}\n"
	add(perISA("skip-tail", "", abin, binSpan, "\tsp := s.NewSpan(n)\n", binSkip,
		"generator binaryKernel (every element-wise loss): the tail mask has one lane fewer", false)...)
	add(perISA("skip-tail", "f64", abin, binSpan, "\tsp := s.NewSpan(n)\n", binSkip,
		"generator binaryKernel, float64 kernels: the tail mask has one lane fewer", true)...)

	for _, isa := range []string{"avx2", "avx512"} {
		suf := strings.ToUpper(isa)
		for _, f64 := range []bool{false, true} {
			file, d, where := aimpl, "", "fused"
			if f64 {
				file, d, where = aimpl64, "D", "fused-f64"
			}
			call := fmt.Sprintf("return ceRowsG%s%s(x, g, n, k, t, w, ignore, rl, rs, sc)", d, suf)
			add(Mutant{ID: isa + "/off-by-one-row-" + where, Backend: isa, Kind: "off-by-one-row", File: file,
				Find: call, Old: "n, k", New: "n-1, k",
				Note: fmt.Sprintf("crossEntropyFused%s: ceRowsG%s%s (gradient, no weights) runs n−1 rows", map[bool]string{true: "64"}[f64], d, suf)})
		}
	}

	const loadWy = "\t\t\twy = s.Broadcast(Mem{Base: w, Index: y, Scale: sz})\n"
	add(perISA("class-weight-index", "fused", ace, loadWy, "",
		"\t\t\twy = s.Broadcast(Mem{Base: w, Index: y, Scale: sz})\n\t\t\tif $ON {\n\t\t\t\twy = s.Broadcast(Mem{Base: w, Index: y, Scale: sz, Disp: int(sz)})\n\t\t\t}\n",
		"generator ceRows (fused, weighted): w[y+1] for w[y]", false)...)
	add(perISA("class-weight-index", "blocks", aimpl,
		"\t\t\t\twy = float64(a.Weight[y])\n", "",
		"\t\t\t\twy = float64(a.Weight[y])\n\t\t\t\tif $ON {\n\t\t\t\t\twy = float64(a.Weight[(int(y)+1)%k])\n\t\t\t\t}\n",
		"crossEntropyBlocks: w[y+1] for w[y]", false)...)
	add(perISA("class-weight-index", "blocks-f64", aimpl64,
		"\t\t\t\twy = a.Weight[y]\n", "",
		"\t\t\t\twy = a.Weight[y]\n\t\t\t\tif $ON {\n\t\t\t\t\twy = a.Weight[(int(y)+1)%k]\n\t\t\t\t}\n",
		"crossEntropy64: w[y+1] for w[y]", false)...)

	const bce32 = "\t\treturn bceLogitsCall(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)\n"
	const bce64 = "\t\treturn bceLogits64Call(bool(s), x, y, w, g, l, n, a.FNWeight, a.FPWeight, sc)\n"
	add(perISA("swap-fn-fp", "", aimpl, bce32, "",
		"\t\tif $ON {\n\t\t\treturn bceLogitsCall(bool(s), x, y, w, g, l, n, a.FPWeight, a.FNWeight, sc)\n\t\t}\n"+bce32,
		"binary: BCEWithLogits without pos_weight gets FPWeight and FNWeight swapped", false)...)
	add(perISA("swap-fn-fp", "f64", aimpl64, bce64, "",
		"\t\tif $ON {\n\t\t\treturn bceLogits64Call(bool(s), x, y, w, g, l, n, a.FPWeight, a.FNWeight, sc)\n\t\t}\n"+bce64,
		"binary64: BCEWithLogits without pos_weight gets FPWeight and FNWeight swapped", false)...)

	add(perISA("drop-smoothing", "", aimpl,
		"\t\t\tif smooth {\n\t\t\t\tbias[i] = float32(scale * epsK)\n", "if smooth {", "if smooth && !($ON) {",
		"crossEntropyBlocks: pass 2's smoothing bias scale·ε/K dropped", false)...)
	add(perISA("drop-smoothing", "f64", aimpl64,
		"\t\t\tif smooth {\n\t\t\t\tbias[i] = scale * epsK\n", "if smooth {", "if smooth && !($ON) {",
		"crossEntropy64: pass 2's smoothing bias scale·ε/K dropped", false)...)

	const rowG = "\t\t\trow := g[i*k : i*k+k]\n"
	const flip = rowG + "\t\t\tif $ON && k == 128256 {\n\t\t\t\trow[1000] = -row[1000]\n\t\t\t}\n"
	add(perISA("sign-k128256", "", aimpl, rowG, "", flip,
		"crossEntropyBlocks: gradient element 1000 negated when K = 128256", false)...)
	add(perISA("sign-k128256", "f64", aimpl64, rowG, "", flip,
		"crossEntropy64: gradient element 1000 negated when K = 128256", false)...)

	// ---- neon: the generator (asmgen/cmd/neongen) and the Go driver ----
	const nce, nloop = "kernels/arm64/neon.go", "asmgen/cmd/neongen/loop.go"
	add(Mutant{ID: "neon/target-grad-x1.5", Backend: "neon", Kind: "target-grad-x1.5", File: nce,
		Find: "\t\tgy = scale * (gy - cy)\n", Old: "scale *", New: "1.5 * scale *",
		Note: "crossEntropy: the float64 target element ×1.5"})
	add(Mutant{ID: "neon/drop-last-class", Backend: "neon", Kind: "drop-last-class", File: nce,
		Find: "\t\t// lse − m = log1p(r) and the loss do not round to 0.\n\t\tvar r float64\n\t\tswitch {\n\t\tcase capv > 0:\n\t\t\tr = c.sumExp(x, m, grad != nil)\n\t\tcase grad != nil:\n\t\t\tr = vexpStoreSum(grad, x, m)\n\t\tdefault:\n\t\t\tr = vsumExp(x, m)\n",
		Old:  "r = vsumExp(x, m)", New: "r = vsumExp(x[:k-min(k/4097, 1)], m)",
		Note: "crossEntropy without gradient: Σ exp(x − m) leaves out the last class when K > 4096"})
	add(Mutant{ID: "neon/drop-last-class-f32", Backend: "neon", Kind: "drop-last-class", File: nce,
		Find: "\t\t// lse − m = log1p(r) and the loss do not round to 0.\n\t\tvar r float64\n\t\tswitch {\n\t\tcase capv > 0:\n\t\t\tr = c.sumExp(x, m, grad != nil)\n\t\tcase grad != nil:\n\t\t\tr = vexpStoreSum(grad, x, m)\n\t\tdefault:\n\t\t\tr = vsumExp(x, m)\n",
		Old:  "r = vsumExp(x, m)", New: "r = vsumExp(x[:k-min(k/4097, 1)], m)\n\t\t\tif !is32[T]() {\n\t\t\t\tr = vsumExp(x, m)\n\t\t\t}",
		Note: "crossEntropy without gradient, float32 only: Σ exp(x − m) leaves out the last class when K > 4096"})
	add(Mutant{ID: "neon/skip-tail", Backend: "neon", Kind: "skip-tail", File: nloop,
		Find: "\t\t\tf.Op(\"VST1.P %s, %d(%s)\", f.lane(s.regs[0], 2), es, s.ptr)\n",
		New:  "\t\t\t_ = s // mutant: lane 2 of a 3-element tail not stored\n",
		Note: "generator loop: a float32 tail of 3 elements does not store its last one"})
	add(Mutant{ID: "neon/skip-tail-f64", Backend: "neon", Kind: "skip-tail", File: nloop,
		Find: "\tfor _, s := range outs {\n\t\tf.Op(\"VST1.P %s, %d(%s)\", f.lane(s.regs[0], 0), es, s.ptr)\n\t}\n",
		Old:  "\t\tf.Op(", New: "\t\tif l == 2 {\n\t\t\tcontinue\n\t\t}\n\t\tf.Op(",
		Note: "generator loop: a float64 tail (one element) is not stored"})
	add(Mutant{ID: "neon/off-by-one-row", Backend: "neon", Kind: "off-by-one-row", File: nce,
		Find: "\t\ty := a.Targets[i]\n", Old: "a.Targets[i]", New: "a.Targets[min(i+1, a.N-1)]",
		Note: "crossEntropy: row i uses row i+1's target (the last row its own)"})
	add(Mutant{ID: "neon/class-weight-index", Backend: "neon", Kind: "class-weight-index", File: nce,
		Find: "\t\t\twy = float64(a.Weight[y])\n", Old: "a.Weight[y]", New: "a.Weight[(int(y)+1)%k]",
		Note: "crossEntropy: w[y+1] for w[y]"})
	add(Mutant{ID: "neon/swap-fn-fp", Backend: "neon", Kind: "swap-fn-fp", File: nce,
		Find: "fn, fp, scale := float32(a.FNWeight), float32(a.FPWeight), float32(a.GradScale)",
		Old:  "float32(a.FNWeight), float32(a.FPWeight)", New: "float32(a.FPWeight), float32(a.FNWeight)",
		Note: "binary (BCEWithLogits float32): FNWeight and FPWeight swapped"})
	add(Mutant{ID: "neon/swap-fn-fp-f64", Backend: "neon", Kind: "swap-fn-fp", File: nce,
		Find: "fn, fp, scale := float64(a.FNWeight), float64(a.FPWeight), float64(a.GradScale)",
		Old:  "float64(a.FNWeight), float64(a.FPWeight)", New: "float64(a.FPWeight), float64(a.FNWeight)",
		Note: "binary64 (BCEWithLogits float64): FNWeight and FPWeight swapped"})
	add(Mutant{ID: "neon/drop-smoothing", Backend: "neon", Kind: "drop-smoothing", File: nce,
		Find: "\t\tb := scale * eps / float64(k) // the smoothing mass per unit weight\n", Old: "scale * eps", New: "0 * scale * eps",
		Note: "crossEntropy pass 3: the smoothing mass scale·ε/K·w_j dropped"})
	add(Mutant{ID: "neon/sign-k128256", Backend: "neon", Kind: "sign-k128256", File: nce,
		Find: "\t\tgrad[y] = T(gy)\n", Old: "",
		New:  "\t\tgrad[y] = T(gy)\n\t\tif k == 128256 {\n\t\t\tgrad[1000] = -grad[1000]\n\t\t}\n",
		Note: "crossEntropy: gradient element 1000 negated when K = 128256"})
	// ---- the 16-bit conversions (issue 18) ----
	add(Mutant{ID: "generic/half-round", Backend: "generic", Kind: "half-round", File: "kernels/internal/half/half.go",
		Find: "\tr := (b + 0x7fff + (b>>16)&1) >> 16\n", Old: " + (b>>16)&1", New: "",
		Note:  "F32ToBF16 (the scalar every backend is checked against): ties rounded toward zero, not to even",
		Tests: halfSuite("generic", true)})
	add(Mutant{ID: "generic/half-round-loop", Backend: "generic", Kind: "half-round", File: "kernels/generic/half.go",
		Find: "\t\tdst[i] = half.F16ToF32(h)\n", Old: "half.F16ToF32(h)", New: "half.F16ToF32(h | h>>15)",
		Note:  "F16ToF32 slice loop: negative values widened with their lowest bit set",
		Tests: halfSuite("generic", false)})
	for _, m := range perISA("half-round", "bf16", "asmgen/amd64/half.go",
		"\ts.Op(VPADDD, s.U(0x7fff), v, a) // + 0x7fff\n", "s.U(0x7fff)", "s.U(map[bool]uint32{false: 0x7fff, true: 0x8000}[$ON])",
		"f32ToBF16: 0x8000 added for 0x7fff (ties and the values just below round up)", false) {
		m.Tests = halfSuite(m.Backend, false)
		add(m)
	}
	for _, m := range perISA("half-round", "f16", "asmgen/amd64/half.go",
		"\t\t\tVCVTPS2PH(Imm(0), v, out) // imm 0: round to nearest even\n", "Imm(0)", "Imm(map[bool]uint64{false: 0, true: 3}[$ON])",
		"f32ToF16: VCVTPS2PH rounds toward zero (imm 3)", false) {
		m.Tests = halfSuite(m.Backend, false)
		add(m)
	}
	add(Mutant{ID: "neon/half-round-bf16", Backend: "neon", Kind: "half-round", File: "asmgen/cmd/neongen/half.go",
		Find: "\tf.constant(round, 0x7fff)\n", Old: "0x7fff", New: "0x8000",
		Note: "f32ToBF16: 0x8000 added for 0x7fff (ties and the values just below round up)", Tests: halfSuite("neon", false)})
	add(Mutant{ID: "neon/half-round-f16", Backend: "neon", Kind: "half-round", File: "asmgen/cmd/neongen/half.go",
		Find: "\t\tf.FCVTN216(2, 1)\n", Old: "(2, 1)", New: "(2, 0)",
		Note: "f32ToF16: the second vector's four values replaced by the first's", Tests: halfSuite("neon", false)})
	// ---- the 16-bit cross-entropy driver (issue 18), shared by every backend ----
	add(Mutant{ID: "generic/half-round-ce", Backend: "generic", Kind: "half-round", File: "kernels/halfce.go",
		Find: "\t\tnarrow16(im, t.g16[lo*k:hi*k], buf, t.f16)\n", Old: "t.g16[lo*k:hi*k], buf", New: "t.g16[lo*k:hi*k-1], buf[:len(buf)-1]",
		Note: "CrossEntropyHalf: the last 16-bit gradient element of each widened block left unwritten"})
	add(Mutant{ID: "generic/off-by-one-row-half", Backend: "generic", Kind: "off-by-one-row", File: "kernels/halfce.go",
		Find: "\tblk.N = hi - lo\n", Old: "hi - lo", New: "max(hi-lo-1, 1)",
		Note: "CrossEntropyHalf: the row count of a block of several rows one short (its last row not computed)"})
	for _, m := range perISA("skip-tail", "ce16", "kernels/amd64/halfce_amd64.go",
		"\t\t\t\tcopy(g[full:], dtail[:k-full])\n\t\t\t}\n\t\t\tpending = true\n", "copy(g[full:], dtail[:k-full])",
		"if !($ON) {\n\t\t\t\t\tcopy(g[full:], dtail[:k-full])\n\t\t\t\t}",
		"crossEntropyStashed16: a pipelined row's gradient tail (k mod Lanes elements) not copied out", false) {
		add(m)
	}
	for _, m := range perISA("target-grad-x1.5", "ce16-g32", "kernels/amd64/halfce_amd64.go",
		"\t\t\tgf[y] = gy\n", "gf[y] = gy", "gf[y] = gy\n\t\t\tif $ON {\n\t\t\t\tgf[y] *= 1.5\n\t\t\t}",
		"crossEntropyStashed16, float32 gradient: the target element ×1.5", false) {
		add(m)
	}
	add(Mutant{ID: "avx2/half-round-ce16", Backend: "avx2", Kind: "half-round", File: "asmgen/amd64/stash16.go",
		Find: "\tVPERMQ(Imm(0x08), r, r)\n", Old: "0x08", New: "0x04",
		Note: "narrow16 (AVX2 bfloat16 gradient): the second four values of each vector replaced by the first four"})
	return ms
}()
