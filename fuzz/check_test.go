package fuzz

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// Each case asks the reference the same question it asks the kernels, with
// the same buffers (the reference only reads them and length-checks the
// outputs), and hands the kernel's outputs to reference.Check, which
// enforces the accuracy contract written in package reference.

func (c *ceCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	o := c.opts
	o.RowLoss, o.RowLSE, o.Weight = a.get("rowloss"), a.get("rowlse"), a.get("weight")
	switch c.variant {
	case ceInt, ceShards:
		return reference.CrossEntropy(a.get("logits"), c.targets, c.callN, c.callK, &o)
	case ceProbs:
		return reference.CrossEntropyProbs(a.get("logits"), a.get("probs"), c.callN, c.callK, &o)
	case ceNLL:
		no := nllOptions(o)
		return reference.NLL(a.get("logits"), c.targets, c.callN, c.callK, &no)
	}
	fo := c.focalOptions(o)
	return reference.SoftmaxFocal(a.get("logits"), c.targets, c.callN, c.callK, &fo)
}

func (c *ceCase[T]) focalOptions(o kernels.CrossEntropyOptions[T]) kernels.SoftmaxFocalOptions[T] {
	return kernels.SoftmaxFocalOptions[T]{
		Reduction: o.Reduction, Gamma: c.gamma, Alpha: o.Weight,
		Ignore: o.Ignore, EmptyMean: o.EmptyMean, RowLoss: o.RowLoss, Runner: o.Runner,
	}
}

func (c *ceCase[T]) check(r *reference.Result, a *arena[T], loss T) error {
	if c.half && !c.grad32 {
		r = r.RoundGrad(c.round) // the gradient went through the 16-bit format
	}
	return located(reference.Check(r, reference.Got[T]{
		CheckLoss: true, Loss: loss,
		Items: a.get("rowloss"), LSE: a.get("rowlse"), Grad: a.get("grad"),
	}), func(name string, i int) string {
		row := i
		if name == "grad" {
			row = i / c.k
		}
		return fmt.Sprintf("row %d: logits %s target %s probs %s weight %v", row,
			rowAt(c.logits, row, c.k), at(c.targets, row), rowAt(c.probs, row, c.k), short(c.weight))
	})
}

func (c *binaryCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	o := c.options(a)
	x, y := a.get("x"), a.get("y")
	switch c.variant {
	case binLogits:
		return reference.BCEWithLogits(x, y, c.callN, c.callK, &o)
	case binProbs:
		return reference.BCE(x, y, c.callN, c.callK, &o)
	}
	fo := kernels.FocalOptions[T]{BinaryOptions: o, Alpha: c.alpha, Gamma: c.gamma}
	if c.variant == binFocalLogits {
		return reference.SigmoidFocal(x, y, c.callN, c.callK, &fo)
	}
	return reference.FocalProbs(x, y, c.callN, c.callK, &fo)
}

func (c *binaryCase[T]) check(r *reference.Result, a *arena[T], loss T) error {
	if c.half && !c.grad32 {
		r = r.RoundGrad(func(v float32) float32 { return round16(c.f16, v) }) // the gradient went through the 16-bit format
	}
	return located(reference.Check(r, reference.Got[T]{CheckLoss: true, Loss: loss, Items: a.get("loss"), Grad: a.get("grad")}),
		func(_ string, i int) string {
			return fmt.Sprintf("x %s y %s weight %s posweight %s", at(c.x, i), at(c.y, i), at(c.weight, i), at(c.pos, i%c.k))
		})
}

func (c *regressionCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	o := c.options(a)
	x, y := c.inputs(a)
	switch c.kind {
	case regMSE:
		return reference.MSE(x, y, &o)
	case regL1:
		return reference.L1(x, y, &o)
	case regHuber:
		return reference.Huber(x, y, &kernels.HuberOptions[T]{RegressionOptions: o, Delta: c.param})
	}
	return reference.SmoothL1(x, y, &kernels.SmoothL1Options[T]{RegressionOptions: o, Beta: c.param})
}

func (c *regressionCase[T]) check(r *reference.Result, a *arena[T], loss T) error {
	return located(reference.Check(r, reference.Got[T]{CheckLoss: true, Loss: loss, Items: a.get("loss"), Grad: a.get("grad")}),
		func(_ string, i int) string {
			return fmt.Sprintf("x %s y %s weight %s", at(c.x, i), at(c.y, i), at(c.w, i))
		})
}

func (c *primitiveCase[T]) ref(a *arena[T]) (*reference.Result, error) {
	x, dy, lse := a.get("x"), a.opt("dy"), a.opt("lse")
	switch c.op {
	case primSoftplusBeta:
		return reference.SoftplusBeta(x, c.beta, c.thr)
	case primSoftmaxBackward:
		return reference.SoftmaxBackward(dy, x, c.callN, c.callK)
	case primLogSoftmaxBackward:
		return reference.LogSoftmaxBackward(dy, x, c.callN, c.callK)
	case primLogSumExpBackward:
		return reference.LogSumExpBackward(dy, x, lse, c.callN, c.callK)
	case primSigmoidBackward:
		return reference.SigmoidBackward(dy, x)
	case primLogSigmoidBackward:
		return reference.LogSigmoidBackward(dy, x)
	case primSoftplusBackward:
		if c.exactSoftplus() {
			return reference.SoftplusBackward(dy, x)
		}
		return reference.SoftplusBetaBackward(dy, x, c.beta, c.thr)
	case primSoftmax:
		return reference.Softmax(x, c.callN, c.callK)
	case primLogSoftmax:
		return reference.LogSoftmax(x, c.callN, c.callK)
	case primLogSumExp:
		return reference.LogSumExp(x, c.callN, c.callK)
	case primSigmoid:
		return reference.Sigmoid(x)
	case primLogSigmoid:
		return reference.LogSigmoid(x)
	}
	return reference.Softplus(x)
}

func (c *primitiveCase[T]) check(r *reference.Result, a *arena[T], _ T) error {
	return located(reference.Check(r, reference.Got[T]{Out: a.get("dst")}), func(_ string, i int) string {
		if !c.rows() {
			if c.backward() {
				return "x " + at(c.x, i) + ", dy " + at(c.dy, i)
			}
			return "x " + at(c.x, i)
		}
		row := i / c.k
		if c.op == primLogSumExp {
			row = i
		}
		if c.op == primLogSumExpBackward {
			return fmt.Sprintf("row %d: dy %s, lse %s, x %s", row, at(c.dy, row), at(c.lse, row), rowAt(c.x, row, c.k))
		}
		if c.backward() {
			return fmt.Sprintf("row %d: x %s dy %s", row, rowAt(c.x, row, c.k), rowAt(c.dy, row, c.k))
		}
		return fmt.Sprintf("row %d: %s", row, rowAt(c.x, row, c.k))
	})
}

// elemRe finds the element a contract violation names: "grad[12]", "items[3]".
var elemRe = regexp.MustCompile(`\b(grad|items|lse|out)\[(\d+)\]`)

// located appends the inputs behind the element err names, so that a
// failure on a large case can be read without printing the whole case.
func located(err error, rowOf func(name string, i int) string) error {
	if err == nil {
		return nil
	}
	m := elemRe.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	i, _ := strconv.Atoi(m[2])
	return fmt.Errorf("%w\n  inputs there: %s", err, rowOf(m[1], i))
}

// at formats s[i], or "-" when s is too short (or absent).
func at[T any](s []T, i int) string {
	if i < 0 || i >= len(s) {
		return "-"
	}
	return fmt.Sprint(s[i])
}

// rowAt formats row r of s (K wide), eliding the middle of a long row.
func rowAt[T any](s []T, r, k int) string {
	if (r+1)*k > len(s) {
		return "-"
	}
	row := s[r*k : (r+1)*k]
	if len(row) > 24 && !fullDescribe {
		return fmt.Sprintf("%v … %v (K=%d)", row[:12], row[len(row)-12:], k)
	}
	return fmt.Sprint(row)
}
