package suite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"unsafe"

	"github.com/lossfuse/lossfuse/bench/naive"
	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// Data holds the inputs and output buffers of one kernel at one shape and
// element type. Both ops and every backend share it, so that they all see
// the same numbers.
type Data struct {
	Kernel *Kernel
	Shape  Shape
	DType  DType

	f32 *buffers[float32]
	f64 *buffers[float64]

	naiveRan bool              // the last Runner was the naive baseline's
	ref      *reference.Result // computed on first use
}

// buffers are a case's slices in one element type.
type buffers[T kernels.Float] struct {
	x, y    []T     // logits / predictions / probabilities, and the second input
	targets []int32 // class targets (CrossEntropy, SoftmaxFocal)
	out     []T     // gradient (losses), destination (primitives) or dx (backward passes)
	lse     []T     // LogSumExpBackward: the forward's output (y is dy, len N)

	// CrossEntropyShards: each shard's logits, gradient and stats.
	xs, gs     [][]T
	cuts       []int
	stats      []*kernels.ShardStats
	blockStats []kernels.ShardStats
	shardOpts  kernels.CrossEntropyOptions[T]
}

// Prepare generates the kernel's inputs at shape s, deterministically from
// the seed: logits and predictions ~ N(0, 2²), uniform class targets,
// softmax-normalised probability targets, 0/1 binary targets, and
// probabilities uniform in [0.01, 0.99].
func Prepare(k *Kernel, s Shape, dt DType, seed uint64) *Data {
	d := &Data{Kernel: k, Shape: s, DType: dt}
	if dt == F32 {
		d.f32 = generate[float32](k, s, seed)
	} else {
		d.f64 = generate[float64](k, s, seed)
	}
	return d
}

func generate[T kernels.Float](k *Kernel, s Shape, seed uint64) *buffers[T] {
	r := rand.New(rand.NewPCG(seed, uint64(len(k.Name))))
	nk := s.Elems()
	b := &buffers[T]{x: make([]T, nk)}
	normal := func(dst []T, sigma float64) {
		for i := range dst {
			dst[i] = T(sigma * r.NormFloat64())
		}
	}
	switch k.Family {
	case FamilyCE:
		normal(b.x, 2)
		b.out = make([]T, nk)
		if k.Name == "CrossEntropyProbs" {
			b.y = make([]T, nk)
			for i := 0; i < s.N; i++ {
				row := b.y[i*s.K : (i+1)*s.K]
				var sum float64
				for j := range row {
					e := math.Exp(r.NormFloat64())
					row[j] = T(e)
					sum += e
				}
				for j := range row {
					row[j] = T(float64(row[j]) / sum)
				}
			}
		} else {
			b.targets = make([]int32, s.N)
			for i := range b.targets {
				b.targets[i] = int32(r.IntN(s.K))
			}
		}
	case FamilyBinary:
		b.y, b.out = make([]T, nk), make([]T, nk)
		if k.Name == "KLDiv" { // a student's log-softmax against a teacher's softmax
			distributions(b, s, r)
			break
		}
		if k.Name == "Distill" || k.Name == "DistillReverseKL" || k.Name == "DistillJSD" { // student and teacher logits
			normal(b.x, 2)
			normal(b.y, 2)
			break
		}
		if k.Name == "BCE" || k.Name == "FocalProbs" {
			for i := range b.x {
				b.x[i] = T(0.01 + 0.98*r.Float64())
			}
		} else {
			normal(b.x, 2)
		}
		for i := range b.y {
			b.y[i] = T(r.IntN(2))
		}
	case FamilyRegression:
		b.y, b.out = make([]T, nk), make([]T, nk)
		normal(b.x, 1)
		normal(b.y, 1)
	case FamilyRows:
		normal(b.x, 2)
		if k.Name == "LogSumExp" {
			b.out = make([]T, s.N)
		} else {
			b.out = make([]T, nk)
		}
	case FamilyElementwise:
		normal(b.x, 2)
		b.out = make([]T, nk)
	case FamilyRowsBackward, FamilyElementwiseBackward:
		backwardInputs(b, k.Name, s, normal)
	}
	if k.Name == "CrossEntropyShards" {
		b.shard(s)
	}
	return b
}

// distributions fills x with log-softmax rows and y with softmax rows of
// normal logits (KLDiv's input and target).
func distributions[T kernels.Float](b *buffers[T], s Shape, r *rand.Rand) {
	lx, ly := make([]float64, s.K), make([]float64, s.K)
	for i := 0; i < s.N; i++ {
		var mx, my float64
		for j := range lx {
			lx[j], ly[j] = 2*r.NormFloat64(), 2*r.NormFloat64()
			mx, my = mx+math.Exp(lx[j]), my+math.Exp(ly[j])
		}
		for j := range lx {
			b.x[i*s.K+j] = T(lx[j] - math.Log(mx))
			b.y[i*s.K+j] = T(math.Exp(ly[j]) / my)
		}
	}
}

// backwardInputs makes a backward pass's inputs as a training step has
// them: x holds what the forward saved (a softmax, a log-softmax, sigmoids,
// or logits with lse their log-sum-exps), y holds dy (normal).
func backwardInputs[T kernels.Float](b *buffers[T], name string, s Shape, normal func([]T, float64)) {
	nk := s.Elems()
	normal(b.x, 2)
	b.out = make([]T, nk)
	rowLSE := func(i int) float64 {
		row := b.x[i*s.K : (i+1)*s.K]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		return m + math.Log(sum)
	}
	switch name {
	case "SoftmaxBackward", "LogSoftmaxBackward":
		for i := 0; i < s.N; i++ {
			l := rowLSE(i)
			row := b.x[i*s.K : (i+1)*s.K]
			for j, v := range row {
				row[j] = T(float64(v) - l)
				if name == "SoftmaxBackward" {
					row[j] = T(math.Exp(float64(v) - l))
				}
			}
		}
	case "LogSumExpBackward":
		b.lse = make([]T, s.N)
		for i := range b.lse {
			b.lse[i] = T(rowLSE(i))
		}
		b.y = make([]T, s.N)
		normal(b.y, 1)
		return
	case "SigmoidBackward":
		for i, v := range b.x {
			b.x[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
	}
	b.y = make([]T, nk)
	normal(b.y, 1)
}

// shard cuts x into the vocabulary shards of CrossEntropyShards.
func (b *buffers[T]) shard(s Shape) {
	parts := min(Shards, s.K)
	for i := 0; i <= parts; i++ {
		b.cuts = append(b.cuts, i*s.K/parts)
	}
	for i := range parts {
		lo, hi := b.cuts[i], b.cuts[i+1]
		x := make([]T, 0, s.N*(hi-lo))
		for r := range s.N {
			x = append(x, b.x[r*s.K+lo:r*s.K+hi]...)
		}
		b.xs = append(b.xs, x)
		b.gs = append(b.gs, make([]T, len(x)))
		b.stats = append(b.stats, kernels.NewShardStats(s.N))
	}
	b.blockStats = make([]kernels.ShardStats, parts)
}

// shardedCE is CrossEntropy over b's shards, a block of rows at a time so
// that a block of every shard stays in L2 between its two passes (the
// pattern the kernels package documents): pass 1 per shard, the stats
// combined into the first shard's, the loss, pass 2 per shard. The mean's
// normaliser is the whole batch's row count (no row is ignored).
func shardedCE[T kernels.Float](b *buffers[T], n, k int, grad bool) (T, error) {
	var size T
	rows := max(1, shardBlockBytes/(k*int(unsafe.Sizeof(size))))
	o := &b.shardOpts
	o.Reduction, o.Normalizer = kernels.Sum, 0
	var total float64
	for r0 := 0; r0 < n; r0 += rows {
		r1 := min(r0+rows, n)
		tg := b.targets[r0:r1]
		for i, x := range b.xs {
			st := b.stats[i].Rows(r0, r1)
			ks := b.cuts[i+1] - b.cuts[i]
			sh := kernels.VocabShard{Lo: b.cuts[i], Hi: b.cuts[i+1], V: k}
			if err := kernels.CrossEntropyShard(x[r0*ks:r1*ks], tg, r1-r0, sh, &st, o); err != nil {
				return 0, err
			}
			b.blockStats[i] = st
			if i > 0 {
				if err := b.blockStats[0].Combine(&b.blockStats[i]); err != nil {
					return 0, err
				}
			}
		}
		loss, err := kernels.CrossEntropyShardLoss(&b.blockStats[0], tg, r1-r0, k, o)
		if err != nil {
			return 0, err
		}
		total += float64(loss)
		if !grad {
			continue
		}
		o.Reduction, o.Normalizer = kernels.Mean, float64(n)
		for i, x := range b.xs {
			ks := b.cuts[i+1] - b.cuts[i]
			sh := kernels.VocabShard{Lo: b.cuts[i], Hi: b.cuts[i+1], V: k}
			if err := kernels.CrossEntropyShardGrad(x[r0*ks:r1*ks], tg, r1-r0, sh, &b.blockStats[0], b.gs[i][r0*ks:r1*ks], o); err != nil {
				return 0, err
			}
		}
		o.Reduction, o.Normalizer = kernels.Sum, 0
	}
	return T(total / float64(n)), nil
}

// shardBlockBytes bounds the logits of one block of rows of CrossEntropyShards.
const shardBlockBytes = 256 << 10

// gatherShards copies the shards' gradients into out (N×K) for the
// accuracy check.
func (b *buffers[T]) gatherShards(n, k int) {
	for i, g := range b.gs {
		lo, hi := b.cuts[i], b.cuts[i+1]
		for r := range n {
			copy(b.out[r*k+lo:r*k+hi], g[r*(hi-lo):(r+1)*(hi-lo)])
		}
	}
}

// Runner returns a function that makes one call of the kernel for op, on
// the naive baseline when isa is Naive and on the active backend otherwise
// (choose it with Select first). The function returns the loss (0 for the
// primitives). It does not allocate.
func (d *Data) Runner(op Op, isa string) func() (float64, error) {
	d.naiveRan = isa == Naive
	if d.f32 != nil {
		return runner(d.Kernel, d.Shape, d.f32, op, isa == Naive)
	}
	return runner(d.Kernel, d.Shape, d.f64, op, isa == Naive)
}

func runner[T kernels.Float](k *Kernel, s Shape, b *buffers[T], op Op, useNaive bool) func() (float64, error) {
	var grad []T
	if op == FwdBwd {
		grad = b.out
	}
	x, y, tg, out, n, kk := b.x, b.y, b.targets, b.out, s.N, s.K
	wrap := func(l T, err error) (float64, error) { return float64(l), err }
	none := func(err error) (float64, error) { return 0, err }
	sfo := &kernels.SoftmaxFocalOptions[T]{Gamma: FocalGamma}
	fo := &kernels.FocalOptions[T]{Alpha: FocalAlpha, Gamma: FocalGamma}
	klo := &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean}
	dio := &kernels.DistillOptions[T]{Temperature: DistillTemperature, ScaleT2: true}
	rkl := &kernels.DistillOptions[T]{Divergence: kernels.ReverseKL, Temperature: DistillTemperature, ScaleT2: true}
	jsd := &kernels.DistillOptions[T]{Divergence: kernels.JSD, Beta: DistillBeta, Temperature: DistillTemperature, ScaleT2: true}
	if useNaive {
		switch k.Name {
		case "CrossEntropy", "CrossEntropyShards":
			return func() (float64, error) { return float64(naive.CrossEntropy(x, tg, n, kk, grad)), nil }
		case "CrossEntropyProbs":
			return func() (float64, error) { return float64(naive.CrossEntropyProbs(x, y, n, kk, grad)), nil }
		case "NLL":
			return func() (float64, error) { return float64(naive.NLL(x, tg, n, kk, grad)), nil }
		case "KLDiv":
			return func() (float64, error) { return float64(naive.KLDiv(x, y, n, grad)), nil }
		case "Distill":
			return func() (float64, error) {
				return float64(naive.Distill(x, y, n, kk, DistillTemperature, grad)), nil
			}
		case "DistillReverseKL":
			return func() (float64, error) {
				return float64(naive.DistillReverseKL(x, y, n, kk, DistillTemperature, grad)), nil
			}
		case "DistillJSD":
			return func() (float64, error) {
				return float64(naive.DistillJSD(x, y, n, kk, DistillTemperature, DistillBeta, grad)), nil
			}
		case "SoftmaxFocal":
			return func() (float64, error) { return float64(naive.SoftmaxFocal(x, tg, n, kk, FocalGamma, grad)), nil }
		case "BCEWithLogits":
			return func() (float64, error) { return float64(naive.BCEWithLogits(x, y, grad)), nil }
		case "BCE":
			return func() (float64, error) { return float64(naive.BCE(x, y, grad)), nil }
		case "SigmoidFocal":
			return func() (float64, error) { return float64(naive.SigmoidFocal(x, y, FocalAlpha, FocalGamma, grad)), nil }
		case "FocalProbs":
			return func() (float64, error) { return float64(naive.FocalProbs(x, y, FocalAlpha, FocalGamma, grad)), nil }
		case "MSE":
			return func() (float64, error) { return float64(naive.MSE(x, y, grad)), nil }
		case "L1":
			return func() (float64, error) { return float64(naive.L1(x, y, grad)), nil }
		case "Huber":
			return func() (float64, error) { return float64(naive.Huber(x, y, HuberDelta, grad)), nil }
		case "SmoothL1":
			return func() (float64, error) { return float64(naive.SmoothL1(x, y, SmoothBeta, grad)), nil }
		case "Softmax":
			return func() (float64, error) { naive.Softmax(out, x, n, kk); return 0, nil }
		case "LogSoftmax":
			return func() (float64, error) { naive.LogSoftmax(out, x, n, kk); return 0, nil }
		case "LogSumExp":
			return func() (float64, error) { naive.LogSumExp(out, x, n, kk); return 0, nil }
		case "Sigmoid":
			return func() (float64, error) { naive.Sigmoid(out, x); return 0, nil }
		case "LogSigmoid":
			return func() (float64, error) { naive.LogSigmoid(out, x); return 0, nil }
		case "Softplus":
			return func() (float64, error) { naive.Softplus(out, x); return 0, nil }
		case "SoftplusBeta":
			return func() (float64, error) {
				naive.SoftplusBeta(out, x, SoftplusBetaBeta, SoftplusBetaThreshold)
				return 0, nil
			}
		case "SoftmaxBackward":
			return func() (float64, error) { naive.SoftmaxBackward(out, y, x, n, kk); return 0, nil }
		case "LogSoftmaxBackward":
			return func() (float64, error) { naive.LogSoftmaxBackward(out, y, x, n, kk); return 0, nil }
		case "LogSumExpBackward":
			return func() (float64, error) { naive.LogSumExpBackward(out, y, x, b.lse, n, kk); return 0, nil }
		case "SigmoidBackward":
			return func() (float64, error) { naive.SigmoidBackward(out, y, x); return 0, nil }
		case "LogSigmoidBackward":
			return func() (float64, error) { naive.LogSigmoidBackward(out, y, x); return 0, nil }
		case "SoftplusBackward":
			return func() (float64, error) { naive.SoftplusBackward(out, y, x); return 0, nil }
		}
	} else {
		switch k.Name {
		case "CrossEntropy":
			return func() (float64, error) { return wrap(kernels.CrossEntropy(x, tg, n, kk, grad, nil)) }
		case "CrossEntropyShards":
			return func() (float64, error) { return wrap(shardedCE(b, n, kk, grad != nil)) }
		case "CrossEntropyProbs":
			return func() (float64, error) { return wrap(kernels.CrossEntropyProbs(x, y, n, kk, grad, nil)) }
		case "NLL":
			return func() (float64, error) { return wrap(kernels.NLL(x, tg, n, kk, grad, nil)) }
		case "KLDiv":
			return func() (float64, error) { return wrap(kernels.KLDiv(x, y, n, kk, grad, klo)) }
		case "Distill":
			return func() (float64, error) { return wrap(kernels.Distill(x, y, n, kk, grad, dio)) }
		case "DistillReverseKL":
			return func() (float64, error) { return wrap(kernels.Distill(x, y, n, kk, grad, rkl)) }
		case "DistillJSD":
			return func() (float64, error) { return wrap(kernels.Distill(x, y, n, kk, grad, jsd)) }
		case "SoftmaxFocal":
			return func() (float64, error) { return wrap(kernels.SoftmaxFocal(x, tg, n, kk, grad, sfo)) }
		case "BCEWithLogits":
			return func() (float64, error) { return wrap(kernels.BCEWithLogits(x, y, n, kk, grad, nil)) }
		case "BCE":
			return func() (float64, error) { return wrap(kernels.BCE(x, y, n, kk, grad, nil)) }
		case "SigmoidFocal":
			return func() (float64, error) { return wrap(kernels.SigmoidFocal(x, y, n, kk, grad, fo)) }
		case "FocalProbs":
			return func() (float64, error) { return wrap(kernels.FocalProbs(x, y, n, kk, grad, fo)) }
		case "MSE":
			return func() (float64, error) { return wrap(kernels.MSE(x, y, grad, nil)) }
		case "L1":
			return func() (float64, error) { return wrap(kernels.L1(x, y, grad, nil)) }
		case "Huber":
			return func() (float64, error) {
				return wrap(kernels.Huber(x, y, grad, &kernels.HuberOptions[T]{Delta: HuberDelta}))
			}
		case "SmoothL1":
			return func() (float64, error) {
				return wrap(kernels.SmoothL1(x, y, grad, &kernels.SmoothL1Options[T]{Beta: SmoothBeta}))
			}
		case "Softmax":
			return func() (float64, error) { return none(kernels.Softmax(out, x, n, kk, nil)) }
		case "LogSoftmax":
			return func() (float64, error) { return none(kernels.LogSoftmax(out, x, n, kk, nil)) }
		case "LogSumExp":
			return func() (float64, error) { return none(kernels.LogSumExp(out, x, n, kk, nil)) }
		case "Sigmoid":
			return func() (float64, error) { return none(kernels.Sigmoid(out, x, nil)) }
		case "LogSigmoid":
			return func() (float64, error) { return none(kernels.LogSigmoid(out, x, nil)) }
		case "Softplus":
			return func() (float64, error) { return none(kernels.Softplus(out, x, nil)) }
		case "SoftplusBeta":
			return func() (float64, error) {
				return none(kernels.SoftplusBeta(out, x, SoftplusBetaBeta, SoftplusBetaThreshold, nil))
			}
		case "SoftmaxBackward":
			return func() (float64, error) { return none(kernels.SoftmaxBackward(out, y, x, n, kk, nil)) }
		case "LogSoftmaxBackward":
			return func() (float64, error) { return none(kernels.LogSoftmaxBackward(out, y, x, n, kk, nil)) }
		case "LogSumExpBackward":
			return func() (float64, error) { return none(kernels.LogSumExpBackward(out, y, x, b.lse, n, kk, nil)) }
		case "SigmoidBackward":
			return func() (float64, error) { return none(kernels.SigmoidBackward(out, y, x, nil)) }
		case "LogSigmoidBackward":
			return func() (float64, error) { return none(kernels.LogSigmoidBackward(out, y, x, nil)) }
		case "SoftplusBackward":
			return func() (float64, error) { return none(kernels.SoftplusBackward(out, y, x, nil)) }
		}
	}
	panic(fmt.Sprintf("suite: no runner for kernel %q", k.Name))
}

// Accuracy is how a call's outputs compare with the float64 reference on
// the same inputs.
type Accuracy struct {
	// MaxErr is the largest relative error (see maxErr).
	MaxErr float64
	// Budget is the largest fraction of the accuracy contract's tolerance
	// any output used (reference.Budget): ≤ 1 meets the contract.
	Budget float64
	// Violation describes the worst value when Budget > 1.
	Violation error
}

// MaxError runs the kernel once for op on isa (which must be selected
// already, as for Runner) and compares its outputs with the reference.
func (d *Data) MaxError(op Op, isa string) (Accuracy, error) {
	loss, err := d.Runner(op, isa)()
	if err != nil {
		return Accuracy{}, err
	}
	return d.Check(op, loss)
}

// Check compares the outputs of the last call of op with the reference:
// loss is what the call returned, and the gradient or primitive output is
// read from the output buffer, so that a caller who has just timed the
// kernel need not run it again.
func (d *Data) Check(op Op, loss float64) (Accuracy, error) {
	if d.f32 != nil {
		return check(d, d.f32, op, loss)
	}
	return check(d, d.f64, op, loss)
}

func check[T kernels.Float](d *Data, b *buffers[T], op Op, loss float64) (Accuracy, error) {
	if d.ref == nil {
		ref, err := computeReference(d.Kernel, d.Shape, b)
		if err != nil {
			return Accuracy{}, fmt.Errorf("reference %s %s: %w", d.Kernel.Name, d.Shape, err)
		}
		d.ref = ref
	}
	ref := d.ref
	if b.xs != nil && op == FwdBwd && !d.naiveRan {
		b.gatherShards(d.Shape.N, d.Shape.K)
	}
	isLoss := d.Kernel.HasGrad()
	got := reference.Got[T]{CheckLoss: isLoss, Loss: T(loss)}
	var out []T
	var want []float64
	switch {
	case !isLoss:
		got.Out, out, want = b.out, b.out, ref.Out
	case op == FwdBwd:
		got.Grad, out, want = b.out, b.out, ref.Grad
	}
	budget, violation := reference.Budget(ref, got)
	return Accuracy{
		MaxErr:    maxErr(isLoss, float64(T(loss)), ref.Loss, out, want),
		Budget:    budget,
		Violation: violation,
	}, nil
}

// maxErr is the error measure of the report: the larger of the loss's
// relative error and the output's largest absolute error relative to the
// output's largest magnitude (a normwise bound, so that gradient entries
// near zero do not blow it up). NaN where the reference is finite counts as
// +Inf.
func maxErr[T kernels.Float](isLoss bool, loss, refLoss float64, out []T, ref []float64) float64 {
	e := 0.0
	if isLoss {
		e = rel(loss-refLoss, math.Abs(refLoss))
	}
	if out != nil {
		var scale, worst float64
		for _, v := range ref {
			scale = math.Max(scale, math.Abs(v))
		}
		for i, v := range out {
			d := math.Abs(float64(v) - ref[i])
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			worst = math.Max(worst, d)
		}
		e = math.Max(e, rel(worst, scale))
	}
	return e
}

func rel(diff, scale float64) float64 {
	diff = math.Abs(diff)
	if math.IsNaN(diff) {
		return math.Inf(1)
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}
