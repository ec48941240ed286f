// Command diabetes fits a linear regression of disease progression on the
// ten baseline variables of the diabetes data of Efron et al. (442
// patients), once with MSE and once with Huber loss, by mini-batch SGD, and
// prints the test MAE and RMSE next to those of the exact least-squares fit.
// gonum does the matrix products (and the least-squares reference); the loss
// and its gradient come from lossfuse or from a textbook Go loop
// (-loss=naive), or both, to compare.
//
//	go run ./diabetes
//	go run ./diabetes -loss=lossfuse -delta=0.5
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"gonum.org/v1/gonum/mat"

	"github.com/lossfuse/lossfuse/examples/internal/dataset"
	"github.com/lossfuse/lossfuse/examples/internal/harness"
	"github.com/lossfuse/lossfuse/examples/internal/metrics"
	"github.com/lossfuse/lossfuse/examples/internal/naive"
	"github.com/lossfuse/lossfuse/examples/internal/nn"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

type config struct {
	Loss     string
	Epochs   int
	Batch    int
	LR       float64
	Momentum float64
	Delta    float64 // Huber threshold, in standard deviations of the target
	Seed     uint64
	TestFrac float64
	// TimingRounds is how many interleaved passes time the two losses.
	TimingRounds int
}

func defaults() config {
	return config{Loss: "both", Epochs: 100, Batch: 32, LR: 0.01, Momentum: 0.9, Delta: 1,
		Seed: 1, TestFrac: 0.25, TimingRounds: 30}
}

type run struct {
	Loss      string
	Backend   harness.Backend
	EpochLoss []float64
	MAE, RMSE float64 // on the test split, in the target's units
	Clock     harness.Clock
	Agreement harness.Agreement
	Timing    []harness.LossTiming // float64, float32
}

// result is what trainAll returns: every run and the least-squares reference.
type result struct {
	Runs              []*run
	OLSMAE, OLSRMSE   float64
	TargetSD, MeanMAE float64 // predicting the training mean: the trivial baseline
}

func main() {
	c := defaults()
	flag.StringVar(&c.Loss, "loss", c.Loss, harness.LossFlagUsage)
	flag.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
	flag.IntVar(&c.Batch, "batch", c.Batch, "mini-batch size")
	flag.Float64Var(&c.LR, "lr", c.LR, "learning rate")
	flag.Float64Var(&c.Delta, "delta", c.Delta, "Huber δ in standard deviations of the target")
	flag.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the split, initialisation and batch order")
	flag.Parse()
	if _, err := trainAll(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "diabetes:", err)
		os.Exit(1)
	}
}

func trainAll(c config, w io.Writer) (*result, error) {
	backends, err := harness.Backends(c.Loss)
	if err != nil {
		return nil, err
	}
	all, err := dataset.Diabetes()
	if err != nil {
		return nil, err
	}
	train, test := dataset.Split(all, c.TestFrac, c.Seed, false)
	dataset.Standardize(train, test)
	// The model predicts the standardised target; metrics undo the scaling.
	mean, sd := meanSD(train.Y)
	ytrain := make([]float64, train.N)
	for i, y := range train.Y {
		ytrain[i] = (y - mean) / sd
	}
	unscale := func(p []float64) []float64 {
		out := make([]float64, len(p))
		for i, v := range p {
			out[i] = v*sd + mean
		}
		return out
	}
	res := &result{TargetSD: sd}
	constant := make([]float64, test.N)
	for i := range constant {
		constant[i] = mean
	}
	res.MeanMAE = metrics.MAE(constant, test.Y)
	ols, err := leastSquares(train, ytrain)
	if err != nil {
		return nil, err
	}
	olsPred := unscale(predict(ols, test))
	res.OLSMAE, res.OLSRMSE = metrics.MAE(olsPred, test.Y), metrics.RMSE(olsPred, test.Y)

	fmt.Fprintf(w, "diabetes: %d train / %d test patients, 10 features; target sd %.1f; lossfuse backend %s\n",
		train.N, test.N, sd, kernels.Backend())
	fmt.Fprintf(w, "linear model; SGD lr %.3g momentum %.2g, batch %d, %d epochs, seed %d; Huber δ = %.2g sd\n",
		c.LR, c.Momentum, c.Batch, c.Epochs, c.Seed, c.Delta)
	fmt.Fprintf(w, "reference: exact least squares test MAE %.2f RMSE %.2f; predicting the training mean MAE %.2f RMSE %.2f\n",
		res.OLSMAE, res.OLSRMSE, res.MeanMAE, metrics.RMSE(constant, test.Y))
	for _, loss := range []string{"MSE", "Huber"} {
		var pair []*run
		for _, b := range backends {
			r, err := fit(c, loss, b, train, ytrain, test, unscale)
			if err != nil {
				return nil, err
			}
			pair = append(pair, r)
		}
		report(w, pair)
		res.Runs = append(res.Runs, pair...)
	}
	return res, nil
}

// lossFunc computes the mean loss of pred against target and writes its gradient.
type lossFunc[T naive.Float] func(pred, target, grad []T) (T, error)

// refFunc computes the reference result (package reference) for the same call.
type refFunc[T naive.Float] func(pred, target []T) (*reference.Result, error)

func losses[T naive.Float](c config, name string) (fused, textbook lossFunc[T], ref refFunc[T]) {
	if name == "MSE" {
		return func(p, t, g []T) (T, error) { return kernels.MSE(p, t, g, nil) },
			func(p, t, g []T) (T, error) { return naive.MSE(p, t, g), nil },
			func(p, t []T) (*reference.Result, error) { return reference.MSE(p, t, nil) }
	}
	return func(p, t, g []T) (T, error) { return kernels.Huber(p, t, g, &kernels.HuberOptions[T]{Delta: c.Delta}) },
		func(p, t, g []T) (T, error) { return naive.Huber(p, t, c.Delta, g), nil },
		func(p, t []T) (*reference.Result, error) {
			return reference.Huber(p, t, &kernels.HuberOptions[T]{Delta: c.Delta})
		}
}

func fit(c config, lossName string, backend harness.Backend, train *dataset.Set, ytrain []float64,
	test *dataset.Set, unscale func([]float64) []float64) (*run, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 2))
	layer := nn.NewLinear(train.D, 1, 1, rng)
	fused, textbook, refLoss := losses[float64](c, lossName)
	lossFn := textbook
	if backend == harness.Lossfuse {
		lossFn = fused
	}
	r := &run{Loss: lossName, Backend: backend}
	xb := mat.NewDense(c.Batch, train.D, nil)
	pb := mat.NewDense(c.Batch, 1, nil)
	dp := mat.NewDense(c.Batch, 1, nil)
	yb := make([]float64, c.Batch)
	check := make([]float64, c.Batch)
	clk := &r.Clock
	for epoch := 0; epoch < c.Epochs; epoch++ {
		var sum float64
		for bi, idx := range nn.Batches(train.N, c.Batch, rng) {
			n := len(idx)
			clk.StartStep()
			x := nn.Gather(xb, train.X, train.D, idx)
			for i, j := range idx {
				yb[i] = ytrain[j]
			}
			p, g := nn.Rows(pb, n), nn.Rows(dp, n)
			clk.Start()
			layer.Forward(x, p)
			clk.Stop(&clk.Matmul)
			clk.Start()
			loss, err := lossFn(nn.Data(p), yb[:n], nn.Data(g))
			clk.Stop(&clk.Loss)
			if err != nil {
				return nil, err
			}
			clk.LossElems += n
			clk.Start()
			layer.Backward(x, g, nil)
			clk.Stop(&clk.Matmul)
			layer.Step(c.LR, c.Momentum)
			clk.EndStep()
			if backend == harness.Lossfuse && bi == 0 {
				ref, err := refLoss(nn.Data(p), yb[:n])
				if err != nil {
					return nil, err
				}
				want, _ := textbook(nn.Data(p), yb[:n], check[:n])
				r.Agreement.Check(ref, loss, nn.Data(g), want, check[:n])
			}
			sum += loss * float64(n)
		}
		r.EpochLoss = append(r.EpochLoss, sum/float64(train.N))
	}
	pred := unscale(forward(layer, test))
	r.MAE, r.RMSE = metrics.MAE(pred, test.Y), metrics.RMSE(pred, test.Y)

	// Time both losses on the trained model's predictions, batch by batch,
	// in float64 (as trained) and in float32 (the same values rounded).
	trainPred := forward(layer, train)
	t64, err := timeLosses(c, lossName, trainPred, ytrain)
	if err != nil {
		return nil, err
	}
	t32, err := timeLosses(c, lossName, harness.Float32(trainPred), harness.Float32(ytrain))
	r.Timing = []harness.LossTiming{t64, t32}
	return r, err
}

// timeLosses times the naive and the lossfuse loss over every batch.
func timeLosses[T naive.Float](c config, lossName string, pred, target []T) (harness.LossTiming, error) {
	fused, textbook, _ := losses[T](c, lossName)
	grad := make([]T, len(pred))
	pass := func(f lossFunc[T]) func() error {
		return func() error {
			for lo := 0; lo < len(pred); lo += c.Batch {
				hi := min(lo+c.Batch, len(pred))
				if _, err := f(pred[lo:hi], target[lo:hi], grad[lo:hi]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return harness.TimeLosses(harness.DtypeName[T](), c.TimingRounds, len(pred), pass(textbook), pass(fused))
}

func forward(l *nn.Linear, s *dataset.Set) []float64 {
	p := mat.NewDense(s.N, 1, nil)
	l.Forward(mat.NewDense(s.N, s.D, s.X), p)
	return nn.Data(p)
}

// linear is a fitted model y = x·w + b.
type linear struct {
	w []float64
	b float64
}

// leastSquares solves min ‖[X 1]·θ − y‖² exactly (QR, via gonum).
func leastSquares(s *dataset.Set, y []float64) (linear, error) {
	a := mat.NewDense(s.N, s.D+1, nil)
	for i := 0; i < s.N; i++ {
		for j, v := range s.Row(i) {
			a.Set(i, j, v)
		}
		a.Set(i, s.D, 1)
	}
	var theta mat.Dense
	if err := theta.Solve(a, mat.NewDense(s.N, 1, y)); err != nil {
		return linear{}, fmt.Errorf("least squares: %w", err)
	}
	m := linear{w: make([]float64, s.D), b: theta.At(s.D, 0)}
	for j := range m.w {
		m.w[j] = theta.At(j, 0)
	}
	return m, nil
}

func predict(m linear, s *dataset.Set) []float64 {
	p := make([]float64, s.N)
	for i := range p {
		p[i] = m.b
		for j, v := range s.Row(i) {
			p[i] += v * m.w[j]
		}
	}
	return p
}

func meanSD(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(sd / float64(len(x)))
}

func report(w io.Writer, runs []*run) {
	fmt.Fprintf(w, "\n== %s ==\n", runs[0].Loss)
	fmt.Fprintf(w, "%5s", "epoch")
	for _, r := range runs {
		fmt.Fprintf(w, "  %14s", "loss "+string(r.Backend))
	}
	fmt.Fprintln(w)
	last := len(runs[0].EpochLoss) - 1
	for e := range runs[0].EpochLoss {
		if e >= 3 && e%20 != 19 && e != last {
			continue
		}
		fmt.Fprintf(w, "%5d", e+1)
		for _, r := range runs {
			fmt.Fprintf(w, "  %14.10f", r.EpochLoss[e])
		}
		fmt.Fprintln(w)
	}
	for _, r := range runs {
		fmt.Fprintf(w, "  %-9s test MAE %.2f RMSE %.2f\n", r.Backend, r.MAE, r.RMSE)
	}
	for _, r := range runs {
		r.Clock.Print(w, string(r.Backend))
	}
	for _, r := range runs {
		if r.Backend == harness.Lossfuse {
			fmt.Fprintf(w, "  %s\n", &r.Agreement)
		}
	}
	if len(runs) == 2 {
		fmt.Fprintf(w, "  the two runs' epoch losses differ by at most %.1e (relative)\n",
			harness.MaxRelDiff(runs[0].EpochLoss, runs[1].EpochLoss))
	}
	for _, t := range runs[len(runs)-1].Timing {
		fmt.Fprintf(w, "  %s\n", t)
	}
}
