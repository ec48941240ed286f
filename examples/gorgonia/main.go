// Command gorgonia trains the digits classifiers of ../digits (a softmax
// classifier and a one-hidden-layer MLP, cross-entropy with label
// smoothing) as gorgonia graphs, once with gorgonia's own loss
// (LogSoftMax, HadamardProd, Sum, Mean, Neg, differentiated node by node)
// and once with fusedop.SoftmaxCrossEntropy, the lossfuse kernel as one
// gorgonia operation, and compares accuracy and time per training step.
//
//	go run ./gorgonia
//	go run ./gorgonia -loss=lossfuse -model=mlp
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lossfuse/lossfuse/examples/gorgonia/fusedop"
	"github.com/lossfuse/lossfuse/examples/internal/dataset"
	"github.com/lossfuse/lossfuse/examples/internal/harness"
	"github.com/lossfuse/lossfuse/examples/internal/metrics"
	"github.com/lossfuse/lossfuse/examples/internal/nn"
	"github.com/lossfuse/lossfuse/kernels"
)

const k = 10

type config struct {
	Loss      string // gorgonia, lossfuse or both
	Models    []string
	Epochs    int
	Batch     int
	Hidden    int
	LR        float64
	Momentum  float64
	Smoothing float64
	Seed      uint64
	TestFrac  float64
	// TimingRounds is how many interleaved rounds time the loss graphs.
	TimingRounds int
}

func defaults() config {
	return config{Loss: "both", Models: []string{"softmax", "mlp"}, Epochs: 30, Batch: 64, Hidden: 64,
		LR: 0.05, Momentum: 0.9, Smoothing: 0.1, Seed: 1, TestFrac: 0.25, TimingRounds: 30}
}

type run struct {
	Model     string
	Loss      string // "gorgonia" or "lossfuse"
	EpochLoss []float64
	TestAcc   float64
	Steps     int
	StepTime  time.Duration // total over the steps
	// LossNs is the best time per element of the loss and its gradient
	// alone as a gorgonia graph (set when both losses run).
	LossNs float64
}

func main() {
	c := defaults()
	model := flag.String("model", "both", "softmax, mlp or both")
	flag.StringVar(&c.Loss, "loss", c.Loss, "gorgonia (its own LogSoftMax-based cross-entropy), lossfuse (the fused operation) or both")
	flag.IntVar(&c.Epochs, "epochs", c.Epochs, "training epochs")
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
		fmt.Fprintf(os.Stderr, "gorgonia: -model=%q: want softmax, mlp or both\n", *model)
		os.Exit(2)
	}
	if _, err := trainAll(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gorgonia:", err)
		os.Exit(1)
	}
}

func trainAll(c config, w io.Writer) ([]*run, error) {
	var losses []string
	switch c.Loss {
	case "both":
		losses = []string{"gorgonia", "lossfuse"}
	case "gorgonia", "lossfuse":
		losses = []string{c.Loss}
	default:
		return nil, fmt.Errorf("-loss=%q: want gorgonia, lossfuse or both", c.Loss)
	}
	all, err := dataset.Digits()
	if err != nil {
		return nil, err
	}
	train, test := dataset.Split(all, c.TestFrac, c.Seed, true)
	dataset.Standardize(train, test)
	fmt.Fprintf(w, "digits with gorgonia: %d train / %d test images; lossfuse backend %s\n", train.N, test.N, kernels.Backend())
	fmt.Fprintf(w, "cross-entropy, label smoothing %.2g; momentum SGD lr %.3g μ %.2g, batch %d (last partial batch of an epoch dropped), %d epochs, seed %d\n",
		c.Smoothing, c.LR, c.Momentum, c.Batch, c.Epochs, c.Seed)
	var runs []*run
	for _, m := range c.Models {
		pair, err := fit(c, m, losses, train, test)
		if err != nil {
			return nil, err
		}
		report(w, c, pair)
		runs = append(runs, pair...)
	}
	return runs, nil
}

// net is the training graph of one model.
type net struct {
	g       *G.ExprGraph
	x, y    *G.Node // inputs: features, and labels (Int32) or targets (N×K)
	params  G.Nodes // W1, b1[, W2, b2]
	cost    *G.Node
	xs, ys  tensor.Tensor // the tensors bound to x and y, refilled every step
	yLabels []int32       // backing of ys for the fused loss
	yOneHot []float64     // backing of ys for gorgonia's loss
}

func build(c config, model, loss string, d int, rng *rand.Rand) (*net, error) {
	n := &net{g: G.NewGraph()}
	n.xs = tensor.New(tensor.WithShape(c.Batch, d), tensor.Of(tensor.Float64))
	n.x = G.NewMatrix(n.g, tensor.Float64, G.WithShape(c.Batch, d), G.WithName("x"), G.WithValue(n.xs))
	// The same initialisation as ../digits (nn.NewLinear), drawn from rng.
	layer := func(in, out int, scale float64, name string) (w, b *G.Node) {
		init := nn.NewLinear(in, out, scale, rng)
		w = G.NewMatrix(n.g, tensor.Float64, G.WithShape(in, out), G.WithName("W"+name),
			G.WithValue(tensor.New(tensor.WithShape(in, out), tensor.WithBacking(nn.Data(init.W)))))
		b = G.NewVector(n.g, tensor.Float64, G.WithShape(out), G.WithName("b"+name),
			G.WithValue(tensor.New(tensor.WithShape(out), tensor.WithBacking(init.B))))
		n.params = append(n.params, w, b)
		return w, b
	}
	affine := func(in, w, b *G.Node) (*G.Node, error) {
		xw, err := G.Mul(in, w)
		if err != nil {
			return nil, err
		}
		return G.BroadcastAdd(xw, b, nil, []byte{0})
	}
	var logits *G.Node
	var err error
	if model == "mlp" {
		w1, b1 := layer(d, c.Hidden, 2, "1")
		w2, b2 := layer(c.Hidden, k, 1, "2")
		h, err := affine(n.x, w1, b1)
		if err != nil {
			return nil, err
		}
		if h, err = G.Rectify(h); err != nil {
			return nil, err
		}
		logits, err = affine(h, w2, b2)
	} else {
		w1, b1 := layer(d, k, 1, "1")
		logits, err = affine(n.x, w1, b1)
	}
	if err != nil {
		return nil, err
	}
	if loss == "lossfuse" {
		n.yLabels = make([]int32, c.Batch)
		n.ys = tensor.New(tensor.WithShape(c.Batch), tensor.WithBacking(n.yLabels))
		n.y = G.NewVector(n.g, tensor.Int32, G.WithShape(c.Batch), G.WithName("labels"), G.WithValue(n.ys))
		n.cost, err = fusedop.SoftmaxCrossEntropy(logits, n.y, c.Smoothing)
	} else {
		n.yOneHot = make([]float64, c.Batch*k)
		n.ys = tensor.New(tensor.WithShape(c.Batch, k), tensor.WithBacking(n.yOneHot))
		n.y = G.NewMatrix(n.g, tensor.Float64, G.WithShape(c.Batch, k), G.WithName("targets"), G.WithValue(n.ys))
		n.cost, err = fusedop.Reference(logits, n.y)
	}
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(n.cost, n.params...); err != nil {
		return nil, err
	}
	return n, nil
}

// fit trains one model with each loss in lockstep: the nets take turns
// step by step on the same batches, so that both see the same machine
// load, and each net starts from the same seeded initialisation.
func fit(c config, model string, losses []string, train, test *dataset.Set) ([]*run, error) {
	var nets []*net
	var vms []G.VM
	var solvers []G.Solver
	var runs []*run
	for _, loss := range losses {
		n, err := build(c, model, loss, train.D, rand.New(rand.NewPCG(c.Seed, 2)))
		if err != nil {
			return nil, fmt.Errorf("%s with %s loss: %w", model, loss, err)
		}
		vm := G.NewTapeMachine(n.g, G.BindDualValues(n.params...))
		defer vm.Close()
		nets, vms = append(nets, n), append(vms, vm)
		solvers = append(solvers, G.NewMomentum(G.WithLearnRate(c.LR), G.WithMomentum(c.Momentum)))
		runs = append(runs, &run{Model: model, Loss: loss})
	}
	rng := rand.New(rand.NewPCG(c.Seed, 4)) // batch order
	labels := train.Labels()
	yb := make([]int32, c.Batch)
	for epoch := 0; epoch < c.Epochs; epoch++ {
		sums := make([]float64, len(nets))
		var rows int
		for _, idx := range nn.Batches(train.N, c.Batch, rng) {
			if len(idx) < c.Batch {
				continue // a gorgonia graph has a fixed batch size
			}
			for i, j := range idx {
				yb[i] = labels[j]
			}
			for m, n := range nets {
				xb := n.xs.Data().([]float64)
				for i, j := range idx {
					copy(xb[i*train.D:(i+1)*train.D], train.Row(j))
				}
				start := time.Now()
				if n.yLabels != nil {
					copy(n.yLabels, yb)
				} else {
					fusedop.Targets(n.yOneHot, yb, k, c.Smoothing)
				}
				if err := vms[m].RunAll(); err != nil {
					return nil, err
				}
				if err := solvers[m].Step(G.NodesToValueGrads(n.params)); err != nil {
					return nil, err
				}
				vms[m].Reset()
				runs[m].StepTime += time.Since(start)
				runs[m].Steps++
				sums[m] += n.cost.Value().Data().(float64) * float64(len(idx))
			}
			rows += len(idx)
		}
		for m := range runs {
			runs[m].EpochLoss = append(runs[m].EpochLoss, sums[m]/float64(rows))
		}
	}
	for m, r := range runs {
		r.TestAcc = metrics.Accuracy(predict(nets[m].params, test), test.Labels(), k)
	}
	if len(runs) == 2 {
		var err error
		runs[0].LossNs, runs[1].LossNs, err = timeLossGraphs(c, nets[0].params, train, c.TimingRounds)
		if err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// lossGraph is the loss alone as a gorgonia graph: logits in, cost and
// ∂cost/∂logits out.
type lossGraph struct {
	vm     G.VM
	logits *G.Node
}

func newLossGraph(loss string, logits []float64, labels []int32, eps float64) (*lossGraph, error) {
	n := len(labels)
	g := G.NewGraph()
	z := G.NewMatrix(g, tensor.Float64, G.WithShape(n, k), G.WithName("logits"),
		G.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(logits))))
	var cost *G.Node
	var err error
	if loss == "lossfuse" {
		y := G.NewVector(g, tensor.Int32, G.WithShape(n), G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(labels))))
		cost, err = fusedop.SoftmaxCrossEntropy(z, y, eps)
	} else {
		t := make([]float64, n*k)
		fusedop.Targets(t, labels, k, eps)
		y := G.NewMatrix(g, tensor.Float64, G.WithShape(n, k), G.WithValue(tensor.New(tensor.WithShape(n, k), tensor.WithBacking(t))))
		cost, err = fusedop.Reference(z, y)
	}
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(cost, z); err != nil {
		return nil, err
	}
	return &lossGraph{vm: G.NewTapeMachine(g, G.BindDualValues(z)), logits: z}, nil
}

// timeLossGraphs times the loss and its gradient alone inside gorgonia,
// on one batch of the trained model's logits, for both losses alternately,
// and returns each one's best time per element.
func timeLossGraphs(c config, params G.Nodes, train *dataset.Set, rounds int) (gorgonia, fused float64, err error) {
	sub := &dataset.Set{X: train.X[:c.Batch*train.D], N: c.Batch, D: train.D}
	logits := predict(params, sub)
	labels := train.Labels()[:c.Batch]
	var graphs []*lossGraph
	for _, loss := range []string{"gorgonia", "lossfuse"} {
		lg, err := newLossGraph(loss, logits, labels, c.Smoothing)
		if err != nil {
			return 0, 0, err
		}
		defer lg.vm.Close()
		graphs = append(graphs, lg)
	}
	best := []float64{math.Inf(1), math.Inf(1)}
	const reps = 20 // graph runs per timed round
	for r := 0; r < rounds; r++ {
		for i, lg := range graphs {
			start := time.Now()
			for q := 0; q < reps; q++ {
				if err := lg.vm.RunAll(); err != nil {
					return 0, 0, err
				}
				lg.vm.Reset()
			}
			best[i] = math.Min(best[i], float64(time.Since(start).Nanoseconds())/float64(reps*c.Batch*k))
		}
	}
	return best[0], best[1], nil
}

// predict runs the trained parameters on every row of s in plain Go.
func predict(params G.Nodes, s *dataset.Set) []float64 {
	x, d := s.X, s.D
	for l := 0; l < len(params); l += 2 {
		w := params[l].Value().Data().([]float64)
		b := params[l+1].Value().Data().([]float64)
		out := len(b)
		y := make([]float64, s.N*out)
		for i := 0; i < s.N; i++ {
			for j := 0; j < out; j++ {
				v := b[j]
				for q := 0; q < d; q++ {
					v += x[i*d+q] * w[q*out+j]
				}
				if l+2 < len(params) {
					v = math.Max(v, 0)
				}
				y[i*out+j] = v
			}
		}
		x, d = y, out
	}
	return x
}

func report(w io.Writer, c config, runs []*run) {
	name := "softmax classifier 64-10"
	if runs[0].Model == "mlp" {
		name = fmt.Sprintf("MLP 64-%d(ReLU)-10", c.Hidden)
	}
	fmt.Fprintf(w, "\n== %s ==\n%5s", name, "epoch")
	for _, r := range runs {
		fmt.Fprintf(w, "  %14s", "loss "+r.Loss)
	}
	fmt.Fprintln(w)
	last := len(runs[0].EpochLoss) - 1
	for e := range runs[0].EpochLoss {
		if e >= 5 && e%5 != 4 && e != last {
			continue
		}
		fmt.Fprintf(w, "%5d", e+1)
		for _, r := range runs {
			fmt.Fprintf(w, "  %14.10f", r.EpochLoss[e])
		}
		fmt.Fprintln(w)
	}
	for _, r := range runs {
		fmt.Fprintf(w, "  %-9s test accuracy %.4f, time/step %v (%d steps)\n", r.Loss, r.TestAcc, r.StepTime/time.Duration(r.Steps), r.Steps)
	}
	if len(runs) == 2 {
		fmt.Fprintf(w, "  epoch losses differ by at most %.1e (relative); whole-step speed-up of the fused operation: %.2fx\n",
			harness.MaxRelDiff(runs[0].EpochLoss, runs[1].EpochLoss),
			float64(runs[0].StepTime)/float64(runs[1].StepTime))
		fmt.Fprintf(w, "  loss+gradient alone as a gorgonia graph (one %d×%d batch, best of %d interleaved rounds): gorgonia %.1f ns/element, lossfuse %.1f ns/element: speed-up %.2fx\n",
			c.Batch, k, c.TimingRounds, runs[0].LossNs, runs[1].LossNs, runs[0].LossNs/runs[1].LossNs)
	}
}
