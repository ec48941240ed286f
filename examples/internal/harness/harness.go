// Package harness holds what the three example programs share around their
// training loops: the -loss flag, the per-phase step clock, and the check
// that lossfuse and the naive losses agree.
package harness

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// Backend names the implementation of the loss and its gradient.
type Backend string

const (
	Naive    Backend = "naive"    // the textbook Go loops of package naive
	Lossfuse Backend = "lossfuse" // the kernels of github.com/lossfuse/lossfuse
)

// Backends parses the -loss flag: "naive", "lossfuse", or "both" (naive first,
// so that the two runs can be compared).
func Backends(flag string) ([]Backend, error) {
	switch flag {
	case "naive":
		return []Backend{Naive}, nil
	case "lossfuse":
		return []Backend{Lossfuse}, nil
	case "both":
		return []Backend{Naive, Lossfuse}, nil
	}
	return nil, fmt.Errorf("-loss=%q: want naive, lossfuse or both", flag)
}

// LossFlagUsage is the -loss flag's help text.
const LossFlagUsage = "loss implementation: naive (textbook Go, math.Exp loops), lossfuse, or both (train twice and compare)"

// RunTolerance bounds how far apart, relatively, a naive and a lossfuse
// training run of the same model may end up (epoch losses, test metrics).
// Each step's loss and gradient are held to the accuracy contract instead
// (Agreement); this only checks that rounding-level differences are not
// amplified by training into different results.
const RunTolerance = 1e-9

// Clock accumulates the time of a training run's steps by phase.
type Clock struct {
	Steps                   int
	Matmul, Loss, Total     time.Duration
	LossElems               int // elements the loss was computed over, summed over steps
	stepStart, phaseStartAt time.Time
}

// StartStep marks the start of a training step.
func (c *Clock) StartStep() { c.stepStart = time.Now() }

// EndStep adds the step's wall time to Total.
func (c *Clock) EndStep() { c.Steps++; c.Total += time.Since(c.stepStart) }

// Start marks the start of a timed phase; Stop adds its time to *phase.
func (c *Clock) Start() { c.phaseStartAt = time.Now() }

// Stop adds the time since Start to *phase.
func (c *Clock) Stop(phase *time.Duration) { *phase += time.Since(c.phaseStartAt) }

// PerStep returns d averaged over the steps.
func (c *Clock) PerStep(d time.Duration) time.Duration {
	if c.Steps == 0 {
		return 0
	}
	return d / time.Duration(c.Steps)
}

// Print writes the per-step time split.
func (c *Clock) Print(w io.Writer, label string) {
	other := c.Total - c.Matmul - c.Loss
	fmt.Fprintf(w, "  %-9s time/step %8s = matmul %8s + loss %8s + other %8s  (loss %.2f ns/element, %d steps)\n",
		label, c.PerStep(c.Total), c.PerStep(c.Matmul), c.PerStep(c.Loss), c.PerStep(other),
		float64(c.Loss.Nanoseconds())/float64(max(c.LossElems, 1)), c.Steps)
}

// AgreeTolerance bounds the relative difference between lossfuse's and the
// naive loss on the same batch: |Δloss| ≤ AgreeTolerance·|loss| and
// max|Δgrad| ≤ AgreeTolerance·max|grad|. Both compute in float64; this
// allows a few thousand units of roundoff relative to the largest value.
const AgreeTolerance = 1e-12

// Agreement holds lossfuse to its accuracy contract (package reference) on
// the training batches, measures the naive loss against the same contract,
// and checks that the two agree.
type Agreement struct {
	Checks int
	// Fused and Naive are the largest fractions of the contract's
	// tolerance that lossfuse's and the naive loss's values used (≤ 1 is
	// within the contract). The contract is element-wise relative, so a
	// textbook formula that loses digits on tiny gradient elements through
	// cancellation exceeds it while agreeing in the max-norm.
	Fused, Naive float64
	// Loss and Grad are the largest relative differences between the two:
	// |Δloss|/|loss| and max|Δgrad|/max|grad|.
	Loss, Grad float64
	// FusedErr and NaiveErr describe the worst contract violation of each.
	FusedErr, NaiveErr error
}

// Check compares lossfuse's and the naive loss and gradient, computed on
// the inputs ref was computed on, with the reference and with each other.
func (a *Agreement) Check(ref *reference.Result, fusedLoss float64, fusedGrad []float64, naiveLoss float64, naiveGrad []float64) {
	a.Checks++
	for _, c := range []struct {
		loss   float64
		grad   []float64
		budget *float64
		err    *error
	}{{fusedLoss, fusedGrad, &a.Fused, &a.FusedErr}, {naiveLoss, naiveGrad, &a.Naive, &a.NaiveErr}} {
		b, err := reference.Budget(ref, reference.Got[float64]{CheckLoss: true, Loss: c.loss, Grad: c.grad})
		if err != nil && b >= *c.budget {
			*c.err = err // describe the worst violation
		}
		*c.budget = math.Max(*c.budget, b)
	}
	a.Loss = math.Max(a.Loss, RelDiff(fusedLoss, naiveLoss))
	a.Grad = math.Max(a.Grad, MaxNormDiff(fusedGrad, naiveGrad))
}

// OK reports whether there were checks, lossfuse met its contract in all,
// and the two losses agreed within AgreeTolerance.
func (a *Agreement) OK() bool {
	return a.Checks > 0 && a.FusedErr == nil && a.Fused <= 1 &&
		a.Loss <= AgreeTolerance && a.Grad <= AgreeTolerance
}

func (a *Agreement) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "on %d training batches: lossfuse ", a.Checks)
	within := func(budget float64, err error) {
		if err == nil && budget <= 1 {
			fmt.Fprintf(&b, "within the accuracy contract (uses ≤ %.2g of its tolerance)", budget)
		} else {
			fmt.Fprintf(&b, "OUTSIDE the accuracy contract, %.3g× its tolerance (%v)", budget, err)
		}
	}
	within(a.Fused, a.FusedErr)
	b.WriteString(", naive ")
	within(a.Naive, a.NaiveErr)
	verdict := "agree"
	if a.Loss > AgreeTolerance || a.Grad > AgreeTolerance {
		verdict = "DISAGREE"
	}
	fmt.Fprintf(&b, "; the two %s: loss rel. diff ≤ %.1e, gradient (max-norm) ≤ %.1e", verdict, a.Loss, a.Grad)
	return b.String()
}

// RelDiff is |a−b| / max(|a|, |b|), and 0 when both are 0.
func RelDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

// MaxNormDiff is max|a−b| / max(max|a|, max|b|), and 0 when both are all 0.
func MaxNormDiff(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		s = math.Max(s, math.Max(math.Abs(a[i]), math.Abs(b[i])))
	}
	if d == 0 {
		return 0
	}
	return d / s
}

// MaxRelDiff is the largest RelDiff of corresponding elements.
func MaxRelDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, RelDiff(a[i], b[i]))
	}
	return d
}

// LossTiming compares the naive loss with lossfuse, under every backend
// this CPU supports, on identical work.
type LossTiming struct {
	Dtype    string // "float64" or "float32"
	Rounds   int
	Naive    float64 // best-of-rounds nanoseconds per element
	Backends []BackendTime
}

// BackendTime is one lossfuse backend's best-of-rounds time.
type BackendTime struct {
	Name      string
	NsPerElem float64
}

// TimeLosses runs naive and then fused under each supported lossfuse
// backend, alternately, rounds times each (every call covering elems
// elements), and keeps each one's fastest round: on a shared, loaded
// machine the minimum is the least disturbed estimate, and the alternation
// exposes all of them to the same load. It restores the active backend.
func TimeLosses(dtype string, rounds, elems int, naive, fused func() error) (LossTiming, error) {
	t := LossTiming{Dtype: dtype, Rounds: rounds, Naive: math.Inf(1)}
	names := kernels.Backends()
	for _, name := range names {
		t.Backends = append(t.Backends, BackendTime{Name: name, NsPerElem: math.Inf(1)})
	}
	best := func(f func() error, dst *float64) error {
		start := time.Now()
		if err := f(); err != nil {
			return err
		}
		*dst = math.Min(*dst, float64(time.Since(start).Nanoseconds())/float64(elems))
		return nil
	}
	for i := 0; i < rounds; i++ {
		if err := best(naive, &t.Naive); err != nil {
			return t, err
		}
		for j, name := range names {
			restore, err := kernels.UseBackend(name)
			if err != nil {
				return t, err
			}
			err = best(fused, &t.Backends[j].NsPerElem)
			restore()
			if err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// Default returns the time of the backend lossfuse picks on this machine.
func (t LossTiming) Default() BackendTime {
	for _, b := range t.Backends {
		if b.Name == kernels.Backend() {
			return b
		}
	}
	return BackendTime{}
}

// SpeedUp is naive's time over that of lossfuse's default backend.
func (t LossTiming) SpeedUp() float64 { return t.Naive / t.Default().NsPerElem }

func (t LossTiming) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s loss+gradient on the training batches (best of %d interleaved passes): naive %.2f ns/element", t.Dtype, t.Rounds, t.Naive)
	for _, bt := range t.Backends {
		fmt.Fprintf(&b, ", lossfuse/%s %.2f (%.2fx)", bt.Name, bt.NsPerElem, t.Naive/bt.NsPerElem)
	}
	fmt.Fprintf(&b, "; speed-up of lossfuse (%s) over naive: %.2fx", kernels.Backend(), t.SpeedUp())
	return b.String()
}

// Float32 returns a float32 copy of x.
func Float32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// DtypeName is "float32" or "float64", for T.
func DtypeName[T ~float32 | ~float64]() string {
	if unsafe.Sizeof(T(0)) == 4 {
		return "float32"
	}
	return "float64"
}
