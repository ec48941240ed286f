//go:build arm64 && !purego

package arm64

import (
	"math"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/lossfuse/lossfuse/kernels/generic"
	"github.com/lossfuse/lossfuse/kernels/internal/args"
)

// Supported reports whether the CPU has Advanced SIMD (every ARMv8-A core
// does; checked all the same).
func Supported() bool { return cpu.ARM64.HasASIMD }

// F32 returns the NEON float32 table. Kernels not vectorised yet are the
// generic ones (see the README section in docs/arm64.md).
func F32() *args.Impl[float32] { return table[float32]() }

// F64 returns the NEON float64 table.
func F64() *args.Impl[float64] { return table[float64]() }

func table[T args.Float]() *args.Impl[T] {
	t := generic.Impl[T]()
	t.CrossEntropy = crossEntropy[T]
	t.Softmax = softmax[T]
	t.LogSoftmax = logSoftmax[T]
	t.LogSumExp = logSumExp[T]
	t.RowStats = rowStats[T]
	t.RowExp = rowExp[T]
	t.Softplus = softplus[T]
	t.SigmoidBackward = sigmoidBackward[T]
	t.LogSigmoidBackward = logSigmoidBackward[T]
	t.SoftplusBackward = softplusBackward[T]
	t.SoftmaxBackward = softmaxBackward[T]
	t.LogSoftmaxBackward = logSoftmaxBackward[T]
	t.LogSumExpBackward = logSumExpBackward[T]
	t.KLDiv = klDiv[T]
	t.Distill = distill[T]
	t.BF16ToF32, t.F32ToBF16 = bf16ToF32Slice, f32ToBF16Slice
	t.F16ToF32, t.F32ToF16 = f16ToF32Slice, f32ToF16Slice
	if is32[T]() { // the loss kernels below have float32 lanes only
		t.Sigmoid = unary[T]("neon/f32/sigmoid", sigmoidF32)
		t.LogSigmoid = unary[T]("neon/f32/logsigmoid", logSigmoidF32)
		t.Binary = binary[T]
		t.Regression = regression[T]
	} else {
		t.Sigmoid = unary64[T]("neon/f64/sigmoid", sigmoidF64)
		t.LogSigmoid = unary64[T]("neon/f64/logsigmoid", logSigmoidF64)
		t.Regression = regression64[T]
		t.Binary = binary64[T]
	}
	return t
}

// unary adapts a generated float32 element-wise kernel; T is float32.
// path names it for args.Took.
func unary[T args.Float](path string, k func(dst, x []float32)) func(args.Elementwise[T]) {
	return func(a args.Elementwise[T]) { args.Took(path); k(as32(a.Dst[:len(a.X)]), as32(a.X)) }
}

// unary64 adapts a generated float64 element-wise kernel; T is float64.
func unary64[T args.Float](path string, k func(dst, x []float64)) func(args.Elementwise[T]) {
	return func(a args.Elementwise[T]) { args.Took(path); k(as64(a.Dst[:len(a.X)]), as64(a.X)) }
}

// chunk is the number of elements the float32 binary kernel handles per
// call when some of its inputs or outputs must come from stack buffers
// (absent weights, positive weights, loss or gradient).
const chunk = 256

// binary vectorises BCE with logits (float32); sigmoid focal and the
// losses on probabilities have their own functions. Absent per-element weights and positive weights are
// read from a stack buffer of ones, absent outputs written to stack
// scratch, so nothing is allocated.
func binary[T args.Float](a args.Binary[T]) float64 {
	switch a.Kind {
	case args.SigmoidFocal:
		return sigmoidFocal(a)
	case args.BCEProb, args.FocalProb:
		return probLoss(a)
	case args.BCEWithLogits:
	default:
		return generic.Binary(a)
	}
	args.TookIf(a.PosWeight != nil, "neon/f32/bce-logits-pw", "neon/f32/bce-logits")
	var ones, gs, ls [chunk]float32
	for i := range ones {
		ones[i] = 1
	}
	x, y := as32(a.X), as32(a.Y)
	nk, k := len(x), a.K
	fn, fp, scale := float32(a.FNWeight), float32(a.FPWeight), float32(a.GradScale)
	var sum float64
	for start := 0; start < nk; {
		end := min(start+chunk, nk)
		if a.PosWeight != nil { // a chunk stays within one row
			end = min(end, (start/k+1)*k)
		}
		n := end - start
		pw, w, g, l := ones[:n], ones[:n], gs[:n], ls[:n]
		if a.PosWeight != nil {
			j := start % k
			pw = as32(a.PosWeight[j : j+n])
		}
		if a.Weight != nil {
			w = as32(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as32(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as32(a.Loss[start:end])
		}
		sum += bceLogitsF32(g, l, x[start:end], y[start:end], pw, w, fn, fp, scale)
		start = end
	}
	return sum
}

// The generated functions take []float32 or []float64; these helpers pick
// one by T's size and reinterpret the slice, which allocates nothing
// (converting a slice to an interface for a type switch could).

func is32[T args.Float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

func as32[T args.Float](x []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

func as64[T args.Float](x []T) []float64 {
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

func vmax[T args.Float](x []T) float64 {
	if is32[T]() {
		return float64(maxF32(as32(x)))
	}
	return maxF64(as64(x))
}

func vsumExp[T args.Float](x []T, m float64) float64 {
	if is32[T]() {
		return sumExpF32(as32(x), float32(m))
	}
	return sumExpF64(as64(x), m)
}

func vexpStoreSum[T args.Float](dst, x []T, m float64) float64 {
	if is32[T]() {
		return expStoreSumF32(as32(dst), as32(x), float32(m))
	}
	return expStoreSumF64(as64(dst), as64(x), m)
}

func vaffine[T args.Float](dst, x []T, a, b float64) {
	if is32[T]() {
		affineF32(as32(dst), as32(x), float32(a), float32(b))
	} else {
		affineF64(as64(dst), as64(x), a, b)
	}
}

func vsub2[T args.Float](dst, x []T, b, c float64) {
	if is32[T]() {
		sub2F32(as32(dst), as32(x), float32(b), float32(c))
	} else {
		sub2F64(as64(dst), as64(x), b, c)
	}
}

func vdotSub3[T args.Float](x, t, w []T, z float64) float64 {
	if is32[T]() {
		return dotSub3F32(as32(x), as32(t), as32(w), float32(z))
	}
	return dotSub3F64(as64(x), as64(t), as64(w), z)
}

func vaffineT[T args.Float](dst, e, t []T, a, b, c float64) {
	if is32[T]() {
		affineTF32(as32(dst), as32(e), as32(t), float32(a), float32(b), float32(c))
	} else {
		affineTF64(as64(dst), as64(e), as64(t), a, b, c)
	}
}

func vaffineWT[T args.Float](dst, e, t, w []T, a, b, c float64) {
	if is32[T]() {
		affineWTF32(as32(dst), as32(e), as32(t), as32(w), float32(a), float32(b), float32(c))
	} else {
		affineWTF64(as64(dst), as64(e), as64(t), as64(w), a, b, c)
	}
}

func vaffineW[T args.Float](dst, x, w []T, a, b float64) {
	if is32[T]() {
		affineWF32(as32(dst), as32(x), as32(w), float32(a), float32(b))
	} else {
		affineWF64(as64(dst), as64(x), as64(w), a, b)
	}
}

func vdotSub[T args.Float](x, w []T, z float64) float64 {
	if is32[T]() {
		return dotSubF32(as32(x), as32(w), float32(z))
	}
	return dotSubF64(as64(x), as64(w), z)
}

func vsumSub[T args.Float](x []T, z float64) float64 {
	if is32[T]() {
		return sumSubF32(as32(x), float32(z))
	}
	return sumSubF64(as64(x), z)
}

// finite reports whether a row maximum is an ordinary number. Rows whose
// maximum is ±Inf or NaN go to the generic kernel, whose online softmax
// gives them their exact IEEE meaning (e.g. one +Inf logit: lse = +Inf).
func finite(m float64) bool { return !math.IsInf(m, 0) && !math.IsNaN(m) }

// crossEntropy is generic.CrossEntropy for integer targets with class
// weights, ignore index, label smoothing, z-loss, per-row outputs and an
// in-place gradient, and for softmax focal loss (the same passes with other
// per-row coefficients). Soft-capping and probability targets use the
// generic kernel.
//
// Each row: pass 0 (label smoothing only) Σ w_j·(x_j − x_0) by dotSub;
// pass 1 the row maximum; pass 2 Σ exp(x − m) − 1 (see sumExpF32), storing
// exp(x − m) in the gradient when there is one; pass 3 rescales the stored exponentials into
// the gradient scale·(pc·p_j − (ε/K)·w_j), with the target element
// recomputed in float64 so that p_y − 1 does not cancel in float32.
func crossEntropy[T args.Float](a args.CE[T]) float64 {
	if a.Focal && (a.Probs != nil || a.SoftCap > 0) { // not reachable from the API
		return generic.CrossEntropy(a)
	}
	if a.Probs != nil {
		return ceProbs(a)
	}
	args.Took("neon/ce/rows")
	capv := float64(a.SoftCap)
	if capv > 0 {
		args.Took("neon/ce/capped")
	}
	k := a.K
	wsum := float64(k)
	if a.Weight != nil {
		wsum = 0
		for _, w := range a.Weight[:k] {
			wsum += float64(w)
		}
	}
	eps := float64(a.Smoothing)
	zl := float64(a.ZLoss)
	if a.Focal { // softmax focal loss has neither smoothing nor z-loss
		eps, zl = 0, 0
	}
	if eps != 0 {
		args.TookIf(a.Weight != nil, "neon/ce/smooth-w", "neon/ce/smooth")
	}
	scale := float64(a.GradScale)
	var total float64
	for i := 0; i < a.N; i++ {
		x := a.X[i*k : i*k+k]
		var grad []T
		if a.Grad != nil {
			grad = a.Grad[i*k : i*k+k]
		}
		y := a.Targets[i]
		ignored := a.HasIgnore && y == a.Ignore
		m := vmax(x)
		var c capRow[T]
		if capv > 0 {
			// The row's capped maximum is its maximum capped (by the same
			// vector tanh as every element); z goes into the gradient,
			// over which the usual passes then run.
			c = newCapRow[T](capv)
			m = c.one(m)
			if !ignored {
				c.zy = c.one(float64(x[y]))
			}
			if grad != nil {
				vcap(grad, x, capv)
				x = grad
			}
		}
		if !finite(m) {
			total += genericRow(a, i)
			continue
		}
		if ignored {
			if a.RowLSE != nil {
				a.RowLSE[i] = T(m + math.Log1p(c.sumExp(x, m, grad != nil)))
			}
			if a.RowLoss != nil {
				a.RowLoss[i] = 0
			}
			clear(grad)
			continue
		}
		// Read before the gradient may overwrite the logits. The smoothing
		// term Σ_c w_c·(lse − z_c) = W·(lse − m) + Σ_c w_c·(m − z_c) is a sum
		// of non-negative terms when taken from the maximum m: no cancellation.
		xy := float64(x[y])
		if capv > 0 {
			xy = c.zy
		}
		var wm float64 // Σ w_c·(z_c − m) ≤ 0
		if eps != 0 {
			var w []T
			if a.Weight != nil {
				w = a.Weight[:k]
			}
			if capv > 0 && grad == nil {
				wm = c.dotSub(x, w, m)
			} else if w != nil {
				wm = vdotSub(x, w, m)
			} else {
				wm = vsumSub(x, m)
			}
		}
		if grad != nil && !a.Focal {
			w := 1.0
			if a.Weight != nil {
				w = float64(a.Weight[y])
			}
			pc := func(lse float64) float64 {
				return (1-eps)*w + 2*zl*w*lse + eps/float64(k)*wsum
			}
			if wideFactor[T](scale, pc(m), pc(m+math.Log(float64(k)))) {
				total += genericRow(a, i)
				continue
			}
		}
		// r = Σ exp(x − m) − 1 keeps a saturated row's tiny sum, so that
		// lse − m = log1p(r) and the loss do not round to 0.
		var r float64
		switch {
		case capv > 0:
			r = c.sumExp(x, m, grad != nil)
		case grad != nil:
			r = vexpStoreSum(grad, x, m)
		default:
			r = vsumExp(x, m)
		}
		lr := math.Log1p(r)
		lse := m + lr
		wy := 1.0
		if a.Weight != nil {
			wy = float64(a.Weight[y])
		}
		// The gradient is scale·(pc·p_j − (ε/K)·w_j) − scale·wt at the target.
		var loss, pc, wt float64
		if a.Focal {
			loss, pc = focalRow((xy-m)-lr, wy, float64(a.FocalGamma))
			wt = pc // the one-hot coefficient equals the softmax one
		} else {
			loss = (1-eps)*wy*((m-xy)+lr) + zl*wy*lse*lse
			pc = (1-eps)*wy + 2*zl*wy*lse
			if eps != 0 {
				loss += eps / float64(k) * (wsum*lr - wm)
				pc += eps / float64(k) * wsum
			}
			wt = (1 - eps) * wy
		}
		if a.RowLoss != nil {
			a.RowLoss[i] = T(loss)
		}
		if a.RowLSE != nil {
			a.RowLSE[i] = T(lse)
		}
		total += loss
		if grad == nil {
			continue
		}
		b := scale * eps / float64(k) // the smoothing mass per unit weight
		switch {
		case capv > 0 && a.Weight != nil && eps != 0:
			vexpAffineWZ(grad, a.Weight[:k], m, scale*pc*math.Exp(-lr), b, 1/capv)
		case capv > 0:
			vexpAffineZ(grad, m, scale*pc*math.Exp(-lr), b, 1/capv)
		case a.Weight != nil && eps != 0:
			vaffineW(grad, grad, a.Weight[:k], scale*pc*math.Exp(-lr), b)
		default:
			vaffine(grad, grad, scale*pc*math.Exp(-lr), b)
		}
		cy := eps / float64(k)
		if a.Weight != nil {
			cy *= wy
		}
		// Where p_y > ½, pc·p_y − wt = pc·(p_y − 1) + (pc − wt) with p_y − 1
		// by expm1 (no cancellation as p_y → 1); below that the direct form
		// is the accurate one (pc − wt would cancel when wt ≪ pc).
		lpy := (xy - m) - lr
		gy := pc*math.Exp(lpy) - wt
		if lpy > -math.Ln2 && pc-pc == 0 { // not ∞·0 for an infinite pc
			gy = pc*math.Expm1(lpy) + (pc - wt)
		}
		gy = scale * (gy - cy)
		if capv > 0 { // d(cap·tanh(x/cap))/dx = 1 − (z/cap)², as expAffineZ
			t := c.zy / capv
			gy *= 1 - t*t
		}
		grad[y] = T(gy)
	}
	return total
}

// ceProbs is generic.CrossEntropy for probability targets t: class
// weights, label smoothing, z-loss, per-row outputs, in-place gradient.
// The target coefficients are c_j = w_j·((1−ε)·t_j + ε/K); the loss
// Σ_j c_j·(lse − z_j) + ζ·lse² is taken from the maximum m as
// tw·(lse − m) − Σ_j c_j·(z_j − m), whose sum has terms of one sign.
func ceProbs[T args.Float](a args.CE[T]) float64 {
	args.TookIf(a.Weight != nil, "neon/ce/probs-w", "neon/ce/probs")
	capv := float64(a.SoftCap)
	if capv > 0 {
		args.Took("neon/ce/capped")
	}
	k := a.K
	wsum := float64(k)
	if a.Weight != nil {
		wsum = 0
		for _, w := range a.Weight[:k] {
			wsum += float64(w)
		}
	}
	eps, zl, scale := float64(a.Smoothing), float64(a.ZLoss), float64(a.GradScale)
	var total float64
	for i := 0; i < a.N; i++ {
		x, t := a.X[i*k:i*k+k], a.Probs[i*k:i*k+k]
		var grad []T
		if a.Grad != nil {
			grad = a.Grad[i*k : i*k+k]
		}
		m := vmax(x)
		var c capRow[T]
		if capv > 0 { // as crossEntropy: z into the gradient
			c = newCapRow[T](capv)
			m = c.one(m)
			if grad != nil {
				vcap(grad, x, capv)
				x = grad
			}
		}
		if !finite(m) {
			total += genericRow(a, i)
			continue
		}
		// Σ w·t·(z − m), Σ w·(z − m) and Σ w·t, before an in-place gradient
		// overwrites the logits.
		var zt, zw, tt float64
		var w []T
		if a.Weight != nil {
			w = a.Weight[:k]
			tt = vdotSub(t, w, 0)
		} else {
			tt = vsumSub(t, 0)
		}
		switch {
		case capv > 0 && grad == nil:
			zt = c.dotSub3(x, t, w, m)
			if eps != 0 {
				zw = c.dotSub(x, w, m)
			}
		case w != nil:
			zt = vdotSub3(x, t, w, m)
			if eps != 0 {
				zw = vdotSub(x, w, m)
			}
		default:
			zt = vdotSub(x, t, m)
			if eps != 0 {
				zw = vsumSub(x, m)
			}
		}
		tw := (1-eps)*tt + eps/float64(k)*wsum
		wz := eps / float64(k) * zw
		if eps != 1 { // ε = 1 leaves the targets out: 0·(−Inf) would be NaN
			wz += (1 - eps) * zt
		}
		if grad != nil && wideFactor[T](scale, tw+2*zl*m, tw+2*zl*(m+math.Log(float64(k)))) {
			total += genericRow(a, i)
			continue
		}
		var r float64
		switch {
		case capv > 0:
			r = c.sumExp(x, m, grad != nil)
		case grad != nil:
			r = vexpStoreSum(grad, x, m)
		default:
			r = vsumExp(x, m)
		}
		lr := math.Log1p(r)
		lse := m + lr
		loss := tw*lr - wz + zl*lse*lse
		if a.RowLoss != nil {
			a.RowLoss[i] = T(loss)
		}
		if a.RowLSE != nil {
			a.RowLSE[i] = T(lse)
		}
		total += loss
		if grad == nil {
			continue
		}
		pc := tw + 2*zl*lse
		ca, cb, cc := scale*pc*math.Exp(-lr), scale*(1-eps), scale*eps/float64(k)
		switch {
		case capv > 0 && a.Weight != nil:
			vexpAffineWTZ(grad, t, a.Weight[:k], m, ca, cb, cc, 1/capv)
		case capv > 0:
			vexpAffineTZ(grad, t, m, ca, cb, cc, 1/capv)
		case a.Weight != nil:
			vaffineWT(grad, grad, t, a.Weight[:k], ca, cb, cc)
		default:
			vaffineT(grad, grad, t, ca, cb, cc)
		}
	}
	return total
}

// focalRow is softmax focal loss −w·q^γ·log p for one row, from
// log p = logp of the target, and the coefficient pc of its gradient
// pc·(softmax − onehot): pc = w·q^γ·(1 − γ·p·log p/q), q = 1 − p (by expm1;
// log p/q → −1 as q → 0, and p·log p/q → 0 as p → 0).
func focalRow(logp, w, gamma float64) (loss, pc float64) {
	p := math.Exp(logp)
	q := -math.Expm1(logp)
	r := -1.0
	if q != 0 {
		r = logp / q
	}
	pr := 0.0
	if p != 0 {
		pr = p * r
	}
	mod := math.Pow(q, gamma)
	return -w * mod * logp, w * mod * (1 - gamma*pr)
}

// genericRow runs the generic kernel on row i alone.
// wideFactor reports whether a float32 row's gradient factor scale·pc can
// be finite but beyond float32 (pc is affine in the lse, which lies in
// [m, m + log K]; pcLo and pcHi are its values there): the vector pass would
// form (+Inf)·p_j, +Inf or NaN at p_j = 0, where the elements with small p_j
// are finite. Such rows (a z-loss on logits near 1e36 under a mean's 1/N)
// take generic's float64 row kernel.
func wideFactor[T args.Float](scale, pcLo, pcHi float64) bool {
	c := scale * math.Max(math.Abs(pcLo), math.Abs(pcHi))
	return is32[T]() && c > math.MaxFloat32 && c-c == 0
}

func genericRow[T args.Float](a args.CE[T], i int) float64 {
	k := a.K
	r := a
	r.N = 1
	r.X = a.X[i*k : i*k+k]
	if a.Probs != nil {
		r.Probs = a.Probs[i*k : i*k+k]
	} else {
		r.Targets = a.Targets[i : i+1]
	}
	if a.Grad != nil {
		r.Grad = a.Grad[i*k : i*k+k]
	}
	if a.RowLoss != nil {
		r.RowLoss = a.RowLoss[i : i+1]
	}
	if a.RowLSE != nil {
		r.RowLSE = a.RowLSE[i : i+1]
	}
	return generic.CrossEntropy(r)
}

func genericRows[T args.Float](f func(args.Rows[T]), a args.Rows[T], i int, dst []T) {
	f(args.Rows[T]{X: a.X[i*a.K : i*a.K+a.K], N: 1, K: a.K, Dst: dst})
}

func softmax[T args.Float](a args.Rows[T]) {
	args.Took("neon/softmax")
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		m := vmax(x)
		if !finite(m) {
			genericRows(generic.Softmax[T], a, i, dst)
			continue
		}
		r := vexpStoreSum(dst, x, m)
		vaffine(dst, dst, math.Exp(-math.Log1p(r)), 0)
	}
}

func logSoftmax[T args.Float](a args.Rows[T]) {
	args.Took("neon/logsoftmax")
	k := a.K
	for i := 0; i < a.N; i++ {
		x, dst := a.X[i*k:i*k+k], a.Dst[i*k:i*k+k]
		m := vmax(x)
		if !finite(m) {
			genericRows(generic.LogSoftmax[T], a, i, dst)
			continue
		}
		lse := m + math.Log1p(vsumExp(x, m))
		hi := float64(T(lse)) // x − hi is exact near the maximum, where it matters
		vsub2(dst, x, hi, lse-hi)
	}
}

func logSumExp[T args.Float](a args.Rows[T]) {
	args.Took("neon/logsumexp")
	k := a.K
	for i := 0; i < a.N; i++ {
		x := a.X[i*k : i*k+k]
		m := vmax(x)
		if !finite(m) {
			genericRows(generic.LogSumExp[T], a, i, a.Dst[i:i+1])
			continue
		}
		a.Dst[i] = T(m + math.Log1p(vsumExp(x, m)))
	}
}

// sigmoidFocal vectorises sigmoid focal loss (float32): a chunk whose
// labels are all 0 or 1 takes the closed form of the hard-label kernels, a
// chunk with a soft label the focalSoft kernels. γ = 0, 1 and 2 have
// kernels without the second exp.
func sigmoidFocal[T args.Float](a args.Binary[T]) float64 {
	var ones, gs, ls [chunk]float32
	for i := range ones {
		ones[i] = 1
	}
	a0, a1 := float32(1), float32(0) // α_t = a0 + a1·y
	if a.Alpha >= 0 {
		a0, a1 = 1-float32(a.Alpha), 2*float32(a.Alpha)-1
	}
	x, y := as32(a.X), as32(a.Y)
	gamma, scale := float32(a.Gamma), float32(a.GradScale)
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		soft := !hardLabels(y[start:end])
		n := end - start
		w, g, l := ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = as32(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as32(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as32(a.Loss[start:end])
		}
		// Direct calls: through a func value the stack buffers would escape.
		switch {
		case soft && gamma == 0:
			args.Took("neon/f32/sigmoid-focal-soft-g0")
			sum += focalSoftG0F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft && gamma == 1:
			args.Took("neon/f32/sigmoid-focal-soft-g1")
			sum += focalSoftG1F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft && gamma == 2:
			args.Took("neon/f32/sigmoid-focal-soft-g2")
			sum += focalSoftG2F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft:
			args.Took("neon/f32/sigmoid-focal-soft-gany")
			sum += focalSoftF32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case gamma == 0:
			args.Took("neon/f32/sigmoid-focal-g0")
			sum += focalG0F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case gamma == 1:
			args.Took("neon/f32/sigmoid-focal-g1")
			sum += focalG1F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case gamma == 2:
			args.Took("neon/f32/sigmoid-focal-g2")
			sum += focalG2F32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		default:
			args.Took("neon/f32/sigmoid-focal-gany")
			sum += focalF32(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		}
	}
	return sum
}

func hardLabels(y []float32) bool {
	for _, v := range y {
		if v != 0 && v != 1 {
			return false
		}
	}
	return true
}

// regression vectorises the four regression losses (float32), with the
// same stack buffers as binary for absent weights and outputs.
func regression[T args.Float](a args.Regression[T]) float64 {
	var ones, gs, ls [chunk]float32
	for i := range ones {
		ones[i] = 1
	}
	x, y := as32(a.X), as32(a.Y)
	p, scale := float32(a.Param), float32(a.GradScale)
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		n := end - start
		w, g, l := ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = as32(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as32(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as32(a.Loss[start:end])
		}
		// Direct calls: through a func value the stack buffers would escape.
		xs, ys := x[start:end], y[start:end]
		switch a.Kind {
		case args.MSE:
			args.Took("neon/f32/mse")
			sum += mseF32(g, l, xs, ys, w, p, scale) // the kernel doubles d·w·scale last
		case args.L1:
			args.Took("neon/f32/l1")
			sum += l1F32(g, l, xs, ys, w, p, scale)
		case args.Huber:
			args.Took("neon/f32/huber")
			sum += huberF32(g, l, xs, ys, w, p, scale)
		default:
			args.Took("neon/f32/smoothl1")
			sum += smoothL1F32(g, l, xs, ys, w, p, scale)
		}
	}
	return sum
}

// regression64 is regression for float64.
func regression64[T args.Float](a args.Regression[T]) float64 {
	var ones, gs, ls [chunk]float64
	for i := range ones {
		ones[i] = 1
	}
	x, y := as64(a.X), as64(a.Y)
	p, scale := float64(a.Param), float64(a.GradScale)
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		n := end - start
		w, g, l := ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = as64(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as64(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as64(a.Loss[start:end])
		}
		xs, ys := x[start:end], y[start:end]
		switch a.Kind {
		case args.MSE:
			args.Took("neon/f64/mse")
			sum += mseF64(g, l, xs, ys, w, p, scale) // the kernel doubles d·w·scale last
		case args.L1:
			args.Took("neon/f64/l1")
			sum += l1F64(g, l, xs, ys, w, p, scale)
		case args.Huber:
			args.Took("neon/f64/huber")
			sum += huberF64(g, l, xs, ys, w, p, scale)
		default:
			args.Took("neon/f64/smoothl1")
			sum += smoothL1F64(g, l, xs, ys, w, p, scale)
		}
	}
	return sum
}

// binary64 is binary for float64.
func binary64[T args.Float](a args.Binary[T]) float64 {
	switch a.Kind {
	case args.SigmoidFocal:
		return sigmoidFocal64(a)
	case args.BCEProb, args.FocalProb:
		return probLoss(a)
	case args.BCEWithLogits:
	default:
		return generic.Binary(a)
	}
	args.TookIf(a.PosWeight != nil, "neon/f64/bce-logits-pw", "neon/f64/bce-logits")
	var ones, gs, ls [chunk]float64
	for i := range ones {
		ones[i] = 1
	}
	x, y := as64(a.X), as64(a.Y)
	nk, k := len(x), a.K
	fn, fp, scale := float64(a.FNWeight), float64(a.FPWeight), float64(a.GradScale)
	var sum float64
	for start := 0; start < nk; {
		end := min(start+chunk, nk)
		if a.PosWeight != nil {
			end = min(end, (start/k+1)*k)
		}
		n := end - start
		pw, w, g, l := ones[:n], ones[:n], gs[:n], ls[:n]
		if a.PosWeight != nil {
			j := start % k
			pw = as64(a.PosWeight[j : j+n])
		}
		if a.Weight != nil {
			w = as64(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as64(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as64(a.Loss[start:end])
		}
		sum += bceLogitsF64(g, l, x[start:end], y[start:end], pw, w, fn, fp, scale)
		start = end
	}
	return sum
}

// sigmoidFocal64 is sigmoidFocal for float64.
func sigmoidFocal64[T args.Float](a args.Binary[T]) float64 {
	var ones, gs, ls [chunk]float64
	for i := range ones {
		ones[i] = 1
	}
	a0, a1 := 1.0, 0.0
	if a.Alpha >= 0 {
		a0, a1 = 1-float64(a.Alpha), 2*float64(a.Alpha)-1
	}
	x, y := as64(a.X), as64(a.Y)
	gamma, scale := float64(a.Gamma), float64(a.GradScale)
	var sum float64
	for start := 0; start < len(x); start += chunk {
		end := min(start+chunk, len(x))
		soft := !hardLabels64(y[start:end])
		n := end - start
		w, g, l := ones[:n], gs[:n], ls[:n]
		if a.Weight != nil {
			w = as64(a.Weight[start:end])
		}
		if a.Grad != nil {
			g = as64(a.Grad[start:end])
		}
		if a.Loss != nil {
			l = as64(a.Loss[start:end])
		}
		xs, ys := x[start:end], y[start:end]
		switch {
		case soft && gamma == 0:
			args.Took("neon/f64/sigmoid-focal-soft-g0")
			sum += focalSoftG0F64(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft && gamma == 1:
			args.Took("neon/f64/sigmoid-focal-soft-g1")
			sum += focalSoftG1F64(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft && gamma == 2:
			args.Took("neon/f64/sigmoid-focal-soft-g2")
			sum += focalSoftG2F64(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case soft:
			args.Took("neon/f64/sigmoid-focal-soft-gany")
			sum += focalSoftF64(g, l, x[start:end], y[start:end], w, gamma, a0, a1, scale)
		case gamma == 0:
			args.Took("neon/f64/sigmoid-focal-g0")
			sum += focalG0F64(g, l, xs, ys, w, gamma, a0, a1, scale)
		case gamma == 1:
			args.Took("neon/f64/sigmoid-focal-g1")
			sum += focalG1F64(g, l, xs, ys, w, gamma, a0, a1, scale)
		case gamma == 2:
			args.Took("neon/f64/sigmoid-focal-g2")
			sum += focalG2F64(g, l, xs, ys, w, gamma, a0, a1, scale)
		default:
			args.Took("neon/f64/sigmoid-focal-gany")
			sum += focalF64(g, l, xs, ys, w, gamma, a0, a1, scale)
		}
	}
	return sum
}

func hardLabels64(y []float64) bool {
	for _, v := range y {
		if v != 0 && v != 1 {
			return false
		}
	}
	return true
}
