package kernels_test

// Bad input: every error class of every entry point, tested with errors.Is,
// and every buffer (inputs and outputs alike) byte-for-byte untouched after
// the error. All buffers of a case are carved from one backing array, so
// that overlap cases can alias them and one comparison covers everything.

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/lossfuse/lossfuse/kernels"
	"github.com/lossfuse/lossfuse/reference"
)

const efN, efK = 3, 4

// errFix holds every buffer any entry point takes, for N = 3, K = 4.
type errFix[T kernels.Float] struct {
	mem                                  []T
	logits, probs, x, y, w, pw, wb, grad []T
	rowLoss, rowLSE, loss, dst, dstN     []T
	wNeg, wInf, wbNeg, pwNeg             []T // weights with one bad entry
	pwAt                                 int // offset of pw in mem
	targets                              []int32
}

func newErrFix[T kernels.Float]() *errFix[T] {
	const nk = efN * efK
	f := &errFix[T]{mem: make([]T, 16*nk)}
	rng := rand.New(rand.NewSource(21))
	for i := range f.mem {
		f.mem[i] = cfNaN[T](cfUnsetPayload) // outputs (and gaps) hold a sentinel
	}
	at := 0
	next := func(n int, input bool, lo, hi float64) []T {
		s := f.mem[at : at+n : at+n]
		at += n + 1 // a gap, so that neighbours never touch
		if input {
			for i := range s {
				s[i] = T(lo + (hi-lo)*rng.Float64())
			}
		}
		return s
	}
	f.logits = next(nk, true, -3, 3)
	f.probs = next(nk, true, 0, 1)
	f.x = next(nk, true, -3, 3)
	f.y = next(nk, true, 0, 1)
	f.w = next(efK, true, 0, 2)
	f.pwAt = at
	f.pw = next(efK, true, 0, 2)
	f.wb = next(nk, true, 0, 2)
	f.grad = next(nk, false, 0, 0)
	f.rowLoss = next(efN, false, 0, 0)
	f.rowLSE = next(efN, false, 0, 0)
	f.loss = next(nk, false, 0, 0)
	f.dst = next(nk, false, 0, 0)
	f.dstN = next(efN, false, 0, 0)
	f.wNeg = next(efK, true, 0, 2)
	f.wNeg[2] = -1
	f.wInf = next(efK, true, 0, 2)
	f.wInf[0] = T(math.Inf(-1))
	f.wbNeg = next(nk, true, 0, 2)
	f.wbNeg[5] = -1e-30
	f.pwNeg = next(efK, true, 0, 2)
	f.pwNeg[3] = -2
	f.targets = []int32{0, 3, -100}
	return f
}

type errCase[T kernels.Float] struct {
	name string
	want error
	call func(f *errFix[T]) error
}

func errCases[T kernels.Float]() []errCase[T] {
	type ceo = kernels.CrossEntropyOptions[T]
	type bo = kernels.BinaryOptions[T]
	type fo = kernels.FocalOptions[T]
	type ro = kernels.RegressionOptions[T]
	n, k := efN, efK
	nan := math.NaN()
	ce := func(name string, want error, mod func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T)) errCase[T] {
		return errCase[T]{name, want, func(f *errFix[T]) error {
			o := ceo{RowLoss: f.rowLoss, RowLSE: f.rowLSE}
			logits, targets, nn, kk, grad := mod(f, &o)
			_, err := kernels.CrossEntropy(logits, targets, nn, kk, grad, &o)
			return err
		}}
	}
	std := func(f *errFix[T]) ([]T, []int32, int, int, []T) { return f.logits, f.targets, n, k, f.grad }
	opt := func(set func(f *errFix[T], o *ceo)) func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
		return func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { set(f, o); return std(f) }
	}
	bin := func(name string, want error, call func(f *errFix[T]) error) errCase[T] {
		return errCase[T]{name, want, call}
	}
	return []errCase[T]{
		// ErrShape
		ce("CE n=0", kernels.ErrShape, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits, f.targets, 0, k, f.grad }),
		ce("CE k=0", kernels.ErrShape, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits, f.targets, n, 0, f.grad }),
		ce("CE n<0", kernels.ErrShape, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits, f.targets, -n, -k, f.grad }),
		ce("CE n×k overflows", kernels.ErrShape, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
			return f.logits, f.targets, math.MaxInt/2 + 1, 2, f.grad
		}),
		ce("CE k > MaxInt32", kernels.ErrShape, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
			return f.logits, f.targets, 1, int(kAboveInt32), f.grad
		}),
		bin("CEProbs k=0", kernels.ErrShape, func(f *errFix[T]) error {
			_, err := kernels.CrossEntropyProbs(f.logits, f.probs, n, 0, f.grad, nil)
			return err
		}),
		bin("SoftmaxFocal n=0", kernels.ErrShape, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, f.targets, 0, k, f.grad, nil)
			return err
		}),
		bin("BCEWithLogits k=0", kernels.ErrShape, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, 0, f.grad, &bo{Loss: f.loss})
			return err
		}),
		bin("SigmoidFocal n<0", kernels.ErrShape, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, -1, k, f.grad, nil)
			return err
		}),
		bin("MSE no elements", kernels.ErrShape, func(f *errFix[T]) error {
			_, err := kernels.MSE(f.x[:0], f.y[:0], f.grad[:0], nil)
			return err
		}),
		bin("Softmax n=0", kernels.ErrShape, func(f *errFix[T]) error { return kernels.Softmax(f.dst, f.x, 0, k, nil) }),
		bin("LogSumExp k=0", kernels.ErrShape, func(f *errFix[T]) error { return kernels.LogSumExp(f.dstN, f.x, n, 0, nil) }),

		// ErrLength
		ce("CE logits short", kernels.ErrLength, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits[1:], f.targets, n, k, f.grad }),
		ce("CE targets short", kernels.ErrLength, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits, f.targets[1:], n, k, f.grad }),
		ce("CE grad short", kernels.ErrLength, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) { return f.logits, f.targets, n, k, f.grad[1:] }),
		ce("CE Weight length", kernels.ErrLength, opt(func(f *errFix[T], o *ceo) { o.Weight = f.wb })),
		ce("CE RowLoss length", kernels.ErrLength, opt(func(f *errFix[T], o *ceo) { o.RowLoss = f.loss })),
		ce("CE RowLSE length", kernels.ErrLength, opt(func(f *errFix[T], o *ceo) { o.RowLSE = f.rowLSE[1:] })),
		ce("CE None without RowLoss", kernels.ErrLength, opt(func(f *errFix[T], o *ceo) { o.Reduction, o.RowLoss = kernels.None, nil })),
		bin("CEProbs probs short", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.CrossEntropyProbs(f.logits, f.probs[1:], n, k, f.grad, &ceo{RowLoss: f.rowLoss})
			return err
		}),
		bin("SoftmaxFocal Alpha length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, f.targets, n, k, f.grad, &kernels.SoftmaxFocalOptions[T]{Alpha: f.w[1:]})
			return err
		}),
		bin("BCEWithLogits y short", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y[1:], n, k, f.grad, &bo{Loss: f.loss})
			return err
		}),
		bin("BCEWithLogits Weight length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{Weight: f.w, Loss: f.loss})
			return err
		}),
		bin("BCEWithLogits PosWeight length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{PosWeight: f.wb, Loss: f.loss})
			return err
		}),
		bin("BCEWithLogits ClassWeight length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{ClassWeight: f.wb, Loss: f.loss})
			return err
		}),
		bin("SigmoidFocal RowWeight length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad, &kernels.FocalOptions[T]{BinaryOptions: bo{RowWeight: f.pw, Loss: f.loss}})
			return err
		}),
		bin("BCE Weight and ClassWeight", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Weight: f.wb, ClassWeight: f.pw})
			return err
		}),
		bin("BCEWithLogits negative ClassWeight", kernels.ErrWeight, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{ClassWeight: f.pwNeg})
			return err
		}),
		bin("BCE Loss length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Loss: f.loss[1:]})
			return err
		}),
		bin("FocalProbs None without Loss", kernels.ErrLength, func(f *errFix[T]) error {
			o := kernels.DefaultFocal[T]()
			o.Reduction = kernels.None
			_, err := kernels.FocalProbs(f.probs, f.y, n, k, f.grad, &o)
			return err
		}),
		bin("SigmoidFocal grad short", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad[2:], nil)
			return err
		}),
		bin("MSE target short", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.MSE(f.x, f.y[1:], f.grad, &ro{Loss: f.loss})
			return err
		}),
		bin("L1 grad short", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.L1(f.x, f.y, f.grad[1:], &ro{Loss: f.loss})
			return err
		}),
		bin("Huber Weight length", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.Huber(f.x, f.y, f.grad, &kernels.HuberOptions[T]{RegressionOptions: ro{Weight: f.w, Loss: f.loss}, Delta: 1})
			return err
		}),
		bin("SmoothL1 None without Loss", kernels.ErrLength, func(f *errFix[T]) error {
			_, err := kernels.SmoothL1(f.x, f.y, f.grad, &kernels.SmoothL1Options[T]{RegressionOptions: ro{Reduction: kernels.None}, Beta: 1})
			return err
		}),
		bin("Softmax dst short", kernels.ErrLength, func(f *errFix[T]) error { return kernels.Softmax(f.dst[1:], f.x, n, k, nil) }),
		bin("LogSoftmax x short", kernels.ErrLength, func(f *errFix[T]) error { return kernels.LogSoftmax(f.dst, f.x[1:], n, k, nil) }),
		bin("LogSumExp dst N×K", kernels.ErrLength, func(f *errFix[T]) error { return kernels.LogSumExp(f.dst, f.x, n, k, nil) }),
		bin("Sigmoid dst short", kernels.ErrLength, func(f *errFix[T]) error { return kernels.Sigmoid(f.dst[1:], f.x, nil) }),
		bin("Softplus dst long", kernels.ErrLength, func(f *errFix[T]) error { return kernels.Softplus(f.dst, f.x[1:], nil) }),

		// ErrTarget
		ce("CE target = K", kernels.ErrTarget, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
			return f.logits, []int32{0, int32(k), 1}, n, k, f.grad
		}),
		ce("CE target = −1", kernels.ErrTarget, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
			return f.logits, []int32{0, -1, 1}, n, k, f.grad
		}),
		ce("CE −100 with NoIgnore", kernels.ErrTarget, opt(func(f *errFix[T], o *ceo) { o.Ignore = kernels.NoIgnore() })),
		ce("CE −100 with IgnoreIndex(7)", kernels.ErrTarget, opt(func(f *errFix[T], o *ceo) { o.Ignore = kernels.IgnoreIndex(7) })),
		bin("SoftmaxFocal target = K", kernels.ErrTarget, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, []int32{int32(k), 0, 0}, n, k, f.grad, nil)
			return err
		}),

		// ErrWeight
		ce("CE negative Weight", kernels.ErrWeight, opt(func(f *errFix[T], o *ceo) { o.Weight = f.wNeg })),
		ce("CE −Inf Weight", kernels.ErrWeight, opt(func(f *errFix[T], o *ceo) { o.Weight = f.wInf })),
		bin("SoftmaxFocal negative Alpha", kernels.ErrWeight, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, f.targets, n, k, f.grad, &kernels.SoftmaxFocalOptions[T]{Alpha: f.wNeg})
			return err
		}),
		bin("BCEWithLogits negative Weight", kernels.ErrWeight, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{Weight: f.wbNeg})
			return err
		}),
		bin("BCEWithLogits negative PosWeight", kernels.ErrWeight, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{PosWeight: f.pwNeg})
			return err
		}),
		bin("MSE negative Weight", kernels.ErrWeight, func(f *errFix[T]) error {
			_, err := kernels.MSE(f.x, f.y, f.grad, &ro{Weight: f.wbNeg})
			return err
		}),

		// ErrOption
		ce("CE smoothing < 0", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.LabelSmoothing = -0.1 })),
		ce("CE smoothing > 1", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.LabelSmoothing = 1.5 })),
		ce("CE smoothing NaN", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.LabelSmoothing = nan })),
		ce("CE ZLoss < 0", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.ZLoss = -1 })),
		ce("CE ZLoss +Inf", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.ZLoss = math.Inf(1) })),
		ce("CE SoftCap < 0", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.SoftCap = -5 })),
		ce("CE SoftCap NaN", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.SoftCap = nan })),
		ce("CE Normalizer < 0", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.Normalizer = -1 })),
		ce("CE Reduction(7)", kernels.ErrOption, opt(func(f *errFix[T], o *ceo) { o.Reduction = 7 })),
		bin("SoftmaxFocal Gamma < 0", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, f.targets, n, k, f.grad, &kernels.SoftmaxFocalOptions[T]{Gamma: -1})
			return err
		}),
		bin("SigmoidFocal Gamma NaN", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad, &fo{Alpha: 0.25, Gamma: nan})
			return err
		}),
		bin("SigmoidFocal Alpha > 1", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad, &fo{Alpha: 1.5, Gamma: 2})
			return err
		}),
		bin("FocalProbs Alpha NaN", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.FocalProbs(f.probs, f.y, n, k, f.grad, &fo{Alpha: nan, Gamma: 2})
			return err
		}),
		bin("BCE Clip > 0.5", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Clip: 0.6})
			return err
		}),
		bin("BCE Clip < 0", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Clip: -1e-7})
			return err
		}),
		bin("BCEWithLogits Clip", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{Clip: 1e-7})
			return err
		}),
		bin("SigmoidFocal Clip", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad, &fo{BinaryOptions: bo{Clip: 1e-7}, Alpha: 0.25, Gamma: 2})
			return err
		}),
		bin("BCE PosWeight", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{PosWeight: f.pw})
			return err
		}),
		bin("SigmoidFocal Asymmetric", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SigmoidFocal(f.x, f.y, n, k, f.grad, &fo{BinaryOptions: bo{Asymmetric: &kernels.Asymmetric{FalseNegative: 1, FalsePositive: 2}}, Alpha: 0.25, Gamma: 2})
			return err
		}),
		bin("BCE Asymmetric negative", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Asymmetric: &kernels.Asymmetric{FalseNegative: -1, FalsePositive: 2}})
			return err
		}),
		bin("BCEWithLogits Reduction(3)", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{Reduction: 3, Loss: f.loss})
			return err
		}),
		bin("Huber delta −Inf", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.Huber(f.x, f.y, f.grad, &kernels.HuberOptions[T]{Delta: math.Inf(-1)})
			return err
		}),
		bin("Huber delta +Inf", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.Huber(f.x, f.y, f.grad, &kernels.HuberOptions[T]{Delta: math.Inf(1)})
			return err
		}),
		bin("SmoothL1 beta NaN", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SmoothL1(f.x, f.y, f.grad, &kernels.SmoothL1Options[T]{Beta: nan})
			return err
		}),
		bin("SmoothL1 beta < 0", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.SmoothL1(f.x, f.y, f.grad, &kernels.SmoothL1Options[T]{Beta: -1})
			return err
		}),
		bin("MSE Reduction(9)", kernels.ErrOption, func(f *errFix[T]) error {
			_, err := kernels.MSE(f.x, f.y, f.grad, &ro{Reduction: 9})
			return err
		}),

		// ErrOverlap: outputs that partly overlap an input or each other, or
		// alias an input other than the one an in-place gradient may replace.
		ce("CE grad partly over logits", kernels.ErrOverlap, func(f *errFix[T], o *ceo) ([]T, []int32, int, int, []T) {
			return f.mem[:n*k], f.targets, n, k, f.mem[1 : n*k+1]
		}),
		ce("CE RowLoss inside grad", kernels.ErrOverlap, opt(func(f *errFix[T], o *ceo) { o.RowLoss = f.grad[2 : 2+n] })),
		ce("CE RowLSE over RowLoss", kernels.ErrOverlap, opt(func(f *errFix[T], o *ceo) { o.RowLSE = f.rowLoss })),
		ce("CE RowLoss over logits", kernels.ErrOverlap, opt(func(f *errFix[T], o *ceo) { o.RowLoss = f.logits[:n] })),
		ce("CE RowLSE over Weight", kernels.ErrOverlap, opt(func(f *errFix[T], o *ceo) { o.Weight = f.w; o.RowLSE = f.w[:n] })),
		bin("CEProbs grad = probs", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.CrossEntropyProbs(f.logits, f.probs, n, k, f.probs, nil)
			return err
		}),
		bin("CEProbs grad partly over probs", kernels.ErrOverlap, func(f *errFix[T]) error {
			probs := f.mem[n*k+2 : 2*n*k+2]
			_, err := kernels.CrossEntropyProbs(f.logits, probs, n, k, f.probs, nil)
			return err
		}),
		bin("SoftmaxFocal RowLoss over Alpha", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.SoftmaxFocal(f.logits, f.targets, n, k, f.grad, &kernels.SoftmaxFocalOptions[T]{Alpha: f.w, RowLoss: f.w[1:]})
			return err
		}),
		bin("BCEWithLogits grad = y", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.y, nil)
			return err
		}),
		bin("BCEWithLogits Loss over PosWeight", kernels.ErrOverlap, func(f *errFix[T]) error {
			loss := f.mem[f.pwAt : f.pwAt+n*k]
			_, err := kernels.BCEWithLogits(f.x, f.y, n, k, f.grad, &bo{PosWeight: f.pw, Loss: loss})
			return err
		}),
		bin("BCE Loss = grad", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.BCE(f.probs, f.y, n, k, f.grad, &bo{Loss: f.grad})
			return err
		}),
		bin("FocalProbs grad partly over x", kernels.ErrOverlap, func(f *errFix[T]) error {
			at := n*k + 1 // f.probs's offset in mem
			_, err := kernels.FocalProbs(f.probs, f.y, n, k, f.mem[at+3:at+n*k+3], nil)
			return err
		}),
		bin("MSE grad = target", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.MSE(f.x, f.y, f.y, nil)
			return err
		}),
		bin("Huber Loss over Weight", kernels.ErrOverlap, func(f *errFix[T]) error {
			_, err := kernels.Huber(f.x, f.y, f.grad, &kernels.HuberOptions[T]{RegressionOptions: ro{Weight: f.wb, Loss: f.wb}, Delta: 1})
			return err
		}),
		bin("Softmax dst partly over x", kernels.ErrOverlap, func(f *errFix[T]) error {
			return kernels.Softmax(f.mem[1:n*k+1], f.mem[:n*k], n, k, nil)
		}),
		bin("LogSumExp dst inside x", kernels.ErrOverlap, func(f *errFix[T]) error { return kernels.LogSumExp(f.x[:n], f.x, n, k, nil) }),
		bin("Sigmoid dst partly over x", kernels.ErrOverlap, func(f *errFix[T]) error {
			return kernels.Sigmoid(f.mem[2:n*k+2], f.mem[:n*k], nil)
		}),
	}
}

func TestBadInput(t *testing.T) {
	t.Run("float32", func(t *testing.T) { badInput[float32](t) })
	t.Run("float64", func(t *testing.T) { badInput[float64](t) })
}

func badInput[T kernels.Float](t *testing.T) {
	conformBackends(t, func(t *testing.T) {
		for _, c := range errCases[T]() {
			if problem := runBadCall(c); problem != "" {
				t.Errorf("%s: %s", c.name, problem)
			}
		}
	})
}

// runBadCall runs one bad call on a fresh fixture and describes what went
// wrong, or returns "".
func runBadCall[T kernels.Float](c errCase[T]) string {
	f := newErrFix[T]()
	before := slices.Clone(f.mem)
	targets := slices.Clone(f.targets)
	err := c.call(f)
	switch {
	case !errors.Is(err, c.want):
		return fmt.Sprintf("error %v, want %v", err, c.want)
	case err.Error() == c.want.Error():
		return fmt.Sprintf("error %q has no detail", err)
	case !sameBits(f.mem, before) || !slices.Equal(targets, f.targets):
		return "a buffer changed although the call failed"
	}
	return ""
}

// The harness itself notices a call that writes before failing.
func TestBadInputHarness(t *testing.T) {
	c := errCase[float32]{"writes then fails", kernels.ErrShape, func(f *errFix[float32]) error {
		f.grad[len(f.grad)-1] = 0
		return fmt.Errorf("%w: detail", kernels.ErrShape)
	}}
	if runBadCall(c) == "" {
		t.Error("a write before the error went unnoticed")
	}
}

func sameBits[T kernels.Float](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if cfBits(a[i]) != cfBits(b[i]) {
			return false
		}
	}
	return true
}

// The reference rejects the same calls with the same classes (overlap
// aside, which it cannot see): a check on the reference's own validation.
func TestBadInputReferenceAgrees(t *testing.T) {
	f := newErrFix[float64]()
	n, k := efN, efK
	checks := []struct {
		name      string
		ref, kern error
	}{
		{"target = K", second(reference.CrossEntropy(f.logits, []int32{0, 4, 1}, n, k, nil)), second(kernels.CrossEntropy(f.logits, []int32{0, 4, 1}, n, k, nil, nil))},
		{"smoothing NaN", second(reference.CrossEntropy(f.logits, f.targets, n, k, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: math.NaN()})),
			second(kernels.CrossEntropy(f.logits, f.targets, n, k, nil, &kernels.CrossEntropyOptions[float64]{LabelSmoothing: math.NaN()}))},
		{"clip on logits", second(reference.BCEWithLogits(f.x, f.y, n, k, &kernels.BinaryOptions[float64]{Clip: 0.1})),
			second(kernels.BCEWithLogits(f.x, f.y, n, k, nil, &kernels.BinaryOptions[float64]{Clip: 0.1}))},
		{"beta < 0", second(reference.SmoothL1(f.x, f.y, &kernels.SmoothL1Options[float64]{Beta: -1})), second(kernels.SmoothL1(f.x, f.y, nil, &kernels.SmoothL1Options[float64]{Beta: -1}))},
	}
	for _, c := range checks {
		if c.ref == nil || c.kern == nil {
			t.Errorf("%s: reference %v, kernel %v", c.name, c.ref, c.kern)
			continue
		}
		for _, class := range []error{kernels.ErrShape, kernels.ErrLength, kernels.ErrTarget, kernels.ErrWeight, kernels.ErrOption} {
			if errors.Is(c.ref, class) != errors.Is(c.kern, class) {
				t.Errorf("%s: reference %v, kernel %v", c.name, c.ref, c.kern)
			}
		}
	}
}

func second[A, B any](_ A, b B) B { return b }

// TestOptionRangeMessages: an option outside its domain is named with its
// value and what it must be, in words a user reads at once (not an
// interval ending at MaxFloat64 or starting at −Inf).
func TestOptionRangeMessages(t *testing.T) {
	x, y := []float32{0.5, -1}, []float32{1, 0}
	targets := []int32{0, 1}
	cases := []struct {
		call func() error
		want string
	}{
		{func() error {
			_, e := kernels.CrossEntropy(x, targets[:1], 1, 2, nil, &kernels.CrossEntropyOptions[float32]{ZLoss: -1})
			return e
		}, "ZLoss=-1: must be finite and ≥ 0"},
		{func() error {
			_, e := kernels.CrossEntropy(x, targets[:1], 1, 2, nil, &kernels.CrossEntropyOptions[float32]{SoftCap: math.Inf(1)})
			return e
		}, "SoftCap=+Inf: must be finite and ≥ 0"},
		{func() error {
			_, e := kernels.CrossEntropy(x, targets[:1], 1, 2, nil, &kernels.CrossEntropyOptions[float32]{LabelSmoothing: 1.5})
			return e
		}, "LabelSmoothing=1.5: must be in [0, 1]"},
		{func() error {
			_, e := kernels.SigmoidFocal(x, y, 1, 2, nil, &kernels.FocalOptions[float32]{Alpha: 2, Gamma: 2})
			return e
		}, "Alpha=2: must be ≤ 1"},
		{func() error {
			_, e := kernels.BCE(y, y, 1, 2, nil, &kernels.BinaryOptions[float32]{Clip: math.NaN()})
			return e
		}, "Clip=NaN: must be in [0, 0.5]"},
	}
	for _, c := range cases {
		err := c.call()
		if !errors.Is(err, kernels.ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v; want ErrOption saying %q", err, c.want)
		}
	}
}

// TestReductionString: an out-of-range Reduction prints its number.
func TestReductionString(t *testing.T) {
	for r, want := range map[kernels.Reduction]string{kernels.Mean: "mean", kernels.Sum: "sum", kernels.None: "none", 9: "Reduction(9)"} {
		if got := r.String(); got != want {
			t.Errorf("Reduction(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

// kAboveInt32 is K = MaxInt32 + 1, a variable so that the test builds where
// int has 32 bits (386, wasm's int is 64): there it wraps to a negative K,
// which is as much a shape error.
var kAboveInt32 = int64(math.MaxInt32) + 1
