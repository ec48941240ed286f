// Package naive holds the textbook Go losses that the examples compare
// lossfuse against: straightforward loops over math.Exp and math.Log, as Go
// ML code typically writes them (numerically sound, but one scalar at a time
// and a separate pass per quantity). Every function returns the mean loss and
// writes the gradient of that mean into grad.
package naive

import "math"

// CrossEntropy is softmax cross-entropy with label smoothing eps over n rows
// of k logits: row loss (1−eps)·(lse − z_y) + (eps/k)·Σ_c (lse − z_c).
func CrossEntropy(logits []float64, targets []int32, n, k int, eps float64, grad []float64) float64 {
	var total float64
	for i := 0; i < n; i++ {
		z := logits[i*k : (i+1)*k]
		g := grad[i*k : (i+1)*k]
		maxZ := math.Inf(-1)
		for _, v := range z {
			if v > maxZ {
				maxZ = v
			}
		}
		var sum float64
		for j, v := range z {
			g[j] = math.Exp(v - maxZ)
			sum += g[j]
		}
		lse := maxZ + math.Log(sum)
		y := int(targets[i])
		var smooth float64
		for j, v := range z {
			smooth += lse - v
			target := eps / float64(k)
			if j == y {
				target += 1 - eps
			}
			g[j] = (g[j]/sum - target) / float64(n)
		}
		total += (1-eps)*(lse-z[y]) + eps/float64(k)*smooth
	}
	return total / float64(n)
}

// BCEWithLogits is binary cross-entropy on logits with a positive-class
// weight pw: l = −(pw·y·log σ(x) + (1−y)·log(1−σ(x))), written in the usual
// stable form with log σ(x) = −log(1+e^{−x}).
func BCEWithLogits(x, y []float64, pw float64, grad []float64) float64 {
	var total float64
	for i, xi := range x {
		yi := y[i]
		// softplus(−x) = −log σ(x), computed without overflow.
		spNeg := math.Max(-xi, 0) + math.Log1p(math.Exp(-math.Abs(xi)))
		total += pw*yi*spNeg + (1-yi)*(xi+spNeg)
		p := 1 / (1 + math.Exp(-xi))
		grad[i] = ((pw*yi+1-yi)*p - pw*yi) / float64(len(x))
	}
	return total / float64(len(x))
}

// SigmoidFocal is the focal loss of Lin et al. as torchvision writes it:
// l = α_t·(1−p_t)^γ·BCE(x, y) with p = σ(x) and p_t = p·y + (1−p)·(1−y), and
// its gradient by the chain rule (what autograd computes).
func SigmoidFocal(x, y []float64, alpha, gamma float64, grad []float64) float64 {
	var total float64
	for i, xi := range x {
		yi := y[i]
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
		grad[i] = at * (dmod*ce + mod*(p-yi)) / float64(len(x))
	}
	return total / float64(len(x))
}

// MSE is the mean squared error.
func MSE(pred, target, grad []float64) float64 {
	var total float64
	n := float64(len(pred))
	for i, p := range pred {
		d := p - target[i]
		total += d * d
		grad[i] = 2 * d / n
	}
	return total / n
}

// Huber is PyTorch's huber_loss: ½d² for |d| < δ, δ·(|d| − ½δ) otherwise.
func Huber(pred, target []float64, delta float64, grad []float64) float64 {
	var total float64
	n := float64(len(pred))
	for i, p := range pred {
		d := p - target[i]
		if math.Abs(d) < delta {
			total += 0.5 * d * d
			grad[i] = d / n
		} else {
			total += delta * (math.Abs(d) - 0.5*delta)
			grad[i] = delta * math.Copysign(1, d) / n
		}
	}
	return total / n
}
