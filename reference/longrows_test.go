package reference

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// droppedBlind lists the (dtype, K) at which the contract cannot tell a
// kernel whose pass 1 leaves out a row's last class from a correct one, on
// the rows of TestDroppedClassLongRows: leaving out class K−1 moves the
// log-sum-exp by p_{K−1}, about 1/K, while a float32 row's tolerance is
// u·(c·(|m| + |lse| + 1) + S_32(K)) with S_32(K) = min(K, 16) (the amd64
// kernels flush their float32 lane sums into float64 every 16 vectors)
// and c·(|m| + |lse| + 1) ≈ 580 at K = 128256. Listed so that the test
// fails, and the entry goes, the day the contract sees the drop
// (docs/deviations.md).
var droppedBlind = map[string]string{
	"float32/K=128256": "c-term ≈ 580 (+ S_32 = 16) against p_last·2²⁴ ≲ 520: below the c-term alone",
}

// TestDroppedClassLongRows runs every backend this CPU has at the
// vocabulary sizes of language models (K = 4099, 32000, 50257, 128256),
// float32 and float64, on rows of standard normal logits: LogSumExp and
// CrossEntropy (mean, RowLoss, RowLSE, gradient) must meet the contract,
// and a kernel that leaves the last class out of pass 1 (the same kernel
// called on the rows without their last logit, the last gradient element
// formed from that log-sum-exp) must fail it, except where droppedBlind
// says the contract cannot see it. float32 keeps its 8 rows under -short:
// the drop, about 1/K, is seen through the rows whose last logit is large
// enough, and the 2 rows of K = 32000 have none (budget used 0.16).
func TestDroppedClassLongRows(t *testing.T) {
	n32, n64 := 8, 8
	if testing.Short() {
		n64 = 2
	}
	for _, name := range kernels.Backends() {
		restore, err := kernels.UseBackend(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{4099, 32000, 50257, 128256} {
			droppedLongRows[float32](t, name, n32, k)
			droppedLongRows[float64](t, name, n64, k)
		}
		restore()
	}
}

func droppedLongRows[T kernels.Float](t *testing.T, backend string, n, k int) {
	t.Helper()
	rng := rand.New(rand.NewSource(int64(k)))
	x := make([]T, n*k)
	for i := range x {
		x[i] = T(rng.NormFloat64())
	}
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(rng.Intn(k - 1)) // never the class left out
	}
	xd := make([]T, 0, n*(k-1)) // the rows without their last logit
	for i := 0; i < n; i++ {
		xd = append(xd, x[i*k:i*k+k-1]...)
	}
	dtype := "float64"
	if isFloat32[T]() {
		dtype = "float32"
	}
	key := fmt.Sprintf("%s/K=%d", dtype, k)
	what := backend + "/" + key

	refLSE := must(LogSumExp(x, n, k))
	refCE := must(CrossEntropy(x, targets, n, k, nil))

	// The real kernels.
	lse := make([]T, n)
	if err := kernels.LogSumExp(lse, x, n, k, nil); err != nil {
		t.Fatal(err)
	}
	ce, err := ceLong(x, targets, n, k)
	if err != nil {
		t.Fatal(err)
	}
	usedLSE, errLSE := Budget(refLSE, Got[T]{Out: lse})
	usedCE, errCE := Budget(refCE, ce)
	if errLSE != nil || errCE != nil {
		t.Errorf("%s: the real kernel fails the contract: LogSumExp %v; CrossEntropy %v", what, errLSE, errCE)
	}

	// The kernel with the last class left out of pass 1.
	lseD := make([]T, n)
	if err := kernels.LogSumExp(lseD, xd, n, k-1, nil); err != nil {
		t.Fatal(err)
	}
	ceD, err := ceLong(xd, targets, n, k-1)
	if err != nil {
		t.Fatal(err)
	}
	grad := make([]T, 0, n*k)
	for i := 0; i < n; i++ {
		last := math.Exp(float64(x[i*k+k-1])-float64(ceD.LSE[i])) / float64(n)
		grad = append(append(grad, ceD.Grad[i*(k-1):(i+1)*(k-1)]...), T(last))
	}
	ceD.Grad = grad
	usedLSED, _ := Budget(refLSE, Got[T]{Out: lseD})
	usedCED, _ := Budget(refCE, ceD)
	seen := usedLSED > 1 && usedCED > 1
	t.Logf("%-24s budget used: LogSumExp %.4f, CrossEntropy %.4f; last class dropped: %.3f, %.3f",
		what, usedLSE, usedCE, usedLSED, usedCED)
	why, blind := droppedBlind[key]
	switch {
	case !seen && !blind:
		t.Errorf("%s: a kernel that drops the last class passes (budget used: LogSumExp %.3f, CrossEntropy %.3f)", what, usedLSED, usedCED)
	case seen && blind:
		t.Errorf("%s: the contract now sees a dropped last class (listed blind: %s): remove it from droppedBlind and docs/deviations.md", what, why)
	}
}

// ceLong is CrossEntropy (mean) with its loss, row losses, row log-sum-exps
// and gradient.
func ceLong[T kernels.Float](x []T, targets []int32, n, k int) (Got[T], error) {
	g := Got[T]{CheckLoss: true, Items: make([]T, n), LSE: make([]T, n), Grad: make([]T, n*k)}
	var err error
	g.Loss, err = kernels.CrossEntropy(x, targets, n, k, g.Grad, &kernels.CrossEntropyOptions[T]{RowLoss: g.Items, RowLSE: g.LSE})
	return g, err
}

// TestLaneSumWorstCase runs every backend on the rows that make a float32
// partial sum lose the most: exp(0) at the head of one lane, of 8, or of
// every lane of each block of SumBlock32 vectors (avx2: the first 8 of
// every 128 elements, avx512: 16 of 256), then terms just below or above
// half an ULP of it, each of which the partial sum drops or rounds up to a
// whole ULP. The real kernels must meet the contract there. On the block
// rows the amd64 float32 sum really loses most of S_32(K)·u: the
// log-sum-exp's error, which the rounding of lse (ULP ≈ 4–8u at these K)
// can move by a few u either way, must reach S_32(K)/2 on avx2 and
// avx512, so the contract cannot charge much less (the float32 rows' c-term,
// about 32·(|lse| + 1) ≈ 250u, is what the budget mostly shows).
func TestLaneSumWorstCase(t *testing.T) {
	ks := []int{4099, 32000, 50257, 128256}
	if testing.Short() {
		ks = []int{4099, 50257}
	}
	for _, name := range kernels.Backends() {
		restore, err := kernels.UseBackend(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			errU := laneWorst[float32](t, name, k, []float64{-16.63, -16.6355, -16.64})
			laneWorst[float64](t, name, k, []float64{-36.73, -36.7368, -36.74})
			s32 := sumTerms(0x1p-24, k)
			t.Logf("%s/float32/K=%d: worst log-sum-exp error %.1fu, S_32(K) = %.0f", name, k, errU, s32)
			if (name == "avx2" || name == "avx512") && errU < s32/2 {
				t.Errorf("%s/float32/K=%d: the crafted rows lose only %.1fu < S_32(K)/2 = %.0fu: they no longer reach the float32 sum's worst case (revisit them or SumBlock32)", name, k, errU, s32/2)
			}
		}
		restore()
	}
}

// laneWorst checks the backend on the crafted rows of TestLaneSumWorstCase
// and returns the largest error of a log-sum-exp there, in units of u.
func laneWorst[T kernels.Float](t *testing.T, backend string, k int, lows []float64) float64 {
	t.Helper()
	worst, worstErr := 0.0, 0.0
	type pattern struct{ period, heads int } // x_j = 0 where j mod period < heads
	blk := SumBlock32
	for _, p := range []pattern{{k, 1}, {k, 8}, {8 * blk, 8}, {16 * blk, 16}} {
		for _, low := range lows {
			x := make([]T, k)
			for j := range x {
				x[j] = T(low)
				if j%p.period < p.heads {
					x[j] = 0
				}
			}
			lse := make([]T, 1)
			if err := kernels.LogSumExp(lse, x, 1, k, nil); err != nil {
				t.Fatal(err)
			}
			ce, err := ceLong(x, []int32{0}, 1, k)
			if err != nil {
				t.Fatal(err)
			}
			ref := must(LogSumExp(x, 1, k))
			usedLSE, errLSE := Budget(ref, Got[T]{Out: lse})
			usedCE, errCE := Budget(must(CrossEntropy(x, []int32{0}, 1, k, nil)), ce)
			if errLSE != nil || errCE != nil {
				t.Errorf("%s K=%d, %d heads every %d then %v: LogSumExp %v; CrossEntropy %v", backend, k, p.heads, p.period, low, errLSE, errCE)
			}
			worst = max(worst, usedLSE, usedCE)
			for _, v := range []T{lse[0], ce.LSE[0]} {
				worstErr = max(worstErr, math.Abs(float64(v)-ref.Out[0])/ref.U)
			}
		}
	}
	dtype := "float64"
	if isFloat32[T]() {
		dtype = "float32"
	}
	t.Logf("%s/%s/K=%d: worst budget used %.3f", backend, dtype, k, worst)
	return worstErr
}
