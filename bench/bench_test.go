package bench

import (
	"runtime"
	"testing"

	"github.com/lossfuse/lossfuse/bench/suite"
)

func BenchmarkCrossEntropy(b *testing.B)       { benchKernel(b, "CrossEntropy") }
func BenchmarkCrossEntropyProbs(b *testing.B)  { benchKernel(b, "CrossEntropyProbs") }
func BenchmarkSoftmaxFocal(b *testing.B)       { benchKernel(b, "SoftmaxFocal") }
func BenchmarkCrossEntropyShards(b *testing.B) { benchKernel(b, "CrossEntropyShards") }
func BenchmarkBCEWithLogits(b *testing.B)      { benchKernel(b, "BCEWithLogits") }
func BenchmarkBCE(b *testing.B)                { benchKernel(b, "BCE") }
func BenchmarkSigmoidFocal(b *testing.B)       { benchKernel(b, "SigmoidFocal") }
func BenchmarkFocalProbs(b *testing.B)         { benchKernel(b, "FocalProbs") }
func BenchmarkMSE(b *testing.B)                { benchKernel(b, "MSE") }
func BenchmarkL1(b *testing.B)                 { benchKernel(b, "L1") }
func BenchmarkHuber(b *testing.B)              { benchKernel(b, "Huber") }
func BenchmarkSmoothL1(b *testing.B)           { benchKernel(b, "SmoothL1") }
func BenchmarkSoftmax(b *testing.B)            { benchKernel(b, "Softmax") }
func BenchmarkLogSoftmax(b *testing.B)         { benchKernel(b, "LogSoftmax") }
func BenchmarkLogSumExp(b *testing.B)          { benchKernel(b, "LogSumExp") }
func BenchmarkSigmoid(b *testing.B)            { benchKernel(b, "Sigmoid") }
func BenchmarkLogSigmoid(b *testing.B)         { benchKernel(b, "LogSigmoid") }
func BenchmarkSoftplus(b *testing.B)           { benchKernel(b, "Softplus") }

// benchKernel runs every op × dtype × isa × shape of one kernel. Inputs are
// generated lazily, once per shape and dtype, so that sub-benchmarks the
// -bench pattern filters out cost nothing (the largest shape holds about
// 200 MB in float64), and released before the next shape.
func benchKernel(b *testing.B, name string) {
	k := suite.Lookup(name)
	if k == nil {
		b.Fatalf("no kernel %q in bench/suite", name)
	}
	isas := suite.Isas()
	for _, shape := range k.Shapes {
		for _, dt := range suite.DTypes {
			var data *suite.Data
			for _, op := range k.Ops() {
				c := suite.Case{Kernel: k, Op: op, DType: dt, Shape: shape}
				for _, isa := range isas {
					b.Run(c.BenchName(isa), func(b *testing.B) {
						if data == nil {
							data = suite.Prepare(k, shape, dt, 1)
						}
						benchCase(b, c, data, isa)
					})
				}
			}
			if data != nil {
				data = nil
				runtime.GC()
			}
		}
	}
}

func benchCase(b *testing.B, c suite.Case, data *suite.Data, isa string) {
	restore, err := suite.Select(isa)
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	call := data.Runner(c.Op, isa)
	if _, err := call(); err != nil { // warm up, and fail early on a bad call
		b.Fatal(err)
	}
	read, written := c.Traffic()
	b.SetBytes(read + written)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := call(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(c.Shape.Elems())*float64(b.N)/s, "elems/s")
	}
}

func BenchmarkSoftplusBeta(b *testing.B)       { benchKernel(b, "SoftplusBeta") }
func BenchmarkSoftmaxBackward(b *testing.B)    { benchKernel(b, "SoftmaxBackward") }
func BenchmarkLogSoftmaxBackward(b *testing.B) { benchKernel(b, "LogSoftmaxBackward") }
func BenchmarkLogSumExpBackward(b *testing.B)  { benchKernel(b, "LogSumExpBackward") }
func BenchmarkSigmoidBackward(b *testing.B)    { benchKernel(b, "SigmoidBackward") }
func BenchmarkLogSigmoidBackward(b *testing.B) { benchKernel(b, "LogSigmoidBackward") }
func BenchmarkSoftplusBackward(b *testing.B)   { benchKernel(b, "SoftplusBackward") }

func BenchmarkNLL(b *testing.B)              { benchKernel(b, "NLL") }
func BenchmarkKLDiv(b *testing.B)            { benchKernel(b, "KLDiv") }
func BenchmarkDistill(b *testing.B)          { benchKernel(b, "Distill") }
func BenchmarkDistillReverseKL(b *testing.B) { benchKernel(b, "DistillReverseKL") }
func BenchmarkDistillJSD(b *testing.B)       { benchKernel(b, "DistillJSD") }
