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
// # Semantics against PyTorch 1.13
//
//	what                                   PyTorch                         lossfuse
//	CE weighted mean                       Σ w[y]·l / Σ w[y]               same
//	CE label smoothing with weights        each class its own w[c]         same
//	CE ignore_index default                −100                            same (zero value of Ignore)
//	CE mean, every target ignored          NaN (gradient 0)                NaN by default; EmptyMeanZero gives 0
//	CE mean, all class weights 0           NaN loss and gradient           same (EmptyMeanZero: 0 and 0)
//	CE prob targets, weighted mean         divides by N, not Σ w           same (the integer path divides by Σ w[y])
//	CE prob targets, ignore_index          rejected                        not used
//	z-loss, soft-capping, row LSE          —                               options of the same kernel
//	BCE-with-logits mean with weights      divides by element count        same
//	BCE-with-logits x = −inf, y = 0        NaN                             0 (the mathematical value)
//	BCE-with-logits float32 |x| ≳ 17       exactly 0                       ≈ e^−|x| (correct)
//	BCE on probabilities                   log clamped at −100, 1e-12      same; Clip > 0 gives the article's ε-clip
//	sigmoid focal, γ < 1, saturated        NaN gradient (autograd)         finite closed-form gradient
//	sigmoid focal soft targets             supported                       same formula, direct form
//	softplus                               threshold 20 returns x          exact log(1+eˣ) everywhere
//	smooth_l1 β = 0                        L1 (gradient −1 at d = 0)       rejected: use L1 (gradient 0 at d = 0)
//	negative weights                       accepted                        ErrWeight
//	CE prob targets, −inf logit, t = 0     NaN (0·−inf)                    finite (the term is 0)
//	CE of a saturated row, e.g. [40,0,0,0] exactly 0                       ≈ 1.3e-17 (log1p/expm1 forms)
//	row holding +Inf or NaN                NaN loss and gradient           same; its RowLSE is +Inf / NaN
//	l1_loss gradient at a NaN prediction   0                               NaN
//	BCE gradient guard in float64          float32(1e-12) ≈ 9.99999996e-13 1e-12
//	BCE with Clip (article's ε-clip)       —                               clips p and 1−p, so p = 1 gives −log ε exactly
//	signed zeros                           −0.0 in places                  not specified: compare zeros without sign
//
// Scalar options (LabelSmoothing, ZLoss, SoftCap, Clip, Alpha, Gamma, the
// gradient scale 1/normaliser) are rounded to the element type once, as a
// float32 PyTorch computation would use them: in float32, ε = 0.999 carries
// float32's rounding, and a mean over weights summing below about 3e-39
// scales the gradient by +Inf.
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
// LOSSFUSE_MAX_ISA caps the choice (generic, avx2, avx512); Backend reports
// it and UseBackend switches it for tests and benchmarks.
package kernels
