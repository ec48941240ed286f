// Package reference is lossfuse's oracle: a plain float64 implementation
// of every operation in package kernels, written for clarity and
// independently of the kernels, and the accuracy contract that every
// backend (generic, avx2, avx512, neon) must meet against it. The kernel
// tests, the differential fuzzer and the benchmark report's accuracy column
// all enforce the contract through Check and Budget.
//
// # Use
//
// Each function takes the same arguments as its kernel, without the
// gradient buffer (the options struct is the kernel's own; its output
// buffers are only length-checked), and returns a *Result holding the
// loss, the per-row or per-element losses, the per-row log-sum-exp and the
// gradient (or a primitive's output), each with its tolerance under the
// contract; or the error class the call must fail with (it checks every
// rule but buffer overlap, which it cannot see).
//
//	ref, err := reference.CrossEntropy(logits, targets, n, k, &opts)
//	loss, err := kernels.CrossEntropy(logits, targets, n, k, grad, &opts)
//	err = reference.Check(ref, reference.Got[float32]{CheckLoss: true, Loss: loss, Grad: grad, Items: opts.RowLoss})
//
// Budget reports the largest fraction of its tolerance any value used.
//
// The reference widens the T inputs to float64 exactly, so the contract
// measures only a backend's own arithmetic. It computes with math.Exp,
// math.Log, math.Log1p and compensated (Neumaier) sums; a row's log-sum-exp
// takes the maximum m first and then m + log Σ exp(z_j − m), and
// log-probabilities are formed as (z_j − m) − log Σ. Its edge semantics
// (NaN, ±Inf, zero coefficients, ignored rows) are documented on each
// function; they follow PyTorch except where PyTorch's answer is NaN or
// wrong for an input whose mathematical value is finite.
//
// # The accuracy contract
//
// Let u be the unit roundoff of the element type T (2⁻²⁴ for float32,
// 2⁻⁵³ for float64), η the smallest normal T, c = Slack = 32 and
// P = InputSlack = 16. For every value v that a backend returns or writes,
// with reference value r and tolerance τ (below):
//
//  1. Non-finite values are exact. v is NaN exactly where r is NaN and ±Inf
//     exactly where r is the same infinity, except that v may be ±Inf (of
//     r's sign) where |r| + τ exceeds the largest finite T. Zeros compare
//     without regard to sign.
//  2. Otherwise |v − r| ≤ τ + c·η (so results far below η may be flushed to
//     zero; this holds for losses as for gradients, and a bound τ that
//     underflows to 0 does not ask for an exact value, since a loss of
//     5e-324 is not representable in float32), except where τ = 0 by
//     design: an ignored row's loss and gradient are exactly
//     0 (τ = 0), as are the loss and gradient of a mean over a zero
//     denominator under EmptyMeanZero (0 times the data: NaN data stays
//     NaN). Under EmptyMeanNaN a zero denominator scales the gradient by
//     +Inf: each element must then be non-finite exactly where r is (NaN
//     and ±Inf not told apart), and 0 where r is 0. The loss is then the
//     sum over 0, which is ±Inf or NaN according to whether a sum that is
//     within its tolerance of 0 rounded to 0: it must be non-finite, but
//     NaN and ±Inf are not told apart.
//  3. A value one of whose terms (before weighting and reduction) exceeds
//     the largest finite T is unconstrained (τ = +Inf): a backend working
//     in T cannot form it, and may return ±Inf, or NaN after 0·∞. The
//     loss over such an item is unconstrained too. A backend may add up
//     to BlockT = 64 items of a reduced loss in T before moving the
//     partial sum to float64 (avx2 and avx512 add 16 per lane), so where
//     BlockT items of one sign have magnitudes that add up past the
//     largest finite T, the reduced loss may also be the infinity of
//     their sign, even under a mean that would bring it back into range.
//
// The tolerances bound the error, in the worst case, of any sensible
// evaluation in T whose elementary functions (exp, log, log1p, tanh, pow)
// are accurate to 4 ULP (8u): each rounding is charged relative to the
// magnitudes of the terms it acts on, never to the (possibly cancelled)
// result. For a row of K (soft-capped) logits z with maximum m and
// log-sum-exp lse:
//
//	τ_lse  = u·(c·(|m| + |lse| + 1) + S_T(K)),   S_32(K) = min(K, B),   S_64(K) = K
//
// since m and lse are rounded and Σ exp(z_j − m) adds K positive terms,
// with a relative error of at most S_T(K)·u, which the log turns into an
// absolute one. S_T(K) is the summation the backends really do. In
// float32 a row's exponentials are added in vector lanes of float32 partial
// sums, each moved into a float64 accumulator after at most B =
// SumBlock32 = 16 terms (avx2 and avx512 flush every 16 vectors; generic
// and neon add float32 exponentials in float64 directly). Recursive
// summation of n positive terms loses at most (n − 1)·u relative (to first
// order), so a partial sum of at most B terms loses (B − 1)·u; adding the
// partial sums in float64 and the lanes in a float64 tree loses at most
// (⌈K/(16·L)⌉ + log₂ 2L)·2⁻⁵³ (below 2⁻³⁶ for any K below 2³¹), and the
// total rounded once to float32 0.5u: together less than B·u, whatever K.
// A row of at most 16 terms may be summed in one float32 accumulator
// (K − 1). Hence S_32(K) = min(K, B) = min(K, 16). In float64, a sum over
// L_64 = SumLanes64 partial sums of ⌈K/L⌉ terms each, then added in a
// tree, loses at most (⌈K/L⌉ − 1 + log₂ L)·u; L = 1 (generic adds a
// row's exponentials one by one), so S_64(K) = K. This bounds RowLSE and
// LogSumExp; LogSoftmax adds
// c·u·(|z_j| + |z_j − m| + |log p_j|) and Softmax allows p_j a relative
// error of e^ρ_j − 1, where ρ_j = τ_lse + c·u·(1 + |z_j| + |z_j − m|).
//
// A cross-entropy row's loss is Σ_j c_j·(lse − z_j) + ζ·w_y·lse², where c_j
// is the (weighted) target mass on class j: (1−ε)·w[y] on the target, and
// the smoothing or probability part s_j on every class. Then
//
//	τ_row = c·u·(1−ε)·w[y]·(|lse| + |z_y|)
//	      + (c + K)·u·Σ_j |s_j|·(|lse| + |z_j| + |m|)
//	      + (Σ_j |c_j| + 2ζ·w_y·|lse|)·τ_lse + c·u·ζ·w_y·lse²
//
// (the smoothing sum over K classes may be accumulated in T, relative to 0
// or to m). A softmax focal row knows ℓ = log p_y to δ = τ_lse +
// c·u·(|z_y| + |m| + |ℓ|) and may be off by α_y·max over ℓ' = ℓ ± δ of
// |q'^γ·ℓ' − q^γ·ℓ|, plus c·u·|l|; but it is never negative, whatever
// the bound (ℓ ≤ 0 and q^γ ≥ 0: a δ wider than |ℓ| must not admit a
// wrong-signed loss, as log p_y > 0 formed in float32 once gave for a
// confident prediction). The gradient element
// g_j = s·χ_j·(P·p_j − c_j), with s the reduction's scale, χ_j the
// soft-cap factor sech²(x_j/cap) and P the row's softmax coefficient
// (bounded in turn by τ_P: 2ζ·w_y·τ_lse + c·u·|P|, or the focal factor's
// spread over ℓ ± δ), allows
//
//	τ_j = |s|·( χ_j·(|P|·p_j·(e^ρ_j − 1) + p_j·τ_P + c·u·(|P|·p_j + |c_j|))
//	          + [cap > 0]·c·u·|P·p_j − c_j| )  +  c·η·max(1, |s|·(|P| + |c_j|))
//
// so a gradient element is accurate relative to the terms it is formed
// from, and elements far below η may be flushed to zero. A target mass
// 0 < |c_j| < η (a tiny class weight times ε/K) adds c·2u·η·|s|·χ_j: c_j
// may be formed in T before the scale, keeping 2u·η absolute.
//
// An element-wise value f(a) (binary losses, regression, Sigmoid,
// LogSigmoid, Softplus) formed from terms t_i, with weight w, allows
//
//	τ = |w|·( c·u·(1+γ)·Σ|t_i| + max over a' = a·(1 ± P·u) of |f(a') − f(a)| + c·η )
//
// (w times the reduction's scale for a gradient, plus c·η; the c·η inside
// is rule 2's floor for the unweighted value, which a backend forms in T
// before weighting it: a loss of 1e-300 times a weight of 1e200 may keep
// only the digits of the subnormal it passed through), where γ is the focal exponent (0 otherwise)
// and a is the argument whose rounding the result is most sensitive to:
// the logit x, the residual d = pred − target, p_t for focal loss on
// probabilities, and p itself within P·u of a clip boundary. The second
// term charges exp's range reduction (about |x|·u with a one-constant
// ln 2) and branch boundaries. The terms are those of the stable forms
// documented on each function: BCE-with-logits' loss is relative to
// pw·fn·y·softplus(−x) and fp·(1−y)·softplus(x), so a backend that returns
// 0 where the loss is e^−|x| fails; its gradient is relative to
// (pw·fn·y + fp·(1−y))·σ(x) and pw·fn·y, which allows PyTorch's form.
//
// The returned loss, over M items (rows or elements) with tolerances τ_i,
// allows
//
//	τ_L = (Σ_i τ_i + (u·min(M, 64) + 2⁻⁵³·M)·Σ_i |l_i|) / |norm| + c·u·|L|
//
// that is, items are accumulated in float64 (the backend interface returns
// a float64 sum), possibly after adding up to 64 of them in T, and the
// result is rounded to T.
//
// # Why these constants
//
// c = 32 covers a 4-ULP exp or log (8u) composed with a few roundings; a
// backend using less accurate approximations must show, by the tests and
// the fuzzer, that it still meets the bounds. The S_T(K) term of τ_lse is
// the worst case of a partial sum in T, which really occurs: a large exp(0)
// followed in its partial sum by many terms each below half an ULP of it
// loses them all. In float32 that partial sum holds at most B = 16 terms,
// and the amd64 kernels really lose more than half of S_32(K)·u on rows
// with exp(0) at the head of every block of 16 vectors
// (TestLaneSumWorstCase); TestContractAdmitsPlainFloat32 models the same
// two-level sum. A backend that adds more than SumBlock32 float32
// exponentials in one float32 partial sum must change the contract first.
// The bounds are strict enough to catch the usual kernel bugs: at K = 49 in float32 a
// dropped or doubled class changes the loss by ~1/K against a tolerance of
// ~100u·(|m| + 1), and at K = 4099 a kernel that drops a row's last class
// fails on rows of standard normal logits (TestDroppedClassLongRows),
// and so it does in float32 at K = 32000 and 50257 (S_32 = 16 against
// p_last ≈ 1/K ≈ 300–500u). At K = 128256 it does not in float32: 1/K
// ≈ 131u there, and the c·u·(|m| + |lse| + 1) ≈ 580u that the roundings
// of m and lse are charged already exceeds the largest p_last of the test's
// rows (docs/deviations.md); in float64 it fails at every K.
package reference
