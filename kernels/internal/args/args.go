// Package args defines the argument blocks that package kernels hands to a
// backend after validation. Every backend (generic, amd64, arm64) implements
// the function table Impl over them, so the public API never changes when a
// backend is added.
//
// A backend may assume everything the validation in package kernels
// guarantees: lengths match the shape, targets are in range or equal to the
// ignore index, scalars are in range, outputs do not partly overlap inputs.
package args

import "math"

// Float is the element type of every kernel.
type Float interface{ ~float32 | ~float64 }

// CE is one softmax cross-entropy call over N rows of K logits. The same
// row kernel serves integer targets, probability targets and softmax focal
// loss, because all three have gradient  s·(softmax − target distribution)
// per row with a per-row scalar s.
type CE[T Float] struct {
	X    []T // logits, N*K
	N, K int

	Targets []int32 // integer targets, len N; nil when Probs is set
	Probs   []T     // probability targets, N*K; nil when Targets is set

	Weight    []T   // class weights, len K, or nil for all ones
	Ignore    int32 // target value that marks a row to skip
	HasIgnore bool

	Smoothing T // label smoothing ε in [0, 1]
	ZLoss     T // coefficient of z·lse² per row, ≥ 0
	SoftCap   T // > 0: logits pass through cap·tanh(x/cap) first

	Focal      bool // softmax focal loss instead of cross-entropy
	FocalGamma T    // γ ≥ 0 (Focal only); Weight holds the per-class alpha

	// Distillation (Impl.Distill): X holds the student's logits, Teacher
	// the teacher's (N*K), both scaled by InvTemp (z = x·InvTemp, rounded
	// to T) before their softmax; Targets, when non-nil, only mark ignored
	// rows. Every row's divergence is multiplied by LossScale (T² or 1).
	Teacher   []T
	InvTemp   T
	LossScale T
	// Divergence is ForwardKL, ReverseKL or JSD; Beta is JSD's mixing
	// weight in (0, 1), rounded to T.
	Divergence Divergence
	Beta       T

	// GradScale multiplies every gradient element: 1/normaliser for a mean,
	// 1 for a sum or per-row losses. It may be +Inf (a mean over weights that
	// sum to zero); backends must still write exact zeros for ignored rows.
	GradScale T

	Grad    []T // N*K, or nil; may be X itself (in-place gradient)
	RowLoss []T // len N, or nil: the per-row loss (0 at ignored rows)
	RowLSE  []T // len N, or nil: log-sum-exp of the (capped) logits

	// Whole is the element count of the call this one is a block of (a
	// Runner cuts large calls into blocks), 0 for a whole call: whether
	// the gradient is streamed (StreamMinBytes) depends on the whole call.
	Whole int
}

// CE16 is a cross-entropy call on 16-bit logits (kernels.CrossEntropyHalf)
// with a gradient of the same format or float32: A is the float32 call it stands for
// (every option and per-row output; X and Grad nil).
type CE16 struct {
	A    CE[float32]
	X    []uint16 // N*K bfloat16 or binary16 logits
	F16  bool     // binary16 (else bfloat16)
	Grad []uint16 // N*K, the same format; may be X itself
	// Grad32, when Grad is nil, is a float32 gradient (N*K), or nil.
	Grad32 []float32
}

// Divergence selects Distill's divergence between the teacher's softmax P
// and the student's Q.
type Divergence uint8

const (
	ForwardKL Divergence = iota // KL(P‖Q)
	ReverseKL                   // KL(Q‖P)
	JSD                         // β·KL(P‖M) + (1−β)·KL(Q‖M), M = β·P + (1−β)·Q
)

// Rows is a row-wise primitive: Softmax, LogSoftmax (Dst N*K) or LogSumExp
// (Dst len N), or the backward pass of one (Dst N*K, the input's gradient):
//   - SoftmaxBackward: X is y = softmax, Dst = y·(Dy − Σ_row y·Dy);
//   - LogSoftmaxBackward: X is y = log-softmax, Dst = Dy − exp(y)·Σ_row Dy;
//   - LogSumExpBackward: X is the input, Dst_ij = Dy_i·exp(X_ij − LSE_i).
type Rows[T Float] struct {
	X    []T
	N, K int
	Dst  []T // may be X itself for Softmax and LogSoftmax, X or Dy for the backward passes

	Dy  []T // backward passes: the output's gradient, N*K (N for LogSumExpBackward)
	LSE []T // LogSumExpBackward: the forward's output, len N

	// Whole is the element count of the call this one is a block of (see
	// CE.Whole), 0 for a whole call.
	Whole int
}

// Elementwise is an element-wise primitive (Sigmoid, LogSigmoid, Softplus)
// or its backward pass, Dst = Dy·f'. X is what PyTorch saves: the output y
// for SigmoidBackward (Dst = Dy·y·(1−y)), the input x for
// LogSigmoidBackward (Dy·σ(−x)) and SoftplusBackward (Dy·σ(βx), Dy where
// βx > Threshold). Dst may be X or Dy itself.
type Elementwise[T Float] struct {
	X, Dst []T
	Dy     []T // backward passes: the output's gradient, len X

	// Softplus and SoftplusBackward: (1/β)·log(1+exp(βx)), x where βx >
	// Threshold (PyTorch's softplus; the product and the comparison in T).
	// β = 1 and Threshold = +Inf is the exact log(1+eˣ).
	Beta, Threshold T
}

// BinaryKind selects the element-wise binary loss.
type BinaryKind uint8

const (
	BCEWithLogits BinaryKind = iota // X are logits, Y targets in [0, 1]
	BCEProb                         // X are probabilities
	SigmoidFocal                    // X are logits
	FocalProb                       // X are probabilities
)

// Binary is one element-wise binary classification loss over N*K elements,
// laid out as N rows of K so that PosWeight broadcasts along the last
// dimension as in PyTorch.
type Binary[T Float] struct {
	Kind BinaryKind
	X, Y []T // inputs and targets, N*K
	N, K int

	Weight    []T // per-element weights (N*K) or nil
	PosWeight []T // len K or nil (BCEWithLogits only)

	// Asymmetric false-negative / false-positive weights (1, 1 when unused):
	// the positive term is scaled by FNWeight, the negative term by FPWeight.
	FNWeight, FPWeight T

	// Clip > 0 clips probabilities to [Clip, 1−Clip] (the seed article's
	// variant); 0 selects PyTorch's log clamp at −100 (BCEProb, FocalProb).
	Clip T

	Alpha T // focal α for positives (1−α for negatives); < 0 disables it
	Gamma T // focal γ ≥ 0

	GradScale T
	Grad      []T // N*K or nil; may be X itself
	Loss      []T // N*K or nil: per-element loss
}

// RegressionKind selects the regression loss.
type RegressionKind uint8

const (
	MSE RegressionKind = iota
	L1
	Huber    // δ·SmoothL1 with β = δ
	SmoothL1 // β

	// Pointwise losses on distributions (Impl.KLDiv): X log-probabilities,
	// Y target probabilities, or log-probabilities with KLDivLogTarget.
	KLDiv
	KLDivLogTarget
)

// Regression is an element-wise regression loss over len(X) elements.
type Regression[T Float] struct {
	Kind   RegressionKind
	X, Y   []T // prediction and target
	Weight []T // per-element or nil
	Param  T   // Huber's δ or SmoothL1's β (> 0)

	GradScale T
	Grad      []T // or nil; may be X itself
	Loss      []T // per-element or nil
}

// RowPass is one of the two passes the row kernels are built from, over N
// rows of K logits. Vocabulary-shard cross-entropy (kernels.CrossEntropyShard)
// runs them on their own and combines the row statistics of all shards in
// between; z below is the (soft-capped) logit, w_j the class weight (1 when
// Weight is nil).
//
// Impl.RowStats writes, for each row i, M[i], a reference maximum (every
// exp(z_ij − M[i]) is finite), LS[i] = log Σ_j exp(z_ij − M[i]) and, when
// Dot is non-nil, Dot[i] = Σ_j (DotScale·w_j)·(z_ij − M[i]) with terms of
// w_j = 0 taken as 0 (a backend may scale the sum instead of its terms
// where that sum is finite). In a row whose maximum is not finite, or that holds a NaN, M[i] and
// LS[i] are not both finite (the caller treats such rows on its own).
//
// Impl.RowExp writes Dst[i*K+j] = (Coef[i]·exp((z_ij − M[i]) − LS[i]) −
// Bias[i]·w_j)·∂z_ij/∂x_ij from M, LS, Coef and Bias; Dst may be X.
type RowPass[T Float] struct {
	X       []T
	N, K    int
	SoftCap T   // > 0: z = cap·tanh(x/cap)
	Weight  []T // len K or nil

	M, LS      []T       // len N
	Dot        []float64 // len N, or nil: not wanted (RowStats); float64, as Σ w·(z − m) can pass MaxFloat32
	DotScale   float64
	Coef, Bias []T // len N (RowExp)
	Dst        []T // N*K (RowExp)

	// Whole is the element count of the output the caller writes in this
	// and other passes (see CE.Whole), 0 for N*K.
	Whole int
}

// Impl is one backend's table of kernels for one element type. Each loss
// kernel returns the sum of its per-row (or per-element) losses, accumulated
// in float64; package kernels applies the reduction. Arguments are passed
// by value so that calling through the table never moves them to the heap.
type Impl[T Float] struct {
	CrossEntropy func(a CE[T]) float64
	// NLL is nll_loss over CE's X (log-probabilities), Targets, Weight,
	// ignore index, GradScale, Grad and RowLoss (the other fields unused).
	NLL        func(a CE[T]) float64
	Binary     func(a Binary[T]) float64
	Regression func(a Regression[T]) float64
	// Distill is the forward KL divergence of teacher and student softmax
	// rows (CE's Distill fields, Targets, Ignore, GradScale, Grad, RowLoss).
	Distill func(a CE[T]) float64
	// KLDiv is kl_div over Regression's X (input), Y (target), GradScale,
	// Grad and Loss; Kind is KLDiv or KLDivLogTarget, Weight and Param unused.
	KLDiv func(a Regression[T]) float64

	Softmax    func(a Rows[T])
	LogSoftmax func(a Rows[T])
	LogSumExp  func(a Rows[T])

	Sigmoid    func(a Elementwise[T])
	LogSigmoid func(a Elementwise[T])
	Softplus   func(a Elementwise[T])

	// The primitives' backward passes (vector–Jacobian products).
	SoftmaxBackward    func(a Rows[T])
	LogSoftmaxBackward func(a Rows[T])
	LogSumExpBackward  func(a Rows[T])
	SigmoidBackward    func(a Elementwise[T])
	LogSigmoidBackward func(a Elementwise[T])
	SoftplusBackward   func(a Elementwise[T])

	// RowStats and RowExp are the two passes of the row kernels (RowPass).
	RowStats func(a RowPass[T])
	RowExp   func(a RowPass[T])

	// OutsideUnit reports whether some value lies outside [0, 1] (NaN
	// aside): validation of binary targets and probabilities, which reads
	// the whole input before a kernel may write.
	OutsideUnit func(s []T) bool
	// Weights reports whether every weight is finite and ≥ 0 and, when
	// sum is set, returns their sum (compensated: a mean's normaliser must
	// not carry n·u of error into every gradient element).
	Weights func(w []T, sum bool) (total float64, ok bool)

	// CrossEntropy16 runs a 16-bit call natively (float32 table only; nil
	// where a backend has no such kernel) and reports false, having written
	// nothing, for the calls it does not take: package kernels then
	// widens a block at a time and runs CrossEntropy.
	CrossEntropy16 func(a CE16) (sum float64, ok bool)

	// The 16-bit conversions of whole slices, on raw bits (package
	// internal/half defines the rounding): len(dst) == len(src) and no
	// overlap. They do not depend on T; both tables hold the same ones.
	BF16ToF32 func(dst []float32, src []uint16)
	F32ToBF16 func(dst []uint16, src []float32)
	F16ToF32  func(dst []float32, src []uint16)
	F32ToF16  func(dst []uint16, src []float32)
}

// StreamMinBytes: SIMD backends write an output of at least this many bytes
// (one call's whole output) with non-temporal stores, which bypass the
// caches: such an output does not stay cached for its reader anyway, and
// streaming it saves the read for ownership and keeps the inputs the first
// pass read in cache. Smaller outputs use ordinary stores and stay in L2/L3
// for the caller. A variable only so that tests can take the streamed paths
// at guard-page sizes (see docs/benchmarks.md for the measurement).
var StreamMinBytes = 16 << 20

// ExactSoftplus reports whether a Softplus call is the exact log(1+eˣ):
// β = 1 and no threshold.
func (a Elementwise[T]) ExactSoftplus() bool {
	return a.Beta == 1 && math.IsInf(float64(a.Threshold), 1)
}
