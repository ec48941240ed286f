package reference

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
)

// noisy32 models a float32 vector elementary function: the exact value
// rounded to float32, then moved by up to 4 ULP.
type noisy32 struct{ rng *rand.Rand }

func (n noisy32) f(v float64) float32 {
	r := float32(v)
	for s := n.rng.Intn(9) - 4; s != 0; {
		if s > 0 {
			r, s = math.Nextafter32(r, float32(math.Inf(1))), s-1
		} else {
			r, s = math.Nextafter32(r, float32(math.Inf(-1))), s+1
		}
	}
	return r
}

// ce32 is a plausible float32 backend: per-row max, then a sum of 4-ULP
// exponentials in 8 float32 lanes, each flushed into float64 after
// SumBlock32 terms, the float64 total rounded to float32, or in one float32
// accumulator for rows of up to 16 (the worst summation the contract
// allows), a 4-ULP log, the loss and gradient all in float32. drop leaves
// class `drop` out of the sum when ≥ 0 (a tail-mask bug).
func ce32(x []float32, targets []int32, n, k int, drop int, fn noisy32) (float32, []float32, []float32) {
	grad := make([]float32, n*k)
	lses := make([]float32, n)
	var total float64
	for i := 0; i < n; i++ {
		row := x[i*k : i*k+k]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		const nl = 8
		var lanes [nl]float32
		var terms [nl]int
		var wide float64
		for j, v := range row {
			if j != drop {
				l := j % nl
				if k <= 16 {
					l = 0
				}
				lanes[l] += fn.f(math.Exp(float64(v - m)))
				if terms[l]++; terms[l] == SumBlock32 && k > 16 {
					wide += float64(lanes[l])
					lanes[l], terms[l] = 0, 0
				}
			}
		}
		for _, v := range lanes {
			wide += float64(v)
		}
		s := float32(wide)
		lse := m + fn.f(math.Log(float64(s)))
		lses[i] = lse
		y := targets[i]
		total += float64(lse - row[y])
		for j, v := range row {
			g := fn.f(math.Exp(float64(v-lse))) / float32(n)
			if int32(j) == y {
				g -= 1 / float32(n)
			}
			grad[i*k+j] = g
		}
	}
	return float32(total / float64(n)), grad, lses
}

func contractRows(rng *rand.Rand, k int) map[string][]float32 {
	rows := map[string][]float32{}
	add := func(name string, f func(j int) float32) {
		r := make([]float32, k)
		for j := range r {
			r[j] = f(j)
		}
		rows[name] = r
	}
	add("normal σ=5", func(int) float32 { return float32(rng.NormFloat64() * 5) })
	add("one 0 then −16.7 (terms just above half an ULP)", func(j int) float32 {
		if j == 0 {
			return 0
		}
		return -16.7
	})
	add("constant", func(int) float32 { return 3.25 })
	add("±1e4", func(int) float32 { return float32((rng.Float64()*2 - 1) * 1e4) })
	add("near 1e4", func(int) float32 { return float32(1e4 + rng.NormFloat64()) })
	return rows
}

// TestContractAdmitsPlainFloat32 shows the contract is implementable: a
// float32 model with 4-ULP exp/log and a lane-parallel float32 sum meets it
// on rows chosen to make summation error large.
func TestContractAdmitsPlainFloat32(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	fn := noisy32{rand.New(rand.NewSource(6))}
	for _, k := range []int{1, 7, 49, 1000, 4099} {
		for name, row := range contractRows(rng, k) {
			const n = 2
			x := append(append([]float32(nil), row...), row...)
			targets := []int32{0, int32(k - 1)}
			ref := must(CrossEntropy(x, targets, n, k, nil))
			loss, grad, lse := ce32(x, targets, n, k, -1, fn)
			used, err := Budget(ref, Got[float32]{CheckLoss: true, Loss: loss, Grad: grad, LSE: lse})
			if err != nil {
				t.Errorf("K=%d %s: %v", k, name, err)
			}
			t.Logf("K=%d %-50s budget used %.3f", k, name, used)
		}
	}
}

// TestContractCatchesBugs shows the contract is strict enough: a class left
// out of the sum, a gradient off by 1e-4, PyTorch's cancelling form of
// BCE-with-logits in float32, and a NaN where the answer is finite all fail.
func TestContractCatchesBugs(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	fn := noisy32{rand.New(rand.NewSource(8))}
	for _, k := range []int{2, 17, 49} {
		x := make([]float32, k)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		targets := []int32{0}
		ref := must(CrossEntropy(x, targets, 1, k, nil))
		loss, grad, _ := ce32(x, targets, 1, k, k-1, fn)
		if err := Check(ref, Got[float32]{CheckLoss: true, Loss: loss}); err == nil {
			t.Errorf("K=%d: dropping the last class passed the loss check", k)
		}
		if err := Check(ref, Got[float32]{Grad: grad}); err == nil {
			t.Errorf("K=%d: dropping the last class passed the gradient check", k)
		}
		_, grad, _ = ce32(x, targets, 1, k, -1, fn)
		grad[k/2] *= 1 + 1e-4
		if err := CheckGrad(ref, grad); err == nil {
			t.Errorf("K=%d: a gradient element off by 1e-4 relative passed", k)
		}
		grad[k/2] = float32(math.NaN())
		if err := CheckGrad(ref, grad); err == nil || !strings.Contains(err.Error(), "grad[") {
			t.Errorf("K=%d: NaN in a finite gradient: %v", k, err)
		}
	}

	// BCE with logits at x = −20, y = 0: the loss is e^−20 ≈ 2.06e-9; PyTorch's
	// (1−y)·x + softplus(−x) cancels to 0 (or an ULP of 20) in float32.
	ref := must(BCEWithLogits([]float32{-20}, []float32{0}, 1, 1, nil))
	pytorchForm := float32(-20) + float32(softplus(20))
	if err := CheckLoss(ref, pytorchForm); err == nil {
		t.Errorf("cancelling BCE form %v passed against %v", pytorchForm, ref.Loss)
	}
	if err := CheckLoss(ref, float32(math.Exp(-20))); err != nil {
		t.Errorf("the stable value failed: %v", err)
	}
}

func TestContractNonFiniteRules(t *testing.T) {
	// Two squares of 2.25e38 each fit float32; their sum does not.
	ref := must(MSE([]float32{1.5e19, 1.5e19}, []float32{0, 0}, &kernels.RegressionOptions[float32]{Reduction: kernels.Sum}))
	if err := CheckLoss(ref, float32(math.Inf(1))); err != nil {
		t.Errorf("overflow to +Inf rejected: %v", err)
	}
	if err := CheckLoss(ref, float32(math.Inf(-1))); err == nil {
		t.Errorf("−Inf for a positive overflow passed")
	}
	if err := CheckLoss(ref, float32(math.NaN())); err == nil {
		t.Errorf("NaN for a positive overflow passed")
	}
	// A square of 9e38 is not a float32: that element and the loss are unconstrained.
	ref = must(MSE([]float32{3e19, 1}, []float32{0, 0}, &kernels.RegressionOptions[float32]{Weight: []float32{0, 1}}))
	if err := Check(ref, Got[float32]{CheckLoss: true, Loss: float32(math.NaN()), Items: []float32{float32(math.NaN()), 1}}); err != nil {
		t.Errorf("0·∞ after an overflowing term rejected: %v", err)
	}
	if err := CheckItems(ref, []float32{0, 2}); err == nil {
		t.Errorf("a wrong loss next to an overflowing one passed")
	}
	ref = must(MSE([]float32{1}, []float32{0}, nil))
	if err := CheckLoss(ref, float32(math.Inf(1))); err == nil {
		t.Errorf("+Inf for a loss of 1 passed")
	}
	// A mean of BlockT squares of 1e37 is 1e37, but a backend may add
	// BlockT items in float32 first (6.4e38 overflows): unconstrained. With
	// one item fewer than it takes to overflow, the mean must be right.
	big := func(m int) []float32 {
		x := make([]float32, m)
		for i := range x {
			x[i] = float32(math.Sqrt(1e37))
		}
		return x
	}
	ref = must(MSE(big(BlockT), make([]float32, BlockT), nil))
	if err := CheckLoss(ref, float32(math.Inf(1))); err != nil {
		t.Errorf("+Inf for a mean whose float32 partial sum overflows rejected: %v", err)
	}
	if err := CheckLoss(ref, float32(math.Inf(-1))); err == nil {
		t.Errorf("−Inf passed for a mean of positive items whose partial sum overflows")
	}
	if err := CheckLoss(ref, float32(1)); err == nil {
		t.Errorf("a wrong finite mean passed where a partial sum may overflow")
	}
	// 34 items of 1e37 add up to 3.4e38, below float32's largest; 35 do not.
	ref = must(MSE(big(34), make([]float32, 34), nil))
	if err := CheckLoss(ref, float32(math.Inf(1))); err == nil {
		t.Errorf("+Inf passed for a mean of 34 items of 1e37 (no partial sum of them overflows)")
	}
	ref = must(MSE(big(35), make([]float32, 35), nil))
	if err := CheckLoss(ref, float32(math.Inf(1))); err != nil {
		t.Errorf("+Inf for a mean of 35 items of 1e37 (their sum overflows float32) rejected: %v", err)
	}
	ref = must(CrossEntropy([]float32{float32(math.NaN()), 0}, []int32{0}, 1, 2, nil))
	if err := CheckLoss(ref, float32(0)); err == nil {
		t.Errorf("a finite loss passed where the reference is NaN")
	}
	if err := CheckGrad(ref, []float32{float32(math.NaN()), float32(math.NaN())}); err != nil {
		t.Errorf("NaN gradient rejected: %v", err)
	}
	// Ignored rows are exact zeros.
	ref = must(CrossEntropy([]float32{1, 2, 3, 4}, []int32{-100, 1}, 2, 2, nil))
	if err := CheckGrad(ref, []float32{1e-30, 0, float32(ref.Grad[2]), float32(ref.Grad[3])}); err == nil {
		t.Errorf("a non-zero gradient in an ignored row passed")
	}
	if err := CheckGrad(ref, []float32{0, float32(math.Copysign(0, -1)), float32(ref.Grad[2]), float32(ref.Grad[3])}); err != nil {
		t.Errorf("−0 in an ignored row rejected: %v", err)
	}
	// Length mismatches are violations.
	if err := CheckGrad(ref, []float32{0}); err == nil {
		t.Errorf("a short gradient passed")
	}
}

// Every tolerance of a finite reference value is a number (not NaN), on
// data with every kind of special value.
func TestTolerancesAreNumbers(t *testing.T) {
	vals := []float64{0, 1, -1, 1e4, -1e4, inf, -inf, math.NaN(), 1e-300, 0.5, 1, 0}
	rng := rand.New(rand.NewSource(9))
	const n, k = 4, 6
	pick := func(nk int, set []float64) []float64 {
		v := make([]float64, nk)
		for i := range v {
			v[i] = set[rng.Intn(len(set))]
		}
		return v
	}
	iters := 200
	if testing.Short() {
		iters = 50
	}
	for it := 0; it < iters; it++ {
		x := pick(n*k, vals)
		y := pick(n*k, []float64{0, 1, 0.3, 0.5})
		p := pick(n*k, []float64{0, 1, 1e-7, 0.3, 0.999999})
		targets := []int32{int32(rng.Intn(k)), -100, int32(rng.Intn(k)), 0}
		cap := []float64{0, 5}[it%2]
		all := []*Result{
			must(CrossEntropy(x, targets, n, k, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 0.1, ZLoss: 1e-3, SoftCap: cap})),
			must(CrossEntropyProbs(x, p, n, k, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: 0.1})),
			must(SoftmaxFocal(x, targets, n, k, &kernels.SoftmaxFocalOptions[float64]{Gamma: 0.5})),
			must(BCEWithLogits(x, y, n, k, nil)),
			must(BCE(p, y, n, k, &kernels.BinaryOptions[float64]{Clip: []float64{0, 1e-7}[it%2]})),
			must(SigmoidFocal(x, y, n, k, &kernels.FocalOptions[float64]{Alpha: 0.25, Gamma: 0.5})),
			must(FocalProbs(p, y, n, k, &kernels.FocalOptions[float64]{Alpha: 0.25, Gamma: 0.5, BinaryOptions: kernels.BinaryOptions[float64]{Clip: []float64{0, 1e-7}[it%2]}})),
			must(Huber(x, y, nil)),
			must(Softmax(x, n, k)), must(LogSoftmax(x, n, k)), must(LogSumExp(x, n, k)),
			must(Sigmoid(x)), must(LogSigmoid(x)), must(Softplus(x)),
		}
		for oi, r := range all {
			for _, pair := range [][2][]float64{{r.Items, r.ItemTol}, {r.Grad, r.GradTol}, {r.LSE, r.LSETol}, {r.Out, r.OutTol}, {{r.Loss}, {r.LossTol}}} {
				for i, v := range pair[0] {
					// float64 terms cannot overflow float64, so every finite value has a finite bound.
					if tol := pair[1][i]; math.IsNaN(tol) || tol < 0 || math.IsInf(tol, 0) || (math.IsInf(v, 0) || math.IsNaN(v)) && tol != 0 {
						t.Fatalf("op %d: value %v has tolerance %v", oi, v, tol)
					}
				}
			}
		}
	}
}
