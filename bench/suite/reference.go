package suite

import (
	"fmt"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

// ReferenceName names the oracle the accuracy columns are measured against.
const ReferenceName = "package reference (float64, math.Exp/Log, compensated sums)"

// computeReference asks package reference for the loss, gradient and
// primitive output of the kernel on b's inputs, with the options the
// runners use. The reference widens the inputs to float64 exactly.
func computeReference[T kernels.Float](k *Kernel, s Shape, b *buffers[T]) (*reference.Result, error) {
	x, y, tg, n, kk := b.x, b.y, b.targets, s.N, s.K
	switch k.Name {
	case "CrossEntropy", "CrossEntropyShards":
		return reference.CrossEntropy(x, tg, n, kk, nil)
	case "CrossEntropyProbs":
		return reference.CrossEntropyProbs(x, y, n, kk, nil)
	case "NLL":
		return reference.NLL(x, tg, n, kk, nil)
	case "KLDiv":
		return reference.KLDiv(x, y, n, kk, &kernels.KLDivOptions[T]{Reduction: kernels.BatchMean})
	case "Distill":
		return reference.Distill(x, y, n, kk, &kernels.DistillOptions[T]{Temperature: DistillTemperature, ScaleT2: true})
	case "DistillReverseKL":
		return reference.Distill(x, y, n, kk, &kernels.DistillOptions[T]{Divergence: kernels.ReverseKL, Temperature: DistillTemperature, ScaleT2: true})
	case "DistillJSD":
		return reference.Distill(x, y, n, kk, &kernels.DistillOptions[T]{Divergence: kernels.JSD, Beta: DistillBeta, Temperature: DistillTemperature, ScaleT2: true})
	case "SoftmaxFocal":
		return reference.SoftmaxFocal(x, tg, n, kk, &kernels.SoftmaxFocalOptions[T]{Gamma: FocalGamma})
	case "BCEWithLogits":
		return reference.BCEWithLogits(x, y, n, kk, nil)
	case "BCE":
		return reference.BCE(x, y, n, kk, nil)
	case "SigmoidFocal":
		return reference.SigmoidFocal(x, y, n, kk, &kernels.FocalOptions[T]{Alpha: FocalAlpha, Gamma: FocalGamma})
	case "FocalProbs":
		return reference.FocalProbs(x, y, n, kk, &kernels.FocalOptions[T]{Alpha: FocalAlpha, Gamma: FocalGamma})
	case "MSE":
		return reference.MSE(x, y, nil)
	case "L1":
		return reference.L1(x, y, nil)
	case "Huber":
		return reference.Huber(x, y, &kernels.HuberOptions[T]{Delta: HuberDelta})
	case "SmoothL1":
		return reference.SmoothL1(x, y, &kernels.SmoothL1Options[T]{Beta: SmoothBeta})
	case "Softmax":
		return reference.Softmax(x, n, kk)
	case "LogSoftmax":
		return reference.LogSoftmax(x, n, kk)
	case "LogSumExp":
		return reference.LogSumExp(x, n, kk)
	case "Sigmoid":
		return reference.Sigmoid(x)
	case "LogSigmoid":
		return reference.LogSigmoid(x)
	case "Softplus":
		return reference.Softplus(x)
	case "SoftplusBeta":
		return reference.SoftplusBeta(x, T(SoftplusBetaBeta), T(SoftplusBetaThreshold))
	case "SoftmaxBackward":
		return reference.SoftmaxBackward(y, x, n, kk)
	case "LogSoftmaxBackward":
		return reference.LogSoftmaxBackward(y, x, n, kk)
	case "LogSumExpBackward":
		return reference.LogSumExpBackward(y, x, b.lse, n, kk)
	case "SigmoidBackward":
		return reference.SigmoidBackward(y, x)
	case "LogSigmoidBackward":
		return reference.LogSigmoidBackward(y, x)
	case "SoftplusBackward":
		return reference.SoftplusBackward(y, x)
	}
	return nil, fmt.Errorf("no reference for kernel %q", k.Name)
}
