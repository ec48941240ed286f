// Package kernels is lossfuse's public API: fused loss kernels that compute a
// loss and its gradient in one call, for float32 and float64, over plain
// row-major slices.
//
// # Calling convention
//
// Every loss takes its inputs, a shape (N rows of K classes, or a flat
// length), an optional gradient buffer and an options pointer (nil means
// PyTorch's defaults), and returns the reduced loss and an error:
//
//	loss, err := kernels.CrossEntropy(logits, targets, n, k, grad, nil)
//
// When grad is non-nil it receives the gradient of the returned loss with
// respect to the first input (logits, or predictions). It may be that input
// itself (an in-place gradient: no second N×K buffer for large
// vocabularies); any other overlap between buffers is an error. With
// Reduction None the per-row (or per-element) losses go to the options'
// RowLoss (or Loss) buffer, the returned value is their sum and the gradient
// is the sum's gradient, as PyTorch's backward with an upstream gradient of
// ones.
//
// Every call validates everything before it writes anything: on error no
// output has been touched. Errors wrap ErrShape, ErrLength, ErrTarget,
// ErrWeight, ErrOption or ErrOverlap (test with errors.Is). No call
// allocates on the heap.
//
// # Formulas
//
// Softmax cross-entropy, integer targets (CrossEntropy), row i with target
// y not ignored, z the (optionally soft-capped, z = c·tanh(x/c)) logits,
// lse = log Σ_c exp(z_c), ε the label smoothing and ζ the z-loss:
//
//	l_i = (1−ε)·w[y]·(lse − z_y) + (ε/K)·Σ_c w[c]·(lse − z_c) + ζ·w[y]·lse²
//	mean = Σ_i l_i / Σ_i w[y_i]          (over non-ignored rows)
//	∂l_i/∂z_j = ((1−ε)·w[y] + (ε/K)·Σ_c w[c] + 2ζ·w[y]·lse)·p_j − (1−ε)·w[y]·δ_jy − (ε/K)·w[j]
//
// Probability targets (CrossEntropyProbs), t' = (1−ε)·t + ε/K:
//
//	l_i = Σ_c w[c]·t'_c·(lse − z_c) + ζ·lse²,   mean = Σ_i l_i / N
//
// Softmax focal (SoftmaxFocal), p = softmax(x)_y, q = 1 − p:
//
//	l_i = −α[y]·q^γ·log p,   ∂l_i/∂x_j = α[y]·q^γ·(1 − γ·p·log p / q)·(p_j − δ_jy)
//
// Sigmoid BCE on logits (BCEWithLogits), with pos_weight pw broadcast over
// the last dimension and the asymmetric weights fn, fp (1 by default):
//
//	l = w·(pw·fn·y·softplus(−x) + fp·(1−y)·softplus(x))
//	∂l/∂x = w·((pw·fn·y + fp·(1−y))·σ(x) − pw·fn·y)
//
// Sigmoid focal (SigmoidFocal), hard labels, z = (1−2y)·x:
//
//	l = α_t·softplus(z)·exp(−γ·softplus(−z))
//	∂l/∂x = (1−2y)·α_t·exp(−γ·softplus(−z))·(σ(z) + γ·σ(−z)·softplus(z))
//
// Regression, d = prediction − target: MSE d², L1 |d|, Huber
// ½d² (|d| < δ) else δ(|d| − ½δ), SmoothL1 ½d²/β (|d| < β) else |d| − ½β;
// the weighted mean is Σ w·e / Σ w.
//
// On log-probabilities x: NLL, l_i = −w[y]·x[i, y] (mean over Σ w[y_i]), and
// KLDiv against probabilities p (or log-probabilities t, p = e^t):
//
//	l = p·(log p − x)   (0 where p = 0),   ∂l/∂x = −p
//	mean = Σ l / (N·K) (PyTorch's "mean"),   BatchMean = Σ l / N
//
// Distill, student logits s and teacher logits t at temperature T,
// z = s·τ, v = t·τ (τ = 1/T), P = softmax(v), Q = softmax(z), λ = T² with
// ScaleT2 (else 1), over the rows not ignored:
//
//	l_i = λ·Σ_j P_j·(log P_j − log Q_j),   ∂l_i/∂s_j = λ·τ·(Q_j − P_j)
//
// and, with Divergence ReverseKL or JSD (M = β·P + (1−β)·Q),
//
//	l_i = λ·Σ_j Q_j·(log Q_j − log P_j),   ∂l_i/∂s_j = λ·τ·Q_j·((z_j − v_j) − Σ_k Q_k·(z_k − v_k))
//	l_i = λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)),   ∂l_i/∂s_j = λ·τ·(1−β)·Q_j·(log(Q_j/M_j) − KL(Q‖M))
//
// The primitives' backward passes take dy and what PyTorch saves:
//
//	SoftmaxBackward     dx = y·(dy − Σ_row y·dy),   y = softmax(x)
//	LogSoftmaxBackward  dx = dy − e^y·Σ_row dy,      y = log_softmax(x)
//	LogSumExpBackward   dx = dy_i·e^(x − lse_i)
//	SigmoidBackward     dx = dy·y·(1 − y),          y = σ(x)
//	LogSigmoidBackward  dx = dy·σ(−x)
//	SoftplusBetaBackward dx = dy·σ(βx), dy where βx > threshold
//
// # Weights and the mean's denominator
//
// "Weight" is what PyTorch calls weight in each family, so its shape and
// the mean's denominator differ between families, as they do in PyTorch:
//
//	family                      weight option                       mean divides by
//	CrossEntropy                Weight, per class [K]               Σ_i w[y_i] over non-ignored rows
//	CrossEntropyProbs           Weight, per class [K]               N
//	SoftmaxFocal                Alpha, per class [K]                non-ignored rows
//	BCEWithLogits, BCE,         Weight per element [N·K], or        N·K, weighted or not
//	  SigmoidFocal, FocalProbs    ClassWeight [K] or RowWeight [N]
//	                              (PyTorch's broadcasts; one at most)
//	MSE, L1, Huber, SmoothL1    Weight, per element                 Σ w (the count without weights)
//
// The cross-entropy family's Normalizer replaces its denominator (for
// shards of one batch); EmptyMean decides a mean over nothing. Calls take
// a shape (n, k) where the loss depends on rows (softmax over a row,
// weights broadcast along one); the regression losses and the element-wise
// primitives are shape-agnostic, as in PyTorch, and take flat slices.
//
// # Semantics against PyTorch 1.13
//
// Each row names a behaviour, what PyTorch 1.13 (torchvision 0.14 for the
// sigmoid focal loss) does and what lossfuse does. The first column is "="
// where lossfuse does the same, "+" for lossfuse-only options (PyTorch has
// none to compare), and otherwise the tag of a deviation. Every deviation
// has evidence that fails when it stops being true: golden entries
// (testdata/golden, written by tools/golden/gen.py from PyTorch) whose "dev"
// reason starts with [tag] and records PyTorch's value next to the one
// lossfuse must return, or a test in deviations_test.go with that tag.
// TestDeviationTable checks that every tagged row has evidence and that all
// evidence has a row. Any other difference from PyTorch is a defect.
// Continuation lines are indented.
//
//	tag          what                                 PyTorch                                lossfuse
//	=            CE weighted mean                     Σ w[y]·l / Σ w[y]                      same
//	=            CE label smoothing with weights      each class its own w[c]                same
//	=            CE ignore_index default              −100                                   same (zero value of Ignore)
//	=            CE target outside [0, K) and not     error                                  same (ErrTarget)
//	               ignored
//	=            CE mean, every target ignored        NaN loss, gradient 0                   same (EmptyMeanZero gives 0 and 0)
//	=            CE mean, the counted rows' class     NaN loss; gradient NaN on counted      same (EmptyMeanZero gives 0 and 0)
//	               weights all 0 (with or without     rows, 0 on ignored rows
//	               label smoothing)
//	=            CE prob targets, weighted mean       divides by N, not Σ w                  same (the integer path divides by Σ w[y])
//	=            counted row holding +Inf or NaN      NaN loss and gradient                  same; its RowLSE is +Inf / NaN
//	=            BCE-with-logits mean with weights    divides by element count               same
//	=            BCE on probabilities                 each log clamped at −100               same (Clip > 0: the article's ε-clip)
//	=            BCE probability outside [0, 1]       error                                  same (ErrTarget)
//	=            sigmoid focal soft targets           supported                              same formula, direct form
//	+            z-loss, soft-capping, RowLSE,        —                                      options of the same kernels
//	               Normalizer, EmptyMeanZero, Clip,
//	               Asymmetric, regression weights,
//	               SoftmaxFocal, FocalProbs
//	ign-nonfin   CE ignored row holding NaN or ±Inf   NaN gradient on that row               gradient 0, as on every ignored row
//	ce-inf-w0    CE label smoothing, −Inf logit in    NaN (0·∞)                              that term is 0: the row is finite, or
//	               a class whose weight is 0                                                   +Inf where a weighted class has −Inf
//	probs-inf    CE prob targets, −Inf logit where    NaN (0·∞)                              that term is 0: the row is finite, or
//	               the target mass t'·w is 0                                                   +Inf where positive mass meets −Inf
//	kl-zero      KLDiv, a zero target (p = 0, log     NaN (0·∞: xlogy(0, 0) − 0·x, or        0 (NaN where the input is NaN); the
//	               target −Inf) beside input ±Inf     e^t·(t − x) with e^t = 0), and so        reduced loss adds up the other
//	               (log_target: beside any input);    the reduced loss                         terms; beside x = ±Inf, a finite
//	               a finite log target whose e^t                                               log target whose e^t underflows
//	               underflows (t ≲ −104 in float32,                                            gives ∓Inf (the limit)
//	               −745 in float64), beside ±Inf;
//	               Distill: a teacher −Inf (P = 0)                                             Distill: that term is 0, or +Inf
//	               beside any student value, or a                                              where a teacher's P > 0 meets a
//	               P that underflows beside student                                            student −Inf
//	               −Inf; ReverseKL: a student −Inf                                             ReverseKL: the mirror (0, or +Inf
//	               (Q = 0), or a Q that underflows                                             where Q > 0 meets a teacher −Inf,
//	               beside a teacher −Inf; JSD: any                                             whose gradient is NaN: PyTorch's is
//	               −Inf logit; and their gradients                                             −Inf and NaN); JSD: that term is 0
//	probs-ignore CE prob targets with ignore_index    error                                  Ignore is not used (no error)
//	ce-sat       saturated softmax row, e.g. CE of    exactly 0 (nearer saturation: few      generic: ≈ 1.3e-17 (log1p/expm1 forms);
//	               [40, 0, 0, 0] or its LogSoftmax    correct digits, e.g. float32 CE of       avx2/avx512/neon: 0 or few digits,
//	                                                  [17, 0, 1, 2] 3.7% high)                 as PyTorch
//	smoothing    label_smoothing < 0 or NaN           taken as 0                             ErrOption
//	weight       weights negative, NaN or ±Inf        accepted (NaN/Inf propagate)           ErrWeight
//	               (class weight, element weight,
//	               pos_weight)
//	target       binary targets outside [0, 1],       accepted (the formula extended)        ErrTarget
//	               ±Inf included (BCEWithLogits,
//	               BCE, SigmoidFocal)
//	probs-range  CE probability targets outside       accepted (the formula extended;        ErrTarget
//	               [0, 1], ±Inf included              ±Inf targets give ±Inf or NaN)
//	bcel-inf     BCE-with-logits at x = ±Inf          NaN for every target (0·∞ where        the limit: 0 where the infinite term's
//	                                                  the infinite term's factor is 0)         factor (pw·y or 1−y) is 0, else +Inf;
//	                                                                                           weight 0 there: NaN, as PyTorch
//	bcel-sat     BCE-with-logits, saturated: |x| ≳    exactly 0 loss (and float32            ≈ e^−|x| (correct)
//	               17 in float32, ≳ 37 in float64     gradient); below that, few correct
//	                                                  digits
//	bce-nan      BCE probability NaN                  error ("all elements of input          NaN loss and gradient
//	                                                  should be between 0 and 1")
//	bce-log1p    BCE, log(1−p) at small p             log(1 − p): 0 below p = 2⁻²⁴ in        log1p(−p) (correct)
//	                                                  float32, 1e-8 relative error at
//	                                                  p = 1e-8 in float64
//	bce-guard    BCE gradient guard in float64        float32(1e-12) ≈ 9.99999996e-13        1e-12
//	focal-inf    sigmoid focal at x = ±Inf            NaN loss and gradient                  the limits (0 or +Inf; finite gradient)
//	focal-nan    sigmoid focal gradient at a          NaN (autograd of (1−p_t)^γ, γ < 1;     finite closed-form gradient
//	               saturated finite x                 float32 overflow near ±3e38)
//	focal-sat    sigmoid focal saturation             exactly 0 loss or gradient, or few     the tiny true value
//	                                                  correct digits
//	focal-opt    sigmoid focal α > 1 or NaN, γ < 0,   accepted                               ErrOption
//	               NaN or +Inf
//	softplus     softplus, its backward               threshold 20 returns x; with a         Softplus: exact log(1+eˣ) everywhere;
//	               (SoftplusBeta, SoftplusBackward)   threshold above βx ≈ 88.7 (float32),   SoftplusBeta: the threshold as PyTorch,
//	                                                  709.8 (float64): log1p(exp(βx))        below it the exact value; gradient
//	                                                  +Inf, gradient dy·z/(z+1) NaN (or      dy·σ(βx) (dy = ±Inf: ±Inf)
//	                                                  ±Inf where dy·z overflows); float32
//	                                                  dy = ±Inf where exp(βx) underflows:
//	                                                  NaN
//	l1-nan       L1 gradient where pred − target is   0 (sign(NaN) = 0)                      NaN
//	               NaN (a NaN on either side, ∞ − ∞)
//	sl1-beta0    smooth_l1 β = 0                      L1 (gradient −1 at d = 0)              Beta 0 is the default β = 1: use L1
//	                                                                                         (gradient 0 at d = 0)
//	reg-inf      Huber δ = +Inf, smooth_l1 β = +Inf   ½d² (Huber), 0 (smooth_l1)             ErrOption
//	f32-overflow float32 intermediates overflowing    +Inf or NaN: CE with smoothing at      generic: the finite value (float64
//	               near 3.4e38                        logits ≈ 3e38, BCE-with-logits at        inside); avx2/avx512/neon may
//	                                                  x ≈ −3e38 with pos_weight, MSE           overflow as PyTorch does
//	                                                  gradient where x − y overflows
//	empty        no rows or no classes (N = 0,        mean NaN, sum 0; softmax of N = 0      ErrShape (element-wise primitives
//	               K = 0), no elements                rows []; logsumexp over K = 0: −Inf      accept empty slices)
//	zero-sign    signed zeros                         −0.0 in places                         +0.0 in places: compare zeros without sign
//
// Scalar options (LabelSmoothing, ZLoss, SoftCap, Clip, Alpha, Gamma, the
// gradient scale 1/normaliser) are rounded to the element type once, as a
// float32 PyTorch computation would use them: in float32, ε = 0.999 carries
// float32's rounding, and a mean over weights summing below about 3e-39
// scales the gradient by +Inf.
//
// # 16-bit floats
//
// BF16 (bfloat16) and F16 (IEEE binary16) are named uint16 types holding
// the raw bits; Go code that keeps tensors as []uint16 converts them with
// unsafe.Slice. BF16FromFloat32 and F16FromFloat32 round to nearest, ties
// to even: a NaN stays a NaN of its sign, made quiet, with the top of its
// payload; ±Inf stay ±Inf; finite values past the format round to ±Inf by
// IEEE's rule (binary16 from 65520 = 65504 + ½ulp up); results below the
// normal range are correctly rounded subnormals (bfloat16's are float32's,
// rounded to 7 bits). The Float32 methods are exact (a binary16 NaN comes
// out quiet, as the hardware conversions give it). BF16ToFloat32,
// Float32ToBF16, F16ToFloat32 and Float32ToF16 convert whole slices with
// the same results, vectorised on every backend and allocation-free; dst
// and src must have the same length (else ErrLength) and must not share
// memory (else ErrOverlap), and dst is untouched on error.
//
// # Accuracy
//
// Every backend must meet the accuracy contract documented in package
// github.com/lossfuse/lossfuse/reference, whose float64 implementation is the
// oracle for tests, fuzzing and the benchmark report.
//
// # Backends
//
// The implementation is chosen once, at initialisation, from the CPU's
// features: "avx512" or "avx2" on amd64, "neon" on arm64, "generic" (pure Go)
// everywhere else and under the purego build tag. The environment variable
// LOSSFUSE_MAX_ISA caps the choice (generic, avx2, avx512, neon; any case).
// A value that names no backend of the build is not ignored: every call
// returns ErrBackend naming the variable until it is fixed. Backend reports
// the choice and UseBackend switches it for tests and benchmarks.
//
// # Concurrency
//
// Every function is safe for concurrent use by any number of goroutines:
// calls share no mutable state (the scratch rows of long cross-entropy rows
// come from a sync.Pool, one per call in flight), and concurrent calls give
// bit-for-bit what each would alone (TestConcurrentCallers, run under the
// race detector). UseBackend is the exception: it swaps the backend of every
// later call and must not run while kernels run on other goroutines.
//
// # Multi-core
//
// A call runs on its caller's goroutine unless its options name a Runner:
//
//	r := kernels.NewRunner(0) // GOMAXPROCS goroutines per call
//	defer r.Close()
//	opts := kernels.CrossEntropyOptions[float32]{Runner: r}
//
// A Runner cuts a call of at least ParallelMinElems elements into blocks of
// rows fixed by the shape alone and adds the blocks' losses in block order,
// so results are bit-identical for every number of goroutines (and the
// gradient is the one a call without a Runner writes). Concurrent calls may
// share one Runner; each takes only the workers idle at the time and works
// on its own blocks itself.
//
// # Vocabulary shards
//
// CrossEntropy's semantics (class weights, ignore index, label smoothing,
// z-loss, soft-capping, reductions, RowLoss, RowLSE) over logits whose
// classes are split into shards that never meet: across ranks that each
// hold a slice of a language model's output layer, or a chunk at a time
// so that the N×V logits never exist at once. Per shard of classes [Lo, Hi):
//
//	kernels.CrossEntropyShard(logits, targets, n, sh, st, o) // pass 1: per-row stats
//	all.Combine(st)                                          // or Rebase + all-reduce (ShardStats)
//	loss, _ := kernels.CrossEntropyShardLoss(all, targets, n, v, o)
//	kernels.CrossEntropyShardGrad(logits, targets, n, sh, all, grad, o) // pass 2, in place allowed
//
// The stats of a row are its maximum, Σ exp(z − max), the target's logit
// and the smoothing sums: combining them costs a max and a sum of a few
// numbers per row, whatever V is. Any cut of the classes and any grouping
// of the combines gives the single call's loss and gradient within the
// accuracy contract; a fixed cut and order give bit-identical results, on
// any Runner. The options must be the same in every call (Weight has length
// V). Cut a large call into blocks of rows with ShardStats.Rows so that a
// block of every shard stays in cache between its passes.
package kernels
