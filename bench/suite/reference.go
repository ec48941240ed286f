package suite

import (
	"fmt"

	"github.com/lossfuse/lossfuse/kernels"
)

// ReferenceName names the oracle the accuracy column is measured against.
//
// TODO(bench): the float64 reference package (issue 2) has not landed yet;
// until it does, the oracle is the generic backend run on the float64
// widening of the same inputs (it computes in float64 throughout). Swap
// computeReference's body for calls into the reference package when it
// lands; nothing else depends on where the numbers come from.
const ReferenceName = "generic backend in float64 (stand-in for the reference package)"

// computeReference returns the mean loss and, when withOut is set, the
// gradient (losses) or the output (primitives) for in.
func computeReference(k *Kernel, s Shape, in *buffers[float64], withOut bool) (*refResult, error) {
	restore, err := kernels.UseBackend("generic")
	if err != nil {
		return nil, err
	}
	defer restore()
	op := Fwd
	if withOut && k.HasGrad() {
		op = FwdBwd
	}
	loss, err := runner(k, s, in, op, false)()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name, err)
	}
	r := &refResult{loss: loss}
	if withOut {
		r.out = in.out
	}
	return r, nil
}
