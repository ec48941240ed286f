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
	t.Logf("levelled relative error: exp %.3g, log %.3g, tanh %.3g", math.Abs(e1), math.Abs(e2), math.Abs(e3))
}
