// Command customloss builds a loss lossfuse has no kernel for out of its
// primitives and their backward passes, checks its gradient by finite
// differences, and trains with it.
//
// The loss is the combination segmentation models train with: cross-entropy
// plus the soft Dice loss of the softmax probabilities,
//
//	L = CE(x, t) + λ·(1 − (1/K)·Σ_c D_c),   D_c = (2·I_c + ε)/(S_c + ε),
//	I_c = Σ_i p_ic·t_ic,   S_c = Σ_i p_ic + Σ_i t_ic,   p = softmax(x),
//
// with t the one-hot targets. CrossEntropy gives its part with its gradient
// in one fused call; the Dice part needs p (Softmax), its gradient with
// respect to p (a few lines of Go below), and the backward pass of the
// softmax (SoftmaxBackward) to carry that gradient to the logits. The two
// gradients add.
//
//	go run ./customloss
//	go run ./customloss -lambda 0 -steps 200
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/lossfuse/lossfuse/examples/internal/dataset"
	"github.com/lossfuse/lossfuse/kernels"
)

// diceEps keeps D_c defined for a class that neither the batch nor the
// model has (the usual smoothing term).
const diceEps = 1.0

// customLoss is CE + λ·Dice over N rows of K logits, with buffers for the
// probabilities and the Dice gradient, allocated once.
type customLoss struct {
	n, k   int
	lambda float64
	p, dp  []float64 // softmax(x); ∂Dice/∂p, then its contribution to ∂L/∂x
	inter  []float64 // I_c
	total  []float64 // S_c
	ce     kernels.CrossEntropyOptions[float64]
}

func newCustomLoss(n, k int, lambda float64) *customLoss {
	return &customLoss{n: n, k: k, lambda: lambda, p: make([]float64, n*k), dp: make([]float64, n*k),
		inter: make([]float64, k), total: make([]float64, k)}
}

// eval returns L at logits x for targets t and, when grad is non-nil,
// writes ∂L/∂x into it.
func (c *customLoss) eval(x []float64, t []int32, grad []float64) (float64, error) {
	n, k := c.n, c.k
	ce, err := kernels.CrossEntropy(x, t, n, k, grad, &c.ce) // mean over rows, gradient included
	if err != nil || c.lambda == 0 {
		return ce, err
	}
	if err := kernels.Softmax(c.p, x, n, k, nil); err != nil {
		return 0, err
	}
	// Per class: I_c and S_c over the batch.
	inter, total := c.inter, c.total
	clear(inter)
	clear(total)
	for i := 0; i < n; i++ {
		row := c.p[i*k : (i+1)*k]
		for j, v := range row {
			total[j] += v
		}
		inter[t[i]] += row[t[i]]
		total[t[i]]++
	}
	var dice float64
	for j := range inter {
		dice += (2*inter[j] + diceEps) / (total[j] + diceEps)
	}
	loss := ce + c.lambda*(1-dice/float64(k))
	if grad == nil {
		return loss, nil
	}
	// ∂/∂p_ic of −(λ/K)·D_c = −(λ/K)·(2·t_ic·(S_c + ε) − (2·I_c + ε))/(S_c + ε)².
	for i := 0; i < n; i++ {
		row := c.dp[i*k : (i+1)*k]
		for j := range row {
			s := total[j] + diceEps
			num := -(2*inter[j] + diceEps)
			if int(t[i]) == j {
				num += 2 * s
			}
			row[j] = -c.lambda / float64(k) * num / (s * s)
		}
	}
	// Through the softmax: dx = p ⊙ (dp − Σ p·dp), in place over dp.
	if err := kernels.SoftmaxBackward(c.dp, c.dp, c.p, n, k, nil); err != nil {
		return 0, err
	}
	for i, v := range c.dp {
		grad[i] += v
	}
	return loss, nil
}

// gradCheck compares the analytic gradient at random logits with central
// finite differences and returns the largest error relative to the
// gradient's largest magnitude.
func gradCheck(n, k int, lambda float64, seed uint64) (float64, error) {
	r := rand.New(rand.NewPCG(seed, 11))
	x, t := make([]float64, n*k), make([]int32, n)
	for i := range x {
		x[i] = 2 * r.NormFloat64()
	}
	for i := range t {
		t[i] = int32(r.IntN(k))
	}
	c := newCustomLoss(n, k, lambda)
	grad := make([]float64, n*k)
	if _, err := c.eval(x, t, grad); err != nil {
		return 0, err
	}
	var worst, scale float64
	const h = 1e-5
	for i := range x {
		orig := x[i]
		x[i] = orig + h
		up, err := c.eval(x, t, nil)
		if err != nil {
			return 0, err
		}
		x[i] = orig - h
		down, err := c.eval(x, t, nil)
		if err != nil {
			return 0, err
		}
		x[i] = orig
		worst = math.Max(worst, math.Abs((up-down)/(2*h)-grad[i]))
		scale = math.Max(scale, math.Abs(grad[i]))
	}
	if scale == 0 { // K = 1: the loss is constant, every gradient 0
		return worst, nil
	}
	return worst / scale, nil
}

// train fits a linear softmax model to the digits with the custom loss and
// reports the loss and test accuracy.
func train(w io.Writer, lambda float64, steps int) (acc float64, err error) {
	digits, err := dataset.Digits()
	if err != nil {
		return 0, err
	}
	tr, te := dataset.Split(digits, 0.25, 1, true)
	dataset.Standardize(tr, te)
	n, d, k := tr.N, tr.D, 10
	x, labels := mat.NewDense(n, d, tr.X), tr.Labels()
	wt := mat.NewDense(d, k, nil)
	logits, grad := mat.NewDense(n, k, nil), mat.NewDense(n, k, nil)
	loss := newCustomLoss(n, k, lambda)
	var gw mat.Dense
	for step := 0; step < steps; step++ {
		logits.Mul(x, wt)
		l, err := loss.eval(logits.RawMatrix().Data, labels, grad.RawMatrix().Data)
		if err != nil {
			return 0, err
		}
		if step%(steps/5) == 0 || step == steps-1 {
			fmt.Fprintf(w, "step %4d  loss %.4f\n", step, l)
		}
		gw.Mul(x.T(), grad)
		gw.Scale(0.5, &gw)
		wt.Sub(wt, &gw)
	}
	var out mat.Dense
	out.Mul(mat.NewDense(te.N, d, te.X), wt)
	right := 0
	for i, y := range te.Labels() {
		if mat.Row(nil, i, &out)[y] == mat.Max(out.RowView(i)) {
			right++
		}
	}
	return float64(right) / float64(te.N), nil
}

func main() {
	lambda := flag.Float64("lambda", 0.5, "weight λ of the Dice term")
	steps := flag.Int("steps", 100, "gradient steps")
	flag.Parse()
	rel, err := gradCheck(7, 5, *lambda, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gradient check (N=7, K=5, central differences, h=1e-5): largest error %.1e of the largest gradient element\n", rel)
	acc, err := train(os.Stdout, *lambda, *steps)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("test accuracy %.3f\n", acc)
}
