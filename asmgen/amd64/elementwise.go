package main

import (
	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/reg"

	"github.com/lossfuse/lossfuse/asmgen/internal/x86"
)

type unaryOp int

const (
	opSigmoid unaryOp = iota
	opLogSigmoid
	opSoftplus
)

var unaryNames = [...]string{"sigmoid", "logSigmoid", "softplus"}

var unaryDocs = [...]string{
	"%s writes dst[i] = 1/(1+exp(−x[i])) for i < n; dst may be x.",
	"%s writes dst[i] = min(x[i], 0) − log1p(exp(−|x[i]|)) = log σ(x[i]) for i < n; dst may be x.",
	"%s writes dst[i] = max(x[i], 0) + log1p(exp(−|x[i]|)) = log(1+exp(x[i])) for i < n; dst may be x.",
}

// elementLoop emits a function over n elements of x and dst calling body
// for each vector; the tail is masked.
func elementLoop(s *x86.ISA, name, doc string, body func(v reg.VecVirtual) reg.VecVirtual, consts ...float32) {
	TEXT(name, NOSPLIT, sigT(s, "func(x, dst *float32, n int)"))
	Pragma("noescape")
	docf(name, doc)
	s.Begin()
	x := Load(Param("x"), GP64()).(reg.GPVirtual)
	dst := Load(Param("dst"), GP64()).(reg.GPVirtual)
	n := Load(Param("n"), GP64()).(reg.GPVirtual)
	if !s.F64 {
		s.Preload(consts...)
	}
	sp := s.NewSpan(n)
	sp.Each(func(j reg.GPVirtual, mk *x86.Mask) {
		v := s.LoadAt(mk, s.At(x, j), nil)
		s.StoreAt(mk, body(v), s.At(dst, j))
	})
	s.End()
}

// unary emits Sigmoid, LogSigmoid or Softplus. All three share one
// e = exp(−|x|), which never overflows: σ = 1/(1+e) or e/(1+e) by sign, and
// softplus = max(x,0) + log1p(e). NaN propagates through x.
func unary(s *x86.ISA, op unaryOp) {
	consts := append(x86.ExpConsts(), x86.LogConsts()...)
	elementLoop(s, unaryNames[op]+suffix(s), unaryDocs[op], func(v reg.VecVirtual) reg.VecVirtual {
		if op == opSigmoid {
			_, sp, _, _ := sigmoidParts(s, v, false)
			return sp
		}
		na := s.Vec()
		s.Op(VORPS, s.SignBit(), v, na) // −|x|
		e := s.Exp(na)
		l := s.Log1pUnit(e) // e in [0, 1]
		t := s.Vec()
		if op == opSoftplus {
			s.Max(v, s.CR(0), t) // NaN: v is the operand returned
			s.Add(l, t, t)
		} else {
			s.Min(v, s.CR(0), t)
			s.Sub(l, t, t)
		}
		return t
	}, consts...)
}

// expVec, logVec and log1pVec expose the building blocks to the ULP tests.
func expVec(s *x86.ISA) {
	elementLoop(s, "expVec"+suffix(s), "%s writes dst[i] = exp(x[i]) (test hook for the vector exp).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.Exp(v) })
}

func expFlushVec(s *x86.ISA) {
	elementLoop(s, "expFlushVec"+suffix(s), "%s writes dst[i] = exp(x[i]), results below about 2^−125 flushed to 0 (test hook for the softmax passes' exp).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.ExpFlush(v) })
}

func logVec(s *x86.ISA) {
	elementLoop(s, "logVec"+suffix(s), "%s writes dst[i] = log(x[i]) for x ≥ 0 (test hook for the vector log).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.Log(v, true) })
}

func log1pVec(s *x86.ISA) {
	elementLoop(s, "log1pVec"+suffix(s), "%s writes dst[i] = log1p(x[i]) for x in [0, 1] (test hook for the vector log1p).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.Log1p(v) })
}

func log1pUnitVec(s *x86.ISA) {
	elementLoop(s, "log1pUnitVec"+suffix(s), "%s writes dst[i] = log1p(x[i]) for x in [0, 1] (test hook for softplus' log1p).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.Log1pUnit(v) })
}

func tanhVec(s *x86.ISA) {
	elementLoop(s, "tanhVec"+suffix(s), "%s writes dst[i] = tanh(x[i]) (test hook for the vector tanh of soft-capping).",
		func(v reg.VecVirtual) reg.VecVirtual { return s.Tanh(v) })
}
