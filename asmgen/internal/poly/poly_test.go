package poly

import (
	"math"
	"testing"
)

// TestDerivation re-runs the Remez exchange that produced Exp and Log, so the
// constants stay reproducible and documented by code.
func TestDerivation(t *testing.T) {
	exp, e1 := Remez(expTail, func(r float64) float64 { return r * r / math.Exp(r) }, -math.Ln2/2, math.Ln2/2, len(Exp)-1)
	log, e2 := Remez(logTail, func(f float64) float64 { return f * f * f / math.Abs(math.Log1p(f)) }, math.Sqrt(0.5)-1, math.Sqrt2-1, len(Log)-1)
	for i := range Exp {
		if float32(exp[i]) != float32(Exp[i]) {
			t.Errorf("Exp[%d] = %v, derivation gives %v", i, Exp[i], exp[i])
		}
	}
	for i := range Log {
		if float32(log[i]) != float32(Log[i]) {
			t.Errorf("Log[%d] = %v, derivation gives %v", i, Log[i], log[i])
		}
	}
	tanhTail := func(s float64) float64 { u := math.Sqrt(s); return (math.Tanh(u) - u) / (u * u * u) }
	tanhW := func(s float64) float64 { u := math.Sqrt(s); return u * u * u / math.Tanh(u) }
	th, e3 := Remez(tanhTail, tanhW, 1e-8, TanhSmall*TanhSmall, len(Tanh)-1)
	for i := range Tanh {
		if float32(th[i]) != float32(Tanh[i]) {
			t.Errorf("Tanh[%d] = %v, derivation gives %v", i, Tanh[i], th[i])
		}
	}
	l1p, e4 := Remez(log1pTail, func(e float64) float64 { return e * e / math.Log1p(e) }, 1e-9, 1, len(Log1pUnit)-1)
	for i := range Log1pUnit {
		if float32(l1p[i]) != float32(Log1pUnit[i]) {
			t.Errorf("Log1pUnit[%d] = %v, derivation gives %v", i, Log1pUnit[i], l1p[i])
		}
	}
	t.Logf("levelled relative error: exp %.3g, log %.3g, tanh %.3g, log1p on [0, 1] %.3g", math.Abs(e1), math.Abs(e2), math.Abs(e3), math.Abs(e4))
}

// TestTruncation64 bounds the float64 polynomials' truncation error from
// the first omitted Taylor term (both series alternate or are dominated by
// a geometric tail): far below half an ULP (2⁻⁵³ ≈ 1.1e-16).
func TestTruncation64(t *testing.T) {
	r := math.Ln2 / 2
	term := math.Pow(r, 14) / 87178291200 * math.Exp(2*r) // r¹⁴/14!·e^|r|/e^r
	z := math.Pow((math.Sqrt2-1)/(math.Sqrt2+1), 2)
	tail := math.Pow(z, 11) / 23 / (1 - z)
	if term > 1e-17 || tail > 1e-17 {
		t.Errorf("truncation: exp %.3g, log %.3g", term, tail)
	}
	if math.Float64bits(Ln2Hi64)&(1<<21-1) != 0 {
		t.Errorf("Ln2Hi64 has low bits: n·Ln2Hi64 would round")
	}
	if Ln2Hi64+Ln2Lo64 != math.Ln2 || Ln2Lo64 == math.Ln2-Ln2Hi64 {
		t.Errorf("ln 2 split: %v + %v", Ln2Hi64, Ln2Lo64)
	}
	if Exp64[0] != 0.5 || Exp64[11] != 1/6227020800.0 || Log64[0] != 2.0/3 || Log64[9] != 2.0/21 {
		t.Errorf("coefficients: %v %v", Exp64, Log64)
	}
	t.Logf("truncation error: exp %.3g, log %.3g (relative)", term, tail)
}
