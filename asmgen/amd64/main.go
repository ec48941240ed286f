// Command amd64 generates the AVX2+FMA and AVX-512 kernels of package
// lossfuse/kernels/amd64. It is run by go generate there:
//
//	go run ./amd64 -out ../kernels/amd64/kernels_amd64.s -stubs ../kernels/amd64/stubs_amd64.go \
//		-pkg amd64 -dispatch ../kernels/amd64/variants_amd64.go
//
// main is the list of variants; each kernel family has its own file and
// every kernel is written once for both ISAs through package x86.
package main

import (
	"flag"
	"log"

	. "github.com/mmcloughlin/avo/build"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

var dispatchOut = flag.String("dispatch", "", "write the Go variant selectors to this file")

func main() {
	ConstraintExpr("!purego")
	for _, s := range []*x86.ISA{x86.AVX2, x86.AVX512} {
		// Fused softmax cross-entropy (integer targets, plain options).
		for _, g := range []bool{false, true} {
			for _, w := range []bool{false, true} {
				ceRows(s, g, w)
				ceSmallRows(s, g, w)
				ceTRows(s, g, w, false)
				for gm := gamma0; gm <= gammaAny; gm++ {
					ceTRowsFocal(s, g, w, true, gm, false)
				}
				if s.ZMM { // the R variants: no gathers or scatters (recompute)
					ceTRows(s, g, w, true)
					for gm := gamma0; gm <= gammaAny; gm++ {
						ceTRowsFocal(s, g, w, true, gm, true)
					}
				}
			}
		}
		cePairs(s, false) // two classes: a sigmoid in lanes of rows
		cePairs(s, true)
		// Fused softmax focal loss with a gradient (rows of 33 … 4096).
		for _, w := range []bool{false, true} {
			for gm := gamma0; gm <= gammaAny; gm++ {
				sfRows(s, w, gm)
			}
		}
		// Cross-entropy with probability targets.
		for _, w := range []bool{false, true} {
			for _, c := range []bool{false, true} {
				maxLogProbRows(s, w, c)
				expProbRows(s, w, false, c)
			}
			expProbRows(s, w, true, false)
		}
		// Row kernels: softmax cross-entropy passes and the row primitives.
		lseRows(s, lseOptions{})
		for _, c := range []bool{false, true} {
			lseRows(s, lseOptions{split: true, capped: c})
			lseRows(s, lseOptions{dot: true, capped: c})
			lseRows(s, lseOptions{dot: true, weighted: true, capped: c})
			expAffineRows(s, false, c, false)
			expAffineRows(s, true, c, false)
		}
		expAffineRows(s, false, false, true)
		expAffineRows(s, true, false, true)
		lseStashRow(s, nil)
		scaleRow(s, false, false)
		scaleRow(s, true, false)
		scaleRow(s, false, true)
		lseStashScaleRow(s, false)
		lseStashScaleRow(s, true)
		for _, f := range halfFormats {
			lseStashRow(s, &f)
			scaleRow16(s, f)
			lseStashScaleRow16(s, f, false, false)
			lseStashScaleRow16(s, f, true, false)
			lseStashScaleRow16(s, f, true, true)
		}
		softmaxRows(s)
		subRows(s)
		// Element-wise binary losses.
		for _, o := range allBinaryOptions() {
			bceLogits(s, o, false)
			bceLogits(s, o, true)
			bceLogitsUnit(s, o)
			for g := gamma0; g <= gammaAny; g++ {
				sigmoidFocal(s, g, o)
				sigmoidFocalSoft(s, g, o)
			}
			for kind := 0; kind < 4; kind++ {
				regression(s, kind, o)
			}
			klDiv(s, o, false)
			klDiv(s, o, true)
			bceProb(s, o, false)
			bceProb(s, o, true)
			for g := gamma0; g <= gammaAny; g++ {
				focalProbs(s, g, o, false)
				focalProbs(s, g, o, true)
			}
		}
		// Element-wise primitives.
		for _, op := range []unaryOp{opSigmoid, opLogSigmoid, opSoftplus} {
			unary(s, op)
		}
		backwardKernels(s)
		distillKernels(s)
		outsideUnit(s)
		weightScan(s)
		// Test hooks for the ULP tests.
		expVec(s)
		expFlushVec(s)
		logVec(s)
		log1pVec(s)
		log1pUnitVec(s)
		tanhVec(s)
	}
	// float64: the row kernels (cross-entropy passes, LogSumExp, Softmax,
	// LogSoftmax), the element-wise binary losses and the test hooks of the
	// float64 exp and log.
	for _, s := range []*x86.ISA{x86.AVX2D, x86.AVX512D} {
		for _, g := range []bool{false, true} {
			for _, w := range []bool{false, true} {
				ceRows(s, g, w)
			}
		}
		lseRows(s, lseOptions{})
		for _, c := range []bool{false, true} {
			lseRows(s, lseOptions{split: true, capped: c})
			lseRows(s, lseOptions{dot: true, capped: c})
			lseRows(s, lseOptions{dot: true, weighted: true, capped: c})
			expAffineRows(s, false, c, false)
			expAffineRows(s, true, c, false)
		}
		expAffineRows(s, false, false, true)
		expAffineRows(s, true, false, true)
		softmaxRows(s)
		subRows(s)
		for _, w := range []bool{false, true} {
			for _, c := range []bool{false, true} {
				maxLogProbRows(s, w, c)
				expProbRows(s, w, false, c)
			}
			expProbRows(s, w, true, false)
		}
		for _, o := range allBinaryOptions() {
			bceLogits(s, o, false)
			bceLogits(s, o, true)
			for g := gamma0; g <= gammaAny; g++ {
				sigmoidFocal(s, g, o)
				sigmoidFocalSoft(s, g, o)
			}
			for kind := 0; kind < 4; kind++ {
				regression(s, kind, o)
			}
			klDiv(s, o, false)
			klDiv(s, o, true)
			bceProb(s, o, false)
			bceProb(s, o, true)
			for g := gamma0; g <= gammaAny; g++ {
				focalProbs(s, g, o, false)
				focalProbs(s, g, o, true)
			}
		}
		for _, op := range []unaryOp{opSigmoid, opLogSigmoid, opSoftplus} {
			unary(s, op)
		}
		backwardKernels(s)
		distillKernels(s)
		outsideUnit(s)
		weightScan(s)
		expVec(s)
		logVec(s)
		log1pVec(s)
		tanhVec(s)
	}
	// The 16-bit conversions (half.go), last so that the kernels above keep their labels.
	for _, s := range []*x86.ISA{x86.AVX2, x86.AVX512} {
		halfKernels(s)
	}
	Generate()
	if *dispatchOut != "" {
		if err := writeDispatch(*dispatchOut); err != nil {
			log.Fatal(err)
		}
	}
}
