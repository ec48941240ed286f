// Package suite defines the benchmark workload shared by the go test
// benchmarks in bench/ and the cmd/lossbench report: which kernels run at
// which shapes, with which options and data, how many bytes each call must
// touch, and how to call each kernel on a chosen backend or on the naive
// baseline. Keeping it in one place means both tools measure the same thing.
package suite

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lossfuse/lossfuse/kernels"
)

// Family groups kernels that take the same inputs.
type Family uint8

const (
	FamilyCE                  Family = iota // logits N×K with integer or probability targets
	FamilyBinary                            // x and y, N×K
	FamilyRegression                        // pred and target, flat N·K
	FamilyRows                              // row-wise primitive over N×K
	FamilyElementwise                       // element-wise primitive over N·K
	FamilyRowsBackward                      // a row-wise primitive's backward pass: saved N×K, dy, dx
	FamilyElementwiseBackward               // an element-wise primitive's backward pass
)

// Shape is N rows of K; flat kernels use N·K elements.
type Shape struct{ N, K int }

func (s Shape) String() string { return fmt.Sprintf("%dx%d", s.N, s.K) }

// Elems is the number of elements a call processes.
func (s Shape) Elems() int { return s.N * s.K }

// ParseShape reads "NxK", for example "256x32000".
func ParseShape(str string) (Shape, error) {
	a, b, ok := strings.Cut(strings.ToLower(strings.TrimSpace(str)), "x")
	if !ok {
		return Shape{}, fmt.Errorf("shape %q: want NxK, for example 256x32000", str)
	}
	n, err1 := strconv.Atoi(a)
	k, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n <= 0 || k <= 0 {
		return Shape{}, fmt.Errorf("shape %q: N and K must be positive integers", str)
	}
	if int64(n) > (1<<31)/int64(k) {
		return Shape{}, fmt.Errorf("shape %q: more than 2^31 elements", str)
	}
	return Shape{n, k}, nil
}

// Op is what a call computes: the loss alone, or the loss and its gradient.
// Primitives only have Fwd, their backward passes only Bwd.
type Op string

const (
	Fwd    Op = "fwd"
	FwdBwd Op = "fwdbwd"
	Bwd    Op = "bwd"
)

// DType is the element type.
type DType string

const (
	F32 DType = "f32"
	F64 DType = "f64"
)

// DTypes lists both element types.
var DTypes = []DType{F32, F64}

// Size is the element size in bytes.
func (d DType) Size() int {
	if d == F32 {
		return 4
	}
	return 8
}

// Naive is the pseudo-backend name of the textbook baseline (package naive).
const Naive = "naive"

// Kernel is one public kernel with its benchmark shapes.
type Kernel struct {
	Name   string
	Family Family
	Shapes []Shape
}

// Ops lists the operations the kernel has.
func (k *Kernel) Ops() []Op {
	switch k.Family {
	case FamilyRows, FamilyElementwise:
		return []Op{Fwd}
	case FamilyRowsBackward, FamilyElementwiseBackward:
		return []Op{Bwd}
	}
	return []Op{Fwd, FwdBwd}
}

// HasGrad reports whether the kernel is a loss with a gradient.
func (k *Kernel) HasGrad() bool { return len(k.Ops()) == 2 }

// CEShapes are the cross-entropy shapes of the issue: a small-K classifier,
// ImageNet, a 32k vocabulary and Llama 3's 128256-token vocabulary.
var CEShapes = []Shape{{4096, 10}, {1024, 1000}, {256, 32000}, {64, 128256}}

// ShardShapes are the vocabulary shapes of CrossEntropyShards: the
// CrossEntropy call over Shards vocabulary shards, each in its own buffer
// (pass 1 per shard, Combine, the loss, pass 2 per shard), to compare with
// one CrossEntropy call over the same logits.
var ShardShapes = []Shape{{256, 32000}, {64, 128256}}

// Shards is the number of vocabulary shards of CrossEntropyShards (fewer
// when K is smaller).
const Shards = 4

// FlatShape is the shape of the binary, regression and primitive kernels.
var FlatShape = []Shape{{4096, 256}}

// Options the losses run with (mean reduction everywhere).
const (
	FocalAlpha = 0.25 // SigmoidFocal and FocalProbs (torchvision's defaults)
	FocalGamma = 2.0  // SigmoidFocal, FocalProbs and SoftmaxFocal
	HuberDelta = 1.0
	// DistillTemperature is the temperature of Distill, DistillReverseKL
	// and DistillJSD (each with T² scaling).
	DistillTemperature = 2.0
	// DistillBeta is DistillJSD's mixing weight β: the symmetric
	// Jensen–Shannon divergence.
	DistillBeta = 0.5
	SmoothBeta  = 1.0
)

// Kernels lists every kernel in the order reports print them.
var Kernels = []*Kernel{
	{"CrossEntropy", FamilyCE, CEShapes},
	{"CrossEntropyProbs", FamilyCE, CEShapes},
	{"SoftmaxFocal", FamilyCE, CEShapes},
	{"CrossEntropyShards", FamilyCE, ShardShapes},
	{"NLL", FamilyCE, CEShapes},
	{"KLDiv", FamilyBinary, CEShapes},
	{"Distill", FamilyBinary, CEShapes},
	{"DistillReverseKL", FamilyBinary, CEShapes},
	{"DistillJSD", FamilyBinary, CEShapes},
	{"BCEWithLogits", FamilyBinary, FlatShape},
	{"BCE", FamilyBinary, FlatShape},
	{"SigmoidFocal", FamilyBinary, FlatShape},
	{"FocalProbs", FamilyBinary, FlatShape},
	{"MSE", FamilyRegression, FlatShape},
	{"L1", FamilyRegression, FlatShape},
	{"Huber", FamilyRegression, FlatShape},
	{"SmoothL1", FamilyRegression, FlatShape},
	{"Softmax", FamilyRows, FlatShape},
	{"LogSoftmax", FamilyRows, FlatShape},
	{"LogSumExp", FamilyRows, FlatShape},
	{"Sigmoid", FamilyElementwise, FlatShape},
	{"LogSigmoid", FamilyElementwise, FlatShape},
	{"Softplus", FamilyElementwise, FlatShape},
	{"SoftplusBeta", FamilyElementwise, FlatShape},
	{"SoftmaxBackward", FamilyRowsBackward, FlatShape},
	{"LogSoftmaxBackward", FamilyRowsBackward, FlatShape},
	{"LogSumExpBackward", FamilyRowsBackward, FlatShape},
	{"SigmoidBackward", FamilyElementwiseBackward, FlatShape},
	{"LogSigmoidBackward", FamilyElementwiseBackward, FlatShape},
	{"SoftplusBackward", FamilyElementwiseBackward, FlatShape},
}

// SoftplusBeta's β and threshold in the benchmarks: PyTorch's defaults.
const (
	SoftplusBetaBeta      = 1.0
	SoftplusBetaThreshold = 20.0
)

// Lookup finds a kernel by name, ignoring case.
func Lookup(name string) *Kernel {
	for _, k := range Kernels {
		if strings.EqualFold(k.Name, name) {
			return k
		}
	}
	return nil
}

// Case is one measured configuration, without the backend.
type Case struct {
	Kernel *Kernel
	Op     Op
	DType  DType
	Shape  Shape
}

// BenchName is the sub-benchmark name in benchstat's key=value form, below
// Benchmark<Kernel>.
func (c Case) BenchName(isa string) string {
	return fmt.Sprintf("op=%s/dtype=%s/isa=%s/n=%d/k=%d", c.Op, c.DType, isa, c.Shape.N, c.Shape.K)
}

// Traffic returns the bytes a call must read and write at least: every
// input once and every output once. Targets are int32. It is the
// compulsory traffic, not what a kernel's passes move: Distill and
// DistillReverseKL read both rows of logits once for the loss and twice
// with the gradient, DistillJSD twice and three times (log-sum-exps,
// divergences, gradient), yet each counts them once, so that GB/s and %BW
// show what the extra passes cost rather than hide it.
func (c Case) Traffic() (read, written int64) {
	s := int64(c.DType.Size())
	nk := int64(c.Shape.Elems())
	n := int64(c.Shape.N)
	grad := c.Op == FwdBwd
	switch c.Kernel.Family {
	case FamilyCE:
		read = nk * s
		if c.Kernel.Name == "NLL" { // one log-probability per row
			read = n * s
		}
		if c.Kernel.Name == "CrossEntropyProbs" {
			read += nk * s
		} else {
			read += 4 * n
		}
		if grad {
			written = nk * s
		}
	case FamilyBinary, FamilyRegression:
		read = 2 * nk * s
		if grad {
			written = nk * s
		}
	case FamilyRows:
		read, written = nk*s, nk*s
		if c.Kernel.Name == "LogSumExp" {
			written = n * s
		}
	case FamilyElementwise:
		read, written = nk*s, nk*s
	case FamilyRowsBackward, FamilyElementwiseBackward:
		read, written = 2*nk*s, nk*s // the saved tensor and dy; dx
		if c.Kernel.Name == "LogSumExpBackward" {
			read = nk*s + 2*n*s // x; dy and lse per row
		}
	}
	return read, written
}

// Isas returns the naive baseline followed by every backend this CPU runs.
func Isas() []string { return append([]string{Naive}, kernels.Backends()...) }

// Select makes isa the active backend and returns the function restoring
// the previous one. The naive baseline needs no backend.
func Select(isa string) (restore func(), err error) {
	if isa == Naive {
		return func() {}, nil
	}
	return kernels.UseBackend(isa)
}
