// Package fusedop adapts lossfuse to gorgonia (gorgonia.org/gorgonia v0.9.18):
// SoftmaxCrossEntropy is a graph operation whose forward pass calls
// lossfuse's fused kernel, which writes the gradient with respect to the
// logits in the same pass over the data; the backward operation that
// gorgonia's symbolic differentiation (Grad) inserts then only scales that
// stored gradient by the upstream gradient, instead of differentiating
// log-softmax, product, sum and mean node by node.
//
// It supports gorgonia's TapeMachine. The LispMachine's automatic
// differentiation needs an ADOp, whose DoDiff reaches into gorgonia's
// unexported dual values, so an operation defined outside package gorgonia
// cannot provide it.
package fusedop

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/lossfuse/lossfuse/kernels"
)

// SoftmaxCrossEntropy returns a scalar node: the mean over the N rows of
// logits (an N×K matrix of Float64 or Float32) of the softmax cross-entropy
// against labels, a vector of N class indices of dtype Int32, with label
// smoothing eps (0 for none). Its value equals gorgonia's
//
//	Neg(Mean(Sum(HadamardProd(LogSoftMax(logits), targets), 1)))
//
// where targets = (1−eps)·onehot(labels) + eps/K; labels equal to −100 are
// ignored, as in PyTorch. Only the logits are differentiable.
func SoftmaxCrossEntropy(logits, labels *G.Node, eps float64) (*G.Node, error) {
	if logits.Dims() != 2 || labels.Dims() != 1 {
		return nil, fmt.Errorf("fusedop: logits must be a matrix and labels a vector, have %v and %v", logits.Shape(), labels.Shape())
	}
	if labels.Dtype() != tensor.Int32 {
		return nil, fmt.Errorf("fusedop: labels must be Int32, have %v", labels.Dtype())
	}
	if !(eps >= 0 && eps <= 1) {
		return nil, fmt.Errorf("fusedop: label smoothing %v not in [0, 1]", eps)
	}
	return G.ApplyOp(&ceOp{eps: eps, cache: new(gradCache)}, logits, labels)
}

// gradCache carries the gradient from the forward operation to the
// backward one: the forward pass fills it, the backward pass consumes it.
type gradCache struct {
	f64   []float64
	f32   []float32
	ready bool
}

// ceOp is the forward operation: (logits, labels) → mean loss.
type ceOp struct {
	eps   float64
	cache *gradCache
}

func (op *ceOp) Arity() int { return 2 }

func (op *ceOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: tensor.Int32}, a)
}

func (op *ceOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("fusedop: %d input shapes, want 2", len(in))
	}
	logits, ok1 := in[0].(tensor.Shape)
	labels, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || logits.Dims() != 2 || labels.TotalSize() != logits[0] {
		return nil, fmt.Errorf("fusedop: logits %v and labels %v: want N×K and N", in[0], in[1])
	}
	return tensor.ScalarShape(), nil
}

func (op *ceOp) Do(values ...G.Value) (G.Value, error) {
	if len(values) != 2 {
		return nil, fmt.Errorf("fusedop: %d inputs, want 2", len(values))
	}
	loss, err := op.run(values[0], values[1])
	if err != nil {
		return nil, err
	}
	op.cache.ready = true
	return loss, nil
}

// run calls the kernel on the logits and labels, leaving the gradient of
// the mean loss in the cache.
func (op *ceOp) run(logitsV, labelsV G.Value) (G.Value, error) {
	logits, ok := logitsV.(tensor.Tensor)
	if !ok || logits.Shape().Dims() != 2 {
		return nil, fmt.Errorf("fusedop: logits are a %T of shape %v, want a matrix", logitsV, logitsV.Shape())
	}
	labelsT, ok := labelsV.(tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("fusedop: labels are a %T, want a tensor", labelsV)
	}
	labels, ok := labelsT.Data().([]int32)
	if !ok {
		return nil, fmt.Errorf("fusedop: labels hold %T, want []int32", labelsT.Data())
	}
	n, k := logits.Shape()[0], logits.Shape()[1]
	switch x := logits.Data().(type) {
	case []float64:
		op.cache.f64 = grow(op.cache.f64, n*k)
		o := kernels.CrossEntropyOptions[float64]{LabelSmoothing: op.eps}
		loss, err := kernels.CrossEntropy(x, labels, n, k, op.cache.f64, &o)
		return G.NewF64(loss), err
	case []float32:
		op.cache.f32 = grow(op.cache.f32, n*k)
		o := kernels.CrossEntropyOptions[float32]{LabelSmoothing: op.eps}
		loss, err := kernels.CrossEntropy(x, labels, n, k, op.cache.f32, &o)
		return G.NewF32(loss), err
	}
	return nil, fmt.Errorf("fusedop: logits of dtype %v, want Float64 or Float32", logits.Dtype())
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (op *ceOp) ReturnsPtr() bool      { return false }
func (op *ceOp) CallsExtern() bool     { return false }
func (op *ceOp) OverwritesInput() int  { return -1 }
func (op *ceOp) String() string        { return fmt.Sprintf("lossfuse.SoftmaxCrossEntropy{ε=%v}", op.eps) }
func (op *ceOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *ceOp) Hashcode() uint32      { return hashOf(op) }

func (op *ceOp) DiffWRT(inputs int) []bool { return []bool{true, false} }

// SymDiff returns the gradient node of the logits (none for the labels).
// The backward operation reads the forward output too, which orders it
// after the forward pass that fills the cache.
func (op *ceOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&ceGradOp{op}, inputs[0], inputs[1], output, grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{d, nil}, nil
}

// ceGradOp is the backward operation: (logits, labels, loss, upstream) → ∂/∂logits.
type ceGradOp struct{ *ceOp }

func (op *ceGradOp) Arity() int { return 4 }

func (op *ceGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, G.TensorType{Dims: 1, Of: tensor.Int32}, a, a, m)
}

func (op *ceGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("fusedop: logits shape %v", in[0])
	}
	return s.Clone(), nil
}

func (op *ceGradOp) Do(values ...G.Value) (G.Value, error) {
	if len(values) != 4 {
		return nil, fmt.Errorf("fusedop: %d inputs to the gradient, want 4", len(values))
	}
	up, err := scalar(values[3])
	if err != nil {
		return nil, err
	}
	shape := values[0].Shape().Clone()
	if !op.cache.ready {
		// No forward pass since the last backward one (a graph that
		// evaluates the gradient twice): recompute it.
		if _, err := op.run(values[0], values[1]); err != nil {
			return nil, err
		}
	}
	op.cache.ready = false
	// A fresh tensor, since gorgonia may keep gradient values across steps.
	switch {
	case values[0].Dtype() == tensor.Float64:
		g := make([]float64, len(op.cache.f64))
		for i, v := range op.cache.f64 {
			g[i] = v * up
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(g)), nil
	default:
		g := make([]float32, len(op.cache.f32))
		for i, v := range op.cache.f32 {
			g[i] = v * float32(up)
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(g)), nil
	}
}

func (op *ceGradOp) String() string {
	return fmt.Sprintf("lossfuse.SoftmaxCrossEntropyGrad{ε=%v}", op.eps)
}
func (op *ceGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *ceGradOp) Hashcode() uint32      { return hashOf(op) }

// scalar reads the upstream gradient, which gorgonia passes as a scalar value.
func scalar(v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F64:
		return float64(*s), nil
	case *G.F32:
		return float64(*s), nil
	case tensor.Tensor:
		if s.Shape().TotalSize() == 1 {
			switch d := s.Data().(type) {
			case float64:
				return d, nil
			case float32:
				return float64(d), nil
			case []float64:
				return d[0], nil
			case []float32:
				return float64(d[0]), nil
			}
		}
	}
	return 0, fmt.Errorf("fusedop: upstream gradient %T %v is not a scalar", v, v)
}

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// Reference builds the same loss the way gorgonia code writes it without
// this package, from targets given as an N×K matrix (see Targets):
// Neg(Mean(Sum(HadamardProd(LogSoftMax(logits), targets), 1))).
// It serves as the comparison for SoftmaxCrossEntropy.
func Reference(logits, targets *G.Node) (*G.Node, error) {
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	prod, err := G.HadamardProd(logp, targets)
	if err != nil {
		return nil, err
	}
	rows, err := G.Sum(prod, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(rows)
	if err != nil {
		return nil, err
	}
	return G.Neg(mean)
}

// Targets writes the smoothed one-hot targets (1−eps)·onehot(labels) + eps/K
// of N labels into dst (N×K, row-major), the input Reference needs.
func Targets[T float32 | float64](dst []T, labels []int32, k int, eps float64) {
	for i, y := range labels {
		row := dst[i*k : (i+1)*k]
		for j := range row {
			row[j] = T(eps / float64(k))
		}
		row[y] += T(1 - eps)
	}
}
