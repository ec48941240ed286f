// Package naive holds the baseline lossfuse is measured against: the
// textbook loops, one math.Exp or math.Log per element, that Go ML code
// typically writes by hand. They compute the same mean-reduced losses and
// gradients as the kernels on well-scaled data (moderate logits,
// probabilities away from 0 and 1), without the kernels' guards at the
// edges, and they do not allocate, so that the comparison measures the
// arithmetic rather than the garbage collector.
//
// Every function takes the same shapes as its kernels counterpart and
// writes the gradient of the mean loss when grad is non-nil.
package naive

import "math"

// Float is float32 or float64.
type Float interface{ ~float32 | ~float64 }

// CrossEntropy is softmax cross-entropy with integer targets: per row the
// max, Σ exp(x−max) (kept in grad for the backward pass), log, and
// grad = (softmax − onehot)/n.
func CrossEntropy[T Float](logits []T, targets []int32, n, k int, grad []T) T {
	var loss float64
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			for j, v := range row {
				e := math.Exp(float64(v) - m)
				g[j] = T(e)
				s += e
			}
		} else {
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
		}
		y := int(targets[i])
		loss += m + math.Log(s) - float64(row[y])
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			for j := range g {
				g[j] = T(float64(g[j]) / s / float64(n))
			}
			g[y] -= T(1 / float64(n))
		}
	}
	return T(loss / float64(n))
}

// CrossEntropyProbs is cross-entropy against probability targets:
// −Σ t·log softmax(x), gradient (softmax − t)/n.
func CrossEntropyProbs[T Float](logits, probs []T, n, k int, grad []T) T {
	var loss float64
	for i := 0; i < n; i++ {
		row, t := logits[i*k:(i+1)*k], probs[i*k:(i+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		for j, v := range row {
			loss -= float64(t[j]) * (float64(v) - lse)
		}
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			for j, v := range row {
				g[j] = T((math.Exp(float64(v)-lse) - float64(t[j])) / float64(n))
			}
		}
	}
	return T(loss / float64(n))
}

// SoftmaxFocal is multiclass focal loss −(1−p)^γ·log p with p the target's
// softmax probability; its gradient is the cross-entropy gradient scaled
// per row by (1−p)^γ·(1 − γ·p·log p/(1−p)).
func SoftmaxFocal[T Float](logits []T, targets []int32, n, k int, gamma float64, grad []T) T {
	var loss float64
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		y := int(targets[i])
		logp := float64(row[y]) - lse
		p := math.Exp(logp)
		loss -= math.Pow(1-p, gamma) * logp
		if grad != nil {
			f := math.Pow(1-p, gamma) * (1 - gamma*p*logp/(1-p)) / float64(n)
			g := grad[i*k : (i+1)*k]
			for j, v := range row {
				g[j] = T(f * math.Exp(float64(v)-lse))
			}
			g[y] -= T(f)
		}
	}
	return T(loss / float64(n))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// BCEWithLogits is the usual stable form max(x,0) − x·y + log(1+exp(−|x|)),
// gradient (σ(x) − y)/n.
func BCEWithLogits[T Float](x, y []T, grad []T) T {
	var loss float64
	n := float64(len(x))
	for i, v := range x {
		xv, yv := float64(v), float64(y[i])
		loss += math.Max(xv, 0) - xv*yv + math.Log(1+math.Exp(-math.Abs(xv)))
		if grad != nil {
			grad[i] = T((sigmoid(xv) - yv) / n)
		}
	}
	return T(loss / n)
}

// BCE is −(y·log p + (1−y)·log(1−p)), gradient (p − y)/(p·(1−p))/n.
func BCE[T Float](p, y []T, grad []T) T {
	var loss float64
	n := float64(len(p))
	for i, v := range p {
		pv, yv := float64(v), float64(y[i])
		loss -= yv*math.Log(pv) + (1-yv)*math.Log(1-pv)
		if grad != nil {
			grad[i] = T((pv - yv) / (pv * (1 - pv)) / n)
		}
	}
	return T(loss / n)
}

// SigmoidFocal is torchvision's sigmoid focal loss written out:
// α_t·(1−p_t)^γ·BCEWithLogits with p = σ(x), and the hand-derived gradient.
func SigmoidFocal[T Float](x, y []T, alpha, gamma float64, grad []T) T {
	var loss float64
	n := float64(len(x))
	for i, v := range x {
		xv, yv := float64(v), float64(y[i])
		p := sigmoid(xv)
		ce := math.Max(xv, 0) - xv*yv + math.Log(1+math.Exp(-math.Abs(xv)))
		pt := p*yv + (1-p)*(1-yv)
		at := alpha*yv + (1-alpha)*(1-yv)
		loss += at * math.Pow(1-pt, gamma) * ce
		if grad != nil {
			dpt := (2*yv - 1) * p * (1 - p)
			d := -gamma*math.Pow(1-pt, gamma-1)*dpt*ce + math.Pow(1-pt, gamma)*(p-yv)
			grad[i] = T(at * d / n)
		}
	}
	return T(loss / n)
}

// FocalProbs is −α_t·(1−p_t)^γ·log p_t on probabilities, with its
// gradient with respect to p.
func FocalProbs[T Float](p, y []T, alpha, gamma float64, grad []T) T {
	var loss float64
	n := float64(len(p))
	for i, v := range p {
		pv, yv := float64(v), float64(y[i])
		pt := pv*yv + (1-pv)*(1-yv)
		at := alpha*yv + (1-alpha)*(1-yv)
		loss -= at * math.Pow(1-pt, gamma) * math.Log(pt)
		if grad != nil {
			d := gamma*math.Pow(1-pt, gamma-1)*math.Log(pt) - math.Pow(1-pt, gamma)/pt
			grad[i] = T(at * d * (2*yv - 1) / n)
		}
	}
	return T(loss / n)
}

// MSE is mean((p−t)²), gradient 2·(p−t)/n.
func MSE[T Float](pred, target, grad []T) T {
	var loss float64
	n := float64(len(pred))
	for i, v := range pred {
		d := float64(v) - float64(target[i])
		loss += d * d
		if grad != nil {
			grad[i] = T(2 * d / n)
		}
	}
	return T(loss / n)
}

// L1 is mean(|p−t|), gradient sign(p−t)/n.
func L1[T Float](pred, target, grad []T) T {
	var loss float64
	n := float64(len(pred))
	for i, v := range pred {
		d := float64(v) - float64(target[i])
		loss += math.Abs(d)
		if grad != nil {
			s := 0.0
			if d > 0 {
				s = 1
			} else if d < 0 {
				s = -1
			}
			grad[i] = T(s / n)
		}
	}
	return T(loss / n)
}

// Huber is ½d² for |d| < δ, δ·(|d| − ½δ) otherwise.
func Huber[T Float](pred, target []T, delta float64, grad []T) T {
	var loss float64
	n := float64(len(pred))
	for i, v := range pred {
		d := float64(v) - float64(target[i])
		if math.Abs(d) < delta {
			loss += 0.5 * d * d
			if grad != nil {
				grad[i] = T(d / n)
			}
		} else {
			loss += delta * (math.Abs(d) - 0.5*delta)
			if grad != nil {
				grad[i] = T(delta * math.Copysign(1, d) / n)
			}
		}
	}
	return T(loss / n)
}

// SmoothL1 is ½d²/β for |d| < β, |d| − ½β otherwise.
func SmoothL1[T Float](pred, target []T, beta float64, grad []T) T {
	var loss float64
	n := float64(len(pred))
	for i, v := range pred {
		d := float64(v) - float64(target[i])
		if math.Abs(d) < beta {
			loss += 0.5 * d * d / beta
			if grad != nil {
				grad[i] = T(d / beta / n)
			}
		} else {
			loss += math.Abs(d) - 0.5*beta
			if grad != nil {
				grad[i] = T(math.Copysign(1, d) / n)
			}
		}
	}
	return T(loss / n)
}

// Softmax writes exp(x−max)/Σ row by row.
func Softmax[T Float](dst, x []T, n, k int) {
	for i := 0; i < n; i++ {
		row, out := x[i*k:(i+1)*k], dst[i*k:(i+1)*k]
		m := float64(row[0])
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var s float64
		for j, v := range row {
			e := math.Exp(float64(v) - m)
			out[j] = T(e)
			s += e
		}
		for j := range out {
			out[j] = T(float64(out[j]) / s)
		}
	}
}

// LogSoftmax writes x − max − log Σ exp(x−max) row by row.
func LogSoftmax[T Float](dst, x []T, n, k int) {
	for i := 0; i < n; i++ {
		row, out := x[i*k:(i+1)*k], dst[i*k:(i+1)*k]
		lse := logSumExp(row)
		for j, v := range row {
			out[j] = T(float64(v) - lse)
		}
	}
}

// LogSumExp writes one log Σ exp(x) per row.
func LogSumExp[T Float](dst, x []T, n, k int) {
	for i := 0; i < n; i++ {
		dst[i] = T(logSumExp(x[i*k : (i+1)*k]))
	}
}

func logSumExp[T Float](row []T) float64 {
	m := float64(row[0])
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// Sigmoid writes 1/(1+exp(−x)).
func Sigmoid[T Float](dst, x []T) {
	for i, v := range x {
		dst[i] = T(sigmoid(float64(v)))
	}
}

// LogSigmoid writes log(1/(1+exp(−x))), as typical code spells it.
func LogSigmoid[T Float](dst, x []T) {
	for i, v := range x {
		dst[i] = T(math.Log(sigmoid(float64(v))))
	}
}

// Softplus writes log(1+exp(x)).
func Softplus[T Float](dst, x []T) {
	for i, v := range x {
		dst[i] = T(math.Log(1 + math.Exp(float64(v))))
	}
}

// SoftplusBeta writes PyTorch's softplus as its formula reads:
// log(1+exp(βx))/β, or x where βx > threshold.
func SoftplusBeta[T Float](dst, x []T, beta, threshold float64) {
	for i, v := range x {
		t := float64(v) * beta
		if t > threshold {
			dst[i] = v
			continue
		}
		dst[i] = T(math.Log(1+math.Exp(t)) / beta)
	}
}

// SoftmaxBackward writes dx = y·(dy − Σ y·dy) per row.
func SoftmaxBackward[T Float](dx, dy, y []T, n, k int) {
	for i := 0; i < n; i++ {
		yr, gr, out := y[i*k:(i+1)*k], dy[i*k:(i+1)*k], dx[i*k:(i+1)*k]
		var s float64
		for j, v := range yr {
			s += float64(v) * float64(gr[j])
		}
		for j, v := range yr {
			out[j] = T(float64(v) * (float64(gr[j]) - s))
		}
	}
}

// LogSoftmaxBackward writes dx = dy − exp(y)·Σ dy per row.
func LogSoftmaxBackward[T Float](dx, dy, y []T, n, k int) {
	for i := 0; i < n; i++ {
		yr, gr, out := y[i*k:(i+1)*k], dy[i*k:(i+1)*k], dx[i*k:(i+1)*k]
		var s float64
		for _, g := range gr {
			s += float64(g)
		}
		for j, v := range yr {
			out[j] = T(float64(gr[j]) - math.Exp(float64(v))*s)
		}
	}
}

// LogSumExpBackward writes dx_ij = dy_i·exp(x_ij − lse_i).
func LogSumExpBackward[T Float](dx, dy, x, lse []T, n, k int) {
	for i := 0; i < n; i++ {
		xr, out := x[i*k:(i+1)*k], dx[i*k:(i+1)*k]
		for j, v := range xr {
			out[j] = T(float64(dy[i]) * math.Exp(float64(v)-float64(lse[i])))
		}
	}
}

// SigmoidBackward writes dx = dy·y·(1−y).
func SigmoidBackward[T Float](dx, dy, y []T) {
	for i, v := range y {
		dx[i] = T(float64(dy[i]) * float64(v) * (1 - float64(v)))
	}
}

// LogSigmoidBackward writes dx = dy·σ(−x).
func LogSigmoidBackward[T Float](dx, dy, x []T) {
	for i, v := range x {
		dx[i] = T(float64(dy[i]) * sigmoid(-float64(v)))
	}
}

// SoftplusBackward writes dx = dy·σ(x).
func SoftplusBackward[T Float](dx, dy, x []T) {
	for i, v := range x {
		dx[i] = T(float64(dy[i]) * sigmoid(float64(v)))
	}
}

// NLL is −x[i, y_i] averaged over the rows, with its gradient.
func NLL[T Float](x []T, targets []int32, n, k int, grad []T) T {
	var loss float64
	for i := 0; i < n; i++ {
		y := int(targets[i])
		loss -= float64(x[i*k+y])
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			for j := range g {
				g[j] = 0
			}
			g[y] = T(-1 / float64(n))
		}
	}
	return T(loss / float64(n))
}

// KLDiv is Σ p·(log p − x) over the rows divided by n (batchmean), with
// its gradient −p/n, as the formula reads.
func KLDiv[T Float](x, p []T, n int, grad []T) T {
	var loss float64
	for i, v := range x {
		pv := float64(p[i])
		if pv > 0 {
			loss += pv * (math.Log(pv) - float64(v))
		}
		if grad != nil {
			grad[i] = T(-pv / float64(n))
		}
	}
	return T(loss / float64(n))
}

// Distill is λ·KL(softmax(t/T) ‖ softmax(s/T)) per row, averaged over the
// rows (λ = T²), with its gradient λ·(Q − P)/(T·n), as the formula reads:
// each row's two log-sum-exps, then the divergence and the gradient.
func Distill[T Float](s, t []T, n, k int, temp float64, grad []T) T {
	var loss float64
	lam := temp * temp
	lse := func(row []T) float64 {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v)/temp)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v)/temp - m)
		}
		return m + math.Log(sum)
	}
	for i := 0; i < n; i++ {
		sr, tr := s[i*k:(i+1)*k], t[i*k:(i+1)*k]
		ls, lt := lse(sr), lse(tr)
		for j := range sr {
			lp, lq := float64(tr[j])/temp-lt, float64(sr[j])/temp-ls
			p := math.Exp(lp)
			loss += lam * p * (lp - lq)
			if grad != nil {
				grad[i*k+j] = T(lam * (math.Exp(lq) - p) / (temp * float64(n)))
			}
		}
	}
	return T(loss / float64(n))
}

// DistillReverseKL is λ·KL(softmax(s/T) ‖ softmax(t/T)) per row, averaged
// over the rows (λ = T²), as the formula reads: each row's two
// log-sum-exps, then the divergence D = Σ Q·(log Q − log P) element by
// element, then the gradient λ·Q·(log Q − log P − D)/(T·n), which needs
// the row's D first.
func DistillReverseKL[T Float](s, t []T, n, k int, temp float64, grad []T) T {
	var loss float64
	lam := temp * temp
	lse := func(row []T) float64 {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v)/temp)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v)/temp - m)
		}
		return m + math.Log(sum)
	}
	for i := 0; i < n; i++ {
		sr, tr := s[i*k:(i+1)*k], t[i*k:(i+1)*k]
		ls, lt := lse(sr), lse(tr)
		var d float64
		for j := range sr {
			lp, lq := float64(tr[j])/temp-lt, float64(sr[j])/temp-ls
			d += math.Exp(lq) * (lq - lp)
		}
		loss += lam * d
		if grad != nil {
			for j := range sr {
				lp, lq := float64(tr[j])/temp-lt, float64(sr[j])/temp-ls
				grad[i*k+j] = T(lam * math.Exp(lq) * (lq - lp - d) / (temp * float64(n)))
			}
		}
	}
	return T(loss / float64(n))
}

// DistillJSD is λ·(β·KL(P‖M) + (1−β)·KL(Q‖M)) per row with
// P = softmax(t/T), Q = softmax(s/T) and M = β·P + (1−β)·Q, averaged over
// the rows (λ = T²), as the formula reads: each row's two log-sum-exps,
// then per element P, Q and log M = math.Log(β·P + (1−β)·Q) for both
// divergences, then the gradient λ·(1−β)·Q·(log Q − log M − KL(Q‖M))/(T·n),
// which needs the row's KL(Q‖M) first.
func DistillJSD[T Float](s, t []T, n, k int, temp, beta float64, grad []T) T {
	var loss float64
	lam := temp * temp
	lse := func(row []T) float64 {
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v)/temp)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v)/temp - m)
		}
		return m + math.Log(sum)
	}
	for i := 0; i < n; i++ {
		sr, tr := s[i*k:(i+1)*k], t[i*k:(i+1)*k]
		ls, lt := lse(sr), lse(tr)
		var kp, kq float64 // KL(P‖M), KL(Q‖M)
		for j := range sr {
			lp, lq := float64(tr[j])/temp-lt, float64(sr[j])/temp-ls
			p, q := math.Exp(lp), math.Exp(lq)
			lm := math.Log(beta*p + (1-beta)*q)
			kp += p * (lp - lm)
			kq += q * (lq - lm)
		}
		loss += lam * (beta*kp + (1-beta)*kq)
		if grad != nil {
			for j := range sr {
				lp, lq := float64(tr[j])/temp-lt, float64(sr[j])/temp-ls
				p, q := math.Exp(lp), math.Exp(lq)
				lm := math.Log(beta*p + (1-beta)*q)
				grad[i*k+j] = T(lam * (1 - beta) * q * (lq - lm - kq) / (temp * float64(n)))
			}
		}
	}
	return T(loss / float64(n))
}
