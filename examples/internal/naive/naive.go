// Package naive holds the textbook Go losses that the examples compare
// lossfuse against: straightforward loops over math.Exp and math.Log, as Go
// ML code typically writes them (numerically sound, but one scalar at a time
// and a separate pass per quantity). Every function returns the mean loss and
// writes the gradient of that mean into grad. For float32 data they convert
// each element to float64 for the math package and back, as Go code that
// has no float32 exp does.
package naive

import "math"

// Float is the element type: float32 or float64.
type Float interface{ ~float32 | ~float64 }

// CrossEntropy is softmax cross-entropy with label smoothing eps over n rows
// of k logits: row loss (1−eps)·(lse − z_y) + (eps/k)·Σ_c (lse − z_c).
func CrossEntropy[T Float](logits []T, targets []int32, n, k int, eps float64, grad []T) T {
	var total float64
	for i := 0; i < n; i++ {
		z := logits[i*k : (i+1)*k]
		g := grad[i*k : (i+1)*k]
		maxZ := math.Inf(-1)
		for _, v := range z {
			maxZ = math.Max(maxZ, float64(v))
		}
		var sum float64
		for j, v := range z {
			e := math.Exp(float64(v) - maxZ)
			g[j] = T(e)
			sum += e
		}
		lse := maxZ + math.Log(sum)
		y := int(targets[i])
		var smooth float64
		for j, v := range z {
			smooth += lse - float64(v)
			target := eps / float64(k)
			if j == y {
				target += 1 - eps
			}
			g[j] = T((float64(g[j])/sum - target) / float64(n))
		}
		total += (1-eps)*(lse-float64(z[y])) + eps/float64(k)*smooth
	}
	return T(total / float64(n))
}

// BCEWithLogits is binary cross-entropy on logits with a positive-class
// weight pw: l = −(pw·y·log σ(x) + (1−y)·log(1−σ(x))), written in the usual
// stable form with log σ(x) = −log(1+e^{−x}).
func BCEWithLogits[T Float](x, y []T, pw float64, grad []T) T {
	var total float64
	n := float64(len(x))
	for i, xv := range x {
		xi, yi := float64(xv), float64(y[i])
		// softplus(−x) = −log σ(x), computed without overflow.
		spNeg := math.Max(-xi, 0) + math.Log1p(math.Exp(-math.Abs(xi)))
		total += pw*yi*spNeg + (1-yi)*(xi+spNeg)
		p := 1 / (1 + math.Exp(-xi))
		grad[i] = T(((pw*yi+1-yi)*p - pw*yi) / n)
	}
	return T(total / n)
}

// SigmoidFocal is the focal loss of Lin et al. as torchvision writes it:
// l = α_t·(1−p_t)^γ·BCE(x, y) with p = σ(x) and p_t = p·y + (1−p)·(1−y), and
// its gradient by the chain rule (what autograd computes). Where p ≈ y the
// factors p−y and (1−p_t) are formed by cancellation, so tiny gradient
// elements lose most of their digits (lossfuse's closed form does not).
func SigmoidFocal[T Float](x, y []T, alpha, gamma float64, grad []T) T {
	var total float64
	n := float64(len(x))
	for i, xv := range x {
		xi, yi := float64(xv), float64(y[i])
		p := 1 / (1 + math.Exp(-xi))
		ce := math.Max(xi, 0) - xi*yi + math.Log1p(math.Exp(-math.Abs(xi)))
		pt := p*yi + (1-p)*(1-yi)
		at := 1.0
		if alpha >= 0 {
			at = alpha*yi + (1-alpha)*(1-yi)
		}
		mod := math.Pow(1-pt, gamma)
		total += at * mod * ce
		dpt := (2*yi - 1) * p * (1 - p)
		dmod := 0.0
		if gamma != 0 {
			dmod = -gamma * math.Pow(1-pt, gamma-1) * dpt
		}
		grad[i] = T(at * (dmod*ce + mod*(p-yi)) / n)
	}
	return T(total / n)
}

// MSE is the mean squared error.
func MSE[T Float](pred, target, grad []T) T {
	var total float64
	n := float64(len(pred))
	for i, p := range pred {
		d := float64(p) - float64(target[i])
		total += d * d
		grad[i] = T(2 * d / n)
	}
	return T(total / n)
}

// Huber is PyTorch's huber_loss: ½d² for |d| < δ, δ·(|d| − ½δ) otherwise.
func Huber[T Float](pred, target []T, delta float64, grad []T) T {
	var total float64
	n := float64(len(pred))
	for i, p := range pred {
		d := float64(p) - float64(target[i])
		if math.Abs(d) < delta {
			total += 0.5 * d * d
			grad[i] = T(d / n)
		} else {
			total += delta * (math.Abs(d) - 0.5*delta)
			grad[i] = T(delta * math.Copysign(1, d) / n)
		}
	}
	return T(total / n)
}
