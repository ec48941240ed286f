package generic

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestNoBoundsChecksInLoops builds the kernels with the compiler's report of
// the bounds checks it kept (-d=ssa/check_bce), with and without the purego
// tag, and fails on a check in this package's files that bceAllowed does not
// list. Generic kernels are compiled where they are instantiated, so the
// report covers every package under kernels. A check inside a per-element
// loop should be made provable instead (reslice up front, range over one of
// same-length slices, take fours off the front, has for a nil-or-full slice);
// one that runs once per call, row or block goes into bceAllowed.
func TestNoBoundsChecksInLoops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the kernels")
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 only (the checks are the same on arm64, where CI runs under qemu)")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool:", err)
	}
	t.Parallel()
	out, err := exec.Command(gotool, "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Skipf("no module root (go env GOMOD: %v)", err)
	}
	root := filepath.Dir(string(bytes.TrimSpace(out)))

	used := map[bceKey]bool{}
	for _, tags := range []string{"", "purego"} {
		cmd := exec.Command(gotool, "build", "-tags="+tags,
			"-gcflags=github.com/lossfuse/lossfuse/kernels/...=-d=ssa/check_bce",
			"github.com/lossfuse/lossfuse/kernels/...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOFLAGS=") // a report that GOFLAGS (-race, -trimpath) does not change
		report, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tags %q: go build: %v\n%s", tags, err, report)
		}
		checks := parseBCE(report)
		if len(checks) == 0 {
			t.Fatalf("tags %q: no bounds checks reported in kernels/generic: is -d=ssa/check_bce still the flag?\n%s", tags, report)
		}
		src := map[string][]string{}
		for _, c := range checks {
			if src[c.file] == nil {
				b, err := os.ReadFile(c.file)
				if err != nil {
					t.Fatal(err)
				}
				src[c.file] = strings.Split(string(b), "\n")
			}
			lines := src[c.file]
			if c.line < 1 || c.line > len(lines) {
				t.Fatalf("%s:%d: no such line", c.file, c.line)
			}
			k := bceKey{c.file, strings.TrimSpace(lines[c.line-1])}
			if _, ok := bceAllowed[k]; !ok {
				t.Errorf("tags %q: %s:%d:%d: %s kept by the compiler, not in bceAllowed:\n\t%s", tags, c.file, c.line, c.col, c.kind, k.text)
			}
			used[k] = true
		}
	}
	if t.Failed() {
		t.Log("make each index above provable (see this test's doc), or, for a check outside the per-element loops, add its line to bceAllowed with the reason")
	}
	var stale []string
	for k := range bceAllowed {
		if !used[k] {
			stale = append(stale, k.file+": "+k.text)
		}
	}
	sort.Strings(stale)
	for _, s := range stale {
		t.Logf("bceAllowed entry no longer reported (can go): %s", s)
	}
}

type bceCheck struct {
	file      string // base name, in kernels/generic
	line, col int
	kind      string
}

var bceLine = regexp.MustCompile(`(?m)^(?:\S*/)?kernels/generic/([a-z0-9_]+\.go):(\d+):(\d+): Found (Is\w*InBounds)\s*$`)

// parseBCE returns the checks the report places in kernels/generic, each
// once (an instantiation compiled in several packages repeats its lines).
func parseBCE(report []byte) []bceCheck {
	seen := map[bceCheck]bool{}
	var cs []bceCheck
	for _, m := range bceLine.FindAllSubmatch(report, -1) {
		line, _ := strconv.Atoi(string(m[2]))
		col, _ := strconv.Atoi(string(m[3]))
		c := bceCheck{string(m[1]), line, col, string(m[4])}
		if !seen[c] {
			seen[c] = true
			cs = append(cs, c)
		}
	}
	return cs
}

// bceKey is a file and the trimmed text of a line in it, so that edits
// elsewhere in the file do not move an entry.
type bceKey struct{ file, text string }

const (
	perCall  = "once per call"
	perRow   = "once per row"
	perBlock = "once per block of up to 64 elements"
)

// bceAllowed lists the bounds checks the kernels keep, with why each is
// not in a per-element loop. A row of K = 1 makes "per row" per element;
// the row kernels accept that.
var bceAllowed = map[bceKey]string{
	// backward.go
	{"backward.go", "dy, dx := a.Dy[:len(y)], a.Dst[:len(y)]"}:                           perCall,
	{"backward.go", "dst := a.Dst[:len(x)]"}:                                             perCall,
	{"backward.go", "dy, dx := a.Dy[:len(x)], a.Dst[:len(x)]"}:                           perCall,
	{"backward.go", "dys, lses := a.Dy[:a.N], a.LSE[:a.N]"}:                              perCall,
	{"backward.go", "y := a.X[i*k : i*k+k]"}:                                             perRow,
	{"backward.go", "dy, dx := a.Dy[i*k : i*k+k][:len(y)], a.Dst[i*k : i*k+k][:len(y)]"}: perRow,
	{"backward.go", "x, dx := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]"}:                         perRow,
	{"backward.go", "dx = dx[:len(x)]"}:                                                  perRow,
	{"backward.go", "y = y[:len(x)]"}:                                                    "dot4's tail, once per row",
	{"backward.go", "xs := x[lo:min(lo+sumExpBlock, len(x))]"}:                           perBlock,
	{"backward.go", "ys := y[lo:min(lo+sumExpBlock, len(y))]"}:                           perBlock,
	{"backward.go", "d := dst[lo:][:len(xs)]"}:                                           perBlock,
	{"backward.go", "d := dx[lo:][:len(xs)]"}:                                            perBlock,
	{"backward.go", "e := eb[:len(xs)]"}:                                                 perBlock,
	{"backward.go", "e := eb[:len(ys)]"}:                                                 perBlock,
	{"backward.go", "e, l1 := eb[:len(xs)], lb[:len(xs)]"}:                               perBlock,
	{"backward.go", "g, d := dy[lo:][:len(xs)], dx[lo:][:len(xs)]"}:                      perBlock,
	{"backward.go", "g, d := dy[lo:][:len(ys)], dx[lo:][:len(ys)]"}:                      perBlock,
	{"backward.go", "t, e := tb[:len(xs)], eb[:len(xs)]"}:                                perBlock,

	// binary.go: binaryLoop runs once per call, or once per row with pos_weight.
	{"binary.go", "pw := a.PosWeight[:k]"}:                                   perCall,
	{"binary.go", "x := a.X[lo:hi]"}:                                         perCall + " (or row)",
	{"binary.go", "y := a.Y[lo:hi][:len(x)]"}:                                perCall + " (or row)",
	{"binary.go", "w = a.Weight[lo:hi][:len(x)]"}:                            perCall + " (or row)",
	{"binary.go", "grad = a.Grad[lo:hi][:len(x)]"}:                           perCall + " (or row)",
	{"binary.go", "loss = a.Loss[lo:hi][:len(x)]"}:                           perCall + " (or row)",
	{"binary.go", "pw = pw[:len(x)]"}:                                        perCall + " (or row)",
	{"binary.go", "xs := x[lo:min(lo+binaryBlock, len(x))]"}:                 perBlock,
	{"binary.go", "ys := y[lo:][:len(xs)]"}:                                  perBlock,
	{"binary.go", "e, l1 := eb[:len(xs)], lb[:len(xs)]"}:                     perBlock,
	{"binary.go", "pws = pw[lo:][:len(xs)]"}:                                 perBlock,
	{"binary.go", "lp, lq := pb[:len(xs)], qb[:len(xs)]"}:                    perBlock,
	{"binary.go", "pt, lg := pb[:len(xs)], lb[:len(xs)]"}:                    perBlock,
	{"binary.go", "lv, tmp, ys = lv[:len(ps)], tmp[:len(ps)], ys[:len(ps)]"}: "hardLogs, " + perBlock,

	// crossentropy.go
	{"crossentropy.go", "for _, w := range a.Weight[:k] {"}:                    perCall,
	{"crossentropy.go", "x := a.X[i*k : i*k+k]"}:                               perRow,
	{"crossentropy.go", "grad = a.Grad[i*k : i*k+k]"}:                          perRow,
	{"crossentropy.go", "probs = a.Probs[i*k : i*k+k]"}:                        perRow,
	{"crossentropy.go", "y = a.Targets[i]"}:                                    perRow,
	{"crossentropy.go", "a.RowLoss[i] = T(loss)"}:                              perRow,
	{"crossentropy.go", "a.RowLSE[i] = T(lse)"}:                                perRow,
	{"crossentropy.go", "zy = capped(float64(x[y]), capv)"}:                    perRow + ": the target's logit",
	{"crossentropy.go", "wy = weight(a, int(y))"}:                              perRow + ": the target's weight",
	{"crossentropy.go", "return float64(a.Weight[c])"}:                         "weight, for the row's target only (the class loops use classWeight)",
	{"crossentropy.go", "grad = grad[:k]"}:                                     perRow,
	{"crossentropy.go", "py := float64(grad[y]) * invS"}:                       perRow + ": the target's stashed p",
	{"crossentropy.go", "x, probs = x[:len(x):len(x)], probs[:len(x):len(x)]"}: perRow,
	{"crossentropy.go", "ts = ts[:len(xs)]"}:                                   "softPlainRow's tail, " + perRow,
	{"crossentropy.go", "grad = grad[:len(x):len(x)]"}:                         perRow,
	{"crossentropy.go", "xs := x[lo:min(lo+sumExpBlock, len(x))]"}:             perBlock,
	{"crossentropy.go", "b := buf[:len(xs)]"}:                                  perBlock,
	{"crossentropy.go", "pk := park[lo:][:len(b)]"}:                            perBlock,
	{"crossentropy.go", "targets := a.Targets[:a.N]"}:                          "NLL, " + perCall,
	{"crossentropy.go", "w = a.Weight[y]"}:                                     "NLL, " + perRow,
	{"crossentropy.go", "l = -float64(w) * float64(a.X[i*k+int(y)])"}:          "NLL, " + perRow,
	{"crossentropy.go", "a.RowLoss[i] = T(l)"}:                                 "NLL, " + perRow,
	{"crossentropy.go", "clear(a.Grad[:a.N*k])"}:                               "NLL, " + perCall,
	{"crossentropy.go", "a.Grad[i*k+int(y)] = -w * a.GradScale"}:               "NLL, " + perRow,

	// distill.go
	{"distill.go", "s, t := a.X[i*k:i*k+k], a.Teacher[i*k:i*k+k]"}:                                 perRow,
	{"distill.go", "g = a.Grad[i*k : i*k+k]"}:                                                      perRow,
	{"distill.go", "if a.HasIgnore && a.Targets[i] == a.Ignore {"}:                                 perRow,
	{"distill.go", "a.RowLoss[i] = 0"}:                                                             perRow,
	{"distill.go", "a.RowLoss[i] = T(l)"}:                                                          perRow,
	{"distill.go", "ss := s[lo:min(lo+sumExpBlock, len(s))]"}:                                      perBlock,
	{"distill.go", "ts := t[lo:][:len(ss)]"}:                                                       perBlock,
	{"distill.go", "gs := g[lo:][:len(ss)]"}:                                                       perBlock,
	{"distill.go", "ez := bz[:len(ss)]"}:                                                           perBlock,
	{"distill.go", "ez, ev := bz[:len(ss)], bv[:len(ss)]"}:                                         perBlock,
	{"distill.go", "as := a[lo:min(lo+sumExpBlock, len(a))]"}:                                      perBlock,
	{"distill.go", "bs := b[lo:][:len(as)]"}:                                                       perBlock,
	{"distill.go", "ex, ey, dl := bx[:len(as)], by[:len(as)], dd[:len(as)]"}:                       perBlock,
	{"distill.go", "ep, eq, lm := bp[:len(ss)], bq[:len(ss)], bm[:len(ss)]"}:                       perBlock,
	{"distill.go", "eq, lm := bq[:len(ss)], bm[:len(ss)]"}:                                         perBlock,
	{"distill.go", "t, p, q, lm, e = t[:len(s)], p[:len(s)], q[:len(s)], lm[:len(s)], e[:len(s)]"}: "jsdBlock, " + perBlock,

	// fastmath.go, fastmath32.go, half.go
	{"fastmath.go", "dst = dst[:len(src)]"}:   perCall,
	{"fastmath32.go", "dst = dst[:len(src)]"}: perCall,
	{"half.go", "dst = dst[:len(src)]"}:       perCall,

	{"kldiv.go", "y := a.Y[:len(x)]"}:                       perCall,
	{"kldiv.go", "xs := x[lo:min(lo+sumExpBlock, len(x))]"}: perBlock,
	{"kldiv.go", "ys := y[lo:][:len(xs)]"}:                  perBlock,
	{"kldiv.go", "f, p := fb[:len(xs)], pb[:len(xs)]"}:      perBlock,
	{"kldiv.go", "g := a.Grad[lo:][:len(p)]"}:               perBlock,
	{"kldiv.go", "l := a.Loss[lo:][:len(f)]"}:               perBlock,

	// primitives.go
	{"primitives.go", "x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]"}: perRow,
	{"primitives.go", "dst = dst[:len(x)]"}:                         perRow,
	{"primitives.go", "dst := a.Dst[:a.N]"}:                         perCall,
	{"primitives.go", "m, lr := rowLSEFast(a.X[i*k : i*k+k])"}:      perRow,
	{"primitives.go", "dst := a.Dst[:len(x)]"}:                      perCall,
	{"primitives.go", "xs := x[lo:min(lo+sumExpBlock, len(x))]"}:    perBlock,
	{"primitives.go", "d := dst[lo:][:len(xs)]"}:                    perBlock,
	{"primitives.go", "e, l1 := eb[:len(xs)], lb[:len(xs)]"}:        perBlock,

	// regression.go
	{"regression.go", "x, y := a.X, a.Y[:n]"}:                                 perCall,
	{"regression.go", "return mseGrad(x, y, grad[:n], 2*scale)"}:              perCall,
	{"regression.go", "return mseGradWeighted(x, y, w[:n], grad[:n], scale)"}: perCall,
	{"regression.go", "y, g = y[:len(x)], g[:len(x)]"}:                        "mseGrad's tail, " + perCall,
	{"regression.go", "y, w, g = y[:len(x)], w[:len(x)], g[:len(x)]"}:         "mseGradWeighted's tail, " + perCall,
	{"regression.go", "xb, yb := x[:m], y[:m]"}:                               perBlock,
	{"regression.go", "x, y = x[m:], y[m:]"}:                                  perBlock,
	{"regression.go", "wb, w = w[:m], w[m:]"}:                                 perBlock,
	{"regression.go", "grb, grad = grad[:m], grad[m:]"}:                       perBlock,
	{"regression.go", "lob, loss = loss[:m], loss[m:]"}:                       perBlock,
	{"regression.go", "grb = grb[:len(gb)]"}:                                  perBlock,
	{"regression.go", "lob = lob[:len(eb)]"}:                                  perBlock,
	{"regression.go", "regTerms(kind, x[:m], y[:m], eb, g[:m], p)"}:           perBlock,
	{"regression.go", "y, e, g = y[:len(x)], e[:len(x)], g[:len(x)]"}:         "regTerms, " + perBlock,
	{"regression.go", "g = g[:len(e)]"}:                                       "regOut, " + perBlock,
	{"regression.go", "g, w, grad = g[:len(e)], w[:len(e)], grad[:len(e)]"}:   "regOutWeighted, " + perBlock,

	// rowpass.go
	{"rowpass.go", "w = a.Weight[:k]"}: perCall,
	{"rowpass.go", "m, s, d := RowStatsExact(a.X[i*k:i*k+k], w, capv, a.Dot != nil, a.DotScale)"}:          perRow,
	{"rowpass.go", "a.M[i], a.LS[i] = T(m), T(math.Log(s))"}:                                               perRow,
	{"rowpass.go", "a.Dot[i] = d"}:                                                                         perRow,
	{"rowpass.go", "ExpAffineRow(a.X[i*k:i*k+k], a.Dst[i*k:i*k+k], w, float64(a.M[i]), float64(a.LS[i]),"}: perRow,
	{"rowpass.go", "float64(a.Coef[i]), float64(a.Bias[i]), 1, float64(a.SoftCap))"}:                       perRow,
	{"rowpass.go", "w = w[:len(x)] // so that has(w, j) below is w != nil"}:                                perRow,
	{"rowpass.go", "dst = dst[:len(x)]"}:                                                                   "ExpAffineRow, " + perRow,
	{"rowpass.go", "w = w[:len(x)]"}:                                                                       "ExpAffineRow, " + perRow,
	{"rowpass.go", "xs := x[lo:min(lo+sumExpBlock, len(x))]"}:                                              perBlock,
	{"rowpass.go", "e, d := buf[:len(xs)], dst[lo:][:len(xs)]"}:                                            perBlock,
	{"rowpass.go", "ws := w[lo:][:len(xs)]"}:                                                               perBlock,
}
