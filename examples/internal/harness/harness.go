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

	"github.com/lossfuse/lossfuse/kernels"
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

// Tolerance bounds the disagreement, in float64, between a lossfuse kernel
// and the naive loss on the same inputs: |Δloss| ≤ Tolerance·|loss| and
// max|Δgrad| ≤ Tolerance·max|grad|. Both compute in float64, so honest
// implementations differ by rounding (about 1e-15); 1e-9 leaves room for
// polynomial exp approximations while still catching any real mistake.
const Tolerance = 1e-9

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

// Agreement records the largest disagreement seen between the two losses.
type Agreement struct {
	Checks           int
	MaxLoss, MaxGrad float64 // relative, as Tolerance defines them
}

// Check compares lossfuse's loss and gradient with the naive ones on the same input.
func (a *Agreement) Check(lossA, lossB float64, gradA, gradB []float64) {
	a.Checks++
	a.MaxLoss = math.Max(a.MaxLoss, RelDiff(lossA, lossB))
	a.MaxGrad = math.Max(a.MaxGrad, MaxNormDiff(gradA, gradB))
}

// OK reports whether every check was within Tolerance.
func (a *Agreement) OK() bool {
	return a.Checks > 0 && a.MaxLoss <= Tolerance && a.MaxGrad <= Tolerance
}

func (a *Agreement) String() string {
	verdict := "within"
	if !a.OK() {
		verdict = "NOT within"
	}
	return fmt.Sprintf("lossfuse vs naive on the same batches (%d checks): loss rel. diff ≤ %.1e, grad max-norm rel. diff ≤ %.1e, %s tolerance %.0e",
		a.Checks, a.MaxLoss, a.MaxGrad, verdict, Tolerance)
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
func TimeLosses(rounds, elems int, naive, fused func() error) (LossTiming, error) {
	t := LossTiming{Rounds: rounds, Naive: math.Inf(1)}
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
	fmt.Fprintf(&b, "loss+gradient time on the training batches (best of %d interleaved passes): naive %.2f ns/element", t.Rounds, t.Naive)
	for _, bt := range t.Backends {
		fmt.Fprintf(&b, ", lossfuse/%s %.2f (%.2fx)", bt.Name, bt.NsPerElem, t.Naive/bt.NsPerElem)
	}
	fmt.Fprintf(&b, "; speed-up of lossfuse (%s) over naive: %.2fx", kernels.Backend(), t.SpeedUp())
	return b.String()
}
