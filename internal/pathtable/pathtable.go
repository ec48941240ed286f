// Package pathtable is the table of every code path of every kernel
// backend and a call that reaches it (docs/paths.md is generated from it).
// It is data for tests only: kernels/paths_test.go runs each row on every
// backend, asserts through args.Trace that the call took exactly the
// listed paths and checks the result against the float64 reference;
// kernels/guard_test.go runs each row with every buffer against a guard
// page; fuzz/paths_test.go checks that the fuzzer's shape tables draw a
// shape of each row's class.
package pathtable

import "strings"

// Fn names the public kernel a row calls.
type Fn string

const (
	CrossEntropy       Fn = "CrossEntropy"
	CrossEntropyProbs  Fn = "CrossEntropyProbs"
	SoftmaxFocal       Fn = "SoftmaxFocal"
	CrossEntropyShards Fn = "CrossEntropyShards" // two vocabulary shards (internal/shardtest)
	NLL                Fn = "NLL"
	CrossEntropyHalf   Fn = "CrossEntropyHalf" // Opt.Half: "bf16" or "f16"; Opt.Grad32: a float32 gradient
	// The other 16-bit kernels, with Opt.Half and Opt.Grad32 as CrossEntropyHalf.
	CrossEntropyProbsHalf Fn = "CrossEntropyProbsHalf"
	SoftmaxFocalHalf      Fn = "SoftmaxFocalHalf"
	BCEWithLogitsHalf     Fn = "BCEWithLogitsHalf"
	SigmoidFocalHalf      Fn = "SigmoidFocalHalf"
	KLDiv                 Fn = "KLDiv"   // Opt.LogTarget; Opt.RowOut: the pointwise losses (Reduction None)
	Distill               Fn = "Distill" // Opt.Param: the temperature; Opt.ScaleT2; Opt.Ignore: labels
	BCEWithLogits         Fn = "BCEWithLogits"
	BCE                   Fn = "BCE"
	SigmoidFocal          Fn = "SigmoidFocal"
	FocalProbs            Fn = "FocalProbs"
	MSE                   Fn = "MSE"
	L1                    Fn = "L1"
	Huber                 Fn = "Huber"
	SmoothL1              Fn = "SmoothL1"
	Softmax               Fn = "Softmax"
	LogSoftmax            Fn = "LogSoftmax"
	LogSumExp             Fn = "LogSumExp"
	Sigmoid               Fn = "Sigmoid"
	LogSigmoid            Fn = "LogSigmoid"
	Softplus              Fn = "Softplus"
	SoftplusBeta          Fn = "SoftplusBeta" // Opt.Beta, Opt.Threshold
	SoftmaxBackward       Fn = "SoftmaxBackward"
	LogSoftmaxBackward    Fn = "LogSoftmaxBackward"
	LogSumExpBackward     Fn = "LogSumExpBackward"
	SigmoidBackward       Fn = "SigmoidBackward"
	LogSigmoidBackward    Fn = "LogSigmoidBackward"
	SoftplusBackward      Fn = "SoftplusBackward" // SoftplusBetaBackward when Opt.Beta ≠ 0
)

// Backward reports whether fn is a primitive's backward pass.
func (fn Fn) Backward() bool {
	switch fn {
	case SoftmaxBackward, LogSoftmaxBackward, LogSumExpBackward, SigmoidBackward, LogSigmoidBackward, SoftplusBackward:
		return true
	}
	return false
}

// Flat reports whether fn takes a flat length (K) rather than a shape.
func (fn Fn) Flat() bool {
	switch fn {
	case MSE, L1, Huber, SmoothL1, Sigmoid, LogSigmoid, Softplus, SoftplusBeta, SigmoidBackward, LogSigmoidBackward, SoftplusBackward:
		return true
	}
	return false
}

// Opt are a row's options; zero values are the defaults.
type Opt struct {
	Grad, InPlace   bool // a gradient (or primitive output) buffer; the input itself
	Weight, RowOut  bool // class/element weights; per-row or per-element outputs
	Ignore          bool // some rows ignored (targets)
	Smoothing, ZL   float64
	SoftCap, Gamma  float64
	Alpha           float64 // focal α (binary); < 0 off. Class α for SoftmaxFocal when Weight
	Clip            float64
	PosWeight, Asym bool
	Param           float64 // Huber δ, SmoothL1 β

	// Backward passes: InPlace writes dx over the saved tensor (y or x),
	// InPlaceDy over dy. Beta and Threshold are SoftplusBeta's (and make
	// SoftplusBackward SoftplusBetaBackward when Beta ≠ 0); Beta is also
	// Distill's JSD mixing weight.
	InPlaceDy       bool
	Beta, Threshold float64

	// CrossEntropyHalf: the logits' 16-bit format ("bf16" or "f16") and
	// whether the gradient is float32 (else that format).
	Half   string
	Grad32 bool

	LogTarget bool // KLDiv's targets are log-probabilities
	ScaleT2   bool // Distill's T² scaling
	// Divergence is Distill's: 0 forward KL, 1 reverse KL, 2 JSD with
	// mixing weight Beta.
	Divergence int
}

// Data selects the inputs' values.
type Data string

const (
	Normal     Data = ""           // logits N(0, 2), probabilities and labels in [0, 1]
	Ramp       Data = "ramp"       // logits rising along the row (the running maximum moves)
	InfRow     Data = "inf-row"    // row 0 holds +Inf
	HardLabels Data = "hard"       // binary targets 0 or 1
	SoftLabels Data = "soft"       // binary targets strictly inside (0, 1)
	TinyWeight Data = "tiny-scale" // class weights of 1e-38 (float32 stash factor below 2⁻¹⁰⁰)
	LateSoft   Data = "late-soft"  // binary targets 0 or 1 except the last, 0.3
	HugeLogit  Data = "huge-logit" // row 0 holds 1e36 (with a z-loss: a gradient factor beyond float32)
)

// Class is the set of shapes that take the same paths as the row (with
// its options): the fuzzer must be able to draw one.
type Class struct {
	NMin       int // rows (1 for flat kernels)
	KMin, KMax int // row length or flat length
	OutMin     int // bytes of the largest output, at least (streamed stores)
}

// Row is one call and the paths it takes on each backend. Want is keyed by
// backend name, "amd64" standing for both avx2 and avx512, optionally
// followed by "/f32" or "/f64" (the more specific key wins); in a path,
// "{t}" stands for the element type.
type Row struct {
	Name  string
	Fn    Fn
	Type  string // "f32", "f64" or "" for both
	N, K  int
	Opt   Opt
	Data  Data
	Class Class
	Want  map[string][]string
	Note  string
}

// Types returns the element types the row runs in.
func (r Row) Types() []string {
	if r.Type != "" {
		return []string{r.Type}
	}
	return []string{"f32", "f64"}
}

// Paths returns the paths the row must take on backend b in type t, sorted
// as listed, and whether the row states them.
func (r Row) Paths(b, t string) ([]string, bool) {
	keys := []string{b + "/" + t, b}
	if b == "avx2" || b == "avx512" {
		keys = append(keys, "amd64/"+t, "amd64")
	}
	var w []string
	ok := false
	for _, key := range keys {
		if w, ok = r.Want[key]; ok {
			break
		}
	}
	if !ok {
		return nil, false
	}
	out := make([]string, len(w))
	for i, p := range w {
		out[i] = strings.ReplaceAll(p, "{t}", t)
	}
	return out, true
}

// MiB16 is the output size from which SIMD backends stream their stores
// (args.StreamMinBytes).
const MiB16 = 16 << 20
