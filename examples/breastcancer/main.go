// Command breastcancer trains a logistic model on the Wisconsin diagnostic
// breast cancer data (569 rows, 30 features; malignant, the positive class,
// is the minority at 37%) four times: with plain BCE-with-logits, with a
// pos_weight that balances the classes, and with sigmoid focal loss at
// torchvision's α = 0.25 and at a class-balanced α. It
// prints precision, recall and F1 for the malignant class on the test split.
// gonum does the matrix products; the loss and its gradient come from
// lossfuse or from a textbook Go loop (-loss=naive), or both, to compare.
//
//	go run ./breastcancer
//	go run ./breastcancer -loss=lossfuse -gamma=1
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

type config struct {
	Loss     string
	Epochs   int
	Batch    int
	LR       float64
	Momentum float64
	Gamma    float64 // focal γ
	Seed     uint64
	TestFrac float64
	// TimingRounds is how many interleaved passes time the two losses.
	TimingRounds int
}

func defaults() config {
	return config{Loss: "both", Epochs: 40, Batch: 32, LR: 0.01, Momentum: 0.9,
		Gamma: 2, Seed: 1, TestFrac: 0.25, TimingRounds: 30}
}

// objective is one of the losses the model is trained with.
type objective struct {
	Name      string
	PosWeight float64 // BCE-with-logits' pos_weight; 0 for focal loss
	Alpha     float64 // focal α for the positive class
}

type run struct {
	Loss      objective
	Backend   harness.Backend
	EpochLoss []float64
	Test      metrics.Binary
	Clock     harness.Clock
	Agreement harness.Agreement
	Timing    []harness.LossTiming // float64, float32
}

func main() {
	c := defaults()
	flag.StringVar(&c.Loss, "loss", c.Loss, harness.LossFlagUsage)
	flag.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
	flag.IntVar(&c.Batch, "batch", c.Batch, "mini-batch size")
	flag.Float64Var(&c.LR, "lr", c.LR, "learning rate")
	flag.Float64Var(&c.Gamma, "gamma", c.Gamma, "focal loss γ")
	flag.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the split, initialisation and batch order")
	flag.Parse()
	if _, err := trainAll(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "breastcancer:", err)
		os.Exit(1)
	}
}

func trainAll(c config, w io.Writer) ([]*run, error) {
	backends, err := harness.Backends(c.Loss)
	if err != nil {
		return nil, err
	}
	all, err := dataset.BreastCancer()
	if err != nil {
		return nil, err
	}
	train, test := dataset.Split(all, c.TestFrac, c.Seed, true)
	dataset.Standardize(train, test)
	var pos float64
	for _, y := range train.Y {
		pos += y
	}
	// pos_weight = #negatives / #positives, PyTorch's documented recipe.
	pw := (float64(train.N) - pos) / pos
	fmt.Fprintf(w, "breast cancer: %d train / %d test rows, 30 features, %.0f%% malignant (positive); lossfuse backend %s\n",
		train.N, test.N, 100*pos/float64(train.N), kernels.Backend())
	fmt.Fprintf(w, "logistic model; SGD lr %.3g momentum %.2g, batch %d, %d epochs, seed %d; focal γ %.2g\n",
		c.LR, c.Momentum, c.Batch, c.Epochs, c.Seed, c.Gamma)
	balanced := 1 - pos/float64(train.N) // α that gives both classes equal total weight
	objectives := []objective{
		{Name: "BCE-with-logits", PosWeight: 1},
		{Name: fmt.Sprintf("BCE-with-logits, pos_weight %.3f (#negatives/#positives)", pw), PosWeight: pw},
		{Name: "sigmoid focal, α 0.25 (torchvision's default)", Alpha: 0.25},
		{Name: fmt.Sprintf("sigmoid focal, α %.3f (class-balanced)", balanced), Alpha: balanced},
	}
	var runs []*run
	for _, obj := range objectives {
		var pair []*run
		for _, b := range backends {
			r, err := fit(c, obj, b, train, test)
			if err != nil {
				return nil, err
			}
			pair = append(pair, r)
		}
		report(w, pair)
		runs = append(runs, pair...)
	}
	return runs, nil
}

// lossFunc computes the mean loss of n logits x against y and writes its gradient.
type lossFunc[T naive.Float] func(x, y, grad []T) (T, error)

// refFunc computes the reference result (package reference) for the same call.
type refFunc[T naive.Float] func(x, y []T) (*reference.Result, error)

func losses[T naive.Float](c config, obj objective) (fused, textbook lossFunc[T], ref refFunc[T]) {
	if pw := obj.PosWeight; pw > 0 {
		var opts kernels.BinaryOptions[T]
		if pw != 1 {
			opts.PosWeight = []T{T(pw)}
		}
		fused = func(x, y, g []T) (T, error) { return kernels.BCEWithLogits(x, y, len(x), 1, g, &opts) }
		textbook = func(x, y, g []T) (T, error) { return naive.BCEWithLogits(x, y, pw, g), nil }
		ref = func(x, y []T) (*reference.Result, error) { return reference.BCEWithLogits(x, y, len(x), 1, &opts) }
		return fused, textbook, ref
	}
	opts := kernels.FocalOptions[T]{Alpha: obj.Alpha, Gamma: c.Gamma}
	fused = func(x, y, g []T) (T, error) { return kernels.SigmoidFocal(x, y, len(x), 1, g, &opts) }
	textbook = func(x, y, g []T) (T, error) { return naive.SigmoidFocal(x, y, obj.Alpha, c.Gamma, g), nil }
	ref = func(x, y []T) (*reference.Result, error) { return reference.SigmoidFocal(x, y, len(x), 1, &opts) }
	return fused, textbook, ref
}

// fit trains one logistic model; every backend gets the same seed, so the
// same initial weights and batches.
func fit(c config, obj objective, backend harness.Backend, train, test *dataset.Set) (*run, error) {
	rng := rand.New(rand.NewPCG(c.Seed, 2))
	layer := nn.NewLinear(train.D, 1, 1, rng)
	fused, textbook, refLoss := losses[float64](c, obj)
	lossFn := textbook
	if backend == harness.Lossfuse {
		lossFn = fused
	}
	r := &run{Loss: obj, Backend: backend}
	xb := mat.NewDense(c.Batch, train.D, nil)
	zb := mat.NewDense(c.Batch, 1, nil)
	dz := mat.NewDense(c.Batch, 1, nil)
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
				yb[i] = train.Y[j]
			}
			z, g := nn.Rows(zb, n), nn.Rows(dz, n)
			clk.Start()
			layer.Forward(x, z)
			clk.Stop(&clk.Matmul)
			clk.Start()
			loss, err := lossFn(nn.Data(z), yb[:n], nn.Data(g))
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
				ref, err := refLoss(nn.Data(z), yb[:n])
				if err != nil {
					return nil, err
				}
				want, _ := textbook(nn.Data(z), yb[:n], check[:n])
				r.Agreement.Check(ref, loss, nn.Data(g), want, check[:n])
			}
			sum += loss * float64(n)
		}
		r.EpochLoss = append(r.EpochLoss, sum/float64(train.N))
	}
	z := mat.NewDense(test.N, 1, nil)
	layer.Forward(mat.NewDense(test.N, test.D, test.X), z)
	r.Test = metrics.BinaryScores(nn.Data(z), test.Y)

	// Time both losses on the trained model's logits, batch by batch, in
	// float64 (as trained) and in float32 (the same values rounded).
	trainZ := mat.NewDense(train.N, 1, nil)
	layer.Forward(mat.NewDense(train.N, train.D, train.X), trainZ)
	logits := nn.Data(trainZ)
	t64, err := timeLosses(c, obj, logits, train.Y)
	if err != nil {
		return nil, err
	}
	t32, err := timeLosses(c, obj, harness.Float32(logits), harness.Float32(train.Y))
	r.Timing = []harness.LossTiming{t64, t32}
	return r, err
}

// timeLosses times the naive and the lossfuse loss over every batch.
func timeLosses[T naive.Float](c config, obj objective, logits, y []T) (harness.LossTiming, error) {
	fused, textbook, _ := losses[T](c, obj)
	grad := make([]T, len(logits))
	pass := func(f lossFunc[T]) func() error {
		return func() error {
			for lo := 0; lo < len(y); lo += c.Batch {
				hi := min(lo+c.Batch, len(y))
				if _, err := f(logits[lo:hi], y[lo:hi], grad[lo:hi]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return harness.TimeLosses(harness.DtypeName[T](), c.TimingRounds, len(y), pass(textbook), pass(fused))
}

func report(w io.Writer, runs []*run) {
	fmt.Fprintf(w, "\n== %s ==\n", runs[0].Loss.Name)
	fmt.Fprintf(w, "%5s", "epoch")
	for _, r := range runs {
		fmt.Fprintf(w, "  %14s", "loss "+string(r.Backend))
	}
	fmt.Fprintln(w)
	last := len(runs[0].EpochLoss) - 1
	for e := range runs[0].EpochLoss {
		if e >= 3 && e%10 != 9 && e != last {
			continue
		}
		fmt.Fprintf(w, "%5d", e+1)
		for _, r := range runs {
			fmt.Fprintf(w, "  %14.10f", r.EpochLoss[e])
		}
		fmt.Fprintln(w)
	}
	for _, r := range runs {
		t := r.Test
		fmt.Fprintf(w, "  %-9s test malignant: precision %.4f recall %.4f F1 %.4f (TP %d FP %d FN %d TN %d), accuracy %.4f\n",
			r.Backend, t.Precision, t.Recall, t.F1, t.TP, t.FP, t.FN, t.TN, t.Acc)
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
