// Command digits trains two classifiers of scikit-learn's 8×8 handwritten
// digits with softmax cross-entropy and label smoothing: a softmax
// (multinomial logistic) classifier and an MLP with one hidden ReLU layer.
// gonum does the matrix products; the loss and its gradient come from
// lossfuse or from a textbook Go loop (-loss=naive), or both, to compare.
//
//	go run ./digits                 # both losses, both models
//	go run ./digits -loss=lossfuse -model=mlp -epochs=50
package main

import (
	"flag"
	"fmt"
	"io"
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

// config holds the command-line settings.
type config struct {
	Loss      string // naive, lossfuse or both
	Models    []string
	Epochs    int
	Batch     int
	Hidden    int
	LR        float64
	Momentum  float64
	Smoothing float64
	Seed      uint64
	TestFrac  float64
	// TimingRounds is how many interleaved passes time the two losses.
	TimingRounds int
}

func defaults() config {
	return config{Loss: "both", Models: []string{"softmax", "mlp"}, Epochs: 30, Batch: 64, Hidden: 64,
		LR: 0.05, Momentum: 0.9, Smoothing: 0.1, Seed: 1, TestFrac: 0.25, TimingRounds: 30}
}

// run is one model trained with one loss backend.
type run struct {
	Model     string
	Backend   harness.Backend
	EpochLoss []float64 // mean training loss of each epoch
	TestAcc   float64
	TrainAcc  float64
	Clock     harness.Clock
	Agreement harness.Agreement    // filled for lossfuse runs
	Timing    []harness.LossTiming // float64, float32
}

func main() {
	c := defaults()
	model := flag.String("model", "both", "softmax, mlp or both")
	flag.StringVar(&c.Loss, "loss", c.Loss, harness.LossFlagUsage)
	flag.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
	flag.IntVar(&c.Batch, "batch", c.Batch, "mini-batch size")
	flag.IntVar(&c.Hidden, "hidden", c.Hidden, "hidden units of the MLP")
	flag.Float64Var(&c.LR, "lr", c.LR, "learning rate")
	flag.Float64Var(&c.Smoothing, "smoothing", c.Smoothing, "label smoothing ε")
	flag.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the split, initialisation and batch order")
	flag.Parse()
	switch *model {
	case "both":
	case "softmax", "mlp":
		c.Models = []string{*model}
	default:
		fmt.Fprintf(os.Stderr, "digits: -model=%q: want softmax, mlp or both\n", *model)
		os.Exit(2)
	}
	if _, err := trainAll(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "digits:", err)
		os.Exit(1)
	}
}

// trainAll loads and splits the data, trains every requested model with
// every requested backend, and prints the results.
func trainAll(c config, w io.Writer) ([]*run, error) {
	backends, err := harness.Backends(c.Loss)
	if err != nil {
		return nil, err
	}
	all, err := dataset.Digits()
	if err != nil {
		return nil, err
	}
	train, test := dataset.Split(all, c.TestFrac, c.Seed, true)
	dataset.Standardize(train, test)
	fmt.Fprintf(w, "digits: %d train / %d test images, 64 features, 10 classes; lossfuse backend %s\n",
		train.N, test.N, kernels.Backend())
	fmt.Fprintf(w, "cross-entropy, label smoothing %.2g; SGD lr %.3g momentum %.2g, batch %d, %d epochs, seed %d\n",
		c.Smoothing, c.LR, c.Momentum, c.Batch, c.Epochs, c.Seed)
	var runs []*run
	for _, m := range c.Models {
		var pair []*run
		for _, b := range backends {
			r, err := fit(c, m, b, train, test)
			if err != nil {
				return nil, err
			}
			pair = append(pair, r)
		}
		report(w, c, pair)
		runs = append(runs, pair...)
	}
	return runs, nil
}

// fit trains one model. The generator is seeded the same way for every
// backend, so the naive and lossfuse runs see identical initial weights
// and batches and differ only in the loss implementation.
func fit(c config, model string, backend harness.Backend, train, test *dataset.Set) (*run, error) {
	const k = 10
	rng := rand.New(rand.NewPCG(c.Seed, 2))
	var layers []*nn.Linear
	if model == "mlp" {
		layers = []*nn.Linear{nn.NewLinear(train.D, c.Hidden, 2, rng), nn.NewLinear(c.Hidden, k, 1, rng)}
	} else {
		layers = []*nn.Linear{nn.NewLinear(train.D, k, 1, rng)}
	}
	r := &run{Model: model, Backend: backend}
	labels := train.Labels()

	xb := mat.NewDense(c.Batch, train.D, nil)
	hb := mat.NewDense(c.Batch, c.Hidden, nil)
	dh := mat.NewDense(c.Batch, c.Hidden, nil)
	zb := mat.NewDense(c.Batch, k, nil)
	dz := mat.NewDense(c.Batch, k, nil)
	yb := make([]int32, c.Batch)
	check := make([]float64, c.Batch*k) // the naive gradient, for the agreement check
	opts := kernels.CrossEntropyOptions[float64]{LabelSmoothing: c.Smoothing}
	clk := &r.Clock

	for epoch := 0; epoch < c.Epochs; epoch++ {
		var sum float64
		for bi, idx := range nn.Batches(train.N, c.Batch, rng) {
			n := len(idx)
			clk.StartStep()
			x := nn.Gather(xb, train.X, train.D, idx)
			for i, j := range idx {
				yb[i] = labels[j]
			}
			z, g := nn.Rows(zb, n), nn.Rows(dz, n)
			var h, gh *mat.Dense
			clk.Start()
			if model == "mlp" {
				h, gh = nn.Rows(hb, n), nn.Rows(dh, n)
				layers[0].Forward(x, h)
				clk.Stop(&clk.Matmul)
				nn.ReLU(h)
				clk.Start()
				layers[1].Forward(h, z)
			} else {
				layers[0].Forward(x, z)
			}
			clk.Stop(&clk.Matmul)

			clk.Start()
			var loss float64
			var err error
			if backend == harness.Naive {
				loss = naive.CrossEntropy(nn.Data(z), yb[:n], n, k, c.Smoothing, nn.Data(g))
			} else {
				loss, err = kernels.CrossEntropy(nn.Data(z), yb[:n], n, k, nn.Data(g), &opts)
			}
			clk.Stop(&clk.Loss)
			if err != nil {
				return nil, err
			}
			clk.LossElems += n * k

			clk.Start()
			if model == "mlp" {
				layers[1].Backward(h, g, gh)
				clk.Stop(&clk.Matmul)
				nn.ReLUBackward(h, gh)
				clk.Start()
				layers[0].Backward(x, gh, nil)
			} else {
				layers[0].Backward(x, g, nil)
			}
			clk.Stop(&clk.Matmul)
			for _, l := range layers {
				l.Step(c.LR, c.Momentum)
			}
			clk.EndStep()

			if backend == harness.Lossfuse && bi == 0 {
				// Outside the timed step: the reference and the naive loss
				// on the same logits.
				ref, err := reference.CrossEntropy(nn.Data(z), yb[:n], n, k, &opts)
				if err != nil {
					return nil, err
				}
				want := naive.CrossEntropy(nn.Data(z), yb[:n], n, k, c.Smoothing, check[:n*k])
				r.Agreement.Check(ref, loss, nn.Data(g), want, check[:n*k])
			}
			sum += loss * float64(n)
		}
		r.EpochLoss = append(r.EpochLoss, sum/float64(train.N))
	}
	trainLogits := forward(layers, train)
	r.TrainAcc = metrics.Accuracy(trainLogits, labels, k)
	r.TestAcc = metrics.Accuracy(forward(layers, test), test.Labels(), k)

	// Time both losses on the trained model's logits, batch by batch, in
	// float64 (as trained) and in float32 (the same logits rounded).
	t64, err := timeLosses(c, trainLogits, labels)
	if err != nil {
		return nil, err
	}
	t32, err := timeLosses(c, harness.Float32(trainLogits), labels)
	r.Timing = []harness.LossTiming{t64, t32}
	return r, err
}

// timeLosses times the naive and the lossfuse loss over every batch of the
// given logits.
func timeLosses[T naive.Float](c config, logits []T, labels []int32) (harness.LossTiming, error) {
	const k = 10
	n := len(labels)
	grad := make([]T, len(logits))
	opts := kernels.CrossEntropyOptions[T]{LabelSmoothing: c.Smoothing}
	pass := func(fused bool) func() error {
		return func() error {
			for lo := 0; lo < n; lo += c.Batch {
				hi := min(lo+c.Batch, n)
				z, g, y := logits[lo*k:hi*k], grad[lo*k:hi*k], labels[lo:hi]
				if !fused {
					naive.CrossEntropy(z, y, hi-lo, k, c.Smoothing, g)
				} else if _, err := kernels.CrossEntropy(z, y, hi-lo, k, g, &opts); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return harness.TimeLosses(harness.DtypeName[T](), c.TimingRounds, n*k, pass(false), pass(true))
}

// forward returns the logits of every row of s.
func forward(layers []*nn.Linear, s *dataset.Set) []float64 {
	x := mat.NewDense(s.N, s.D, s.X)
	for i, l := range layers {
		y := mat.NewDense(s.N, l.Out, nil)
		l.Forward(x, y)
		if i < len(layers)-1 {
			nn.ReLU(y)
		}
		x = y
	}
	return nn.Data(x)
}

// report prints the epoch losses side by side, the test accuracy and time
// split of each run, and, with both backends, their agreement and speed-up.
func report(w io.Writer, c config, runs []*run) {
	fmt.Fprintf(w, "\n== %s ==\n", describe(c, runs[0].Model))
	fmt.Fprintf(w, "%5s", "epoch")
	for _, r := range runs {
		fmt.Fprintf(w, "  %14s", "loss "+string(r.Backend))
	}
	fmt.Fprintln(w)
	for e := range runs[0].EpochLoss {
		fmt.Fprintf(w, "%5d", e+1)
		for _, r := range runs {
			fmt.Fprintf(w, "  %14.10f", r.EpochLoss[e])
		}
		fmt.Fprintln(w)
	}
	for _, r := range runs {
		fmt.Fprintf(w, "  %-9s train accuracy %.4f  test accuracy %.4f\n", r.Backend, r.TrainAcc, r.TestAcc)
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

func describe(c config, model string) string {
	if model == "mlp" {
		return fmt.Sprintf("MLP 64-%d(ReLU)-10", c.Hidden)
	}
	return "softmax classifier 64-10"
}
