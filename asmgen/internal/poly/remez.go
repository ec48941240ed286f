package poly

import (
	"math"
	"sort"
)

// Remez returns the coefficients c[0..deg] of the polynomial q minimising
// max |w(x)·(q(x) − f(x))| over [a, b] (the weighted minimax polynomial),
// using the exchange algorithm in float64, which is ample for float32
// targets. It also returns the levelled error E.
func Remez(f, w func(float64) float64, a, b float64, deg int) (c []float64, e float64) {
	n := deg + 2 // reference points
	x := make([]float64, n)
	for i := range x { // Chebyshev extrema as the first reference
		x[i] = (a+b)/2 - (b-a)/2*math.Cos(math.Pi*float64(i)/float64(n-1))
	}
	for iter := 0; iter < 50; iter++ {
		// Solve Σ c_j x_i^j + (−1)^i E/w(x_i) = f(x_i).
		m := make([][]float64, n)
		for i := range m {
			row := make([]float64, n+1)
			p := 1.0
			for j := 0; j <= deg; j++ {
				row[j] = p
				p *= x[i]
			}
			row[deg+1] = math.Pow(-1, float64(i)) / w(x[i])
			row[n] = f(x[i])
			m[i] = row
		}
		sol := solve(m)
		c, e = sol[:deg+1], sol[deg+1]
		// Exchange: the new reference is the extrema of the error between
		// its sign changes, found on a fine grid.
		errAt := func(t float64) float64 { return w(t) * (eval(c, t) - f(t)) }
		const grid = 20000
		var ext []float64
		best, bestV := a, errAt(a)
		for i := 1; i <= grid; i++ {
			t := a + (b-a)*float64(i)/grid
			v := errAt(t)
			if (v > 0) != (bestV > 0) {
				ext = append(ext, best)
				best, bestV = t, v
			} else if math.Abs(v) > math.Abs(bestV) {
				best, bestV = t, v
			}
		}
		ext = append(ext, best)
		for len(ext) > n { // drop the smallest end extremum
			if math.Abs(errAt(ext[0])) < math.Abs(errAt(ext[len(ext)-1])) {
				ext = ext[1:]
			} else {
				ext = ext[:len(ext)-1]
			}
		}
		if len(ext) < n {
			return c, e
		}
		sort.Float64s(ext)
		x = ext
	}
	return c, e
}

func eval(c []float64, x float64) float64 {
	r := 0.0
	for i := len(c) - 1; i >= 0; i-- {
		r = r*x + c[i]
	}
	return r
}

// solve does Gaussian elimination with partial pivoting on an augmented matrix.
func solve(m [][]float64) []float64 {
	n := len(m)
	for col := 0; col < n; col++ {
		p := col
		for r := col + 1; r < n; r++ {
			if math.Abs(m[r][col]) > math.Abs(m[p][col]) {
				p = r
			}
		}
		m[col], m[p] = m[p], m[col]
		for r := col + 1; r < n; r++ {
			k := m[r][col] / m[col][col]
			for j := col; j <= n; j++ {
				m[r][j] -= k * m[col][j]
			}
		}
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := m[i][n]
		for j := i + 1; j < n; j++ {
			s -= m[i][j] * x[j]
		}
		x[i] = s / m[i][i]
	}
	return x
}

// expTail is (e^r − 1 − r)/r², summed from its series so that it has no
// cancellation near 0.
func expTail(r float64) float64 {
	s, t := 0.0, 0.5
	for n := 2; n < 30; n++ {
		s += t
		t *= r / float64(n+1)
	}
	return s
}

// logTail is (log(1+f) − f + f²/2)/f³ = Σ_{n≥3} (−1)^(n+1) f^(n−3)/n.
func logTail(f float64) float64 {
	s, p := 0.0, 1.0
	for n := 3; n < 200; n++ {
		if n%2 == 1 {
			s += p / float64(n)
		} else {
			s -= p / float64(n)
		}
		p *= f
	}
	return s
}

// log1pTail is (log(1+e) − e)/e², from its series near 0 (no cancellation).
func log1pTail(e float64) float64 {
	if e < 1e-3 {
		s, term := 0.0, -0.5
		for n := 2; n < 20; n++ {
			s += term
			term *= -e * float64(n) / float64(n+1)
		}
		return s
	}
	return (math.Log1p(e) - e) / (e * e)
}
