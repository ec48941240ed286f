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
// u·(c·(|m| + |lse| + 1) + S_32(K)) with S_32(K) = 16 + ⌈K/8⌉ (avx2 adds a
// row's float32 exponentials in one 8-lane accumulator, which may really
// lose ⌈K/8⌉·u) and c·(|m| + |lse| + 1) ≈ 550 at these K. Listed so that
// the test fails, and the entry goes, the day the contract sees the drop
// (docs/deviations.md).
var droppedBlind = map[string]string{
	"float32/K=32000":  "S_32 = 4016 and c-term ≈ 530 against p_last·2²⁴ ≲ 1800",
	"float32/K=50257":  "S_32 = 6299 and c-term ≈ 540 against p_last·2²⁴ ≲ 1400",
	"float32/K=128256": "S_32 = 16048 and c-term ≈ 580 against p_last·2²⁴ ≲ 520: below the c-term alone",
}

// TestDroppedClassLongRows runs every backend this CPU has at the
// vocabulary sizes of language models (K = 4099, 32000, 50257, 128256),
// float32 and float64, on rows of standard normal logits: LogSumExp and
// CrossEntropy (mean, RowLoss, RowLSE, gradient) must meet the contract,
// and a kernel that leaves the last class out of pass 1 (the same kernel
// called on the rows without their last logit, the last gradient element
// formed from that log-sum-exp) must fail it, except where droppedBlind
// says the contract cannot see it.
func TestDroppedClassLongRows(t *testing.T) {
	n := 8
	if testing.Short() {
		n = 2
	}
	for _, name := range kernels.Backends() {
		restore, err := kernels.UseBackend(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []int{4099, 32000, 50257, 128256} {
			droppedLongRows[float32](t, name, n, k)
			droppedLongRows[float64](t, name, n, k)
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
	if err := kernels.LogSumExp(lse, x, n, k); err != nil {
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
	if err := kernels.LogSumExp(lseD, xd, n, k-1); err != nil {
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

// TestLaneSumWorstCase runs every backend on the rows that make a lane's
// sum lose the most: exp(0) at the head of one or of 8 lanes, then terms
// just below or above half an ULP of it, each of which the lane's sum
// drops or rounds up to a whole ULP. The real kernels must meet the
// contract there too; avx2's 8-lane float32 sum comes within a few
// percent of S_32(K) = 16 + ⌈K/8⌉ (budget used up to 0.99), which is why
// the contract cannot charge less.
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
			laneWorst[float32](t, name, k, []float64{-16.63, -16.6355, -16.64})
			laneWorst[float64](t, name, k, []float64{-36.73, -36.7368, -36.74})
		}
		restore()
	}
}

func laneWorst[T kernels.Float](t *testing.T, backend string, k int, lows []float64) {
	t.Helper()
	worst := 0.0
	for _, heads := range []int{1, 8} {
		for _, low := range lows {
			x := make([]T, k)
			for j := range x {
				x[j] = T(low)
				if j < heads {
					x[j] = 0
				}
			}
			lse := make([]T, 1)
			if err := kernels.LogSumExp(lse, x, 1, k); err != nil {
				t.Fatal(err)
			}
			ce, err := ceLong(x, []int32{0}, 1, k)
			if err != nil {
				t.Fatal(err)
			}
			usedLSE, errLSE := Budget(must(LogSumExp(x, 1, k)), Got[T]{Out: lse})
			usedCE, errCE := Budget(must(CrossEntropy(x, []int32{0}, 1, k, nil)), ce)
			if errLSE != nil || errCE != nil {
				t.Errorf("%s K=%d, %d heads then %v: LogSumExp %v; CrossEntropy %v", backend, k, heads, low, errLSE, errCE)
			}
			worst = max(worst, usedLSE, usedCE)
		}
	}
	dtype := "float64"
	if isFloat32[T]() {
		dtype = "float32"
	}
	t.Logf("%s/%s/K=%d: worst budget used %.3f", backend, dtype, k, worst)
}
